// EdgeHost with Pulumi mocks (what it registers, how values reach the hosts), and the route-sync forced
// command run locally against a temp directory.
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { parse } from "yaml";
import type { EdgeConfig, EdgeHostConfig } from "../components/edge/config";
import type { SshConfig } from "../components/remote/config";
import { EdgeHost } from "../components/edge";
import { opensshEd25519PublicKey } from "../scripts/lib/openssh";
import {
  installMocks,
  isSecretValue,
  plain,
  resourceNamed,
  resources,
  settle,
  valueOf,
  type RecordedResource,
} from "./mocks";

installMocks();

const REMOTE = "command:remote:Command";
const SCRIPTS = path.join(__dirname, "..", "components", "edge", "scripts");
const PRIVATE_KEY =
  "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAedge-test-only\n-----END OPENSSH PRIVATE KEY-----";
const SSH: SshConfig = { user: "deploy", port: 22, privateKey: pulumi.secret(PRIVATE_KEY) };
const PRODUCTION_CA = "https://acme-v02.api.letsencrypt.org/directory";
const STAGING_CA = "https://acme-staging-v02.api.letsencrypt.org/directory";

function publicKey(comment: string): string {
  return `${opensshEd25519PublicKey(crypto.generateKeyPairSync("ed25519").publicKey)} ${comment}`;
}

function edgeHost(name: string, address: string, extra: Partial<EdgeHostConfig> = {}): EdgeHostConfig {
  return { name, host: address, port: 22, user: "deploy", labels: {}, ...extra };
}

function edgeConfig(hosts: EdgeHostConfig[], extra: Partial<EdgeConfig> = {}): EdgeConfig {
  return {
    traefikVersion: "v3.7.13",
    acmeEmail: "ops@example.com",
    acmeCaUrl: STAGING_CA,
    routesDir: "/etc/traefik/dynamic",
    firewall: true,
    syncAuthorizedKeys: [publicKey("route-pusher")],
    downloadBaseUrl: "https://github.com/traefik/traefik/releases/download",
    minFreeDiskMb: 512,
    traefikSha256: {},
    hosts,
    ...extra,
  };
}

/** One EdgeHost per configured host, the way index.ts wires them; resolves once everything registered. */
async function deploy(
  prefix: string,
  edge: EdgeConfig,
  environment: string,
  protect: boolean,
  ssh: SshConfig = SSH,
): Promise<EdgeHost[]> {
  const components = edge.hosts.map(
    (host) => new EdgeHost(`${prefix}-${host.name}`, { host, edge, ssh, environment, protect }),
  );
  for (const component of components) {
    await valueOf(component.publicIp);
  }
  await settle();
  return components;
}

/** A string input of a recorded resource ("" when absent). */
function inputText(r: RecordedResource, key: string): string {
  const value = plain(r.inputs[key]);
  if (value === undefined) {
    return "";
  }
  assert.equal(typeof value, "string", `${r.name}.${key}`);
  return value as string;
}

/** The remote commands registered under one EdgeHost, by suffix (preflight, firewall, traefik, route-sync). */
function commandsOf(componentName: string): Map<string, { create: string; delete: string; stdin: string }> {
  const componentUrn = resourceNamed("mynodeone:edge:EdgeHost", componentName).urn;
  const commands = new Map<string, { create: string; delete: string; stdin: string }>();
  for (const r of resources()) {
    if (r.type === REMOTE && r.parent === componentUrn) {
      commands.set(r.name.slice(componentName.length + 1), {
        create: inputText(r, "create"),
        delete: inputText(r, "delete"),
        stdin: inputText(r, "stdin"),
      });
    }
  }
  return commands;
}

/**
 * Split a command string the way a POSIX shell does, for what scriptCommand emits: plain words, '...' and
 * backslash escapes. Any unquoted character a shell would interpret (; | & $ ` < > ( ) * ? # ...) fails the test.
 */
function shellWords(commandLine: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < commandLine.length; i++) {
    const c = commandLine.charAt(i);
    if (c === "'") {
      const end = commandLine.indexOf("'", i + 1);
      assert.ok(end > i, "unterminated single quote");
      word = (word ?? "") + commandLine.slice(i + 1, end);
      i = end;
    } else if (c === "\\") {
      word = (word ?? "") + commandLine.charAt(i + 1);
      i += 1;
    } else if (c === " ") {
      if (word !== undefined) {
        words.push(word);
      }
      word = undefined;
    } else {
      assert.match(
        c,
        /[A-Za-z0-9_=./:,@%+-]/,
        `unquoted shell metacharacter at ${i}: ${commandLine.slice(i, i + 40)}`,
      );
      word = (word ?? "") + c;
    }
  }
  if (word !== undefined) {
    words.push(word);
  }
  return words;
}

/** The env assignments of a scriptCommand string (KEY=value words before `bash`). */
function envOf(commandLine: string): Record<string, string> {
  const words = shellWords(commandLine);
  const env: Record<string, string> = {};
  for (const word of words.slice(words.indexOf("env") + 1, words.indexOf("bash"))) {
    const eq = word.indexOf("=");
    env[word.slice(0, eq)] = word.slice(eq + 1);
  }
  return env;
}

function scriptOf(commandLine: string): { name: string; text: string } {
  const words = shellWords(commandLine);
  const at = words.indexOf("-c");
  return { text: words[at + 1] ?? "", name: words[at + 2] ?? "" };
}

const script = (name: string): string => fs.readFileSync(path.join(SCRIPTS, name), "utf8");

describe("EdgeHost (mocked)", function () {
  it("registers one EdgeHost per configured host, each talking only to its own host", async function () {
    const edge = edgeConfig([
      edgeHost("edge-a", "203.0.113.10"),
      edgeHost("edge-b", "203.0.113.11", { port: 2222 }),
    ]);
    const [a, b] = await deploy("edgetest-per-host", edge, "dev", false);
    assert.ok(a && b);
    for (const [host, component] of [
      [edge.hosts[0], a],
      [edge.hosts[1], b],
    ] as const) {
      assert.ok(host);
      const name = `edgetest-per-host-${host.name}`;
      const componentUrn = resourceNamed("mynodeone:edge:EdgeHost", name).urn;
      const children = resources().filter((r) => r.parent === componentUrn);
      assert.deepEqual(children.map((r) => r.name).sort(), [
        `${name}-firewall`,
        `${name}-preflight`,
        `${name}-route-sync`,
        `${name}-traefik`,
      ]);
      for (const child of children) {
        const connection = plain(child.inputs["connection"]) as Record<string, unknown>;
        assert.equal(plain(connection["host"]), host.host);
        assert.equal(plain(connection["port"]), host.port);
        assert.equal(plain(connection["user"]), "deploy");
      }
      assert.equal(await valueOf(component.address), host.host);
      assert.equal(await valueOf(component.traefikVersion), "v3.7.13");
      assert.equal(await valueOf(component.routesDir), "/etc/traefik/dynamic");
      assert.equal(await valueOf(component.syncUser), "traefik-sync");
    }
  });

  it("does not depend on anything outside itself (provisions in parallel with the cluster)", async function () {
    // Something cluster-like registered first: nothing of the edge may wait for it.
    new command.remote.Command("edgetest-parallel-cluster", {
      connection: { host: "100.64.0.10" },
      create: "true",
    });
    await deploy("edgetest-parallel", edgeConfig([edgeHost("edge-a", "203.0.113.10")]), "dev", false);
    const componentUrn = resourceNamed("mynodeone:edge:EdgeHost", "edgetest-parallel-edge-a").urn;
    const children = resources().filter((r) => r.parent === componentUrn);
    const childUrns = new Set(children.map((r) => r.urn));
    for (const child of children) {
      for (const dependency of child.dependencies) {
        assert.ok(childUrns.has(dependency), `${child.name} depends on ${dependency}`);
      }
    }
    // The order inside: preflight first, route-sync access once Traefik (users, routes dir) exists.
    const urnOf = (suffix: string): string => resourceNamed(REMOTE, `edgetest-parallel-edge-a-${suffix}`).urn;
    const depsOf = (suffix: string): string[] =>
      resourceNamed(REMOTE, `edgetest-parallel-edge-a-${suffix}`).dependencies;
    assert.deepEqual(depsOf("preflight"), []);
    assert.ok(depsOf("traefik").includes(urnOf("preflight")));
    assert.ok(depsOf("firewall").includes(urnOf("preflight")));
    assert.ok(depsOf("route-sync").includes(urnOf("traefik")));
  });

  it("keeps the SSH private key out of every command string and stdin", async function () {
    await deploy("edgetest-secret", edgeConfig([edgeHost("edge-a", "203.0.113.10")]), "dev", false);
    const commands = commandsOf("edgetest-secret-edge-a");
    assert.equal(commands.size, 4);
    for (const [name, c] of commands) {
      for (const text of [c.create, c.delete, c.stdin]) {
        assert.ok(!text.includes("b3BlbnNzaC1rZXktdjEAAAAAedge-test-only"), `${name} leaks the private key`);
        assert.ok(!text.includes("PRIVATE KEY"), `${name} leaks the private key`);
      }
    }
    // The key travels only inside the connection, which is secret as a whole.
    for (const suffix of commands.keys()) {
      const connection = resourceNamed(REMOTE, `edgetest-secret-edge-a-${suffix}`).inputs["connection"];
      assert.ok(isSecretValue(connection), suffix);
      assert.equal((plain(connection) as Record<string, unknown>)["privateKey"], PRIVATE_KEY, suffix);
    }
  });

  it("passes hostile values only inside single quotes or on stdin", async function () {
    const routesDir = "/etc/traefik/routes'; rm -rf / #";
    const acmeEmail = `x'; rm -rf /;"$(reboot)"@example.com`;
    const sshAllowFrom = "100.64.0.0/10'; rm -rf / #";
    const edge = edgeConfig([edgeHost("edge-a", "203.0.113.10")], { routesDir, acmeEmail, sshAllowFrom });
    await deploy("edgetest-hostile", edge, "dev", false);
    const commands = commandsOf("edgetest-hostile-edge-a");
    for (const [name, c] of commands) {
      for (const text of [c.create, c.delete].filter((t) => t !== "")) {
        const env = envOf(text); // fails on any unquoted metacharacter
        if ("ROUTES_DIR" in env) {
          assert.equal(env["ROUTES_DIR"], routesDir, name);
        }
        if ("SSH_ALLOW_FROM" in env) {
          assert.equal(env["SSH_ALLOW_FROM"], sshAllowFrom, name);
        }
        assert.ok(!text.includes("reboot"), `${name}: the e-mail address belongs on stdin only`);
      }
    }
    const traefik = commands.get("traefik");
    assert.ok(traefik);
    const config = parse(traefik.stdin) as {
      providers: { file: { directory: string } };
      certificatesResolvers: { letsencrypt: { acme: { email: string } } };
    };
    assert.equal(config.certificatesResolvers.letsencrypt.acme.email, acmeEmail);
    assert.equal(config.providers.file.directory, routesDir);
  });

  it("ships the real scripts, run as root through sudo -n except the preflight", async function () {
    await deploy("edgetest-scripts", edgeConfig([edgeHost("edge-a", "203.0.113.10")]), "dev", false);
    const commands = commandsOf("edgetest-scripts-edge-a");
    const expected: Record<string, { create: string; delete?: string }> = {
      preflight: { create: "preflight.sh" },
      firewall: { create: "firewall.sh", delete: "firewall.sh" },
      traefik: { create: "install-traefik.sh", delete: "remove-traefik.sh" },
      "route-sync": { create: "route-sync-access.sh", delete: "route-sync-access.sh" },
    };
    for (const [suffix, files] of Object.entries(expected)) {
      const c = commands.get(suffix);
      assert.ok(c, suffix);
      assert.deepEqual(scriptOf(c.create), { name: files.create, text: script(files.create) });
      if (files.delete !== undefined) {
        assert.deepEqual(scriptOf(c.delete), { name: files.delete, text: script(files.delete) });
      } else {
        assert.equal(c.delete, "");
      }
      const sudo = shellWords(c.create).slice(0, 2).join(" ") === "sudo -n";
      assert.equal(sudo, suffix !== "preflight", `${suffix}: sudo -n`);
    }
    // The fetch script (checksum verification) is the one the tests exercise, byte for byte.
    assert.equal(
      envOf(commands.get("traefik")?.create ?? "")["FETCH_TRAEFIK_SCRIPT"],
      script("fetch-traefik.sh"),
    );
    assert.equal(
      envOf(commands.get("preflight")?.create ?? "")["FETCH_TRAEFIK_SCRIPT"],
      script("fetch-traefik.sh"),
    );
    assert.equal(
      envOf(commands.get("route-sync")?.create ?? "")["ROUTE_SYNC_SCRIPT"],
      script("route-sync.sh"),
    );
  });

  it("upgrades Traefik in place: the version is an input of the install command, which has no triggers", async function () {
    const edge = edgeConfig([edgeHost("edge-a", "203.0.113.10")], {
      traefikVersion: "v3.8.0",
      downloadBaseUrl: "https://mirror.example.com/traefik",
    });
    await deploy("edgetest-upgrade", edge, "dev", false);
    const record = resourceNamed(REMOTE, "edgetest-upgrade-edge-a-traefik");
    const env = envOf(inputText(record, "create"));
    assert.equal(env["TRAEFIK_VERSION"], "v3.8.0");
    assert.equal(env["TRAEFIK_DOWNLOAD_BASE_URL"], "https://mirror.example.com/traefik");
    assert.equal(record.inputs["triggers"], undefined);
    assert.ok(
      record.replaceOnChanges.every((property) => property.startsWith("triggers")),
      `only triggers may replace the install: ${record.replaceOnChanges.join(", ")}`,
    );
    assert.equal(
      envOf(inputText(resourceNamed(REMOTE, "edgetest-upgrade-edge-a-preflight"), "create"))[
        "TRAEFIK_VERSION"
      ],
      "v3.8.0",
    );
  });

  it("prod: production ACME CA and a protected install; dev: staging CA, unprotected", async function () {
    const prodEdge = edgeConfig([edgeHost("prod-edge-1", "203.0.113.10")], { acmeCaUrl: PRODUCTION_CA });
    const devEdge = edgeConfig([edgeHost("dev-edge-1", "198.51.100.20")], { acmeCaUrl: STAGING_CA });
    await deploy("edgetest-prod", prodEdge, "prod", true);
    await deploy("edgetest-dev", devEdge, "dev", false);
    const caOf = (name: string): string =>
      (
        parse(inputText(resourceNamed(REMOTE, name), "stdin")) as {
          certificatesResolvers: { letsencrypt: { acme: { caServer: string } } };
        }
      ).certificatesResolvers.letsencrypt.acme.caServer;
    assert.equal(caOf("edgetest-prod-prod-edge-1-traefik"), PRODUCTION_CA);
    assert.equal(caOf("edgetest-dev-dev-edge-1-traefik"), STAGING_CA);
    assert.equal(resourceNamed(REMOTE, "edgetest-prod-prod-edge-1-traefik").protect, true);
    assert.equal(resourceNamed(REMOTE, "edgetest-dev-dev-edge-1-traefik").protect, false);
    // Nothing else loses data on destroy (ACME storage and routes are kept): no protection needed there.
    for (const suffix of ["preflight", "firewall", "route-sync"]) {
      assert.equal(resourceNamed(REMOTE, `edgetest-prod-prod-edge-1-${suffix}`).protect, false, suffix);
    }
  });

  it("firewall: on by default with the host's SSH port; off removes it; destroy always removes it", async function () {
    const on = edgeConfig([edgeHost("edge-a", "203.0.113.10", { port: 2222 })], {
      sshAllowFrom: "100.64.0.0/10",
    });
    const off = edgeConfig([edgeHost("edge-b", "203.0.113.11")], { firewall: false });
    await deploy("edgetest-fw-on", on, "dev", false);
    await deploy("edgetest-fw-off", off, "dev", false);
    const fwOn = commandsOf("edgetest-fw-on-edge-a").get("firewall");
    const fwOff = commandsOf("edgetest-fw-off-edge-b").get("firewall");
    assert.ok(fwOn && fwOff);
    assert.deepEqual(envOf(fwOn.create), {
      FIREWALL_ENABLED: "true",
      SSH_ALLOW_FROM: "100.64.0.0/10",
      SSH_PORT: "2222",
    });
    assert.equal(envOf(fwOn.delete)["FIREWALL_ENABLED"], "false");
    assert.equal(envOf(fwOff.create)["FIREWALL_ENABLED"], "false");
  });

  it("route-sync: confined keys on stdin; destroy revokes them", async function () {
    const key = publicKey("route-pusher@cluster");
    await deploy(
      "edgetest-sync",
      edgeConfig([edgeHost("edge-a", "203.0.113.10")], { syncAuthorizedKeys: [key] }),
      "dev",
      false,
    );
    const sync = commandsOf("edgetest-sync-edge-a").get("route-sync");
    assert.ok(sync);
    assert.equal(sync.stdin, `restrict,command="/usr/local/lib/mynodeone/traefik-route-sync" ${key}\n`);
    assert.equal(envOf(sync.create)["ACTION"], "grant");
    assert.equal(envOf(sync.delete)["ACTION"], "revoke");
    assert.ok(!sync.create.includes(key.split(" ")[1] ?? "-"), "keys travel on stdin");
  });
});

describe("route-sync forced command (run locally)", function () {
  let root: string;
  let routes: string;
  let server: http.Server;
  let pingUrl: string;

  before(async function () {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "edge-route-sync-"));
    server = http.createServer((req, res) => {
      res.writeHead(req.url === "/ping" ? 200 : 404);
      res.end(req.url === "/ping" ? "OK" : "");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    pingUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ping`;
  });

  after(async function () {
    await new Promise<void>((resolve) =>
      server.close(() => {
        resolve();
      }),
    );
    fs.rmSync(root, { recursive: true, force: true });
  });

  beforeEach(function () {
    routes = fs.mkdtempSync(path.join(root, "routes-"));
  });

  /** What sshd would run for a client request (SSH_ORIGINAL_COMMAND), with `input` on stdin. */
  function request(
    original: string | undefined,
    input = "",
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const env: NodeJS.ProcessEnv = { PATH: process.env["PATH"], ROUTES_DIR: routes, PING_URL: pingUrl };
      if (original !== undefined) {
        env["SSH_ORIGINAL_COMMAND"] = original;
      }
      const child = execFile(
        "bash",
        [path.join(SCRIPTS, "route-sync.sh")],
        { env },
        (error, stdout, stderr) => {
          resolve({
            code: error === null ? 0 : typeof error.code === "number" ? error.code : 1,
            stdout,
            stderr,
          });
        },
      );
      // The script may exit (refusing the request) before reading its stdin.
      child.stdin?.on("error", () => undefined);
      child.stdin?.end(input);
    });
  }

  const ROUTE = "http:\n  routers:\n    demo:\n      rule: Host(`demo.example.com`)\n";

  it("put writes <service>.yml atomically, readable by the traefik group only", async function () {
    const result = await request("put demo.yml", ROUTE);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(fs.readdirSync(routes), ["demo.yml"], "no temp file left behind");
    assert.equal(fs.readFileSync(path.join(routes, "demo.yml"), "utf8"), ROUTE);
    assert.equal(fs.statSync(path.join(routes, "demo.yml")).mode & 0o777, 0o640);
    const replaced = await request("put demo.yml", `${ROUTE}# v2\n`);
    assert.equal(replaced.code, 0, replaced.stderr);
    assert.equal(fs.readFileSync(path.join(routes, "demo.yml"), "utf8"), `${ROUTE}# v2\n`);
  });

  it("refuses names that leave the directory or that Traefik would not read, writing nothing", async function () {
    for (const name of [
      "../evil.yml",
      "a/b.yml",
      ".hidden.yml",
      "demo.yaml",
      "demo.toml",
      "demo",
      "de mo.yml",
    ]) {
      const result = await request(`put ${name}`, ROUTE);
      assert.notEqual(result.code, 0, name);
      assert.match(result.stderr, /route-sync: (invalid route file name|usage)/, name);
    }
    assert.deepEqual(fs.readdirSync(routes), []);
    assert.deepEqual(
      fs.readdirSync(root).filter((f) => f.endsWith(".yml")),
      [],
    );
  });

  it("refuses an empty or oversized route file and keeps the previous one", async function () {
    await request("put demo.yml", ROUTE);
    const empty = await request("put demo.yml", "");
    assert.notEqual(empty.code, 0);
    assert.match(empty.stderr, /empty route file/);
    const huge = await request("put demo.yml", "#".repeat(1024 * 1024 + 1));
    assert.notEqual(huge.code, 0);
    assert.match(huge.stderr, /larger than 1048576 bytes/);
    assert.deepEqual(fs.readdirSync(routes), ["demo.yml"]);
    assert.equal(fs.readFileSync(path.join(routes, "demo.yml"), "utf8"), ROUTE);
  });

  it("lists and deletes route files", async function () {
    await request("put b.yml", ROUTE);
    await request("put a.yml", ROUTE);
    fs.writeFileSync(path.join(routes, ".a.yml.1.tmp"), "partial");
    assert.equal((await request("list")).stdout, "a.yml\nb.yml\n");
    assert.equal((await request("delete a.yml")).code, 0);
    assert.equal((await request("delete a.yml")).code, 0, "deleting an absent route is not an error");
    assert.equal((await request("list")).stdout, "b.yml\n");
  });

  it("reports Traefik's ping", async function () {
    const result = await request("health");
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "OK\n");
  });

  it("refuses interactive logins and arbitrary commands", async function () {
    for (const original of [
      undefined,
      "",
      "cat > x.yml",
      "bash",
      "rm -rf /",
      "scp -t /etc/traefik/dynamic",
      "/usr/lib/openssh/sftp-server",
      "internal-sftp",
    ]) {
      const result = await request(original, "x");
      assert.notEqual(result.code, 0, String(original));
      assert.match(result.stderr, /interactive logins are not allowed|command not allowed/, String(original));
    }
    assert.deepEqual(fs.readdirSync(routes), []);
  });
});
