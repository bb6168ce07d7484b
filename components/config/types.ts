// The validated, typed stack configuration every component receives.
// Produced only by `loadConfig` / `parseConfig` (components/config/index.ts); components never read
// `pulumi.Config` themselves, so every value they see has passed validation.
import type * as pulumi from "@pulumi/pulumi";

/** One SSH-reachable machine (k3s server/agent, edge host). */
export interface HostConfig {
  /** DNS-1123 label, unique across the whole stack; becomes the k3s node name / resource name. */
  name: string;
  /** IPv4, IPv6 (no brackets) or DNS name used to reach the host over SSH. */
  host: string;
  /** SSH port (defaults to `mynodeone:ssh.port`). */
  port: number;
  /** SSH user (defaults to `mynodeone:ssh.user`); needs passwordless sudo unless it is root. */
  user: string;
  /** Pinned SSH host key, one authorized_keys-format line ("<type> <base64>"). */
  hostKey?: string;
  /** Address k3s advertises for this node (e.g. the overlay/Tailscale IP). */
  nodeIp?: string;
  /** Public address k3s reports as the node's external IP. */
  externalIp?: string;
  /** Kubernetes node labels (k3s `node-label`). */
  labels: Record<string, string>;
}

export interface EdgeHostConfig extends HostConfig {
  /** Public address clients reach (reported in outputs; DNS records point here). */
  publicIp?: string;
}

export interface SshConfig {
  /** Default SSH user for hosts that do not set `user`. */
  user: string;
  /** Default SSH port for hosts that do not set `port`. */
  port: number;
  /** Private key (secret). Absent: the SSH agent at `SSH_AUTH_SOCK` is used. */
  privateKey?: pulumi.Output<string>;
}

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

export type FluxGitRef = { branch: string } | { tag: string };

export interface FluxConfig {
  /** Install the Flux Operator and FluxInstance. False: only namespaces, secrets and registries. */
  install: boolean;
  /**
   * With `install`: install the Flux Operator's Helm release too. False: the cluster already runs the operator
   * (installed otherwise); the stack creates the FluxInstance, the Git credentials and `sops-gpg` only.
   */
  installOperator: boolean;
  /** Git repository Flux syncs from (`ssh://...` or `https://...`). */
  gitUrl: string;
  ref: FluxGitRef;
  /** Path inside the repository (default `clusters/<environment>`). */
  path: string;
  /** Sync interval (Go duration, e.g. `1m`). */
  interval: string;
  /** Flux Operator Helm chart version (pinned). */
  operatorChartVersion: string;
  /** OCI chart reference of the Flux Operator. */
  operatorChart: string;
  /** Flux distribution version installed by the operator (pinned, exact). */
  distributionVersion: string;
  /** Pinned known_hosts lines for SSH Git hosts (default: github.com's published keys). */
  knownHosts: string[];
  /** Username for HTTPS token auth (with secret `mynodeone:fluxGitToken`). */
  httpsUsername: string;
  /** SSH deploy key (secret), when given instead of the generated one. */
  gitPrivateKey?: pulumi.Output<string>;
  /** HTTPS token (secret). */
  gitToken?: pulumi.Output<string>;
  /** Leave Flux installed when the stack is destroyed. */
  keepOnDestroy: boolean;
}

export interface SopsConfig {
  /** ASCII-armored GPG private key without passphrase (secret). */
  gpgPrivateKey: pulumi.Output<string>;
  /** Fingerprint of that key, computed at program start (uppercase hex). */
  gpgFingerprint: string;
  /** `AGE-SECRET-KEY-1...` (secret), optional. */
  ageKey?: pulumi.Output<string>;
  /** age recipient (`age1...`) of `ageKey`, computed at program start. */
  ageRecipient?: string;
}

export type AcmeCa = "staging" | "production" | { url: string };

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

export interface RegistriesConfig {
  /** Delete the runtime registries on `pulumi destroy` (default false: they outlive the stack). */
  deleteOnDestroy: boolean;
}

export interface PlatformConfig {
  /** Environment name (`dev`, `prod`); defaults to the stack name. */
  environment: string;
  clusterName: string;
  domain: string;
  /** Path of the platform repository checkout on the nodes (cluster-info `repo-path`). */
  repoPath: string;
  /** Protect resources whose deletion loses data (default: true when environment is prod). */
  protect: boolean;
  requireHostKeys: boolean;
  ssh: SshConfig;
  k3s: K3sConfig;
  /** Given token (secret); absent: generated once and kept in state. */
  k3sToken?: pulumi.Output<string>;
  /** Adopt an existing cluster instead of installing k3s (secret). */
  existingKubeconfig?: pulumi.Output<string>;
  /** The API server URL of `existingKubeconfig`'s current context (not secret: it is the stack's endpoint). */
  existingApiServerUrl?: string;
  flux: FluxConfig;
  sops: SopsConfig;
  edge: EdgeConfig;
  registries: RegistriesConfig;
}
