// Test fixtures: throwaway keys generated per test run (never committed) and valid raw configs to mutate.
import * as crypto from "node:crypto";
import * as openpgp from "openpgp";
import type { RawConfig } from "../components/config";

export interface TestKeys {
  gpgPrivateKey: string;
  gpgPublicKey: string;
  gpgFingerprint: string;
  sshPrivateKey: string;
  /** authorized_keys line of a throwaway ed25519 key. */
  sshPublicKey: string;
}

let cached: Promise<TestKeys> | undefined;

function opensshPublicKey(key: crypto.KeyObject): string {
  const der = key.export({ format: "der", type: "spki" });
  const raw = der.subarray(der.length - 32);
  const type = Buffer.from("ssh-ed25519");
  const blob = Buffer.concat([
    Buffer.from([0, 0, 0, type.length]),
    type,
    Buffer.from([0, 0, 0, raw.length]),
    raw,
  ]);
  return `ssh-ed25519 ${blob.toString("base64")}`;
}

/** Throwaway keys, generated once per test process. */
export function testKeys(): Promise<TestKeys> {
  cached ??= (async () => {
    const { privateKey, publicKey } = await openpgp.generateKey({
      type: "ecc",
      curve: "curve25519Legacy",
      userIDs: [{ name: "mynodeone test", email: "test@example.com" }],
      format: "armored",
    });
    const parsed = await openpgp.readPrivateKey({ armoredKey: privateKey });
    const ssh = crypto.generateKeyPairSync("ed25519");
    return {
      gpgPrivateKey: privateKey,
      gpgPublicKey: publicKey,
      gpgFingerprint: parsed.getFingerprint().toUpperCase(),
      sshPrivateKey: ssh.privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
      sshPublicKey: opensshPublicKey(ssh.publicKey),
    };
  })();
  return cached;
}

/** A host key line for tests (a real, well-formed ed25519 public key). */
export async function hostKey(): Promise<string> {
  return (await testKeys()).sshPublicKey;
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
  const host = (name: string, ip: string): Record<string, unknown> => ({ name, host: ip, nodeIp: ip, hostKey: hk });
  return {
    environment: "prod",
    domain: "example.com",
    ssh: { user: "deploy", port: 22 },
    k3s: {
      servers: [host("prod-cp-1", "100.64.1.1"), host("prod-cp-2", "100.64.1.2"), host("prod-cp-3", "100.64.1.3")],
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
