// The top-level keys: the stack-wide settings every concern may depend on, and the list of every key the
// program reads.
import * as pulumi from "@pulumi/pulumi";
import { PROJECT, setFix } from "./keys";
import type { ObjectReader, RawConfig } from "./reader";
import { isDnsLabel, isDnsName, isSafeAbsolutePath } from "./validate";

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

const DEFAULT_REPO_PATH = "/opt/mynodeone";

export interface StackSettings {
  /** Environment name (`dev`, `prod`); defaults to the stack name. */
  environment: string;
  clusterName: string;
  domain: string;
  /** Path of the platform repository checkout on the nodes (cluster-info `repo-path`). */
  repoPath: string;
  /** Protect resources whose deletion loses data (default: true when environment is prod). */
  protect: boolean;
  requireHostKeys: boolean;
}

/** Read this stack's raw `mynodeone:*` config from the Pulumi runtime. */
export function readRawConfig(): RawConfig {
  return rawConfigOf(pulumi.runtime.allConfig());
}

/**
 * The raw `mynodeone:*` config from full keys and their string values (the runtime's config, or the values of
 * `pulumi config --json`): object keys are decoded from their JSON text.
 */
export function rawConfigOf(values: Readonly<Record<string, string>>): RawConfig {
  const raw: RawConfig = {};
  for (const [fullKey, value] of Object.entries(values)) {
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

/** The stack-wide settings; `stack` (the Pulumi stack name) is the default environment. */
export function readSettings(root: ObjectReader, stack: string): StackSettings {
  const environment = root.string("environment", stack, {
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
  const repoPath = root.string("repoPath", DEFAULT_REPO_PATH, {
    check: (v) => (isSafeAbsolutePath(v) ? undefined : "is not a plain absolute path"),
    fix: setFix("repoPath", DEFAULT_REPO_PATH),
  });
  const protect = root.boolean("protect", isProd);
  const requireHostKeys = root.boolean("requireHostKeys", isProd);
  return { environment, clusterName, domain, repoPath, protect, requireHostKeys };
}
