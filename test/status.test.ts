// `npm run status`: its pure parts (cron schedule, registry shapes, edge probe output, certificate levels,
// report, exit codes and JSON schema), how it reads a stack, and its bounds when nothing answers. The probes
// against a real API, real Flux controllers and real edge hosts are in the e2e tiers (docs/testing.md).
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import * as YAML from "yaml";
import { ConfigError, loadConfig } from "../components/config";
import { DEFAULT_K3S_VERSION } from "../components/k3s/config";
import { EMPTY_REGISTRIES } from "../components/registries/contents";
import { credentialFindings, snapshotFindings } from "../scripts/lib/status/cluster";
import { parseCron, parseUtcOffset, previousFiring } from "../scripts/lib/status/cron";
import { fluxFindings } from "../scripts/lib/status/flux";
import type { KubeGet } from "../scripts/lib/status/kube";
import { certificateLevel, parseEdgeProbe } from "../scripts/lib/status/edge";
import { rawConfigFromCli, statusInputs, type StatusInputs } from "../scripts/lib/status/inputs";
import { checkRegistryValue, SHAPES } from "../scripts/lib/status/registries";
import { buildReport, exitCode, renderTable, type Finding } from "../scripts/lib/status/report";
import { Findings } from "../scripts/lib/status/probe";
import { runStatus } from "../scripts/lib/status/run";
import { SshClient, SshError } from "../scripts/lib/status/ssh";
import { checkSshPrivateKey } from "../components/config/secret";
import { opensshPrivateKey } from "../scripts/lib/openssh";
import { devRawConfig, k3sKubeconfig, RUNTIME_REGISTRY_ENTRIES, testKeys } from "./fixtures";
import { editKubeconfig, issueClientCert, selfSignedCert } from "./harness/certs";
import { assertValidReport, finding, runStatusCli } from "./harness/status";

const at = (iso: string): Date => new Date(iso);
const ROOT = path.join(__dirname, "..");

/** A loopback port nothing listens on (bound, then closed). */
const closedPort = async (): Promise<number> => {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) =>
    server.close(() => {
      r();
    }),
  );
  return port;
};

describe("status: cron schedule of the etcd snapshots", () => {
  const cases: [cron: string, at: string, previous: string, why: string][] = [
    ["0 */6 * * *", "2026-12-02T05:59:00Z", "2026-12-02T00:00:00Z", "k3s's default"],
    ["0 */6 * * *", "2026-12-02T06:00:30Z", "2026-12-02T06:00:00Z", "the firing minute itself"],
    ["30 2 * * 1", "2026-12-02T12:00:00Z", "2026-11-30T02:30:00Z", "weekly (2026-12-02 is a Wednesday)"],
    ["*/15 8-17 * * *", "2026-12-02T07:59:00Z", "2026-12-01T17:45:00Z", "a step inside a range"],
    ["5,35 1 1,15 * *", "2026-12-10T00:00:00Z", "2026-12-01T01:35:00Z", "lists"],
    ["0 0 1 * 7", "2026-11-30T12:00:00Z", "2026-11-29T00:00:00Z", "both day fields: the 1st or a Sunday (7)"],
    ["0 0 1 * 7", "2026-11-28T12:00:00Z", "2026-11-22T00:00:00Z", "both day fields, the Sunday before"],
  ];
  for (const [cron, now, previous, why] of cases) {
    it(`'${cron}' at ${now}: ${previous} (${why})`, () => {
      assert.equal(previousFiring(parseCron(cron), at(now))?.toISOString(), new Date(previous).toISOString());
    });
  }

  it("rejects what k3s's cron would not read, naming the field", () => {
    assert.throws(() => parseCron("0 */6 * *"), /expected 5 fields, got 4/);
    assert.throws(() => parseCron("61 * * * *"), /minute field "61": out of range 0-59/);
    assert.throws(() => parseCron("0 * * JAN *"), /month field "JAN": cannot read "JAN"/);
  });
});

describe("status: registry shapes", () => {
  it("accepts the contract's empty values and the runtime's populated ones, with their counts", () => {
    for (const registries of [EMPTY_REGISTRIES, RUNTIME_REGISTRY_ENTRIES]) {
      for (const [name, keys] of Object.entries(SHAPES)) {
        for (const [key, shape] of Object.entries(keys)) {
          const data = (registries as Record<string, Record<string, string>>)[name]?.[key];
          const text = data?.replace("<creation-time>", "2026-12-02T00:00:00Z");
          assert.deepEqual(checkRegistryValue(key, text, shape).problems, [], `${name} ${key}`);
        }
      }
    }
    const domains = checkRegistryValue(
      "domains.json",
      RUNTIME_REGISTRY_ENTRIES["domain-registry"]?.["domains.json"],
      SHAPES["domain-registry"]["domains.json"] ?? assert.fail(),
    );
    assert.deepEqual(domains.counts, ["domains.json domains: 1", "vps_nodes: 1"]);
  });

  it("names what breaks the contract: a missing or mistyped field, a missing key, text that is not JSON", () => {
    const domains = SHAPES["domain-registry"]["domains.json"] ?? assert.fail();
    const registry = SHAPES["sync-controller-registry"]["registry.json"] ?? assert.fail();
    assert.deepEqual(checkRegistryValue("domains.json", '{"domains":{}}', domains).problems, [
      "domains.json: vps_nodes is missing",
    ]);
    assert.deepEqual(checkRegistryValue("domains.json", '{"domains":[],"vps_nodes":{}}', domains).problems, [
      "domains.json: domains is not an object",
      "domains.json: vps_nodes is not an array",
    ]);
    assert.deepEqual(
      checkRegistryValue("registry.json", '{"vps_nodes":[],"worker_nodes":[]}', registry).problems,
      ["registry.json: management_laptops is missing"],
    );
    assert.deepEqual(checkRegistryValue("routing.json", undefined, domains).problems, [
      "routing.json is missing",
    ]);
    assert.deepEqual(checkRegistryValue("services.json", "{oops", domains).problems, [
      "services.json is not JSON",
    ]);
    assert.deepEqual(checkRegistryValue("services.json", "[]", domains).problems, [
      "services.json is not a JSON object",
    ]);
  });
});

describe("status: edge probe output and certificates", () => {
  it("parses edge-probe.sh's lines: unit, ping, version, routes, rejected files, domains once each", () => {
    const parsed = parseEdgeProbe(
      [
        "unit active",
        "ping OK",
        "version 3.7.13",
        "routes ok",
        "route a.yml",
        "domain a.example.com",
        "route b.yml",
        "rejected b.yml",
        "domain a.example.com",
        "domain b.example.com",
        "",
      ].join("\n"),
    );
    assert.deepEqual(parsed, {
      unit: "active",
      ping: "OK",
      version: "3.7.13",
      routes: "ok",
      files: ["a.yml", "b.yml"],
      rejected: ["b.yml"],
      domains: ["a.example.com", "b.example.com"],
      verdict: "",
    });
    assert.equal(
      parseEdgeProbe("unit inactive\nping error curl: (7) Failed to connect\n").ping,
      "error curl: (7) Failed to connect",
    );
  });

  it("edge-probe.sh itself: exits 0 when a route file has no Host rule, skips comments and temp files, says why there is no verdict", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "status-routes-"));
    try {
      fs.writeFileSync(
        path.join(dir, "a.yml"),
        'http:\n  routers:\n    a:\n      rule: "Host(`a.example.com`)"\n# rule: "Host(`old.example.com`)"\n',
      );
      fs.writeFileSync(path.join(dir, "tls.yml"), "tls:\n  options: {}\n");
      fs.writeFileSync(path.join(dir, ".a.yml.123.tmp"), "half written");
      // No Traefik here (no systemd as PID 1, or no unit): the script still runs to the end.
      const stdout = execFileSync("bash", [path.join(ROOT, "scripts/lib/status/scripts/edge-probe.sh")], {
        encoding: "utf8",
        env: {
          PATH: process.env["PATH"] ?? "",
          ROUTES_DIR: dir,
          PING_URL: "http://127.0.0.1:9/ping",
          TRAEFIK_BINARY: "/nonexistent",
          RELOAD_WAIT_SECONDS: "0",
        },
      });
      const probe = parseEdgeProbe(stdout);
      assert.deepEqual(
        [probe.routes, probe.files, probe.domains, probe.rejected],
        ["ok", ["a.yml", "tls.yml"], ["a.example.com"], []],
      );
      assert.equal(probe.verdict, "unavailable: Traefik is not running");
      assert.match(probe.ping, /^error /);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("warns under 14 days, fails when expired or for another name", () => {
    const now = at("2026-12-02T00:00:00Z");
    const cert = (days: number, nameMismatch?: string) => ({
      subject: "app.example.com",
      issuer: "Pebble Intermediate CA",
      notAfter: new Date(now.getTime() + days * 86_400_000),
      ...(nameMismatch !== undefined ? { nameMismatch } : {}),
    });
    assert.equal(certificateLevel(cert(60), now).status, "OK");
    assert.equal(certificateLevel(cert(14.5), now).status, "OK");
    const soon = certificateLevel(cert(5), now);
    assert.equal(soon.status, "WARN");
    assert.match(soon.detail, /expires 2026-12-07 \(5\.0 days\), issuer Pebble Intermediate CA/);
    assert.match(certificateLevel(cert(-1), now).detail, /expired/);
    assert.equal(certificateLevel(cert(-1), now).status, "FAIL");
    const other = certificateLevel(
      { ...cert(300, "Host: app.example.com. is not cert's CN"), subject: "TRAEFIK DEFAULT CERT" },
      now,
    );
    assert.equal(other.status, "FAIL");
    assert.match(other.detail, /for TRAEFIK DEFAULT CERT .*no certificate was issued for this name/);
  });
});

describe("status: report, exit code and JSON schema", () => {
  const f = (status: Finding["status"], layer: Finding["layer"] = "cluster"): Finding => ({
    layer,
    check: `${layer} ${status}`,
    status,
    detail: "d",
    ...(status !== "OK" ? { next: "do this" } : {}),
  });
  const report = (findings: Finding[]) =>
    buildReport({
      stack: "dev",
      checkedAt: at("2026-12-02T00:00:00Z"),
      durationMs: 12.4,
      timeoutSeconds: 10,
      findings,
      notChecked: [],
    });

  it("exits 0 when all is OK, 1 on any FAIL, 2 for warnings only", () => {
    assert.equal(exitCode(report([f("OK"), f("OK", "edge")])), 0);
    assert.equal(exitCode(report([f("OK"), f("WARN", "edge")])), 2);
    assert.equal(exitCode(report([f("WARN"), f("FAIL", "edge"), f("OK")])), 1);
    assert.equal(exitCode(report([])), 0);
  });

  it("groups by layer in a fixed order, shows the next step under a WARN or FAIL, and validates", () => {
    const r = buildReport({
      stack: "dev",
      checkedAt: at("2026-12-02T00:00:00Z"),
      durationMs: 1234,
      timeoutSeconds: 10,
      findings: [f("FAIL", "edge"), f("OK", "sops"), f("WARN", "cluster")],
      notChecked: [{ layer: "flux", check: "flux", reason: "flux.install is false" }],
    });
    assert.deepEqual(
      r.findings.map((x) => x.layer),
      ["cluster", "sops", "edge"],
    );
    assert.deepEqual([r.status, r.summary], ["FAIL", { ok: 1, warn: 1, fail: 1 }]);
    assertValidReport(JSON.parse(JSON.stringify(r)));
    const table = renderTable(r).split("\n");
    assert.deepEqual(table.slice(0, 4), [
      "mynodeone status of stack dev at 2026-12-02T00:00:00.000Z",
      "",
      "CLUSTER",
      "  WARN  cluster WARN  d",
    ]);
    assert.equal(table[4], `        ${" ".repeat("cluster WARN".length)}  next: do this`);
    assert.ok(table.includes("FLUX"));
    assert.ok(table.includes("  -     flux          not checked: flux.install is false"), table.join("\n"));
    assert.equal(
      table.at(-1),
      "FAIL: 1 ok, 1 warning(s), 1 failure(s) in 1.2 s (each probe bounded to 10 s)",
    );
  });

  it("the schema refuses a report a consumer could misread", () => {
    const good = JSON.parse(JSON.stringify(report([f("FAIL")]))) as Record<string, unknown>;
    const bad = (mutate: (r: Record<string, unknown> & { findings: Record<string, unknown>[] }) => void) => {
      const copy = structuredClone(good) as Record<string, unknown> & { findings: Record<string, unknown>[] };
      mutate(copy);
      assert.throws(() => {
        assertValidReport(copy);
      }, /does not match/);
    };
    assertValidReport(good);
    bad((r) => delete r.findings[0]?.["next"]);
    bad((r) => (r.findings[0] = { ...r.findings[0], status: "BROKEN" }));
    bad((r) => (r.findings[0] = { ...r.findings[0], layer: "dns" }));
    bad((r) => (r["status"] = "ok"));
    bad((r) => (r["extra"] = 1));
  });
});

describe("status: the stack it checks", () => {
  it("reads the stack's config with the program's loader: hosts, pins, schedule, pinned host keys", async () => {
    const raw = await devRawConfig();
    const inputs = await statusInputs(
      "dev",
      { kubeconfig: "k", sopsGpgFingerprint: "F" },
      {
        ...raw,
        k3s: {
          ...(raw["k3s"] as object),
          agents: [
            { name: "dev-w-1", host: "100.64.0.30" },
            { name: "dev-w-2", host: "100.64.0.31" },
          ],
          unreachableNodes: ["dev-w-2"],
        },
      },
    );
    assert.equal(inputs.adopted, false);
    // k3s names its nodes after the hosts; a node listed as unreachable is being removed.
    assert.deepEqual([inputs.nodeNames, inputs.unreachableNodes], [["dev-cp-1", "dev-w-1"], ["dev-w-2"]]);
    assert.equal(inputs.kubeconfig, "k");
    assert.equal(inputs.k3sVersion, DEFAULT_K3S_VERSION);
    assert.equal(inputs.etcdScheduleCron, "0 */6 * * *");
    assert.deepEqual(inputs.servers, [{ name: "dev-cp-1", host: "100.64.0.10", port: 22, user: "root" }]);
    assert.deepEqual(inputs.edge.hosts, [
      { name: "dev-edge-1", host: "198.51.100.20", port: 22, user: "root", publicAddress: "198.51.100.20" },
    ]);
    assert.equal(inputs.edge.routesDir, "/etc/traefik/dynamic");
    assert.equal(inputs.sshPrivateKey, undefined);
    assert.deepEqual(inputs.flux, { install: true, interval: "1m", namespace: "flux-system" });
  });

  it("an adopted cluster: no servers, no k3s pin or schedule", async () => {
    const raw = { ...(await devRawConfig()), existingKubeconfig: k3sKubeconfig("key"), k3s: {} };
    const inputs = await statusInputs("dev", {}, raw);
    assert.equal(inputs.adopted, true);
    assert.deepEqual(
      [inputs.servers, inputs.k3sVersion, inputs.etcdScheduleCron],
      [[], undefined, undefined],
    );
  });

  it("an adopted cluster whose certificate has expired still gets a report: the loader leaves it to the finding", async () => {
    // Expired 30 s ago, signed by a throwaway CA.
    const pki = fs.mkdtempSync(path.join(os.tmpdir(), "mynodeone-status-ca-"));
    const ca = selfSignedCert("/CN=status-test-ca", 1);
    fs.writeFileSync(path.join(pki, "ca.crt"), ca.certPem);
    fs.writeFileSync(path.join(pki, "ca.key"), ca.keyPem);
    const credential = issueClientCert(pki, "adopted-admin", {
      group: "system:masters",
      notAfter: new Date(Date.now() - 30_000),
    });
    fs.rmSync(pki, { recursive: true, force: true });
    const expired = editKubeconfig(k3sKubeconfig("key"), { credential });
    const raw = { ...(await devRawConfig()), existingKubeconfig: expired, k3s: {} };
    await assert.rejects(loadConfig(raw, { stack: "dev" }), ConfigError, "pulumi up refuses it");
    const inputs = await statusInputs("dev", { kubeconfig: expired }, raw);
    assert.equal(inputs.kubeconfig, expired);
  });

  it("takes `pulumi config --json` entries, object keys included, and reports a bad config with its fixes", async () => {
    const raw = await devRawConfig();
    const cli = Object.fromEntries(
      Object.entries(raw).map(([k, v]) => [
        `mynodeone:${k}`,
        typeof v === "string" ? { value: v } : { value: JSON.stringify(v), objectValue: v },
      ]),
    );
    assert.deepEqual(rawConfigFromCli({ ...cli, "other:key": { value: "x" } }), raw);
    await assert.rejects(
      statusInputs("dev", {}, { ...raw, edge: { hosts: [{ name: "e", host: "not a host" }] } }),
      (err: unknown) => err instanceof ConfigError && /edge\.hosts\[0\]\.host/.test(err.message),
    );
  });
});

describe("status: bounds when nothing answers", function () {
  this.timeout(30_000);
  /** A kubeconfig with a token and the system's CAs, for an API at 127.0.0.1:`port`. */
  const kubeconfigAt = (port: number): string =>
    [
      "apiVersion: v1",
      "kind: Config",
      `clusters: [{name: c, cluster: {server: "https://127.0.0.1:${String(port)}"}}]`,
      "users: [{name: u, user: {token: t0ken}}]",
      "contexts: [{name: x, context: {cluster: c, user: u}}]",
      "current-context: x",
    ].join("\n");
  const inputs = (kubeconfig?: string): StatusInputs => ({
    stack: "dev",
    ...(kubeconfig !== undefined ? { kubeconfig } : {}),
    adopted: true,
    nodeNames: [],
    unreachableNodes: [],
    servers: [],
    flux: { install: true, interval: "1m", namespace: "flux-system" },
    edge: {
      hosts: [],
      traefikVersion: "v3.7.13",
      routesDir: "/etc/traefik/dynamic",
      pingUrl: "http://127.0.0.1:8082/ping",
      binary: "/usr/local/bin/traefik",
    },
  });

  it("an API that refuses: one FAIL for the API, the layers behind it not checked, exit 1", async () => {
    const port = await closedPort();
    const report = await runStatus(inputs(kubeconfigAt(port)), { timeoutSeconds: 2 });
    assertValidReport(JSON.parse(JSON.stringify(report)));
    assert.equal(finding(report, "API").status, "FAIL");
    assert.match(
      finding(report, "API").detail,
      new RegExp(`127\\.0\\.0\\.1:${String(port)}: .*ECONNREFUSED`),
    );
    assert.deepEqual(
      report.notChecked.map((n) => `${n.check}: ${n.reason}`),
      [
        "nodes: the API did not answer",
        "etcd snapshots: the API did not answer",
        "encryption config: the stack adopts its cluster: its at-rest encryption is not this stack's",
        "flux: the API did not answer",
        "sops-gpg: the API did not answer",
        "registries: the API did not answer",
        "edge hosts: edge.hosts is empty",
      ],
    );
    assert.equal(exitCode(report), 1);
  });

  it("an API that accepts and never answers costs one timeout", async () => {
    const server = net.createServer(() => undefined);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const port = (server.address() as net.AddressInfo).port;
      const started = Date.now();
      const report = await runStatus(inputs(kubeconfigAt(port)), { timeoutSeconds: 1 });
      const ms = Date.now() - started;
      assert.match(finding(report, "API").detail, /no answer within 1 s/);
      assert.ok(ms < 3000, `took ${String(ms)} ms`);
    } finally {
      server.close();
    }
  });

  it("a stack without a kubeconfig output is a FAIL that says to run pulumi up", async () => {
    const report = await runStatus(inputs(), { timeoutSeconds: 1 });
    assert.equal(finding(report, "API").next, "pulumi up (the first up writes it)");
  });
});

describe("status: SSH identity", function () {
  this.timeout(30_000);

  it("rewrites a PKCS#8 ed25519 key (which the program accepts, and ssh-add cannot read) in OpenSSH's format", async () => {
    const keys = await testKeys();
    const converted = opensshPrivateKey(keys.sshPrivateKey);
    assert.match(converted, /^-----BEGIN OPENSSH PRIVATE KEY-----\n/);
    assert.equal(checkSshPrivateKey(converted), undefined);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "status-key-"));
    try {
      fs.writeFileSync(path.join(dir, "id"), converted, { mode: 0o600 });
      const derived = execFileSync("ssh-keygen", ["-y", "-f", path.join(dir, "id")], { encoding: "utf8" });
      assert.equal(derived.trim(), keys.sshPublicKey);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    assert.equal(opensshPrivateKey(converted), converted, "an OpenSSH key is left as it is");
  });

  it("loads the stack's key into a private agent, leaving no private key on disk, and cleans up", async () => {
    const keys = await testKeys();
    const client = new SshClient(keys.sshPrivateKey);
    let files: string[] = [];
    try {
      assert.equal(await client.publicKey(), keys.sshPublicKey);
      const tmp = fs.readdirSync(os.tmpdir()).filter((d) => d.startsWith("mynodeone-status-"));
      files = tmp.flatMap((d) =>
        fs.readdirSync(path.join(os.tmpdir(), d)).map((f) => path.join(os.tmpdir(), d, f)),
      );
      for (const file of files) {
        if (fs.statSync(file).isFile()) {
          assert.ok(!fs.readFileSync(file, "utf8").includes("PRIVATE KEY"), `${file} holds a private key`);
        }
      }
      assert.ok(
        files.some((f) => f.endsWith("id.pub") && fs.readFileSync(f, "utf8").startsWith(keys.sshPublicKey)),
      );
    } finally {
      client.close();
    }
    for (const file of files) {
      assert.ok(!fs.existsSync(file), `${file} is left behind`);
    }
  });

  it("a key that is not one fails with ssh-add's words and no key material", async () => {
    const client = new SshClient(
      "-----BEGIN OPENSSH PRIVATE KEY-----\nbm90IGEga2V5\n-----END OPENSSH PRIVATE KEY-----\n",
    );
    try {
      await assert.rejects(
        client.exec({ host: "127.0.0.1", port: 22, user: "admin" }, "true", "", 5000),
        (err: unknown) => {
          assert.ok(err instanceof Error);
          assert.match(err.message, /the stack's sshPrivateKey cannot be loaded/);
          assert.ok(!err.message.includes("bm90IGEga2V5"));
          return true;
        },
      );
    } finally {
      client.close();
    }
  });

  it("a refused connection is a connect error naming the target", async () => {
    const client = new SshClient(undefined);
    try {
      const port = await closedPort();
      await assert.rejects(
        client.exec({ host: "127.0.0.1", port, user: "admin" }, "true", "", 5000),
        (err: unknown) => {
          assert.ok(err instanceof SshError);
          assert.equal(err.kind, "connect");
          assert.match(err.message, new RegExp(`admin@127\\.0\\.0\\.1:${String(port)}: .*refused`));
          return true;
        },
      );
    } finally {
      client.close();
    }
  });
});

describe("status: command line", function () {
  this.timeout(30_000);
  it("refuses a bad option before reading the stack, with the usage (exit 64)", async () => {
    for (const [args, message] of [
      [["--json"], /--stack NAME is required/],
      [["--stack", "dev", "--timeout", "0"], /--timeout 0: expected whole seconds from 1 to 300/],
      [
        ["--stack", "dev", "--layer", "dns"],
        /--layer dns: expected one of cluster, flux, sops, registries, edge/,
      ],
      [["--stack", "dev", "--verbose"], /unknown option --verbose/],
    ] as const) {
      const run = await runStatusCli([...args], {});
      assert.equal(run.code, 64, run.stderr);
      assert.match(run.stderr, message);
      assert.match(run.stderr, /usage: npm run status -- --stack NAME/);
    }
  });
});

describe("status: probe decisions on API answers", () => {
  const now = at("2026-12-02T12:00:00Z");
  /** A KubeGet answering `objects` by path, 404 for anything else. */
  const api =
    (objects: Record<string, unknown>): KubeGet =>
    (apiPath) =>
      Promise.resolve(
        apiPath in objects
          ? { status: 200, body: objects[apiPath] }
          : { status: 404, body: { message: "not found" } },
      );
  const base = (over: Partial<StatusInputs> = {}) => ({
    inputs: {
      stack: "dev",
      adopted: false,
      nodeNames: [],
      unreachableNodes: [],
      servers: [],
      etcdScheduleCron: "0 */6 * * *",
      flux: { install: true, interval: "1m", namespace: "flux-system" },
      edge: {
        hosts: [],
        traefikVersion: "v3.7.13",
        routesDir: "/etc/traefik/dynamic",
        pingUrl: "",
        binary: "",
      },
      ...over,
    },
    ssh: new SshClient(undefined),
    now,
    timeoutMs: 1000,
  });
  const snapshotsAt = (...times: string[]) => ({
    "/apis/k3s.cattle.io/v1/etcdsnapshotfiles": {
      items: times.map((t, i) => ({
        spec: { snapshotName: `s${String(i)}` },
        status: { creationTime: t, readyToUse: true },
      })),
    },
    "/api/v1/namespaces/kube-system": { metadata: { creationTimestamp: "2026-01-01T00:00:00Z" } },
  });
  const snapshot = async (
    ctx: ReturnType<typeof base>,
    objects: Record<string, unknown>,
    offset?: number,
  ) => {
    try {
      const out = await snapshotFindings(
        ctx,
        api(objects),
        Promise.resolve(
          offset === undefined
            ? []
            : [{ server: { name: "cp", host: "h", port: 22, user: "u" }, utcOffsetMinutes: offset }],
        ),
      );
      return out.findings[0] ?? assert.fail("no finding");
    } finally {
      ctx.ssh.close();
    }
  };

  it("reads the snapshot schedule on the servers' clock: at 14:00 +02:00 the one due is 12:00 local (10:00 UTC)", async () => {
    // 12:00 UTC is 14:00 at +02:00: the last '0 */6' firing there was 12:00 local = 10:00 UTC.
    assert.equal((await snapshot(base(), snapshotsAt("2026-12-02T10:00:20Z"), 120)).status, "OK");
    // The snapshot before it (04:00 UTC, 06:00 local) is one behind.
    const behind = await snapshot(base(), snapshotsAt("2026-12-02T04:00:30Z"), 120);
    assert.equal(behind.status, "WARN");
    assert.match(
      behind.detail,
      /server time, UTC\+02:00\): the one due at 2026-12-02T10:00:00\.000Z is missing$/,
    );
    assert.match(
      (await snapshot(base(), snapshotsAt("2026-12-02T06:00:30Z"))).detail,
      /UTC: no server answered\)$/,
    );
    assert.equal(parseUtcOffset("+0530"), 330);
    assert.equal(parseUtcOffset("-0800"), -480);
    assert.equal(parseUtcOffset("UTC"), undefined);
  });

  it("the kubeconfig's client certificate: OK, WARN within 30 days (where pulumi up warns too), FAIL expired; nothing for a token", () => {
    const withCertificate = (days: number): string =>
      editKubeconfig(k3sKubeconfig("key"), {
        credential: selfSignedCert("/O=system:masters/CN=adopted-admin", days),
      });
    const judge = (kubeconfig: string, when: Date, adopted = true): Finding[] => {
      const out = new Findings("cluster");
      credentialFindings(out, kubeconfig, when, adopted);
      return out.findings;
    };
    const judgeOne = (kubeconfig: string, when: Date, adopted = true): Finding => {
      const [one, ...more] = judge(kubeconfig, when, adopted);
      assert.ok(one && more.length === 0, "one finding");
      return one;
    };
    const today = new Date();
    const day = 86_400_000;
    const year = withCertificate(365);
    const ok = judgeOne(year, today);
    assert.equal(ok.status, "OK");
    assert.match(
      ok.detail,
      /^client certificate CN=adopted-admin expires \d{4}-\d\d-\d\d \((365\.0|364\.9) days\)$/,
    );
    const soon = judgeOne(withCertificate(10), today);
    assert.equal(soon.status, "WARN");
    assert.match(soon.detail, /\((10\.0|9\.9) days\)$/);
    assert.match(
      soon.next ?? "",
      /^pulumi config set --secret 'mynodeone:existingKubeconfig' .*'An expired cluster credential'\), then pulumi up$/,
    );
    const expired = judgeOne(withCertificate(10), new Date(today.getTime() + 11 * day));
    assert.deepEqual([expired.status, expired.detail.endsWith("(expired)")], ["FAIL", true]);
    // k3s mode with a certificate: k3s's admin kubeconfig of a stack from before the program's token. The fix
    // is an up, never adopting the cluster.
    const older = judgeOne(withCertificate(10), today, false);
    assert.equal(older.status, "WARN");
    assert.match(older.next ?? "", /^pulumi up: the stack then uses the program's own token credential/);
    // The program's own credential (k3s mode) is a ServiceAccount token: nothing to judge.
    const doc = YAML.parse(year) as { users: { user: Record<string, string> }[] };
    const user = doc.users[0]?.user ?? assert.fail("no user");
    assert.ok(delete user["client-certificate-data"] && delete user["client-key-data"]);
    user["token"] = "eyJhbGciOiJSUzI1NiJ9.e30.c2ln";
    const tokenKubeconfig = YAML.stringify(doc);
    assert.deepEqual(judge(tokenKubeconfig, today, false), []);
  });

  it("a schedule that never fires is a warning, not a quiet OK", async () => {
    const never = await snapshot(base({ etcdScheduleCron: "0 0 31 2 *" }), snapshotsAt());
    assert.deepEqual(
      [never.status, never.detail],
      ["WARN", "the schedule '0 0 31 2 *' never fires: k3s takes no scheduled snapshot"],
    );
  });

  const fluxObjects = (
    kustomization: { applied: string; ready: string; message: string },
    fetched: { revision: string; at: string },
  ) => ({
    "/apis/fluxcd.controlplane.io/v1/namespaces/flux-system/fluxinstances/flux": {
      status: {
        conditions: [{ type: "Ready", status: "True", reason: "ReconciliationSucceeded", message: "ok" }],
      },
    },
    "/apis/source.toolkit.fluxcd.io/v1/namespaces/flux-system/gitrepositories/flux-system": {
      status: {
        artifact: { revision: fetched.revision, lastUpdateTime: fetched.at },
        conditions: [{ type: "Ready", status: "True" }],
      },
    },
    "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations/flux-system": {
      status: {
        lastAppliedRevision: kustomization.applied,
        conditions: [
          { type: "Ready", status: kustomization.ready, reason: "R", message: kustomization.message },
        ],
      },
    },
    "/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations": { items: [] },
  });
  const kustomization = async (objects: Record<string, unknown>) => {
    const ctx = base();
    try {
      return finding(
        {
          ...buildReport({
            stack: "dev",
            checkedAt: now,
            durationMs: 0,
            timeoutSeconds: 1,
            findings: (await fluxFindings(ctx, api(objects))).findings,
            notChecked: [],
          }),
        },
        "Kustomization",
      );
    } finally {
      ctx.ssh.close();
    }
  };

  // [applied, its Ready status and message, fetched, fetched at] -> [status, detail] (12:00 now, interval 1m).
  const kustomizationCases: [string, string, string, string, string, string, string][] = [
    [
      "a",
      "False",
      "apply failed: x",
      "b",
      "11:59:30",
      "FAIL",
      "applied main@sha1:a, not main@sha1:b; the last apply failed: Ready=False (R): apply failed: x",
    ],
    [
      "a",
      "Unknown",
      "progressing",
      "b",
      "11:59:00",
      "OK",
      "applied main@sha1:a; fetched main@sha1:b not applied yet, 60 s since fetched (interval 1m)",
    ],
    [
      "a",
      "Unknown",
      "progressing",
      "b",
      "11:56:00",
      "FAIL",
      "applied main@sha1:a; fetched main@sha1:b not applied yet, 4 min since fetched (interval 1m): Ready=Unknown (R): progressing",
    ],
    ["b", "True", "Applied", "b", "09:00:00", "OK", "applied main@sha1:b, 3.0 h since fetched (interval 1m)"],
  ];
  for (const [applied, ready, message, fetched, fetchedAt, status, detail] of kustomizationCases) {
    it(`Flux: applied ${applied} (Ready=${ready}), fetched ${fetched} at ${fetchedAt}: ${status}`, async () => {
      const objects = fluxObjects(
        { applied: `main@sha1:${applied}`, ready, message },
        { revision: `main@sha1:${fetched}`, at: `2026-12-02T${fetchedAt}Z` },
      );
      const found = await kustomization(objects);
      assert.deepEqual([found.status, found.detail], [status, detail]);
    });
  }
});
