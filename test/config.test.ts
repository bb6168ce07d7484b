import { strict as assert } from "node:assert";
import * as openpgp from "openpgp";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import { ConfigError, loadConfig, type RawConfig } from "../components/config";
import { CONFIG_KEYS, SECRET_KEYS } from "../components/config/settings";
import { ACME_CA_URLS } from "../components/edge/config";
import { parseGitUrl } from "../components/flux/config";
import { DEFAULT_K3S_VERSION } from "../components/k3s/config";
import { EDGE_PATHS, renderSyncAuthorizedKeys } from "../components/edge/render";
import { devRawConfig, prodRawConfig, publicKeyLine, testKeys, type SshKeyType } from "./fixtures";
import { selfSignedCert } from "./harness/certs";
import { valueOf } from "./mocks";

type Mutator = (raw: RawConfig) => unknown;

function clone(raw: RawConfig): RawConfig {
  return structuredClone(raw);
}

/** Navigate `raw` by a dotted path with [i] indexes and set the value (undefined removes the key). */
function set(raw: RawConfig, path: string, value: unknown): RawConfig {
  const parts = path.replace(/\[(\d+)\]/g, ".$1").split(".");
  let node = raw as Record<string, unknown>;
  parts.slice(0, -1).forEach((p) => {
    node[p] ??= /^\d+$/.test(p) ? [] : {};
    node = node[p] as Record<string, unknown>;
  });
  const last = parts[parts.length - 1] ?? "";
  if (value === undefined) {
    // eslint-disable-next-line @typescript-eslint/no-dynamic-delete
    delete node[last];
  } else {
    node[last] = value;
  }
  return raw;
}

async function problemsOf(raw: RawConfig, stack = "dev"): Promise<ConfigError> {
  try {
    await loadConfig(raw, { stack });
  } catch (err) {
    if (err instanceof ConfigError) {
      return err;
    }
    throw err;
  }
  assert.fail("expected the config to be rejected");
}

const SHELL_BREAKOUT = "x'; rm -rf / #";

interface BadConfig {
  name: string;
  /** The key the problem must name. */
  key: string;
  mutate: Mutator;
  /** What the problem's message must match, where the wording matters. */
  message?: RegExp;
}

/** The common case: one setting with a bad value, reported under that setting's own key. */
function badValue(name: string, path: string, value: unknown, message?: RegExp): BadConfig {
  return { name, key: `mynodeone:${path}`, mutate: (r) => set(r, path, value), message };
}

const badConfigs: BadConfig[] = [
  badValue("missing domain", "domain", undefined, /required/),
  badValue("domain with spaces", "domain", "example .com"),
  badValue("environment not a label", "environment", "Prod_1"),
  badValue("clusterName with shell metacharacters", "clusterName", "a;b"),
  badValue("bad k3s version", "k3s.version", "1.35.6", /v1\.35\.6\+k3s1/),
  badValue("k3s version with injection", "k3s.version", "v1.35.6+k3s1; curl evil"),
  {
    name: "even server count",
    key: "mynodeone:k3s.servers",
    message: /odd/,
    mutate: (r) => set(r, "k3s.servers[1]", { name: "dev-cp-2", host: "100.64.0.11" }),
  },
  badValue("no servers", "k3s.servers", [], /at least one/),
  {
    name: "duplicate node names",
    key: "mynodeone:k3s.servers/agents[name=dev-cp-1]",
    message: /duplicate/,
    mutate: (r) => set(r, "k3s.agents", [{ name: "dev-cp-1", host: "100.64.0.20" }]),
  },
  badValue("node name not DNS-1123", "k3s.servers[0].name", "CP_1"),
  badValue("host with shell metacharacters", "k3s.servers[0].host", "10.0.0.1;reboot"),
  badValue("host with newline injection", "k3s.servers[0].host", "10.0.0.1\nreboot", /control characters/),
  badValue("mistyped IPv4", "k3s.servers[0].host", "10.0.0.300"),
  badValue("port out of range", "k3s.servers[0].port", 70000),
  { name: "ssh port zero", key: "mynodeone:ssh.port", mutate: (r) => set(r, "ssh", { port: 0 }) },
  badValue("user with quote", "k3s.servers[0].user", SHELL_BREAKOUT),
  badValue("nodeIp not an IP", "k3s.servers[0].nodeIp", "node.local"),
  badValue("host key of unknown type", "k3s.servers[0].hostKey", "ssh-foo AAAA"),
  {
    name: "host key with mismatched type",
    key: "mynodeone:k3s.servers[0].hostKey",
    message: /does not encode/,
    mutate: async (r) =>
      set(r, "k3s.servers[0].hostKey", (await testKeys()).sshPublicKey.replace("ssh-ed25519", "ssh-rsa")),
  },
  {
    name: "two host keys in one value",
    key: "mynodeone:k3s.servers[0].hostKey",
    mutate: async (r) => {
      const key = (await testKeys()).sshPublicKey;
      set(r, "k3s.servers[0].hostKey", `${key}\n${key}`);
    },
  },
  {
    name: "missing host key when required",
    key: "mynodeone:k3s.servers[name=dev-cp-1].hostKey",
    mutate: (r) => set(r, "requireHostKeys", true),
  },
  {
    name: "bad label",
    key: "mynodeone:k3s.servers[0].labels.bad key",
    mutate: (r) => set(r, "k3s.servers[0].labels", { "bad key": "x" }),
  },
  badValue("flannel iface with slash", "k3s.flannelIface", "eth0/../x"),
  {
    name: "tls SAN with space",
    key: "mynodeone:k3s.tlsSans[0]",
    mutate: (r) => set(r, "k3s.tlsSans", ["api example.com"]),
  },
  badValue("unknown key (typo)", "k3s.sever", [], /not a known setting/),
  badValue("unknown top-level key", "domian", "x.com"),
  {
    name: "existing kubeconfig and servers",
    key: "mynodeone:k3s.servers",
    message: /must be empty/,
    mutate: (r) =>
      set(
        r,
        "existingKubeconfig",
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://10.0.0.1:6443'}}]\nusers: []\ncontexts: []\ncurrent-context: c\n",
      ),
  },
  {
    name: "existing kubeconfig garbage",
    key: "mynodeone:existingKubeconfig",
    mutate: (r) => {
      set(r, "k3s.servers", []);
      set(r, "existingKubeconfig", "not: [a kubeconfig");
    },
  },
  badValue("short k3s token", "k3sToken", "short"),
  badValue("scp-style git URL", "flux.gitUrl", "git@github.com:example/platform.git", /scp-style/),
  badValue("git URL with embedded token", "flux.gitUrl", "https://user:tok@example.com/repo.git"),
  { name: "missing git URL", key: "mynodeone:flux.gitUrl", mutate: (r) => set(r, "flux", {}) },
  {
    name: "ssh git host without known_hosts",
    key: "mynodeone:flux.knownHosts",
    message: /pinned/,
    mutate: (r) => set(r, "flux.gitUrl", "ssh://git@git.example.com:2222/platform"),
  },
  {
    name: "branch and tag",
    key: "mynodeone:flux.tag",
    mutate: (r) => {
      set(r, "flux.branch", "main");
      set(r, "flux.tag", "v1");
    },
  },
  badValue("flux path escaping the repo", "flux.path", "../other"),
  badValue("bad flux interval", "flux.interval", "5 minutes"),
  badValue("flux readyTimeout not a duration", "flux.readyTimeout", "10 minutes", /like 10m or 1h30m/),
  badValue("flux readyTimeout too short to install Flux", "flux.readyTimeout", "30s", /between 1m and 2h/),
  badValue("flux readyTimeout unbounded", "flux.readyTimeout", "3h", /between 1m and 2h/),
  badValue("missing SOPS key", "sopsGpgPrivateKey", undefined, /required/),
  {
    name: "SOPS public key instead of private",
    key: "mynodeone:sopsGpgPrivateKey",
    mutate: async (r) => set(r, "sopsGpgPrivateKey", (await testKeys()).gpgPublicKey),
  },
  badValue("SOPS key garbage", "sopsGpgPrivateKey", "-----BEGIN PGP PRIVATE KEY BLOCK-----\ngarbage\n"),
  badValue("SOPS fingerprint mismatch", "sopsGpgFingerprint", "0".repeat(40), /does not match/),
  badValue("age key garbage", "sopsAgeKey", "AGE-SECRET-KEY-1NOPE"),
  badValue("edge hosts without ACME email", "edge.acmeEmail", undefined),
  badValue("ACME email with shell", "edge.acmeEmail", `a@b.com'; reboot`),
  badValue("ACME CA plain http", "edge.acmeCa", "http://ca.example.com/dir"),
  badValue("routes dir relative", "edge.routesDir", "dynamic"),
  badValue("routes dir with traversal", "edge.routesDir", "/etc/../root/x"),
  badValue("Traefik v2", "edge.traefikVersion", "v2.11.0"),
  {
    name: "bad sync key",
    key: "mynodeone:edge.syncAuthorizedKeys[0]",
    mutate: (r) => set(r, "edge.syncAuthorizedKeys", ['command="sh" ssh-ed25519 AAAA']),
  },
  badValue("download URL with quote", "edge.downloadBaseUrl", "https://mirror.example.com/'x"),
  {
    name: "duplicate edge host names",
    key: "mynodeone:edge.hosts[name=dev-edge-1]",
    mutate: (r) => set(r, "edge.hosts[1]", { name: "dev-edge-1", host: "198.51.100.21" }),
  },
  {
    name: "edge host that is also a k3s node",
    key: "mynodeone:edge.hosts[name=dev-edge-1].host",
    message: /also a k3s node/,
    mutate: (r) => set(r, "edge.hosts[0].host", "100.64.0.10"),
  },
  badValue("sshAllowFrom not a CIDR", "edge.sshAllowFrom", "100.64.0.0"),
  {
    name: "boolean as word",
    key: "mynodeone:registries.deleteOnDestroy",
    mutate: (r) => set(r, "registries", { deleteOnDestroy: "yes" }),
  },
  badValue(
    "encrypted SSH key",
    "sshPrivateKey",
    "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nAAAA\n-----END RSA PRIVATE KEY-----\n",
    /passphrase/,
  ),
];

describe("config validation", () => {
  it("accepts the dev fixture and fills defaults", async () => {
    const config = await loadConfig(await devRawConfig(), { stack: "dev" });
    assert.equal(config.environment, "dev");
    assert.equal(config.clusterName, "mynodeone-dev");
    assert.equal(config.k3s.version, DEFAULT_K3S_VERSION);
    assert.deepEqual(config.k3s.disable, ["traefik", "servicelb"]);
    assert.equal(config.k3s.apiEndpoint, "100.64.0.10");
    // The installer of the pinned release, not the moving get.k3s.io script.
    assert.equal(
      config.k3s.installScriptUrl,
      "https://raw.githubusercontent.com/k3s-io/k3s/v1.35.6%2Bk3s1/install.sh",
    );
    const [server] = config.k3s.servers;
    assert.ok(server);
    assert.equal(server.port, 22);
    assert.equal(server.user, "root");
    assert.equal(config.flux.path, "clusters/dev");
    assert.deepEqual(config.flux.ref, { branch: "main" });
    assert.equal(config.edge.acmeCaUrl, ACME_CA_URLS.staging);
    assert.equal(config.protect, false);
    assert.equal(config.requireHostKeys, false);
    assert.equal(config.registries.deleteOnDestroy, false);
    assert.equal(config.sops.gpgFingerprint, (await testKeys()).gpgFingerprint);
  });

  it("gives prod production ACME, protection and required host keys by default", async () => {
    const config = await loadConfig(await prodRawConfig(), { stack: "prod" });
    assert.equal(config.edge.acmeCaUrl, ACME_CA_URLS.production);
    assert.equal(config.protect, true);
    assert.equal(config.requireHostKeys, true);
    assert.equal(config.flux.path, "clusters/prod");
    assert.equal(config.ssh.privateKey !== undefined, true);
    assert.equal(config.k3s.servers.length, 3);
  });

  it("keeps every secret a Pulumi secret", async () => {
    const raw = await prodRawConfig();
    raw["k3sToken"] = "0123456789abcdef0123";
    raw["fluxGitPrivateKey"] = raw["sshPrivateKey"];
    const config = await loadConfig(raw, { stack: "prod" });
    for (const output of [
      config.ssh.privateKey,
      config.k3sToken,
      config.sops.gpgPrivateKey,
      config.flux.gitPrivateKey,
    ]) {
      assert.ok(output);
      assert.equal(await pulumi.isSecret(output), true);
    }
    assert.equal(await valueOf(config.k3sToken as pulumi.Output<string>), "0123456789abcdef0123");
  });

  it(`rejects ${badConfigs.length} bad configs, each with a message naming the key and a fix`, async () => {
    assert.ok(badConfigs.length >= 25);
    const base = await devRawConfig();
    for (const bad of badConfigs) {
      const raw = clone(base);
      await bad.mutate(raw);
      const error = await problemsOf(raw);
      const problem = error.problems.find((p) => p.key === bad.key);
      assert.ok(
        problem,
        `${bad.name}: expected a problem for ${bad.key}, got:\n${error.problems.map((p) => `${p.key}: ${p.message}`).join("\n")}`,
      );
      if (bad.message) {
        assert.match(problem.message, bad.message, bad.name);
      }
      assert.ok(problem.fix.length > 0, `${bad.name}: no fix given`);
      assert.ok(error.message.includes(bad.key) && error.message.includes("Fix:"), bad.name);
    }
  });

  it("reports all problems of a run at once", async () => {
    const raw = await devRawConfig();
    set(raw, "domain", "bad domain");
    set(raw, "k3s.version", "latest");
    set(raw, "edge.routesDir", "relative");
    set(raw, "sopsGpgPrivateKey", "garbage");
    const error = await problemsOf(raw);
    const keys = error.problems.map((p) => p.key);
    for (const key of [
      "mynodeone:domain",
      "mynodeone:k3s.version",
      "mynodeone:edge.routesDir",
      "mynodeone:sopsGpgPrivateKey",
    ]) {
      assert.ok(keys.includes(key), `missing ${key} in ${keys.join(", ")}`);
    }
  });

  it("never echoes a secret value in an error", async () => {
    const raw = await devRawConfig();
    const marker = "SECRETMARKER";
    raw["k3sToken"] = `${marker} with spaces`;
    raw["sshPrivateKey"] = `not a key ${marker}`;
    raw["fluxGitToken"] = marker;
    raw["sopsAgeKey"] = `AGE-SECRET-KEY-1${marker}`;
    const error = await problemsOf(raw);
    assert.ok(!error.message.includes(marker), error.message);
  });

  it("rejects a passphrase-protected and an expired GPG key", async () => {
    const protectedKey = await openpgp.generateKey({
      type: "ecc",
      userIDs: [{ name: "t" }],
      passphrase: "pw",
      format: "armored",
    });
    const expired = await openpgp.generateKey({
      type: "ecc",
      userIDs: [{ name: "t" }],
      keyExpirationTime: 1,
      date: new Date(Date.now() - 86_400_000),
      format: "armored",
    });
    for (const key of [protectedKey.privateKey, expired.privateKey]) {
      const raw = await devRawConfig();
      raw["sopsGpgPrivateKey"] = key;
      const error = await problemsOf(raw);
      assert.ok(error.problems.some((p) => p.key === "mynodeone:sopsGpgPrivateKey"));
    }
  });

  it("adopts an existing cluster without k3s hosts", async () => {
    const raw = await devRawConfig();
    set(raw, "k3s.servers", []);
    raw["existingKubeconfig"] =
      "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://10.0.0.1:6443'}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n";
    const config = await loadConfig(raw, { stack: "dev" });
    assert.equal(config.k3s.servers.length, 0);
    assert.ok(config.existingKubeconfig);
    assert.equal(await pulumi.isSecret(config.existingKubeconfig), true);
    // The adopted API's own URL, port included, becomes the apiEndpoint output (not k3s's 6443 by default).
    assert.equal(config.existingApiServerUrl, "https://10.0.0.1:6443");
    raw["existingKubeconfig"] = (raw["existingKubeconfig"] as string).replace(
      "10.0.0.1:6443",
      "api.example.com:443",
    );
    assert.equal((await loadConfig(raw, { stack: "dev" })).existingApiServerUrl, "https://api.example.com");
  });

  it("reports a given kubeconfig's expired client certificate before any resource, naming the key", async () => {
    const { certPem, keyPem } = selfSignedCert("/O=system:masters/CN=expiring-admin", 1);
    const base64 = (pem: string): string => Buffer.from(pem).toString("base64");
    const raw = await devRawConfig();
    set(raw, "k3s.servers", []);
    raw["existingKubeconfig"] = YAML.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "c", cluster: { server: "https://10.0.0.1:6443" } }],
      users: [
        {
          name: "u",
          user: { "client-certificate-data": base64(certPem), "client-key-data": base64(keyPem) },
        },
      ],
      contexts: [{ name: "c", context: { cluster: "c", user: "u" } }],
      "current-context": "c",
    });
    // Valid now, expiring within the warning window: a warning naming the key and the fix, not a problem.
    const warnings: string[] = [];
    await loadConfig(raw, { stack: "dev", warn: (message) => warnings.push(message) });
    assert.equal(warnings.length, 1);
    assert.match(
      warnings[0] ?? "",
      /^mynodeone:existingKubeconfig: its client certificate \(CN=expiring-admin\) expires at \d{4}-.*Z\. Before then: pulumi config set --secret 'mynodeone:existingKubeconfig'/,
    );
    // Two days on it has expired.
    const later = new Date(Date.now() + 2 * 86_400_000);
    const error = await loadConfig(raw, { stack: "dev", now: later }).then(
      () => assert.fail("an expired certificate was accepted"),
      (err: unknown) => err as ConfigError,
    );
    const problem = error.problems.find((p) => p.key === "mynodeone:existingKubeconfig");
    assert.match(
      problem?.message ?? "",
      /^its client certificate \(CN=expiring-admin\) expired at \d{4}-.*Z: the API server refuses it$/,
    );
    assert.match(problem?.fix ?? "", /pulumi config set --secret 'mynodeone:existingKubeconfig'/);
    assert.ok(!error.message.includes(base64(keyPem).slice(0, 40)), "no key material in the message");
  });

  it("stores armored keys as their files hold them, however the trailing newline was set", async () => {
    const { gpgPrivateKey } = await testKeys();
    const variants = [
      gpgPrivateKey.trimEnd(),
      `${gpgPrivateKey.trimEnd()}\n`,
      `\n${gpgPrivateKey.trimEnd()}\n\n`,
    ];
    for (const variant of variants) {
      const config = await loadConfig(
        { ...(await devRawConfig()), sopsGpgPrivateKey: variant },
        { stack: "dev" },
      );
      assert.equal(await valueOf(config.sops.gpgPrivateKey), `${gpgPrivateKey.trim()}\n`);
    }
  });

  it("stores a given Git deploy key as its file holds it (`config set --secret < file` drops the newline)", async () => {
    const { sshPrivateKey } = await testKeys();
    for (const variant of [
      sshPrivateKey.trimEnd(),
      `${sshPrivateKey.trimEnd()}\n`,
      `\n${sshPrivateKey}\n\n`,
    ]) {
      const config = await loadConfig(
        { ...(await devRawConfig()), fluxGitPrivateKey: variant },
        { stack: "dev" },
      );
      assert.ok(config.flux.gitPrivateKey);
      assert.equal(await valueOf(config.flux.gitPrivateKey), `${sshPrivateKey.trim()}\n`);
    }
  });

  it("declares in Pulumi.yaml exactly the keys the program reads, required secrets as secret", async () => {
    const project = YAML.parse(fs.readFileSync(path.join(__dirname, "..", "Pulumi.yaml"), "utf8")) as {
      config: Record<string, { secret?: boolean; default?: unknown }>;
    };
    const declared = Object.keys(project.config).map((key) => key.replace(/^mynodeone:/, ""));
    assert.deepEqual(declared.sort(), CONFIG_KEYS);
    // The CLI writes an unset key's default into the stack config as plain text, then rejects any `secret: true`
    // key whose value is not encrypted: `secret` is only possible on required keys (no default).
    for (const [key, declaration] of Object.entries(project.config)) {
      assert.ok(!(declaration.secret === true && "default" in declaration), `${key}: secret with a default`);
    }
    const declaredSecret = Object.entries(project.config)
      .filter(([, v]) => v.secret === true)
      .map(([key]) => key.replace(/^mynodeone:/, ""));
    const requiredSecrets = SECRET_KEYS.filter(
      (key) => !("default" in (project.config[`mynodeone:${key}`] ?? {})),
    );
    assert.deepEqual(declaredSecret.sort(), [...requiredSecrets].sort());
    assert.deepEqual(requiredSecrets, ["sopsGpgPrivateKey"]);
    // The parser knows the same keys: an unknown one is reported with the list of known ones.
    const error = await problemsOf({ ...(await devRawConfig()), bogus: "x" });
    const known = error.problems
      .find((p) => p.key === "mynodeone:bogus")
      ?.fix.replace("remove it or use one of: ", "");
    assert.deepEqual(known?.split(", ").sort(), CONFIG_KEYS);
    // The defaults the CLI fills in for optional keys ("" / {} / static) are what the program treats as unset.
    const defaults = Object.fromEntries(
      Object.entries(project.config)
        .filter(([, v]) => "default" in v)
        .map(([k, v]) => [k.replace(/^mynodeone:/, ""), v.default]),
    );
    const config = await loadConfig({ ...defaults, ...(await devRawConfig()) }, { stack: "dev" });
    assert.equal(config.environment, "dev");
    assert.equal(config.protect, false);
    assert.equal(config.k3sToken, undefined);
  });

  it("parses Git URLs the way Flux needs them", () => {
    assert.deepEqual(parseGitUrl("ssh://git@github.com/org/repo"), { scheme: "ssh", host: "github.com" });
    assert.deepEqual(parseGitUrl("ssh://git@git.example.com:2222/repo"), {
      scheme: "ssh",
      host: "git.example.com",
      port: 2222,
    });
    assert.deepEqual(parseGitUrl("https://gitlab.com/org/repo.git"), { scheme: "https", host: "gitlab.com" });
    assert.equal(typeof parseGitUrl("git@github.com:org/repo"), "string");
    assert.equal(typeof parseGitUrl("ftp://x/y"), "string");
  });
});

describe("SSH public keys: each use accepts the key types that work there", () => {
  const HOST_KEY_PINS = ["k3s.servers[0].hostKey", "edge.hosts[0].hostKey"];
  const ED25519_AND_ECDSA: SshKeyType[] = [
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
  ];
  const SECURITY_KEYS: SshKeyType[] = ["sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com"];
  const gitHost = (type: SshKeyType): string => `git.example.com ${publicKeyLine(type)}`;

  async function withKeys(fields: Record<string, unknown>): Promise<RawConfig> {
    const raw = await devRawConfig();
    for (const [field, value] of Object.entries(fields)) set(raw, field, value);
    return raw;
  }

  it("rejects an RSA host-key pin before any resource, naming the key and telling to pin ed25519 or ECDSA", async () => {
    const error = await problemsOf(
      await withKeys(Object.fromEntries(HOST_KEY_PINS.map((field) => [field, publicKeyLine("ssh-rsa")]))),
    );
    for (const field of HOST_KEY_PINS) {
      const problem = error.problems.find((p) => p.key === `mynodeone:${field}`);
      assert.ok(problem, `${field}: an RSA pin was accepted`);
      // @pulumi/command offers only the pinned type, i.e. SHA-1 ssh-rsa signatures, which OpenSSH >= 8.8 refuses.
      assert.match(problem.message, /^"ssh-rsa AAAA.*" is an RSA host key/);
      assert.match(problem.message, /OpenSSH 8\.8/);
      assert.match(problem.fix, /ed25519 or ECDSA/);
      assert.match(problem.fix, /\/etc\/ssh\/ssh_host_ed25519_key\.pub/);
    }
  });

  it("rejects security-key (sk-*) types as host-key pins and in flux.knownHosts: they are never host keys", async () => {
    const [sk, skEcdsa] = SECURITY_KEYS.map(publicKeyLine);
    const error = await problemsOf(
      await withKeys({
        "k3s.servers[0].hostKey": sk,
        "edge.hosts[0].hostKey": skEcdsa,
        "flux.knownHosts": SECURITY_KEYS.map(gitHost),
      }),
    );
    for (const key of [
      "k3s.servers[0].hostKey",
      "edge.hosts[0].hostKey",
      "flux.knownHosts[0]",
      "flux.knownHosts[1]",
    ]) {
      const problem = error.problems.find((p) => p.key === `mynodeone:${key}`);
      assert.ok(problem, `${key}: a security-key type was accepted as a host key`);
      assert.match(problem.message, /security-key/);
    }
  });

  it("accepts ed25519 and ECDSA (all three curves) as host-key pins", async () => {
    for (const type of ED25519_AND_ECDSA) {
      const config = await loadConfig(
        await withKeys({
          "k3s.servers[0].hostKey": publicKeyLine(type),
          "edge.hosts[0].hostKey": publicKeyLine(type),
        }),
        { stack: "dev" },
      );
      assert.equal(config.k3s.servers[0]?.hostKey?.split(" ")[0], type);
    }
  });

  it("accepts ssh-rsa in flux.knownHosts (Flux verifies it with rsa-sha2 signatures), as GitHub publishes one", async () => {
    const knownHosts = [...ED25519_AND_ECDSA, "ssh-rsa" as const].map(gitHost);
    const config = await loadConfig(
      await withKeys({ "flux.gitUrl": "ssh://git@git.example.com/platform", "flux.knownHosts": knownHosts }),
      { stack: "dev" },
    );
    assert.deepEqual(config.flux.knownHosts, knownHosts);
  });

  it("accepts RSA and security-key user keys in edge.syncAuthorizedKeys, and the edge renders every one", async () => {
    const keys = [...ED25519_AND_ECDSA, "ssh-rsa" as const, ...SECURITY_KEYS].map(
      (type) => `${publicKeyLine(type)} route-pusher`,
    );
    const config = await loadConfig(await withKeys({ "edge.syncAuthorizedKeys": keys }), { stack: "dev" });
    assert.deepEqual(config.edge.syncAuthorizedKeys, keys);
    const rendered = renderSyncAuthorizedKeys(config.edge.syncAuthorizedKeys, EDGE_PATHS.routeSyncCommand);
    assert.equal(rendered.split("\n").filter((line) => line !== "").length, keys.length);
  });
});
