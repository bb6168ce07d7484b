// The k3s concern's config: `mynodeone:k3s`, the cluster token, and `mynodeone:existingKubeconfig` (adopting a
// running cluster instead of installing k3s), with the pinned defaults.
import * as pulumi from "@pulumi/pulumi";
import { checkUniqueNames, type HostConfig, type HostDefaults, readHost } from "../config/host";
import { configKey, secretFix, setFix } from "../config/keys";
import type { ObjectReader, RawConfig } from "../config/reader";
import { secretString } from "../config/secret";
import { checkHttpsUrl, isDnsLabel, isHostAddress, type Problems } from "../config/validate";
import { clientCertificateExpiry, kubeconfigServerHost } from "./kubeconfig";

// Pinned defaults. Every version here is exact; bumping one is a reviewed change (see README "Upgrades").

/** k3s release (Kubernetes 1.35; Flux 2.9 needs >= 1.33). */
export const DEFAULT_K3S_VERSION = "v1.35.6+k3s1";
/**
 * The installer script of the pinned release itself (the tag's install.sh), not the moving get.k3s.io: the
 * same script on every run of the same version. It installs exactly INSTALL_K3S_VERSION and checks the k3s
 * binary against the release's sha256sum file.
 */
function defaultK3sInstallScriptUrl(version: string): string {
  return `https://raw.githubusercontent.com/k3s-io/k3s/${encodeURIComponent(version)}/install.sh`;
}

/** Packaged k3s components the platform replaces (Traefik runs on the edge hosts; no ServiceLB). */
const DEFAULT_K3S_DISABLE = ["traefik", "servicelb"];

export interface EtcdSnapshotConfig {
  /** k3s `etcd-snapshot-schedule-cron`. */
  scheduleCron: string;
  /** k3s `etcd-snapshot-retention`. */
  retention: number;
}

export interface K3sConfig {
  /** Pinned k3s release, `vX.Y.Z+k3sN`. */
  version: string;
  /** Control-plane hosts; the first one initialises the cluster. Odd count. */
  servers: HostConfig[];
  /** Worker hosts. */
  agents: HostConfig[];
  /** Extra names/addresses in the API server certificate (the API endpoint is always added). */
  tlsSans: string[];
  /** Interface flannel uses (e.g. `tailscale0`). */
  flannelIface?: string;
  /** Packaged components to disable (`traefik`, `servicelb`, ...). */
  disable: string[];
  /** Run the k3s uninstall script when a node is destroyed (deletes its data). Off by default. */
  uninstallOnDestroy: boolean;
  /** Address clients use for the API (default: first server's nodeIp or host). */
  apiEndpoint: string;
  /** Base URL of the k3s installer script (a mirror for air-gapped sites). */
  installScriptUrl: string;
  /** sha256 of the installer script at `installScriptUrl`; checked before it runs when set. */
  installScriptSha256?: string;
  /** Upper bound for each readiness wait, seconds. */
  readyTimeoutSeconds: number;
  /** Scheduled etcd snapshots (embedded etcd only). */
  etcdSnapshots: EtcdSnapshotConfig;
  /**
   * Names of nodes whose host is gone or unreachable: their delete commands (uninstall, drain from the first
   * server when that one is listed) are skipped, so removing them cannot block `pulumi up`/`destroy`. List
   * the node, run `pulumi up`, then remove the host from `servers`/`agents`. Default: none.
   */
  unreachableNodes: string[];
}

/** The k3s concern's part of the stack config (top-level keys, as `PlatformConfig` holds them). */
export interface K3sSettings {
  k3s: K3sConfig;
  /** Given token (secret); absent: generated once and kept in state. */
  k3sToken?: pulumi.Output<string>;
  /** Adopt an existing cluster instead of installing k3s (secret). */
  existingKubeconfig?: pulumi.Output<string>;
  /** The API server URL of `existingKubeconfig`'s current context (not secret: it is the stack's endpoint). */
  existingApiServerUrl?: string;
}

/** Warn this long before a kubeconfig's client certificate expires (here, and in `npm run status`). */
export const CLIENT_CERTIFICATE_WARNING_DAYS = 30;

/** What to do about a given kubeconfig's client certificate that has expired or soon will. */
export const CLIENT_CERTIFICATE_FIX =
  secretFix("existingKubeconfig", "kubeconfig.yaml") +
  " with a current kubeconfig of the cluster (docs/disaster-recovery.md, 'An expired cluster credential')";

export interface ClientCertificateStanding {
  commonName: string;
  notAfter: Date;
  standing: "expired" | "expiring" | "valid";
}

/** The standing at `now` of a kubeconfig's inline client certificate; undefined when it has none (a token). */
export function clientCertificateStanding(
  kubeconfig: string,
  now: Date,
): ClientCertificateStanding | undefined {
  const certificate = clientCertificateExpiry(kubeconfig);
  if (certificate === undefined) {
    return undefined;
  }
  const left = certificate.notAfter.getTime() - now.getTime();
  const standing =
    left <= 0 ? "expired" : left < CLIENT_CERTIFICATE_WARNING_DAYS * 86_400_000 ? "expiring" : "valid";
  return { ...certificate, standing };
}

/**
 * A given kubeconfig's client certificate that has expired makes every later step fail with an API error; it is
 * reported here, before any resource, with what to do. One that expires soon gets a warning.
 */
function checkClientCertificate(
  problems: Problems,
  kubeconfig: string,
  now: Date,
  warn: (message: string) => void,
): void {
  const certificate = clientCertificateStanding(kubeconfig, now);
  if (certificate === undefined) {
    return;
  }
  const expiry = certificate.notAfter.toISOString();
  if (certificate.standing === "expired") {
    problems.add(
      configKey("existingKubeconfig"),
      `its client certificate (CN=${certificate.commonName}) expired at ${expiry}: the API server refuses it`,
      CLIENT_CERTIFICATE_FIX,
    );
  } else if (certificate.standing === "expiring") {
    warn(
      `mynodeone:existingKubeconfig: its client certificate (CN=${certificate.commonName}) expires at ${expiry}. ` +
        `Before then: ${CLIENT_CERTIFICATE_FIX}`,
    );
  }
}

/**
 * `existingKubeconfig` and `k3s`. The token is read apart (`readK3sToken`), after the checks across every host,
 * so that a run lists its problems in the order it always has.
 */
export function readK3s(
  root: ObjectReader,
  raw: RawConfig,
  ssh: HostDefaults,
  credential: { now: Date; warn: (message: string) => void; checkCredentialExpiry: boolean },
): Omit<K3sSettings, "k3sToken"> {
  const problems = root.problems;
  const fix = secretFix("existingKubeconfig", "kubeconfig.yaml");
  const existingKubeconfig = secretString(problems, raw, "existingKubeconfig", "kubeconfig.yaml");
  let adoptedApiHost: string | undefined;
  let adoptedApiUrl: string | undefined;
  if (existingKubeconfig !== undefined) {
    const checked = kubeconfigServerHost(existingKubeconfig);
    if ("problem" in checked) {
      problems.add(configKey("existingKubeconfig"), checked.problem, fix);
    } else {
      adoptedApiHost = checked.host;
      adoptedApiUrl = checked.url;
      if (credential.checkCredentialExpiry) {
        checkClientCertificate(problems, existingKubeconfig, credential.now, credential.warn);
      }
    }
  }
  const k3s = root.object("k3s", "see README 'Configuration'", (r) =>
    readK3sObject(r, ssh, existingKubeconfig !== undefined, adoptedApiHost),
  );
  return {
    k3s,
    ...(existingKubeconfig !== undefined ? { existingKubeconfig: pulumi.secret(existingKubeconfig) } : {}),
    ...(adoptedApiUrl !== undefined ? { existingApiServerUrl: adoptedApiUrl } : {}),
  };
}

export function readK3sToken(problems: Problems, raw: RawConfig): Pick<K3sSettings, "k3sToken"> {
  const k3sToken = secretString(problems, raw, "k3sToken", "token.txt");
  if (k3sToken !== undefined && !/^[\x21-\x7e]{16,}$/.test(k3sToken)) {
    problems.add(
      configKey("k3sToken"),
      "must be at least 16 printable characters without spaces",
      "generate one: openssl rand -hex 32 | pulumi config set --secret mynodeone:k3sToken",
    );
  }
  return k3sToken !== undefined ? { k3sToken: pulumi.secret(k3sToken) } : {};
}

function readK3sObject(
  r: ObjectReader,
  ssh: HostDefaults,
  adopting: boolean,
  adoptedApiHost: string | undefined,
): K3sConfig {
  const problems = r.problems;
  const version = r.string("version", DEFAULT_K3S_VERSION, {
    check: (v) =>
      /^v[0-9]+\.[0-9]+\.[0-9]+\+k3s[0-9]+$/.test(v) ? undefined : "is not a k3s release like v1.35.6+k3s1",
    fix: setFix("k3s.version", DEFAULT_K3S_VERSION),
  });
  const servers = r.objectList("servers", "a list of hosts: [{name, host, ...}]", (h) => readHost(h, ssh));
  const agents = r.objectList("agents", "a list of hosts: [{name, host, ...}]", (h) => readHost(h, ssh));
  checkUniqueNames(problems, "k3s.servers/agents", [...servers, ...agents]);
  if (adopting) {
    if (servers.length > 0 || agents.length > 0) {
      problems.add(
        configKey("k3s.servers"),
        "must be empty when mynodeone:existingKubeconfig is set (the existing cluster is adopted; nothing is installed)",
        "remove k3s.servers/k3s.agents, or remove existingKubeconfig to install k3s on the hosts",
      );
    }
  } else if (servers.length === 0) {
    problems.add(
      configKey("k3s.servers"),
      "needs at least one server (or set mynodeone:existingKubeconfig to adopt a running cluster)",
      setFix("k3s.servers[0]", '\'{"name":"cp-1","host":"100.64.0.10"}\''),
    );
  } else if (servers.length % 2 === 0) {
    problems.add(
      configKey("k3s.servers"),
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
  const disable = disableGiven ? disableList : [...DEFAULT_K3S_DISABLE];
  const first = servers[0];
  const apiEndpoint = r.string("apiEndpoint", first ? (first.nodeIp ?? first.host) : (adoptedApiHost ?? ""), {
    check: (v) => (isHostAddress(v) ? undefined : "is not an IP address or DNS name"),
    fix: setFix("k3s.apiEndpoint", "100.64.0.10"),
  });
  const installScriptUrl = r.string("installScriptUrl", defaultK3sInstallScriptUrl(version), {
    check: (v) => checkHttpsUrl(v),
    fix: setFix("k3s.installScriptUrl", defaultK3sInstallScriptUrl(version)),
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
