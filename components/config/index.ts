// Stack configuration: raw `mynodeone:*` values in, one typed and validated `PlatformConfig` out.
//
// `loadConfig` runs before any resource is registered. It reports every problem of a run at once, each naming
// the key, what is wrong and how to fix it. Secret values are never shown in a message and are wrapped in
// `pulumi.secret` before they leave this module.
import * as pulumi from "@pulumi/pulumi";
import { inspectAgeKey, inspectGpgPrivateKey } from "../sops/keys";
import * as defaults from "./defaults";
import { clientCertificateExpiry, kubeconfigServerHost } from "./kubeconfig";
import { ObjectReader } from "./reader";
import type {
  EdgeConfig,
  FluxConfig,
  FluxGitRef,
  HostConfig,
  K3sConfig,
  PlatformConfig,
  SshConfig,
} from "./types";
import {
  AUTHORIZED_USER_KEY,
  checkHttpsUrl,
  checkLabel,
  checkPublicKey,
  ConfigError,
  GIT_KNOWN_HOST_KEY,
  hasControlChars,
  isCidr,
  isDnsLabel,
  isDnsName,
  isEmail,
  isGoDuration,
  isHostAddress,
  isIpAddress,
  isSafeAbsolutePath,
  isUserName,
  Problems,
  show,
  SSH_HOST_KEY_PIN,
} from "./validate";

export { ConfigError } from "./validate";
export { kubeconfigServerHost } from "./kubeconfig";
export type * from "./types";

export const PROJECT = "mynodeone";

/** Keys holding secrets: read as plaintext only to validate them, then wrapped in `pulumi.secret`. */
export const SECRET_KEYS = [
  "sshPrivateKey",
  "k3sToken",
  "existingKubeconfig",
  "fluxGitPrivateKey",
  "fluxGitToken",
  "sopsGpgPrivateKey",
  "sopsAgeKey",
] as const;

const OBJECT_KEYS = ["ssh", "k3s", "flux", "edge", "registries"] as const;

/** Every top-level key the program reads (Pulumi.yaml declares exactly these; a test checks both agree). */
export const CONFIG_KEYS = [
  ...SECRET_KEYS,
  ...OBJECT_KEYS,
  "environment",
  "clusterName",
  "domain",
  "repoPath",
  "protect",
  "requireHostKeys",
  "sopsGpgFingerprint",
].sort();

/** Raw config as Pulumi stores it, keys without the `mynodeone:` prefix; objects already JSON-decoded. */
export type RawConfig = Record<string, unknown>;

export interface ConfigContext {
  /** The Pulumi stack name (default environment). */
  stack: string;
  /** The time credentials are checked against (default: now). */
  now?: Date;
}

/** Warn this long before a given kubeconfig's client certificate expires. */
const CERTIFICATE_WARNING_DAYS = 30;

/**
 * A given kubeconfig's client certificate that has expired makes every later step fail with an API error; it is
 * reported here, before any resource, with what to do. One that expires soon gets a warning.
 */
function checkClientCertificate(problems: Problems, kubeconfig: string, now: Date): void {
  const certificate = clientCertificateExpiry(kubeconfig);
  if (certificate === undefined) {
    return;
  }
  const fix =
    secretFix("existingKubeconfig", "kubeconfig.yaml") +
    " with a current kubeconfig of the cluster (docs/disaster-recovery.md, 'An expired cluster credential')";
  const expiry = certificate.notAfter.toISOString();
  if (certificate.notAfter.getTime() <= now.getTime()) {
    problems.add(
      k("existingKubeconfig"),
      `its client certificate (CN=${certificate.commonName}) expired at ${expiry}: the API server refuses it`,
      fix,
    );
  } else if (certificate.notAfter.getTime() - now.getTime() < CERTIFICATE_WARNING_DAYS * 86_400_000) {
    void pulumi.log.warn(
      `mynodeone:existingKubeconfig: its client certificate (CN=${certificate.commonName}) expires at ${expiry}. ` +
        `Before then: ${fix}`,
    );
  }
}

const k = (key: string): string => `${PROJECT}:${key}`;
const setFix = (key: string, example: string): string => `pulumi config set --path '${k(key)}' ${example}`;
const secretFix = (key: string, what: string): string =>
  `pulumi config set --secret '${k(key)}' < ${what}  (or: cat ${what} | pulumi config set --secret '${k(key)}')`;

/** Read this stack's raw `mynodeone:*` config from the Pulumi runtime. */
export function readRawConfig(): RawConfig {
  const raw: RawConfig = {};
  for (const [fullKey, value] of Object.entries(pulumi.runtime.allConfig())) {
    if (!fullKey.startsWith(`${PROJECT}:`)) {
      continue;
    }
    const key = fullKey.slice(PROJECT.length + 1);
    raw[key] = (OBJECT_KEYS as readonly string[]).includes(key) ? decodeJson(value) : value;
  }
  return raw;
}

function decodeJson(value: string): unknown {
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return value;
  }
}

/** Validate `raw` and build the typed config; throws one `ConfigError` listing every problem. */
export async function loadConfig(raw: RawConfig, ctx: ConfigContext): Promise<PlatformConfig> {
  const problems = new Problems();
  const root = new ObjectReader(problems, `${PROJECT}:`, raw);
  // Secret keys are read below, through `secretString`; mark them known for the unknown-key check.
  SECRET_KEYS.forEach((key) => root.value(key));

  const environment = root.string("environment", ctx.stack, {
    check: (v) => (isDnsLabel(v) ? undefined : "is not a DNS-1123 label (lowercase letters, digits, '-')"),
    fix: setFix("environment", "dev"),
  });
  const isProd = environment === "prod";
  const clusterName = root.string("clusterName", `mynodeone-${environment}`, {
    check: (v) => (isDnsLabel(v) ? undefined : "is not a DNS-1123 label"),
    fix: setFix("clusterName", "mynodeone-dev"),
  });
  const domain = root.requiredString("domain", {
    check: (v) => (isDnsName(v) && v.includes(".") ? undefined : "is not a fully qualified DNS name"),
    fix: setFix("domain", "example.com"),
  });
  const repoPath = root.string("repoPath", defaults.DEFAULT_REPO_PATH, {
    check: (v) => (isSafeAbsolutePath(v) ? undefined : "is not a plain absolute path"),
    fix: setFix("repoPath", defaults.DEFAULT_REPO_PATH),
  });
  const protect = root.boolean("protect", isProd);
  const requireHostKeys = root.boolean("requireHostKeys", isProd);

  const sshReader = root.object("ssh", "set user and port, e.g. " + setFix("ssh.user", "admin"), (r) => ({
    user: r.string("user", defaults.DEFAULT_SSH_USER, {
      check: (v) => (isUserName(v) ? undefined : "is not a valid user name"),
      fix: setFix("ssh.user", "admin"),
    }),
    port: r.integer("port", defaults.DEFAULT_SSH_PORT, 1, 65535, setFix("ssh.port", "22")),
  }));

  const sshPrivateKey = secretString(
    problems,
    raw,
    "sshPrivateKey",
    secretFix("sshPrivateKey", "~/.ssh/id_ed25519"),
  );
  if (sshPrivateKey !== undefined) {
    const problem = checkSshPrivateKey(sshPrivateKey);
    if (problem !== undefined) {
      problems.add(k("sshPrivateKey"), problem, secretFix("sshPrivateKey", "~/.ssh/id_ed25519"));
    }
  }
  const ssh: SshConfig = {
    ...sshReader,
    ...(sshPrivateKey !== undefined ? { privateKey: pulumi.secret(sshPrivateKey) } : {}),
  };

  const existingKubeconfig = secretString(
    problems,
    raw,
    "existingKubeconfig",
    secretFix("existingKubeconfig", "kubeconfig.yaml"),
  );
  let adoptedApiHost: string | undefined;
  let adoptedApiUrl: string | undefined;
  if (existingKubeconfig !== undefined) {
    const checked = kubeconfigServerHost(existingKubeconfig);
    if ("problem" in checked) {
      problems.add(
        k("existingKubeconfig"),
        checked.problem,
        secretFix("existingKubeconfig", "kubeconfig.yaml"),
      );
    } else {
      adoptedApiHost = checked.host;
      adoptedApiUrl = checked.url;
      checkClientCertificate(problems, existingKubeconfig, ctx.now ?? new Date());
    }
  }

  const k3s = root.object("k3s", "see README 'Configuration'", (r) =>
    readK3s(r, sshReader, existingKubeconfig !== undefined, adoptedApiHost),
  );
  const edge = root.object("edge", "see README 'Configuration'", (r) => readEdge(r, sshReader, environment));

  // An edge host's firewall drops everything but SSH, 80 and 443: on a k3s node it would cut the node off
  // (API, kubelet, flannel, etcd). The two roles need separate machines.
  const k3sAddresses = new Set(
    [...k3s.servers, ...k3s.agents].flatMap((h) =>
      [h.host, h.nodeIp, h.externalIp].filter((a) => a !== undefined),
    ),
  );
  for (const host of edge.hosts) {
    const shared = [host.host, host.nodeIp, host.externalIp, host.publicIp].find(
      (a) => a !== undefined && k3sAddresses.has(a),
    );
    if (shared !== undefined) {
      problems.add(
        k(`edge.hosts[name=${host.name}].host`),
        `${shared} is also a k3s node: the edge firewall would block the cluster's traffic to and from it`,
        "run Traefik on a machine that is not a k3s node",
      );
    }
  }

  for (const host of [...k3s.servers, ...k3s.agents, ...edge.hosts]) {
    if (requireHostKeys && host.hostKey === undefined) {
      const list = k3s.servers.includes(host)
        ? "k3s.servers"
        : k3s.agents.includes(host)
          ? "k3s.agents"
          : "edge.hosts";
      problems.add(
        k(`${list}[name=${host.name}].hostKey`),
        "is required because mynodeone:requireHostKeys is true (host keys are never trusted on first use)",
        `ssh-keyscan -t ed25519 ${host.host} on a trusted network, compare with the provider console, then set hostKey`,
      );
    }
  }

  const k3sToken = secretString(problems, raw, "k3sToken", secretFix("k3sToken", "token.txt"));
  if (k3sToken !== undefined && !/^[\x21-\x7e]{16,}$/.test(k3sToken)) {
    problems.add(
      k("k3sToken"),
      "must be at least 16 printable characters without spaces",
      "generate one: openssl rand -hex 32 | pulumi config set --secret mynodeone:k3sToken",
    );
  }

  const flux = root.object(
    "flux",
    "set at least gitUrl: " + setFix("flux.gitUrl", "ssh://git@github.com/org/repo"),
    (r) => readFlux(r, raw, problems, environment),
  );

  const gpgKey = secretString(
    problems,
    raw,
    "sopsGpgPrivateKey",
    secretFix("sopsGpgPrivateKey", "sops-key.asc"),
  );
  const ageKey = secretString(problems, raw, "sopsAgeKey", secretFix("sopsAgeKey", "age.agekey"));
  const expectedFingerprint = root.optionalString("sopsGpgFingerprint", {
    check: (v) =>
      /^([0-9A-Fa-f]{40}|[0-9A-Fa-f]{64})$/.test(v.replace(/ /g, ""))
        ? undefined
        : "is not a 40/64-digit hex fingerprint",
    fix: "gpg --list-secret-keys --with-colons | awk -F: '/^fpr/ {print $10; exit}'",
  });
  if (gpgKey === undefined && !raw["sopsGpgPrivateKey"]) {
    problems.add(
      k("sopsGpgPrivateKey"),
      "is required: Flux needs it to decrypt the SOPS secrets committed in Git",
      secretFix("sopsGpgPrivateKey", "sops-key.asc") + " (see docs/gitops.md to create one)",
    );
  }
  const registries = root.object("registries", setFix("registries.deleteOnDestroy", "false"), (r) => ({
    deleteOnDestroy: r.boolean("deleteOnDestroy", false),
  }));
  root.finish();

  // Key material checks are async (OpenPGP parsing); they run after the synchronous checks so that every
  // problem is still reported in one error.
  let gpgFingerprint = "";
  if (gpgKey !== undefined) {
    try {
      gpgFingerprint = (await inspectGpgPrivateKey(gpgKey)).fingerprint;
      const expected = expectedFingerprint?.replace(/ /g, "").toUpperCase();
      if (expected !== undefined && expected !== gpgFingerprint) {
        problems.add(
          k("sopsGpgFingerprint"),
          `does not match the key in mynodeone:sopsGpgPrivateKey (its fingerprint is ${gpgFingerprint}): wrong key for this environment?`,
          "restore the right key from the backup, or update sopsGpgFingerprint after re-encrypting the secrets in Git",
        );
      }
    } catch (err) {
      problems.add(k("sopsGpgPrivateKey"), errorMessage(err), secretFix("sopsGpgPrivateKey", "sops-key.asc"));
    }
  }
  let ageRecipient: string | undefined;
  if (ageKey !== undefined) {
    try {
      ageRecipient = (await inspectAgeKey(ageKey)).recipient;
    } catch (err) {
      problems.add(k("sopsAgeKey"), errorMessage(err), secretFix("sopsAgeKey", "age.agekey"));
    }
  }

  if (!problems.empty) {
    throw new ConfigError(problems.list);
  }
  return {
    environment,
    clusterName,
    domain,
    repoPath,
    protect,
    requireHostKeys,
    ssh,
    k3s,
    ...(k3sToken !== undefined ? { k3sToken: pulumi.secret(k3sToken) } : {}),
    ...(existingKubeconfig !== undefined ? { existingKubeconfig: pulumi.secret(existingKubeconfig) } : {}),
    ...(adoptedApiUrl !== undefined ? { existingApiServerUrl: adoptedApiUrl } : {}),
    flux,
    sops: {
      gpgPrivateKey: pulumi.secret(gpgKey !== undefined ? asKeyFile(gpgKey) : ""),
      gpgFingerprint,
      ...(ageKey !== undefined ? { ageKey: pulumi.secret(asKeyFile(ageKey)) } : {}),
      ...(ageRecipient !== undefined ? { ageRecipient } : {}),
    },
    edge,
    registries,
  };
}

/** Read and validate the running stack's config (the program's entry point uses this). */
export function loadStackConfig(): Promise<PlatformConfig> {
  return loadConfig(readRawConfig(), { stack: pulumi.getStack() });
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * A key as the file it came from holds it: `pulumi config set --secret KEY < file` drops the file's final
 * newline, pasting may add blank lines around it. Flux gets the same bytes whichever way the key was set.
 */
export function asKeyFile(value: string): string {
  return value.trim() + "\n";
}

/** A secret value as a string; problems never echo it. Multi-line values (keys, kubeconfigs) are allowed. */
function secretString(problems: Problems, raw: RawConfig, key: string, fix: string): string | undefined {
  const value = raw[key];
  if (value === undefined || value === null || value === "") {
    return undefined;
  }
  if (typeof value !== "string") {
    problems.add(k(key), "must be a string", fix);
    return undefined;
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(value)) {
    problems.add(k(key), "contains control characters other than newlines (binary data?)", fix);
    return undefined;
  }
  return value;
}

function checkSshPrivateKey(value: string): string | undefined {
  const match = /-----BEGIN ([A-Z ]*)PRIVATE KEY-----\r?\n([\s\S]*?)-----END \1PRIVATE KEY-----/.exec(value);
  if (!match) {
    return "is not a PEM/OpenSSH private key (expected '-----BEGIN ... PRIVATE KEY-----')";
  }
  if (/ENCRYPTED/.test(value)) {
    return "is passphrase-protected; Pulumi cannot prompt for it (use the SSH agent instead, or an unencrypted deploy key)";
  }
  if (match[1] === "OPENSSH ") {
    // openssh-key-v1 format: magic, then the cipher name; "none" means unencrypted.
    const body = Buffer.from((match[2] ?? "").replace(/\s+/g, ""), "base64");
    const magic = "openssh-key-v1\0";
    if (body.subarray(0, magic.length).toString("latin1") !== magic) {
      return "is not a valid OpenSSH private key";
    }
    const cipherLength = body.length >= magic.length + 4 ? body.readUInt32BE(magic.length) : 0;
    const cipher = body.subarray(magic.length + 4, magic.length + 4 + cipherLength).toString("latin1");
    if (cipher !== "none") {
      return "is passphrase-protected; Pulumi cannot prompt for it (use the SSH agent instead, or an unencrypted deploy key)";
    }
  }
  return undefined;
}

function readHost(r: ObjectReader, ssh: { user: string; port: number }): HostConfig {
  const fixFor = (field: string, example: string): string =>
    `pulumi config set --path '${r.keyPath(field)}' ${example}`;
  const name = r.requiredString("name", {
    check: (v) =>
      isDnsLabel(v) ? undefined : "is not a DNS-1123 label (lowercase letters, digits, '-', max 63)",
    fix: fixFor("name", "node-1"),
  });
  const host = r.requiredString("host", {
    check: (v) => (isHostAddress(v) ? undefined : "is not an IPv4/IPv6 address or DNS name"),
    fix: fixFor("host", "100.64.0.10"),
  });
  const port = r.integer("port", ssh.port, 1, 65535, fixFor("port", "22"));
  const user = r.string("user", ssh.user, {
    check: (v) => (isUserName(v) ? undefined : "is not a valid user name"),
    fix: fixFor("user", "admin"),
  });
  const hostKey = r.optionalString("hostKey", {
    check: (v) => checkPublicKey(v, SSH_HOST_KEY_PIN),
    fix:
      "pin the host's ed25519 or ECDSA key: the line of its /etc/ssh/ssh_host_ed25519_key.pub (or ssh_host_ecdsa_key.pub), " +
      "'<type> <base64>', e.g. from ssh-keyscan -t ed25519 on a trusted network, compared with the provider console",
  });
  const nodeIp = r.optionalString("nodeIp", {
    check: (v) => (isIpAddress(v) ? undefined : "is not an IP address"),
    fix: fixFor("nodeIp", "100.64.0.10"),
  });
  const externalIp = r.optionalString("externalIp", {
    check: (v) => (isIpAddress(v) ? undefined : "is not an IP address"),
    fix: fixFor("externalIp", "203.0.113.10"),
  });
  const labels = r.stringMap("labels", checkLabel, 'use Kubernetes label syntax, e.g. {"role": "storage"}');
  return {
    name,
    host,
    port,
    user,
    ...(hostKey !== undefined ? { hostKey } : {}),
    ...(nodeIp !== undefined ? { nodeIp } : {}),
    ...(externalIp !== undefined ? { externalIp } : {}),
    labels,
  };
}

function checkUniqueNames(problems: Problems, listKey: string, hosts: HostConfig[]): void {
  const seen = new Set<string>();
  hosts.forEach((h) => {
    if (h.name !== "" && seen.has(h.name)) {
      problems.add(
        k(`${listKey}[name=${h.name}]`),
        `duplicate name ${JSON.stringify(h.name)}: names must be unique`,
        "give every host its own name",
      );
    }
    seen.add(h.name);
  });
}

function readK3s(
  r: ObjectReader,
  ssh: { user: string; port: number },
  adopting: boolean,
  adoptedApiHost: string | undefined,
): K3sConfig {
  const problems = r.problems;
  const version = r.string("version", defaults.DEFAULT_K3S_VERSION, {
    check: (v) =>
      /^v[0-9]+\.[0-9]+\.[0-9]+\+k3s[0-9]+$/.test(v) ? undefined : "is not a k3s release like v1.35.6+k3s1",
    fix: setFix("k3s.version", defaults.DEFAULT_K3S_VERSION),
  });
  const servers = r.objectList("servers", "a list of hosts: [{name, host, ...}]", (h) => readHost(h, ssh));
  const agents = r.objectList("agents", "a list of hosts: [{name, host, ...}]", (h) => readHost(h, ssh));
  checkUniqueNames(problems, "k3s.servers/agents", [...servers, ...agents]);
  if (adopting) {
    if (servers.length > 0 || agents.length > 0) {
      problems.add(
        k("k3s.servers"),
        "must be empty when mynodeone:existingKubeconfig is set (the existing cluster is adopted; nothing is installed)",
        "remove k3s.servers/k3s.agents, or remove existingKubeconfig to install k3s on the hosts",
      );
    }
  } else if (servers.length === 0) {
    problems.add(
      k("k3s.servers"),
      "needs at least one server (or set mynodeone:existingKubeconfig to adopt a running cluster)",
      setFix("k3s.servers[0]", '\'{"name":"cp-1","host":"100.64.0.10"}\''),
    );
  } else if (servers.length % 2 === 0) {
    problems.add(
      k("k3s.servers"),
      `has ${servers.length} servers; embedded etcd needs an odd number (1, 3, 5) to keep quorum`,
      "add or remove one server",
    );
  }
  const tlsSans = r.stringList("tlsSans", {
    check: (v) => (isHostAddress(v) ? undefined : "is not an IP address or DNS name"),
    fix: setFix("k3s.tlsSans[0]", "api.example.com"),
  });
  const flannelIface = r.optionalString("flannelIface", {
    check: (v) => (/^[A-Za-z0-9_.-]{1,15}$/.test(v) ? undefined : "is not a network interface name"),
    fix: setFix("k3s.flannelIface", "tailscale0"),
  });
  const disableGiven = r.has("disable");
  const disableList = r.stringList("disable", {
    check: (v) => (isDnsLabel(v) ? undefined : "is not a k3s component name (traefik, servicelb, ...)"),
    fix: setFix("k3s.disable[0]", "traefik"),
  });
  const disable = disableGiven ? disableList : [...defaults.DEFAULT_K3S_DISABLE];
  const first = servers[0];
  const apiEndpoint = r.string("apiEndpoint", first ? (first.nodeIp ?? first.host) : (adoptedApiHost ?? ""), {
    check: (v) => (isHostAddress(v) ? undefined : "is not an IP address or DNS name"),
    fix: setFix("k3s.apiEndpoint", "100.64.0.10"),
  });
  const installScriptUrl = r.string("installScriptUrl", defaults.defaultK3sInstallScriptUrl(version), {
    check: (v) => checkHttpsUrl(v),
    fix: setFix("k3s.installScriptUrl", defaults.defaultK3sInstallScriptUrl(version)),
  });
  const installScriptSha256 = r.optionalString("installScriptSha256", {
    check: (v) => (/^[0-9a-f]{64}$/.test(v) ? undefined : "is not a lowercase hex sha256"),
    fix: "sha256sum the installer you reviewed and set k3s.installScriptSha256",
  });
  const readyTimeoutSeconds = r.integer(
    "readyTimeoutSeconds",
    300,
    30,
    3600,
    setFix("k3s.readyTimeoutSeconds", "300"),
  );
  const uninstallOnDestroy = r.boolean("uninstallOnDestroy", false);
  const unreachableNodes = r.stringList("unreachableNodes", {
    check: (v) => (isDnsLabel(v) ? undefined : "is not a node name (DNS-1123 label)"),
    fix: setFix("k3s.unreachableNodes[0]", "dead-node-name"),
  });
  const etcdSnapshots = r.object("etcdSnapshots", "{scheduleCron, retention}", (s) => ({
    scheduleCron: s.string("scheduleCron", "0 */6 * * *", {
      check: (v) => (/^[0-9*/,-]+( [0-9*/,-]+){4}$/.test(v) ? undefined : "is not a 5-field cron expression"),
      fix: setFix("k3s.etcdSnapshots.scheduleCron", "'0 */6 * * *'"),
    }),
    retention: s.integer("retention", 20, 1, 1000, setFix("k3s.etcdSnapshots.retention", "20")),
  }));
  return {
    version,
    servers,
    agents,
    tlsSans,
    ...(flannelIface !== undefined ? { flannelIface } : {}),
    disable,
    uninstallOnDestroy,
    unreachableNodes,
    apiEndpoint,
    installScriptUrl,
    ...(installScriptSha256 !== undefined ? { installScriptSha256 } : {}),
    readyTimeoutSeconds,
    etcdSnapshots,
  };
}

/** Parse a Git URL Flux accepts: ssh://user@host[:port]/path or https://host/path. */
export function parseGitUrl(
  value: string,
): { scheme: "ssh" | "https"; host: string; port?: number } | string {
  if (/^[^/:]+@[^/:]+:/.test(value)) {
    return "is scp-style; Flux needs a URL: ssh://git@host/org/repo (replace the ':' after the host with '/')";
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return "is not a URL (ssh://git@host/org/repo or https://host/org/repo)";
  }
  if (/['"\\\s`$]/.test(value) || url.search !== "" || url.hash !== "") {
    return "contains characters not allowed in a Git URL here";
  }
  if (url.protocol === "ssh:") {
    if (url.username === "" || url.password !== "") {
      return "needs a user and no password: ssh://git@host/org/repo";
    }
    return { scheme: "ssh", host: url.hostname, ...(url.port !== "" ? { port: Number(url.port) } : {}) };
  }
  if (url.protocol === "https:") {
    if (url.username !== "" || url.password !== "") {
      return "must not embed credentials; set the token with mynodeone:fluxGitToken";
    }
    return { scheme: "https", host: url.hostname };
  }
  return "must use ssh:// or https://";
}

function knownHostsCoversHost(lines: string[], host: string, port: number | undefined): boolean {
  const pattern = port !== undefined && port !== 22 ? `[${host}]:${port}` : host;
  return lines.some((line) => (line.split(" ")[0] ?? "").split(",").includes(pattern));
}

function readFlux(r: ObjectReader, raw: RawConfig, problems: Problems, environment: string): FluxConfig {
  const gitUrl = r.requiredString("gitUrl", {
    check: (v) => {
      const parsed = parseGitUrl(v);
      return typeof parsed === "string" ? parsed : undefined;
    },
    fix: setFix("flux.gitUrl", "ssh://git@github.com/org/platform"),
  });
  const branch = r.optionalString("branch", {
    check: (v) =>
      /^[A-Za-z0-9._/-]+$/.test(v) && !v.includes("..") ? undefined : "is not a valid branch name",
    fix: setFix("flux.branch", "main"),
  });
  const tag = r.optionalString("tag", {
    check: (v) => (/^[A-Za-z0-9._/-]+$/.test(v) && !v.includes("..") ? undefined : "is not a valid tag name"),
    fix: setFix("flux.tag", "v1.0.0"),
  });
  if (branch !== undefined && tag !== undefined) {
    problems.add(k("flux.tag"), "cannot be combined with flux.branch", "set either flux.branch or flux.tag");
  }
  const ref: FluxGitRef = tag !== undefined ? { tag } : { branch: branch ?? "main" };
  const path = r.string("path", `clusters/${environment}`, {
    check: (v) =>
      /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(v) && !v.split("/").includes("..")
        ? undefined
        : "is not a relative path inside the repository",
    fix: setFix("flux.path", `clusters/${environment}`),
  });
  const interval = r.string("interval", "1m", {
    check: (v) => (isGoDuration(v) ? undefined : "is not a duration like 1m or 30s"),
    fix: setFix("flux.interval", "1m"),
  });
  const operatorChart = r.string("operatorChart", defaults.DEFAULT_FLUX_OPERATOR_CHART, {
    check: (v) =>
      /^oci:\/\/[A-Za-z0-9.-]+(:[0-9]+)?(\/[A-Za-z0-9._-]+)+$/.test(v)
        ? undefined
        : "is not an oci:// chart reference",
    fix: setFix("flux.operatorChart", defaults.DEFAULT_FLUX_OPERATOR_CHART),
  });
  const operatorChartVersion = r.string(
    "operatorChartVersion",
    defaults.DEFAULT_FLUX_OPERATOR_CHART_VERSION,
    {
      check: (v) =>
        /^[0-9]+\.[0-9]+\.[0-9]+$/.test(v) ? undefined : "is not an exact chart version like 0.33.0",
      fix: setFix("flux.operatorChartVersion", defaults.DEFAULT_FLUX_OPERATOR_CHART_VERSION),
    },
  );
  const distributionVersion = r.string("distributionVersion", defaults.DEFAULT_FLUX_DISTRIBUTION_VERSION, {
    check: (v) =>
      /^[0-9]+\.[0-9]+\.[0-9]+$/.test(v) ? undefined : "is not an exact Flux version like 2.9.2",
    fix: setFix("flux.distributionVersion", defaults.DEFAULT_FLUX_DISTRIBUTION_VERSION),
  });
  const knownHosts = r.stringList("knownHosts", {
    check: (v) => {
      const [hosts, ...key] = v.trim().split(/ +/);
      if (hosts === undefined || hosts === "" || hosts.startsWith("|")) {
        return "is not a known_hosts line '<host> <type> <base64>' (hashed host names are not supported)";
      }
      return checkPublicKey(key.join(" "), GIT_KNOWN_HOST_KEY);
    },
    fix: "copy the Git host's published SSH host keys, one 'host type base64' line each",
  });
  const httpsUsername = r.string("httpsUsername", "git", {
    check: (v) => (/^[A-Za-z0-9._@-]+$/.test(v) ? undefined : "is not a plain user name"),
    fix: setFix("flux.httpsUsername", "git"),
  });
  const install = r.boolean("install", true);
  const installOperator = r.boolean("installOperator", true);
  const keepOnDestroy = r.boolean("keepOnDestroy", false);

  const gitPrivateKey = secretString(
    problems,
    raw,
    "fluxGitPrivateKey",
    secretFix("fluxGitPrivateKey", "deploy-key"),
  );
  const gitToken = secretString(problems, raw, "fluxGitToken", secretFix("fluxGitToken", "token.txt"));
  if (gitPrivateKey !== undefined) {
    const problem = checkSshPrivateKey(gitPrivateKey);
    if (problem !== undefined) {
      problems.add(k("fluxGitPrivateKey"), problem, secretFix("fluxGitPrivateKey", "deploy-key"));
    }
  }
  if (gitToken !== undefined && hasControlChars(gitToken)) {
    problems.add(k("fluxGitToken"), "contains control characters", secretFix("fluxGitToken", "token.txt"));
  }
  const parsed = gitUrl !== "" ? parseGitUrl(gitUrl) : undefined;
  if (parsed !== undefined && typeof parsed !== "string") {
    if (parsed.scheme === "ssh") {
      if (gitToken !== undefined) {
        problems.add(
          k("fluxGitToken"),
          "is set but flux.gitUrl is an ssh:// URL",
          "use an https:// gitUrl or unset the token",
        );
      }
      if (parsed.host !== "github.com" && !knownHostsCoversHost(knownHosts, parsed.host, parsed.port)) {
        const pattern =
          parsed.port !== undefined && parsed.port !== 22 ? `[${parsed.host}]:${parsed.port}` : parsed.host;
        problems.add(
          k("flux.knownHosts"),
          `has no entry for ${pattern}; host keys are pinned, never trusted on first use (built-in keys exist only for github.com)`,
          `add the Git host's published keys: ${setFix("flux.knownHosts[0]", `'${pattern} ssh-ed25519 AAAA...'`)}`,
        );
      }
    } else if (gitPrivateKey !== undefined) {
      problems.add(
        k("fluxGitPrivateKey"),
        "is set but flux.gitUrl is an https:// URL",
        "use an ssh:// gitUrl or unset the key",
      );
    }
  }
  return {
    install,
    installOperator,
    gitUrl,
    ref,
    path,
    interval,
    operatorChartVersion,
    operatorChart,
    distributionVersion,
    knownHosts,
    httpsUsername,
    ...(gitPrivateKey !== undefined ? { gitPrivateKey: pulumi.secret(gitPrivateKey) } : {}),
    ...(gitToken !== undefined ? { gitToken: pulumi.secret(gitToken) } : {}),
    keepOnDestroy,
  };
}

function readEdge(r: ObjectReader, ssh: { user: string; port: number }, environment: string): EdgeConfig {
  const problems = r.problems;
  const hosts = r.objectList("hosts", "a list of hosts: [{name, host, publicIp?, ...}]", (h) => {
    const host = readHost(h, ssh);
    const publicIp = h.optionalString("publicIp", {
      check: (v) => (isIpAddress(v) ? undefined : "is not an IP address"),
      fix: `pulumi config set --path '${h.keyPath("publicIp")}' 203.0.113.20`,
    });
    return { ...host, ...(publicIp !== undefined ? { publicIp } : {}) };
  });
  checkUniqueNames(problems, "edge.hosts", hosts);
  const traefikVersion = r.string("traefikVersion", defaults.DEFAULT_TRAEFIK_VERSION, {
    check: (v) => (/^v3\.[0-9]+\.[0-9]+$/.test(v) ? undefined : "is not a Traefik v3 release like v3.7.13"),
    fix: setFix("edge.traefikVersion", defaults.DEFAULT_TRAEFIK_VERSION),
  });
  const emailOptions = {
    check: (v: string) => (isEmail(v) ? undefined : "is not an email address"),
    fix: setFix("edge.acmeEmail", "ops@example.com"),
  };
  const acmeEmail =
    hosts.length > 0 ? r.requiredString("acmeEmail", emailOptions) : r.string("acmeEmail", "", emailOptions);
  const acmeCa = r.string("acmeCa", environment === "prod" ? "production" : "staging", {
    check: (v) => (v === "staging" || v === "production" ? undefined : checkHttpsUrl(v)),
    fix: setFix("edge.acmeCa", "staging"),
  });
  const acmeCaUrl = acmeCa === "staging" || acmeCa === "production" ? defaults.ACME_CA_URLS[acmeCa] : acmeCa;
  const routesDir = r.string("routesDir", defaults.DEFAULT_ROUTES_DIR, {
    check: (v) =>
      isSafeAbsolutePath(v) && v.split("/").length >= 3
        ? undefined
        : "is not a plain absolute path at least two levels deep",
    fix: setFix("edge.routesDir", defaults.DEFAULT_ROUTES_DIR),
  });
  const firewall = r.boolean("firewall", true);
  const sshAllowFrom = r.optionalString("sshAllowFrom", {
    check: (v) => (isCidr(v) ? undefined : "is not a CIDR range like 100.64.0.0/10"),
    fix: setFix("edge.sshAllowFrom", "100.64.0.0/10"),
  });
  const syncAuthorizedKeys = r.stringList("syncAuthorizedKeys", {
    check: (v) => checkPublicKey(v, AUTHORIZED_USER_KEY),
    fix: "add the route pusher's public key: '<type> <base64> [comment]'",
  });
  const downloadBaseUrl = r.string("downloadBaseUrl", defaults.DEFAULT_TRAEFIK_DOWNLOAD_BASE_URL, {
    check: (v) => checkHttpsUrl(v),
    fix: setFix("edge.downloadBaseUrl", defaults.DEFAULT_TRAEFIK_DOWNLOAD_BASE_URL),
  });
  const traefikSha256 = r.stringMap(
    "traefikSha256",
    (arch, sha) =>
      /^[a-z0-9]+$/.test(arch) && typeof sha === "string" && /^[0-9a-f]{64}$/.test(sha)
        ? undefined
        : `expected <arch>: <64 lowercase hex digits>, got ${show(arch)}: ${show(sha)}`,
    "copy the sha256 of traefik_<version>_linux_<arch>.tar.gz from the release's checksums file you verified",
  );
  const minFreeDiskMb = r.integer("minFreeDiskMb", 512, 1, 1048576, setFix("edge.minFreeDiskMb", "512"));
  return {
    traefikVersion,
    acmeEmail,
    acmeCaUrl,
    routesDir,
    firewall,
    ...(sshAllowFrom !== undefined ? { sshAllowFrom } : {}),
    syncAuthorizedKeys,
    traefikSha256,
    downloadBaseUrl,
    minFreeDiskMb,
    hosts,
  };
}
