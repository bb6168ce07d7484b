// The edge concern's config: `mynodeone:edge` (the Traefik hosts), with the pinned defaults.
import { checkUniqueNames, type HostConfig, type HostDefaults, readHost } from "../config/host";
import { setFix } from "../config/keys";
import type { ObjectReader } from "../config/reader";
import {
  AUTHORIZED_USER_KEY,
  checkHttpsUrl,
  checkPublicKey,
  isCidr,
  isEmail,
  isIpAddress,
  isSafeAbsolutePath,
  show,
} from "../config/validate";

// Pinned defaults. Every version here is exact; bumping one is a reviewed change (see README "Upgrades").

/** Traefik v3 release for the edge hosts. */
export const DEFAULT_TRAEFIK_VERSION = "v3.7.13";
const DEFAULT_TRAEFIK_DOWNLOAD_BASE_URL = "https://github.com/traefik/traefik/releases/download";

export const ACME_CA_URLS = {
  staging: "https://acme-staging-v02.api.letsencrypt.org/directory",
  production: "https://acme-v02.api.letsencrypt.org/directory",
} as const;

const DEFAULT_ROUTES_DIR = "/etc/traefik/dynamic";

export interface EdgeHostConfig extends HostConfig {
  /** Public address clients reach (reported in outputs; DNS records point here). */
  publicIp?: string;
}

export interface EdgeConfig {
  /** Pinned Traefik v3 release, `vX.Y.Z`. */
  traefikVersion: string;
  acmeEmail: string;
  /** Resolved ACME directory URL. */
  acmeCaUrl: string;
  routesDir: string;
  firewall: boolean;
  /** When set, SSH is only allowed from this CIDR (e.g. the overlay range 100.64.0.0/10). */
  sshAllowFrom?: string;
  /** authorized_keys lines of the route pusher. */
  syncAuthorizedKeys: string[];
  /**
   * sha256 of the release tarball per architecture (`amd64`, `arm64`, ...), pinned independently of the
   * mirror's checksums file (which must agree). Empty: the release's checksums file alone is trusted.
   */
  traefikSha256: Record<string, string>;
  /** Base URL of the Traefik releases (`<base>/<version>/traefik_<version>_linux_<arch>.tar.gz`). */
  downloadBaseUrl: string;
  /** Minimum free disk space for the install, MiB. */
  minFreeDiskMb: number;
  hosts: EdgeHostConfig[];
}

export function readEdge(root: ObjectReader, ssh: HostDefaults, environment: string): EdgeConfig {
  return root.object("edge", "see README 'Configuration'", (r) => readEdgeObject(r, ssh, environment));
}

function readEdgeObject(r: ObjectReader, ssh: HostDefaults, environment: string): EdgeConfig {
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
  const traefikVersion = r.string("traefikVersion", DEFAULT_TRAEFIK_VERSION, {
    check: (v) => (/^v3\.[0-9]+\.[0-9]+$/.test(v) ? undefined : "is not a Traefik v3 release like v3.7.13"),
    fix: setFix("edge.traefikVersion", DEFAULT_TRAEFIK_VERSION),
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
  const acmeCaUrl = acmeCa === "staging" || acmeCa === "production" ? ACME_CA_URLS[acmeCa] : acmeCa;
  const routesDir = r.string("routesDir", DEFAULT_ROUTES_DIR, {
    check: (v) =>
      isSafeAbsolutePath(v) && v.split("/").length >= 3
        ? undefined
        : "is not a plain absolute path at least two levels deep",
    fix: setFix("edge.routesDir", DEFAULT_ROUTES_DIR),
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
  const downloadBaseUrl = r.string("downloadBaseUrl", DEFAULT_TRAEFIK_DOWNLOAD_BASE_URL, {
    check: (v) => checkHttpsUrl(v),
    fix: setFix("edge.downloadBaseUrl", DEFAULT_TRAEFIK_DOWNLOAD_BASE_URL),
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
