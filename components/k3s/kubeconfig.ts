// Reading the parts of a given kubeconfig (`mynodeone:existingKubeconfig`) that config validation checks: the
// API server of its current context and the expiry of its client certificate. Never echoes credentials.
import { X509Certificate } from "node:crypto";
import * as YAML from "yaml";

interface KubeconfigDoc {
  clusters?: { name?: unknown; cluster?: { server?: unknown } }[];
  users?: { name?: unknown; user?: Record<string, unknown> }[];
  contexts?: { name?: unknown; context?: { cluster?: unknown; user?: unknown } }[];
  "current-context"?: unknown;
}

/**
 * Checks an admin kubeconfig and returns its current context's API server, or what is wrong. The host becomes
 * the default `k3s.apiEndpoint` (cluster-info `control-plane-ip`) of an adopted cluster, the URL its
 * `apiEndpoint` output.
 */
export function kubeconfigServerHost(value: string): { host: string; url: string } | { problem: string } {
  const kc = parseKubeconfig(value);
  if (kc === undefined) {
    return { problem: "is not valid YAML" };
  }
  if (!kc || !Array.isArray(kc.clusters) || kc.clusters.length === 0) {
    return { problem: "is not a kubeconfig (no clusters)" };
  }
  if (!Array.isArray(kc.users) || !Array.isArray(kc.contexts) || typeof kc["current-context"] !== "string") {
    return { problem: "is not a complete kubeconfig (needs users, contexts and current-context)" };
  }
  const context = currentContext(kc);
  const cluster = kc.clusters.find((c) => c.name === context?.cluster);
  const server = cluster?.cluster?.server;
  if (typeof server !== "string" || !server.startsWith("https://")) {
    return { problem: "has no https:// server for its current-context" };
  }
  const url = new URL(server);
  // The URL as the API is reached: a path kept (an API behind a proxy, e.g. Rancher's /k8s/clusters/<id>), no
  // trailing slash, the port only when not 443 (as URL normalizes it).
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    url: url.origin + url.pathname.replace(/\/+$/, ""),
  };
}

/** Subject CN and end of validity of the current context's client certificate, when it has one inline. */
export function clientCertificateExpiry(value: string): { commonName: string; notAfter: Date } | undefined {
  const kc = parseKubeconfig(value);
  const userName = kc ? currentContext(kc)?.user : undefined;
  const data = kc?.users?.find((u) => u.name === userName)?.user?.["client-certificate-data"];
  if (typeof data !== "string") {
    return undefined;
  }
  try {
    const cert = new X509Certificate(Buffer.from(data, "base64"));
    const commonName = /^CN=(.*)$/m.exec(cert.subject)?.[1] ?? "?";
    return { commonName, notAfter: new Date(cert.validTo) };
  } catch {
    return undefined;
  }
}

/** The document, `null` for an empty one, or undefined when it is not YAML (never echoing its text). */
function parseKubeconfig(value: string): KubeconfigDoc | null | undefined {
  try {
    return YAML.parse(value) as KubeconfigDoc | null;
  } catch {
    return undefined;
  }
}

function currentContext(kc: KubeconfigDoc): { cluster?: unknown; user?: unknown } | undefined {
  return kc.contexts?.find((c) => c.name === kc["current-context"])?.context;
}
