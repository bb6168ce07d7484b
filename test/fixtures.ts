// Test fixtures: throwaway keys generated per test run (never committed) and valid raw configs to mutate.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import type { RawConfig } from "../components/config";
import type { HostConfig } from "../components/config/host";
import type { K3sConfig } from "../components/k3s/config";
import { sshString } from "../scripts/lib/openssh";
import { generateThrowawayKeys, type ThrowawayKeys } from "../scripts/lib/throwaway-keys";

export type TestKeys = ThrowawayKeys;

let cached: Promise<TestKeys> | undefined;

/** Throwaway keys, generated once per test process. */
export function testKeys(): Promise<TestKeys> {
  cached ??= generateThrowawayKeys("mynodeone test");
  return cached;
}

/** The admin kubeconfig k3s writes to /etc/rancher/k3s/k3s.yaml, with a test-only client key. */
export function k3sKubeconfig(clientKey: string): string {
  return `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0EtREFUQQ==
    server: https://127.0.0.1:6443
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {}
users:
- name: default
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: ${clientKey}
`;
}

/** A host key line for tests (a real, well-formed ed25519 public key). */
export async function hostKey(): Promise<string> {
  return (await testKeys()).sshPublicKey;
}

/** The SSH public key types the tests build keys of. */
export type SshKeyType =
  | "ssh-ed25519"
  | "ssh-rsa"
  | "ecdsa-sha2-nistp256"
  | "ecdsa-sha2-nistp384"
  | "ecdsa-sha2-nistp521"
  | "sk-ssh-ed25519@openssh.com"
  | "sk-ecdsa-sha2-nistp256@openssh.com";

/** An `mpint` from a JWK's unsigned big-endian base64url number (a leading zero keeps it positive). */
function sshMpint(base64url: string): Buffer {
  const bytes = Buffer.from(base64url, "base64url");
  return sshString((bytes[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
}

/** The uncompressed point (0x04 || x || y) of a fresh ECDSA key on `curve`. */
function ecdsaPoint(curve: "P-256" | "P-384" | "P-521"): Buffer {
  const jwk = crypto.generateKeyPairSync("ec", { namedCurve: curve }).publicKey.export({ format: "jwk" });
  return Buffer.concat([
    Buffer.from([4]),
    Buffer.from(jwk.x ?? "", "base64url"),
    Buffer.from(jwk.y ?? "", "base64url"),
  ]);
}

/**
 * A well-formed public key line `<type> <base64>` with fresh key material, encoded as OpenSSH does
 * (RFC 4253, 5656, 8709, PROTOCOL.u2f; security keys with the default application "ssh:").
 */
export function publicKeyLine(type: SshKeyType): string {
  const ed25519 = (): Buffer =>
    Buffer.from(
      crypto.generateKeyPairSync("ed25519").publicKey.export({ format: "jwk" }).x ?? "",
      "base64url",
    );
  let fields: Buffer[];
  switch (type) {
    case "ssh-ed25519":
      fields = [sshString(ed25519())];
      break;
    case "ssh-rsa": {
      const jwk = crypto
        .generateKeyPairSync("rsa", { modulusLength: 2048 })
        .publicKey.export({ format: "jwk" });
      fields = [sshMpint(jwk.e ?? ""), sshMpint(jwk.n ?? "")];
      break;
    }
    case "ecdsa-sha2-nistp256":
    case "ecdsa-sha2-nistp384":
    case "ecdsa-sha2-nistp521": {
      const curve = type.slice("ecdsa-sha2-".length);
      fields = [sshString(curve), sshString(ecdsaPoint(`P-${curve.slice("nistp".length)}` as "P-256"))];
      break;
    }
    case "sk-ssh-ed25519@openssh.com":
      fields = [sshString(ed25519()), sshString("ssh:")];
      break;
    case "sk-ecdsa-sha2-nistp256@openssh.com":
      fields = [sshString("nistp256"), sshString(ecdsaPoint("P-256")), sshString("ssh:")];
      break;
  }
  return `${type} ${Buffer.concat([sshString(type), ...fields]).toString("base64")}`;
}

/** A minimal valid dev config: one server, one edge host, SSH Git URL on github.com. */
export async function devRawConfig(): Promise<RawConfig> {
  const keys = await testKeys();
  return {
    domain: "dev.example.com",
    k3s: {
      servers: [{ name: "dev-cp-1", host: "100.64.0.10", nodeIp: "100.64.0.10" }],
      flannelIface: "tailscale0",
    },
    flux: { gitUrl: "ssh://git@github.com/example/platform" },
    edge: {
      acmeEmail: "ops@example.com",
      hosts: [{ name: "dev-edge-1", host: "198.51.100.20", publicIp: "198.51.100.20" }],
    },
    sopsGpgPrivateKey: keys.gpgPrivateKey,
  };
}

/** A prod-like config: three servers, two agents, pinned host keys everywhere. */
export async function prodRawConfig(): Promise<RawConfig> {
  const keys = await testKeys();
  const hk = keys.sshPublicKey;
  const host = (name: string, ip: string): Record<string, unknown> => ({
    name,
    host: ip,
    nodeIp: ip,
    hostKey: hk,
  });
  return {
    environment: "prod",
    domain: "example.com",
    ssh: { user: "deploy", port: 22 },
    k3s: {
      servers: [
        host("prod-cp-1", "100.64.1.1"),
        host("prod-cp-2", "100.64.1.2"),
        host("prod-cp-3", "100.64.1.3"),
      ],
      agents: [host("prod-worker-1", "100.64.1.11"), host("prod-worker-2", "100.64.1.12")],
      tlsSans: ["api.example.com"],
      flannelIface: "tailscale0",
    },
    flux: { gitUrl: "ssh://git@github.com/example/platform" },
    edge: {
      acmeEmail: "ops@example.com",
      syncAuthorizedKeys: [`${hk} route-sync`],
      hosts: [host("prod-edge-1", "203.0.113.10"), host("prod-edge-2", "203.0.113.11")],
    },
    sopsGpgPrivateKey: keys.gpgPrivateKey,
    sopsGpgFingerprint: keys.gpgFingerprint,
    sshPrivateKey: keys.sshPrivateKey,
  };
}

/** A complete K3sConfig for component tests; the API endpoint is the first server's node IP (or host). */
export function k3sTestConfig(
  servers: HostConfig[],
  agents: HostConfig[] = [],
  extra: Partial<K3sConfig> = {},
): K3sConfig {
  const first = servers[0];
  return {
    version: "v1.35.6+k3s1",
    servers,
    agents,
    tlsSans: ["api.example.com"],
    flannelIface: "tailscale0",
    disable: ["traefik", "servicelb"],
    uninstallOnDestroy: false,
    apiEndpoint: first?.nodeIp ?? first?.host ?? "",
    installScriptUrl: "https://get.k3s.io",
    readyTimeoutSeconds: 300,
    etcdSnapshots: { scheduleCron: "0 */6 * * *", retention: 20 },
    unreachableNodes: [],
    ...extra,
  };
}

/** Entries as the platform's runtime writes them into the registries (runtime-contract.md's populated shapes). */
export const RUNTIME_REGISTRY_ENTRIES: Record<string, Record<string, string>> = {
  "service-registry": {
    "services.json": JSON.stringify({
      demo: {
        subdomain: "demo",
        namespace: "default",
        service: "demo",
        ip: "100.76.150.207",
        port: 80,
        public: true,
        updated: "2026-11-23T12:00:00Z",
      },
    }),
  },
  "domain-registry": {
    "domains.json": JSON.stringify({
      domains: {
        "example.com": { description: "main", registered: "2026-11-23T12:00:00Z", status: "active" },
      },
      vps_nodes: [
        {
          tailscale_ip: "100.64.0.20",
          public_ip: "198.51.100.20",
          location: "fra",
          registered: "2026-11-23T12:00:00Z",
          status: "active",
        },
      ],
    }),
    "routing.json": JSON.stringify({
      demo: {
        domains: ["demo.example.com"],
        vps_nodes: ["100.64.0.20"],
        strategy: "round-robin",
        updated: "x",
      },
    }),
  },
  "sync-controller-registry": {
    "registry.json": JSON.stringify({
      management_laptops: [],
      vps_nodes: [],
      worker_nodes: [
        {
          ip: "100.64.0.30",
          name: "worker-1",
          ssh_user: "admin",
          webhook_port: 9000,
          repo_path: "/opt/mynodeone",
          registered: "2026-11-23T12:00:00Z",
          last_sync: "2026-11-23T12:00:00Z",
          status: "active",
        },
      ],
      metadata: { version: "1.0", last_updated: "2026-11-23T12:00:00Z", updated_by: "sync-controller" },
    }),
  },
};

/** The `mynodeone:` config of a committed stack file (path from the project root), keys without the prefix. */
export function stackFileConfig(file: string): RawConfig {
  const doc = YAML.parse(fs.readFileSync(path.join(__dirname, "..", file), "utf8")) as {
    config: Record<string, unknown>;
  };
  return Object.fromEntries(Object.entries(doc.config).map(([k, v]) => [k.replace(/^mynodeone:/, ""), v]));
}

/** `raw` with the secrets a user sets once per stack (README "Secrets"): throwaway keys. */
export async function withSecrets(raw: RawConfig): Promise<RawConfig> {
  const keys = await testKeys();
  return { ...raw, sopsGpgPrivateKey: keys.gpgPrivateKey, sshPrivateKey: keys.sshPrivateKey };
}
