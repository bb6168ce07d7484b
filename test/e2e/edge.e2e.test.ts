// Edge hosts end to end: the program's EdgeHost commands, run by the engine stand-in (engine-standin.ts) over
// real SSH against real Debian hosts booted with systemd-nspawn (test/envs/edge-test-env.sh), with the real
// Traefik release binary (built from its Go module and served by a local mirror), Pebble as the ACME CA and a
// small backend standing in for a cluster service. What is real and what is a stand-in: docs/testing.md.
//
// Opt-in: MYNODEONE_E2E=1 (needs root). MYNODEONE_E2E_HOSTS (default 2), MYNODEONE_E2E_DIR (default: a new
// temp dir; one already started with `edge-test-env.sh start` is used as it is and left running),
// MYNODEONE_E2E_KEEP=1 keeps the hosts running afterwards. The test log (every command's output and the
// environment's timings) is <dir>/logs/e2e.log. The scenario changes the hosts: start a fresh environment
// for every run.
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { DIAL_ERROR_LIMIT } from "../../components/remote/ssh";
import { encryptionFindings, probeServers } from "../../scripts/lib/status/cluster";
import { statusInputs } from "../../scripts/lib/status/inputs";
import { exitCode, renderTable } from "../../scripts/lib/status/report";
import { runStatus } from "../../scripts/lib/status/run";
import { SshClient } from "../../scripts/lib/status/ssh";
import { assertValidReport, finding, problems } from "../harness/status";
import {
  destroy,
  HOST_KEY_MISMATCH,
  plan,
  shortName,
  up,
  type Deployment,
  type StackState,
} from "./engine-standin";
import {
  asSyncUser,
  canConnectFrom,
  certificateSerial,
  curl,
  edgeCommands,
  envScript,
  eventually,
  loadEnv,
  onHost,
  pebbleIssued,
  stackConfig,
  type EdgeEnv,
  type TestHost,
} from "./edge-env";

const ENABLED = process.env["MYNODEONE_E2E"] === "1";
const SKIP_REASON =
  "set MYNODEONE_E2E=1 to run: boots Debian hosts with systemd-nspawn, needs root (docs/testing.md)";
const HOSTS = Number(process.env["MYNODEONE_E2E_HOSTS"] ?? "2");
const BACKEND_TEXT = "hello from the mynodeone e2e backend";
const execFileAsync = promisify(execFile);

const demoRoute = (host: TestHost, backendUrl: string): string => `http:
  routers:
    demo:
      rule: "Host(\`${host.domain}\`)"
      entryPoints: ["websecure"]
      service: demo
      tls:
        certResolver: letsencrypt
  services:
    demo:
      loadBalancer:
        servers:
          - url: "${backendUrl}"
`;

const kindOf = (urn: string): string => urn.replace(/.*-(preflight|traefik|firewall|route-sync)$/, "$1");
const stepsOf = (d: Deployment, host: TestHost) =>
  d.steps.filter((s) => s.urn.includes(`edge-${host.name}-`));
const stepNames = (d: Deployment) => d.steps.map((s) => `${shortName(s.urn)} ${s.op} ${s.status}`).sort();

(ENABLED ? describe : describe.skip)(
  `edge hosts end to end (real hosts, engine stand-in)${ENABLED ? "" : ` - skipped: ${SKIP_REASON}`}`,
  function () {
    this.timeout(10 * 60_000);
    // Set in `before` (mocha runs this body even when the suite is skipped).
    let dir = "";
    let startedOutside = false;
    let env: EdgeEnv;
    let state: StackState = { resources: [] };
    let pebbleRoot: string;
    let serialsBeforeDestroy: string[] = [];
    const log = (line: string): void => {
      fs.mkdirSync(path.join(dir, "logs"), { recursive: true });
      fs.appendFileSync(path.join(dir, "logs", "e2e.log"), `${line}\n`);
    };
    const run = (command: string) => async (host: TestHost) => {
      const result = await onHost(env, host, command);
      assert.equal(result.code, 0, `${host.name}: ${command}: ${result.stderr}`);
      return result.stdout.trim();
    };
    const mainPid = run("systemctl show --property=MainPID --value traefik.service");
    const mirrorRequests = (): string[] =>
      fs
        .readFileSync(env.mirrorLog, "utf8")
        .split("\n")
        .filter((l) => l.includes("GET /"));
    const serves = async (host: TestHost) => {
      const r = await curl(`https://${host.domain}/`, host.address, ["--cacert", pebbleRoot]);
      return r.status === 200 && r.body.trim() === BACKEND_TEXT ? r : undefined;
    };

    before(async function () {
      // A cold build (debootstrap, Traefik from source) takes a while; a cached one is a no-op.
      this.timeout(90 * 60_000);
      dir = process.env["MYNODEONE_E2E_DIR"] ?? fs.mkdtempSync(path.join(os.tmpdir(), "edge-e2e-"));
      startedOutside = fs.existsSync(path.join(dir, "env.json"));
      if (!startedOutside) {
        await envScript(["build"], log);
        await envScript(["start", dir, String(HOSTS)], log);
      }
      env = loadEnv(dir);
      log(`environment: ${dir}`);
    });

    after(async function () {
      this.timeout(5 * 60_000);
      if (dir !== "" && !startedOutside && process.env["MYNODEONE_E2E_KEEP"] !== "1") {
        await envScript(["stop", dir], log);
        console.log(`edge e2e: logs in ${dir}/logs`);
      }
    });

    it("the first up provisions every host, independent hosts in parallel", async () => {
      const desired = await edgeCommands(await stackConfig(env));
      assert.equal(desired.length, 4 * env.hosts.length);
      assert.deepEqual(
        plan(desired, state).map((s) => s.op),
        desired.map(() => "create"),
      );
      const deployment = await up(desired, state, { log });
      log(`first up of ${String(env.hosts.length)} hosts: ${String(deployment.ms)} ms`);
      assert.equal(deployment.error, undefined, deployment.error);
      state = deployment.state;
      assert.equal(state.resources.length, desired.length);
      for (const host of env.hosts) {
        const steps = stepsOf(deployment, host);
        assert.deepEqual(steps.map((s) => s.ran.join()).sort(), ["create", "create", "create", "create"]);
        const at = (suffix: string) => {
          const step = steps.find((s) => s.urn.endsWith(`-${suffix}`));
          assert.ok(step, suffix);
          return step;
        };
        // Dependency order on each host: preflight, then firewall and Traefik, then the route-sync access.
        assert.ok(at("preflight").startedAt + at("preflight").ms <= at("traefik").startedAt);
        assert.ok(at("traefik").startedAt + at("traefik").ms <= at("route-sync").startedAt);
      }
      // Independent hosts: their installs overlap in time, as the engine runs them.
      const [a, b] = env.hosts.map((h) => stepsOf(deployment, h).find((s) => s.urn.endsWith("-traefik")));
      assert.ok(a && b);
      assert.ok(
        a.startedAt < b.startedAt + b.ms && b.startedAt < a.startedAt + a.ms,
        "installs did not overlap",
      );
    });

    it("runs Traefik as the traefik user under systemd, answering its ping on loopback", async () => {
      for (const host of env.hosts) {
        assert.equal(await run("systemctl is-active traefik.service")(host), "active");
        const pid = await mainPid(host);
        assert.equal(await run(`ps -o user= -p ${pid}`)(host), "traefik");
        assert.equal(await run("curl -fsS http://127.0.0.1:8082/ping")(host), "OK");
        // Its only listeners: 80, 443 and the ping on loopback (no implicit :8080, no dashboard).
        const listeners = await run(`sudo ss -Hltnp | grep 'pid=${pid},' | awk '{ print $4 }' | sort`)(host);
        assert.deepEqual(listeners.split("\n"), ["*:443", "*:80", "127.0.0.1:8082"]);
        assert.match(await run("/usr/local/bin/traefik version")(host), /^Version:\s+3\.7\.13$/m);
        // Owners and modes from docs/edge-contract.md.
        const modes = await run(
          "sudo stat -c '%n %U:%G %a' /usr/local/bin/traefik /etc/traefik/traefik.yml " +
            "/etc/systemd/system/traefik.service /etc/traefik/dynamic /var/lib/traefik /var/lib/traefik/acme.json " +
            "/usr/local/lib/mynodeone/traefik-route-sync /var/lib/traefik-sync/.ssh/authorized_keys",
        )(host);
        assert.deepEqual(modes.split("\n"), [
          "/usr/local/bin/traefik root:root 755",
          "/etc/traefik/traefik.yml root:traefik 640",
          "/etc/systemd/system/traefik.service root:root 644",
          "/etc/traefik/dynamic traefik-sync:traefik 2750",
          "/var/lib/traefik traefik:traefik 700",
          "/var/lib/traefik/acme.json traefik:traefik 600",
          "/usr/local/lib/mynodeone/traefik-route-sync root:root 755",
          "/var/lib/traefik-sync/.ssh/authorized_keys root:root 644",
        ]);
      }
    });

    it("redirects HTTP to HTTPS", async () => {
      for (const host of env.hosts) {
        const r = await curl(`http://${host.domain}/some/path?q=1`, host.address);
        assert.ok([301, 308].includes(r.status), `${host.name}: ${String(r.status)} ${r.stderr}`);
        assert.equal(r.redirect, `https://${host.domain}/some/path?q=1`);
      }
    });

    it("publishes a route pushed with the sync key; Traefik gets a certificate from Pebble and reaches the backend", async function () {
      this.timeout(5 * 60_000);
      const root = await curl(`${env.pebbleManagementUrl}/roots/0`, "127.0.0.1", ["--cacert", env.caCert]);
      assert.equal(root.status, 200, root.stderr);
      pebbleRoot = path.join(dir, "pebble-root.pem");
      fs.writeFileSync(pebbleRoot, root.body);
      await Promise.all(
        env.hosts.map(async (host) => {
          const put = await asSyncUser(env, host, "put demo.yml", demoRoute(host, env.backendUrl));
          assert.equal(put.code, 0, put.stderr);
          assert.equal(put.stdout.trim(), "wrote demo.yml");
          // The certificate verifies against Pebble's root: it was issued through HTTP-01 on the host's port 80.
          await eventually(180, `${host.name} serves the demo route with a Pebble certificate`, () =>
            serves(host),
          );
          const list = await asSyncUser(env, host, "list");
          assert.equal(list.stdout, "demo.yml\n");
          const health = await asSyncUser(env, host, "health");
          assert.equal(health.stdout.trim(), "OK");
          const acme = await run("sudo cat /var/lib/traefik/acme.json")(host);
          assert.ok(acme.includes(host.domain), "acme.json does not hold the certificate");
        }),
      );
    });

    it("keeps serving the routes it has when a malformed route file arrives", async () => {
      const host = env.hosts[0];
      assert.ok(host);
      const since = (await run("date +%s")(host)).trim();
      const put = await asSyncUser(env, host, "put broken.yml", "http:\n  routers: [unclosed\n");
      assert.equal(put.code, 0, put.stderr);
      // Traefik saw it (it logs the parse error) ...
      await eventually(30, "Traefik logs the broken file", async () => {
        const journal = await run(
          `sudo journalctl --unit=traefik.service --since=@${since} --no-pager -o cat`,
        )(host);
        return /broken\.yml/.test(journal) ? journal : undefined;
      });
      // ... and keeps the last good configuration.
      assert.ok(await serves(host), "the demo route stopped working");
      const removed = await asSyncUser(env, host, "delete broken.yml");
      assert.equal(removed.code, 0, removed.stderr);
      assert.ok(await serves(host));
    });

    it("lets the sync identity write route files and nothing else", async () => {
      const host = env.hosts[0];
      assert.ok(host);
      const refused = async (request: string, message: RegExp, stdin?: string) => {
        const r = await asSyncUser(env, host, request, stdin);
        assert.notEqual(r.code, 0, `'${request}' was allowed`);
        assert.match(r.stderr, message, request);
      };
      await refused("cat /etc/shadow", /command not allowed: 'cat'/);
      await refused("sudo -n true", /command not allowed: 'sudo'/);
      await refused("put ../../tmp/evil.yml", /invalid route file name/, "x: 1\n");
      await refused("put evil.yaml", /invalid route file name/, "x: 1\n");
      await refused("", /interactive logins are not allowed/);
      // SFTP (the subsystem request) meets the same forced command.
      const knownHosts = path.join(dir, "known_hosts.sftp");
      fs.writeFileSync(knownHosts, `${host.address} ${host.hostKey}\n`);
      const sftp = await execFileAsync(
        "bash",
        [
          "-c",
          'printf "put /etc/hostname /tmp/owned\\n" | sftp -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes ' +
            '-o StrictHostKeyChecking=yes -o UserKnownHostsFile="$1" -i "$2" -b - "traefik-sync@$3"',
          "sftp",
          knownHosts,
          env.syncKey,
          host.address,
        ],
        { encoding: "utf8" },
      ).then(
        () => undefined,
        (err: unknown) => err as { code: number },
      );
      assert.ok(sftp !== undefined && sftp.code !== 0, "sftp was allowed");
      assert.equal(await run("test -e /tmp/owned && echo yes || echo no")(host), "no");
      // No sudo, no privileged group, no write access to its own keys or to Traefik's files.
      assert.match(await run("sudo sudo -n -l -U traefik-sync")(host), /not allowed to run sudo/);
      assert.equal(await run("id -nG traefik-sync")(host), "traefik-sync");
      for (const file of [
        "/var/lib/traefik-sync/.ssh/authorized_keys",
        "/var/lib/traefik-sync/.ssh",
        "/etc/traefik/traefik.yml",
        "/usr/local/lib/mynodeone/traefik-route-sync",
        "/usr/local/bin",
      ]) {
        assert.equal(
          await run(`sudo -u traefik-sync test -w ${file} && echo writable || echo no`)(host),
          "no",
          file,
        );
      }
    });

    it("firewall: only SSH, HTTP and HTTPS are reachable from another machine", async () => {
      for (const host of env.hosts) {
        // A listener on all interfaces that the firewall must hide.
        await run(
          "sudo systemd-run --quiet --unit=e2e-listener systemd-socket-activate -l 9000 --accept /bin/true",
        )(host);
        try {
          assert.ok(
            await eventually(10, "listener up", async () =>
              (await run("ss -Hltn 'sport = :9000'")(host)) !== "" ? true : undefined,
            ),
          );
          for (const port of [22, 80, 443]) {
            assert.ok(
              await canConnectFrom(env.probeNetns, host.address, port),
              `${host.name}:${String(port)} blocked`,
            );
          }
          for (const port of [9000, 8082, 8080]) {
            assert.ok(
              !(await canConnectFrom(env.probeNetns, host.address, port)),
              `${host.name}:${String(port)} open`,
            );
          }
          // Debian's nftables.service flushes the whole rule set when it (re)starts: the table comes back.
          await run("sudo systemctl restart nftables.service")(host);
          assert.match(await run("sudo nft list tables")(host), /table inet mynodeone_edge/);
          assert.ok(!(await canConnectFrom(env.probeNetns, host.address, 9000)), `${host.name}:9000 open`);
        } finally {
          await run("sudo systemctl stop e2e-listener.service")(host);
        }
        assert.equal(await run("sudo systemctl is-enabled mynodeone-edge-firewall.service")(host), "enabled");
      }
    });

    it("new route-sync keys change only the sync access, without restarting Traefik", async () => {
      const second = path.join(dir, "keys", "sync-2");
      await execFileAsync("ssh-keygen", [
        "-q",
        "-t",
        "ed25519",
        "-N",
        "",
        "-C",
        "route-sync 2",
        "-f",
        second,
      ]);
      const secondPublic = fs.readFileSync(`${second}.pub`, "utf8").split(" ").slice(0, 2).join(" ");
      const keys = {
        syncAuthorizedKeys: [`${env.syncPublicKey} route-sync`, `${secondPublic} route-sync-2`],
      };
      const desired = await edgeCommands(await stackConfig(env, { edge: keys }));
      assert.deepEqual(
        plan(desired, state).map((s) => `${kindOf(s.urn)} ${s.op}`),
        env.hosts.map(() => "route-sync update"),
      );
      const pids = await Promise.all(env.hosts.map(mainPid));
      const deployment = await up(desired, state, { log });
      assert.equal(deployment.error, undefined, deployment.error);
      for (const host of env.hosts) {
        assert.equal((await asSyncUser(env, host, "list", undefined, second)).stdout, "demo.yml\n");
        assert.equal((await asSyncUser(env, host, "list")).stdout, "demo.yml\n");
      }
      assert.deepEqual(await Promise.all(env.hosts.map(mainPid)), pids, "Traefik restarted");
      // Back to one key: the second one is locked out again.
      const back = await up(await edgeCommands(await stackConfig(env)), deployment.state, { log });
      assert.equal(back.error, undefined, back.error);
      state = back.state;
      const host = env.hosts[0];
      assert.ok(host);
      assert.notEqual((await asSyncUser(env, host, "list", undefined, second)).code, 0);
    });

    it("edge.sshAllowFrom limits SSH to that range, and refuses to lock the deployment itself out", async () => {
      const pids = await Promise.all(env.hosts.map(mainPid));
      // The harness (10.213.0.1) is the only allowed SSH client; the probe namespace is not.
      const narrowed = await edgeCommands(
        await stackConfig(env, { edge: { sshAllowFrom: `${env.bridgeAddress}/32` } }),
      );
      assert.deepEqual(
        plan(narrowed, state).map((s) => `${kindOf(s.urn)} ${s.op}`),
        env.hosts.map(() => "firewall update"),
      );
      const deployment = await up(narrowed, state, { log });
      assert.equal(deployment.error, undefined, deployment.error);
      state = deployment.state;
      for (const host of env.hosts) {
        assert.ok(!(await canConnectFrom(env.probeNetns, host.address, 22)), `${host.name}: SSH still open`);
        assert.ok(await canConnectFrom(env.probeNetns, host.address, 443), `${host.name}: HTTPS closed`);
      }
      // A range that does not hold the deploying session: refused, with the reason, nothing applied.
      const outside = await edgeCommands(await stackConfig(env, { edge: { sshAllowFrom: "100.64.0.0/10" } }));
      const refused = await up(outside, state, { log });
      assert.ok(refused.error);
      const failed = refused.steps.filter((s) => s.status === "failed");
      assert.ok(failed.length > 0);
      for (const step of failed) {
        assert.match(
          step.stderr,
          /this SSH session comes from 10\.213\.0\.1, outside edge\.sshAllowFrom 100\.64\.0\.0\/10/,
        );
      }
      state = refused.state;
      for (const host of env.hosts) {
        assert.match(
          await run("sudo nft list table inet mynodeone_edge")(host),
          /ip saddr 10\.213\.0\.1 tcp dport/,
        );
      }
      // Back to the default (SSH from anywhere); Traefik never restarted for any of it.
      const back = await up(await edgeCommands(await stackConfig(env)), state, { log });
      assert.equal(back.error, undefined, back.error);
      state = back.state;
      for (const host of env.hosts) {
        assert.ok(await canConnectFrom(env.probeNetns, host.address, 22), `${host.name}: SSH still closed`);
      }
      assert.deepEqual(await Promise.all(env.hosts.map(mainPid)), pids, "Traefik restarted");
    });

    it("comes back after a reboot: firewall, Traefik and its certificate", async function () {
      this.timeout(5 * 60_000);
      const host = env.hosts[0];
      assert.ok(host);
      const serial = await certificateSerial(host);
      await envScript(["reboot", dir, "1"], log);
      assert.equal(
        await run("systemctl is-active traefik.service mynodeone-edge-firewall.service")(host),
        "active\nactive",
      );
      assert.match(await run("sudo nft list tables")(host), /table inet mynodeone_edge/);
      await eventually(60, `${host.name} serves after the reboot`, () => serves(host));
      assert.equal(await certificateSerial(host), serial);
    });

    it("a second up with unchanged inputs runs no remote command", async () => {
      const desired = await edgeCommands(await stackConfig(env));
      assert.deepEqual(plan(desired, state), []);
      const pids = await Promise.all(env.hosts.map(mainPid));
      const requests = mirrorRequests().length;
      const deployment = await up(desired, state, { log });
      log(`no-op up: ${String(deployment.ms)} ms`);
      assert.deepEqual(deployment.steps, []);
      assert.equal(deployment.same.length, desired.length);
      assert.deepEqual(await Promise.all(env.hosts.map(mainPid)), pids, "Traefik restarted");
      assert.equal(mirrorRequests().length, requests, "something was downloaded");
      state = deployment.state;
    });

    // npm run status against these hosts: the edge probes over SSH with the pinned host keys, as the program
    // connects; the stack's inputs come from the same config through the program's loader.
    const edgeStatus = async (timeoutSeconds = 10) => {
      const inputs = await statusInputs("dev", {}, await stackConfig(env));
      const report = await runStatus(inputs, { timeoutSeconds, layers: ["edge"] });
      assertValidReport(JSON.parse(JSON.stringify(report)));
      return report;
    };
    const firstHost = (): TestHost => env.hosts[0] ?? assert.fail("no host");
    const secondHost = (): TestHost => env.hosts[1] ?? assert.fail("no second host");

    it("status: every healthy host is OK: Traefik active and answering, the pinned version, routes, certificates", async () => {
      const pids = await Promise.all(env.hosts.map(mainPid));
      const report = await edgeStatus();
      // Its re-read signal (SIGHUP) leaves Traefik as it was: the same process, serving.
      assert.deepEqual(await Promise.all(env.hosts.map(mainPid)), pids, "Traefik restarted");
      for (const host of env.hosts) {
        assert.ok(await serves(host), `${host.name} stopped serving`);
      }
      assert.deepEqual(problems(report), []);
      assert.equal(exitCode(report), 0);
      for (const host of env.hosts) {
        assert.equal(finding(report, `${host.name} traefik`).detail, "active, /ping OK");
        assert.equal(finding(report, `${host.name} version`).detail, env.traefikVersion.replace(/^v/, ""));
        assert.match(
          finding(report, `${host.name} routes`).detail,
          /^\d+ file\(s\) in \/etc\/traefik\/dynamic, none rejected$/,
        );
        assert.match(
          finding(report, `${host.name} certificate ${host.domain}`).detail,
          /^expires \d{4}-\d{2}-\d{2} \([\d.]+ days\), issuer Pebble Intermediate CA/,
        );
      }
      console.log(renderTable(report).replace(/^/gm, "        "));
    });

    it("status: Traefik stopped on one host is a FAIL for that host; the other is still OK", async () => {
      const [stopped, other] = [firstHost(), secondHost()];
      await run("sudo systemctl stop traefik.service")(stopped);
      try {
        const report = await edgeStatus();
        assert.equal(exitCode(report), 1);
        const down = finding(report, `${stopped.name} traefik`);
        assert.deepEqual([down.status, down.detail], ["FAIL", "traefik.service is inactive"]);
        assert.match(down.next ?? "", /sudo systemctl status traefik/);
        assert.equal(finding(report, `${stopped.name} certificate ${stopped.domain}`).status, "FAIL");
        assert.equal(finding(report, `${other.name} traefik`).status, "OK");
        console.log(`      FAIL ${down.check}: ${down.detail}`);
      } finally {
        await run("sudo systemctl start traefik.service")(stopped);
        await eventually(60, `${stopped.name} serves again`, () => serves(stopped));
      }
    });

    it("status: a route file Traefik rejects is named, with the fix", async () => {
      const host = firstHost();
      const put = await asSyncUser(env, host, "put broken-status.yml", "http:\n  routers: [unclosed\n");
      assert.equal(put.code, 0, put.stderr);
      try {
        const routes = await eventually(30, "status names the rejected file", async () => {
          const f = finding(await edgeStatus(), `${host.name} routes`);
          return f.status === "FAIL" ? f : undefined;
        });
        assert.match(
          routes.detail,
          /^\d+ file\(s\); Traefik rejected broken-status\.yml and keeps its last good routes$/,
        );
        assert.match(routes.next ?? "", /route-sync: delete <file>/);
        console.log(`      FAIL ${routes.check}: ${routes.detail}`);
        // The route pusher fixes it under the same name: the error Traefik logged for the old version is older
        // than the new version, so the file is no longer reported.
        const valid = [
          "http:",
          "  routers:",
          "    fixed:",
          '      rule: "PathPrefix(`/fixed`)"',
          "      service: fixed",
          "  services:",
          "    fixed:",
          "      loadBalancer:",
          "        servers:",
          '          - url: "http://127.0.0.1:9"',
          "",
        ].join("\n");
        const fixed = await asSyncUser(env, host, "put broken-status.yml", valid);
        assert.equal(fixed.code, 0, fixed.stderr);
        await eventually(30, "status no longer reports the fixed file", async () =>
          finding(await edgeStatus(), `${host.name} routes`).status === "OK" ? true : undefined,
        );
      } finally {
        await asSyncUser(env, host, "delete broken-status.yml");
      }
      assert.equal(finding(await edgeStatus(), `${host.name} routes`).status, "OK");
    });

    it("status: a certificate five days from its end is a warning (exit 2) saying renewal is not happening", async () => {
      // Pebble's validity is one setting for the whole CA, and the healthy certificates come from it: the
      // short-lived certificate is Traefik's own file-provider TLS store instead, served for a name of its own.
      const host = firstHost();
      const name = `expiring.${host.domain}`;
      const work = fs.mkdtempSync(path.join(os.tmpdir(), "status-cert-"));
      try {
        await execFileAsync("openssl", [
          "req",
          "-x509",
          "-newkey",
          "ec",
          "-pkeyopt",
          "ec_paramgen_curve:P-256",
          "-nodes",
          "-days",
          "5",
          "-subj",
          `/CN=${name}`,
          "-addext",
          `subjectAltName=DNS:${name}`,
          "-keyout",
          path.join(work, "key.pem"),
          "-out",
          path.join(work, "cert.pem"),
        ]);
        const dirOnHost = "/etc/traefik/status-test";
        await run(`sudo install -d -m 0750 -o root -g traefik ${dirOnHost}`)(host);
        for (const file of ["cert.pem", "key.pem"]) {
          const wrote = await onHost(
            env,
            host,
            `sudo install -m 0640 -o root -g traefik /dev/stdin ${dirOnHost}/${file}`,
            fs.readFileSync(path.join(work, file), "utf8"),
          );
          assert.equal(wrote.code, 0, wrote.stderr);
        }
        const route = [
          "http:",
          "  routers:",
          "    expiring:",
          `      rule: "Host(\`${name}\`)"`,
          '      entryPoints: ["websecure"]',
          "      service: expiring",
          "      tls: {}",
          "  services:",
          "    expiring:",
          "      loadBalancer:",
          "        servers:",
          `          - url: "${env.backendUrl}"`,
          "tls:",
          "  certificates:",
          `    - certFile: ${dirOnHost}/cert.pem`,
          `      keyFile: ${dirOnHost}/key.pem`,
          "",
        ].join("\n");
        const put = await asSyncUser(env, host, "put expiring.yml", route);
        assert.equal(put.code, 0, put.stderr);
        const soon = await eventually(30, "Traefik serves the short-lived certificate", async () => {
          const f = finding(await edgeStatus(), `${host.name} certificate ${name}`);
          return f.status === "WARN" ? f : undefined;
        });
        assert.match(
          soon.detail,
          /^expires \d{4}-\d{2}-\d{2} \([45]\.\d days\), issuer expiring\..*: renewal is not happening$/,
        );
        const report = await edgeStatus();
        assert.deepEqual(
          problems(report).filter((p) => !p.startsWith("WARN")),
          [],
        );
        assert.equal(exitCode(report), 2);
        console.log(`      WARN ${soon.check}: ${soon.detail}\n        next: ${soon.next ?? ""}`);
      } finally {
        await asSyncUser(env, host, "delete expiring.yml");
        await run("sudo rm -rf /etc/traefik/status-test")(host);
        fs.rmSync(work, { recursive: true, force: true });
      }
    });

    it("status: an unreachable host costs one timeout and the others are still reported, within the run's bound", async () => {
      const [dead, alive] = [secondHost(), firstHost()];
      // A VPS that is down: every packet to it dropped (nothing refuses, nothing answers).
      const nft = (...args: string[]) => execFileAsync("ip", ["netns", "exec", dead.netns, "nft", ...args]);
      await nft("add", "table", "inet", "status_blackhole");
      await nft(
        "add",
        "chain",
        "inet",
        "status_blackhole",
        "input",
        "{ type filter hook input priority -10; policy drop; }",
      );
      try {
        const timeoutSeconds = 3;
        const started = Date.now();
        const report = await edgeStatus(timeoutSeconds);
        const seconds = (Date.now() - started) / 1000;
        assert.equal(exitCode(report), 1);
        const ssh = finding(report, `${dead.name} ssh`);
        assert.equal(ssh.status, "FAIL");
        assert.match(
          ssh.detail,
          new RegExp(
            `^admin@${dead.address.replace(/\./g, "\\.")}:22: (no answer within 3 s|connection timed out after 3 s)$`,
          ),
        );
        assert.equal(report.findings.filter((f) => f.check.startsWith(`${dead.name} `)).length, 1);
        assert.equal(finding(report, `${alive.name} traefik`).status, "OK");
        assert.equal(finding(report, `${alive.name} certificate ${alive.domain}`).status, "OK");
        // Probes run in parallel: one dead host costs its one timeout, not the run (bound: 2 x timeout per layer).
        assert.ok(seconds < 2 * timeoutSeconds + 2, `took ${seconds.toFixed(1)} s`);
        console.log(`      FAIL ${ssh.check}: ${ssh.detail}`);
        console.log(
          `      figure: status with one of ${String(env.hosts.length)} hosts unreachable, --timeout ${String(timeoutSeconds)}: ${seconds.toFixed(1)} s`,
        );
      } finally {
        await nft("delete", "table", "inet", "status_blackhole");
      }
    });

    it("status: the at-rest encryption config on a server, present and the stack's, changed, missing", async () => {
      // A test host standing in for a k3s server: only the file the probe reads is k3s's.
      const host = firstHost();
      const file = "/var/lib/rancher/k3s/server/cred/encryption-config.json";
      const config = '{"kind":"EncryptionConfiguration","resources":[]}';
      const inputs = {
        ...(await statusInputs("dev", {}, await stackConfig(env))),
        adopted: false,
        servers: [
          { name: host.name, host: host.address, port: 22, user: env.adminUser, hostKey: host.hostKey },
        ],
        encryptionConfig: config,
      };
      const write = async (text: string) => {
        const wrote = await onHost(env, host, `sudo install -D -m 0600 /dev/stdin ${file}`, text);
        assert.equal(wrote.code, 0, wrote.stderr);
      };
      try {
        await write(`${config}\n`);
        const ssh = new SshClient(fs.readFileSync(env.adminKey, "utf8"));
        try {
          const check = async () => {
            const ctx = { inputs, ssh, now: new Date(), timeoutMs: 10_000 };
            const facts = probeServers(ctx);
            // The clock k3s's snapshot schedule runs on (the test hosts run on UTC).
            assert.equal((await facts)[0]?.utcOffsetMinutes, 0);
            const outcome = await encryptionFindings(ctx, facts);
            assert.equal(outcome.findings.length, 1);
            return outcome.findings[0] ?? assert.fail();
          };
          assert.deepEqual(await check(), {
            layer: "cluster",
            check: `encryption config ${host.name}`,
            status: "OK",
            detail: "present, the stack's copy",
          });
          await write('{"kind":"EncryptionConfiguration","resources":["rotated"]}\n');
          const rotated = await check();
          assert.deepEqual(
            [rotated.status, rotated.detail],
            ["WARN", "present, but not the stack's copy (keys rotated on the server?)"],
          );
          await run(`sudo rm -f ${file}`)(host);
          const missing = await check();
          assert.equal(missing.status, "FAIL");
          assert.match(missing.detail, /encryption-config\.json is missing: k3s cannot read its Secrets$/);
          assert.match(missing.next ?? "", /restore it from the backup bundle/);
        } finally {
          ssh.close();
        }
      } finally {
        await run("sudo rm -rf /var/lib/rancher")(host);
      }
    });

    it("a version bump downloads and verifies the new release and restarts into it, routes kept", async () => {
      // env.upgradeVersion is the pinned release's source relabelled (edge-test-env.sh builds it with another
      // version stamp), served with its own checksums file: the upgrade path is real, the "new" code is not.
      const desired = await edgeCommands(
        await stackConfig(env, { edge: { traefikVersion: env.upgradeVersion } }),
      );
      const planned = plan(desired, state);
      assert.deepEqual(
        planned.map((s) => `${kindOf(s.urn)} ${s.op}`).sort(),
        env.hosts.flatMap(() => ["preflight update", "traefik update"]).sort(),
      );
      const pids = await Promise.all(env.hosts.map(mainPid));
      const deployment = await up(desired, state, { log });
      assert.equal(deployment.error, undefined, deployment.error);
      state = deployment.state;
      for (const [i, host] of env.hosts.entries()) {
        const install = stepsOf(deployment, host).find((s) => s.urn.endsWith("-traefik"));
        assert.ok(install);
        assert.match(
          install.stdout,
          new RegExp(`restarting traefik: changed binary ${env.traefikVersion} -> ${env.upgradeVersion}`),
        );
        assert.match(
          await run("/usr/local/bin/traefik version")(host),
          new RegExp(`^Version:\\s+${env.upgradeVersion.slice(1)}$`, "m"),
        );
        assert.notEqual(await mainPid(host), pids[i], "Traefik was not restarted");
        assert.ok(await eventually(30, `${host.name} serves after the upgrade`, () => serves(host)));
      }
      const tarball = `GET /${env.upgradeVersion}/traefik_${env.upgradeVersion}_linux_amd64.tar.gz`;
      assert.equal(mirrorRequests().filter((l) => l.includes(tarball)).length, env.hosts.length);
    });

    it("a tampered tarball fails the install with a clear error and leaves the running Traefik untouched", async () => {
      const release = path.join(env.mirrorDir, env.traefikVersion);
      const tarball = path.join(release, `traefik_${env.traefikVersion}_linux_amd64.tar.gz`);
      const checksums = path.join(release, `traefik_${env.traefikVersion}_checksums.txt`);
      const original = { tarball: fs.readFileSync(tarball), checksums: fs.readFileSync(checksums, "utf8") };
      const genuineSha = original.checksums.split(" ")[0] ?? "";
      const desired = await edgeCommands(await stackConfig(env));
      const pids = await Promise.all(env.hosts.map(mainPid));
      const untouched = async () => {
        for (const [i, host] of env.hosts.entries()) {
          assert.match(
            await run("/usr/local/bin/traefik version")(host),
            new RegExp(`^Version:\\s+${env.upgradeVersion.slice(1)}$`, "m"),
          );
          assert.equal(await mainPid(host), pids[i], "Traefik was restarted");
          assert.ok(await serves(host));
        }
      };
      const failedInstall = (deployment: Deployment) => {
        assert.ok(deployment.error, "the tampered install succeeded");
        const install = deployment.steps.find((s) => s.urn.endsWith("-traefik") && s.status === "failed");
        assert.ok(install, stepNames(deployment).join("\n"));
        return install.stderr;
      };
      try {
        // The tarball changed, its checksums file did not.
        fs.writeFileSync(tarball, Buffer.concat([original.tarball, Buffer.from("tampered")]));
        const tampered = await up(desired, state, { log });
        assert.match(
          failedInstall(tampered),
          /sha256 mismatch for traefik_v3\.7\.13_linux_amd64\.tar\.gz: expected [0-9a-f]{64}, got [0-9a-f]{64}; nothing was installed/,
        );
        await untouched();
        // A failed update keeps the old state: the next up retries it.
        assert.ok(plan(desired, tampered.state).some((s) => s.urn.endsWith("-traefik") && s.op === "update"));

        // A mirror that swaps both files consistently is caught only by edge.traefikSha256.
        fs.writeFileSync(tarball, Buffer.concat([original.tarball, Buffer.from("swapped")]));
        const { stdout: swappedSums } = await execFileAsync("sha256sum", [path.basename(tarball)], {
          cwd: release,
          encoding: "utf8",
        });
        fs.writeFileSync(checksums, swappedSums);
        const pinned = await edgeCommands(
          await stackConfig(env, { edge: { traefikSha256: { amd64: genuineSha } } }),
        );
        const swapped = await up(pinned, tampered.state, { log });
        assert.match(
          failedInstall(swapped),
          new RegExp(
            `but the pinned sha256 is ${genuineSha} \\(edge\\.traefikSha256\\): refusing; nothing was installed`,
          ),
        );
        await untouched();
        state = swapped.state;
      } finally {
        fs.writeFileSync(tarball, original.tarball);
        fs.writeFileSync(checksums, original.checksums);
      }
      const retried = await up(desired, state, { log });
      assert.equal(retried.error, undefined, retried.error);
      state = retried.state;
      for (const host of env.hosts) {
        assert.match(await run("/usr/local/bin/traefik version")(host), /^Version:\s+3\.7\.13$/m);
      }
    });

    it("a wrong pinned host key fails before any command runs on the host", async () => {
      const [victim, other] = env.hosts;
      assert.ok(victim && other);
      const accepted = async () =>
        Number(
          await run(
            "sudo journalctl --unit=ssh.service --no-pager -o cat | grep -c 'Accepted publickey' || true",
          )(victim),
        );
      const before = await accepted();
      const desired = await edgeCommands(
        await stackConfig(env, { hostKeyOf: (h) => (h.name === victim.name ? other.hostKey : h.hostKey) }),
      );
      const deployment = await up(desired, state, { log });
      assert.ok(deployment.error);
      const victimSteps = stepsOf(deployment, victim);
      assert.ok(
        victimSteps.every((s) => s.status !== "succeeded"),
        stepNames(deployment).join("\n"),
      );
      // The provider's own message, after it re-dialled dialErrorLimit times (about a minute of waits).
      assert.ok(
        victimSteps.some((s) => s.stderr.includes(HOST_KEY_MISMATCH) && s.dials === DIAL_ERROR_LIMIT + 1),
        stepNames(deployment).join("\n"),
      );
      // Only the check's own login since `before` (which counted itself): the deployment never logged in.
      assert.equal(await accepted(), before + 1);
      // Nothing changed in state: with the right key there is nothing to do.
      state = deployment.state;
      assert.deepEqual(plan(await edgeCommands(await stackConfig(env)), state), []);
    });

    it("destroy removes what docs/edge-contract.md says and keeps the rest", async () => {
      serialsBeforeDestroy = await Promise.all(env.hosts.map(certificateSerial));
      const deployment = await destroy(state, { log });
      assert.equal(deployment.error, undefined, deployment.error);
      assert.deepEqual(deployment.state.resources, []);
      state = deployment.state;
      for (const host of env.hosts) {
        const steps = stepsOf(deployment, host);
        const at = (suffix: string) => steps.find((s) => s.urn.endsWith(`-${suffix}`));
        // Dependents first: the route-sync access before Traefik, everything before the preflight.
        const routeSync = at("route-sync");
        const traefik = at("traefik");
        assert.ok(routeSync && traefik);
        assert.ok(routeSync.startedAt + routeSync.ms <= traefik.startedAt);
        assert.equal(await run("systemctl is-active traefik.service || true")(host), "inactive");
        // As root: some of these live in root-only directories, where `test -e` as admin sees nothing.
        const gone = await run(
          "sudo ls -d /usr/local/bin/traefik /etc/traefik/traefik.yml /etc/systemd/system/traefik.service " +
            "/etc/logrotate.d/traefik /usr/local/lib/mynodeone/traefik-route-sync " +
            "/var/lib/traefik-sync/.ssh/authorized_keys /etc/mynodeone/edge-firewall.nft " +
            "/etc/systemd/system/mynodeone-edge-firewall.service /var/lib/mynodeone/traefik.applied 2>/dev/null; true",
        )(host);
        assert.equal(gone, "", `left behind: ${gone}`);
        // (Debian's own "inet filter" table may be there: the firewall test restarted nftables.service.)
        assert.doesNotMatch(await run("sudo nft list tables")(host), /mynodeone_edge/);
        const kept = await run(
          "sudo stat -c '%n %U %a' /var/lib/traefik/acme.json /etc/traefik/dynamic/demo.yml /var/log/traefik/access.log " +
            "&& id -un traefik && id -un traefik-sync",
        )(host);
        assert.deepEqual(kept.split("\n"), [
          "/var/lib/traefik/acme.json traefik 600",
          "/etc/traefik/dynamic/demo.yml traefik-sync 640",
          "/var/log/traefik/access.log traefik 644",
          "traefik",
          "traefik-sync",
        ]);
        assert.ok((await run("sudo cat /var/lib/traefik/acme.json")(host)).includes(host.domain));
        assert.ok(!(await canConnectFrom(env.probeNetns, host.address, 443)), "443 still answers");
      }
    });
    it("a reinstall after destroy picks up the kept certificate instead of ordering a new one", async function () {
      this.timeout(5 * 60_000);
      const issued = pebbleIssued(env);
      const deployment = await up(await edgeCommands(await stackConfig(env)), state, { log });
      assert.equal(deployment.error, undefined, deployment.error);
      state = deployment.state;
      for (const host of env.hosts) {
        await eventually(60, `${host.name} serves after the reinstall`, () => serves(host));
      }
      assert.deepEqual(
        await Promise.all(env.hosts.map(certificateSerial)),
        serialsBeforeDestroy,
        "a new certificate was issued",
      );
      assert.equal(pebbleIssued(env), issued);
    });
  },
);
