// What `npm run status` knows about a stack before it probes anything: the stack's outputs and its config,
// validated by the program's own config loader (so a status run reads the config exactly as `pulumi up` does).
import { loadConfig, rawConfigOf, type RawConfig } from "../../../components/config";
import { FLUX_NAMESPACE } from "../../../components/flux/ownership";
import { PING_URL, EDGE_PATHS } from "../../../components/edge/render";
import type { SshTarget } from "./ssh";

export interface HostTarget extends SshTarget {
  name: string;
}

export interface EdgeTarget extends HostTarget {
  /** Where clients reach the host (its public IP when configured, else its SSH address). */
  publicAddress: string;
}

export interface StatusInputs {
  stack: string;
  /** The stack's kubeconfig output (a secret: kept in memory, never printed). */
  kubeconfig?: string;
  /** The stack adopted a cluster (`existingKubeconfig`) instead of installing k3s. */
  adopted: boolean;
  /** Nodes the stack installs (its servers and agents; k3s names nodes after them); empty when adopted. */
  nodeNames: string[];
  /** `k3s.unreachableNodes`: being removed, not checked. */
  unreachableNodes: string[];
  /** The pinned k3s release (k3s mode). */
  k3sVersion?: string;
  /** k3s `etcd-snapshot-schedule-cron` (k3s mode). */
  etcdScheduleCron?: string;
  /** The control-plane hosts (k3s mode), for the encryption-config probe. */
  servers: HostTarget[];
  /** The stack's copy of the at-rest encryption config (`encryptionConfig` output, secret). */
  encryptionConfig?: string;
  flux: { install: boolean; interval: string; namespace: string };
  sopsGpgFingerprint?: string;
  sopsAgeRecipient?: string;
  edge: { hosts: EdgeTarget[]; traefikVersion: string; routesDir: string; pingUrl: string; binary: string };
  /** The stack's SSH key (secret); absent: the SSH agent. */
  sshPrivateKey?: string;
}

const stringOutput = (outputs: Record<string, unknown>, key: string): string | undefined => {
  const value = outputs[key];
  return typeof value === "string" && value !== "" ? value : undefined;
};

/**
 * The inputs of a status run from a stack's outputs (`pulumi stack output --json --show-secrets`) and raw
 * config. Throws the program's ConfigError (every problem, with its fix) when the config does not validate.
 */
export async function statusInputs(
  stack: string,
  outputs: Record<string, unknown>,
  raw: RawConfig,
): Promise<StatusInputs> {
  // The credential in use (the kubeconfig output) is judged as a finding of its own ("API credential"): an
  // expired one still gets a report, with the API's refusal beside it.
  const config = await loadConfig(raw, { stack, checkCredentialExpiry: false });
  const adopted = config.existingKubeconfig !== undefined;
  const host = (h: {
    name: string;
    host: string;
    port: number;
    user: string;
    hostKey?: string;
  }): HostTarget => ({
    name: h.name,
    host: h.host,
    port: h.port,
    user: h.user,
    ...(h.hostKey !== undefined ? { hostKey: h.hostKey } : {}),
  });
  const unreachableNodes = adopted ? [] : config.k3s.unreachableNodes;
  const nodeNames = adopted
    ? []
    : [...config.k3s.servers, ...config.k3s.agents]
        .map((h) => h.name)
        .filter((n) => !unreachableNodes.includes(n));
  const optional = <K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> =>
    (value !== undefined ? { [key]: value } : {}) as Partial<Record<K, string>>;
  const sshPrivateKey = typeof raw["sshPrivateKey"] === "string" ? raw["sshPrivateKey"] : undefined;
  return {
    stack,
    ...optional("kubeconfig", stringOutput(outputs, "kubeconfig")),
    adopted,
    nodeNames,
    unreachableNodes,
    ...(adopted
      ? {}
      : { k3sVersion: config.k3s.version, etcdScheduleCron: config.k3s.etcdSnapshots.scheduleCron }),
    servers: adopted ? [] : config.k3s.servers.map(host),
    ...optional("encryptionConfig", stringOutput(outputs, "encryptionConfig")),
    flux: { install: config.flux.install, interval: config.flux.interval, namespace: FLUX_NAMESPACE },
    ...optional("sopsGpgFingerprint", stringOutput(outputs, "sopsGpgFingerprint")),
    ...optional("sopsAgeRecipient", stringOutput(outputs, "sopsAgeRecipient")),
    edge: {
      hosts: config.edge.hosts.map((h) => ({ ...host(h), publicAddress: h.publicIp ?? h.host })),
      traefikVersion: config.edge.traefikVersion,
      routesDir: config.edge.routesDir,
      pingUrl: PING_URL,
      binary: EDGE_PATHS.binary,
    },
    ...optional("sshPrivateKey", sshPrivateKey),
  };
}

/** `pulumi config --json --show-secrets` entries to the raw config the program reads. */
export function rawConfigFromCli(
  entries: Record<string, { value?: string; objectValue?: unknown }>,
): RawConfig {
  const values: Record<string, string> = {};
  for (const [key, entry] of Object.entries(entries)) {
    if (entry.value !== undefined) {
      values[key] = entry.value;
    } else if (entry.objectValue !== undefined) {
      values[key] = JSON.stringify(entry.objectValue);
    }
  }
  return rawConfigOf(values);
}
