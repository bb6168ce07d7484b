// Throwaway keys for the self-contained example stack and the tests: generated on each use, never committed,
// never used for anything real.
import * as crypto from "node:crypto";
import * as openpgp from "openpgp";
import { opensshEd25519PublicKey } from "./openssh";

export interface ThrowawayKeys {
  /** ASCII-armored GPG private key without passphrase (what mynodeone:sopsGpgPrivateKey holds). */
  gpgPrivateKey: string;
  gpgPublicKey: string;
  /** Uppercase hex fingerprint of the GPG key. */
  gpgFingerprint: string;
  /** PKCS#8 PEM ed25519 private key (what mynodeone:sshPrivateKey holds). */
  sshPrivateKey: string;
  /** The matching public key as an authorized_keys line, `ssh-ed25519 <base64>`. */
  sshPublicKey: string;
}

export async function generateThrowawayKeys(name = "mynodeone throwaway"): Promise<ThrowawayKeys> {
  const { privateKey, publicKey } = await openpgp.generateKey({
    type: "ecc",
    curve: "curve25519Legacy",
    userIDs: [{ name, email: "throwaway@example.invalid" }],
    format: "armored",
  });
  const parsed = await openpgp.readPrivateKey({ armoredKey: privateKey });
  const ssh = crypto.generateKeyPairSync("ed25519");
  return {
    gpgPrivateKey: privateKey,
    gpgPublicKey: publicKey,
    gpgFingerprint: parsed.getFingerprint().toUpperCase(),
    sshPrivateKey: ssh.privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
    sshPublicKey: opensshEd25519PublicKey(ssh.publicKey),
  };
}

// `node -r ts-node/register scripts/lib/throwaway-keys.ts <dir>` writes the keys as files for shell scripts.
if (require.main === module) {
  const dir = process.argv[2];
  if (dir === undefined) {
    console.error("usage: throwaway-keys.ts <output-dir>");
    process.exit(2);
  }
  void generateThrowawayKeys().then(async (keys) => {
    const fs = await import("node:fs");
    const path = await import("node:path");
    fs.writeFileSync(path.join(dir, "sops-gpg.asc"), keys.gpgPrivateKey, { mode: 0o600 });
    fs.writeFileSync(path.join(dir, "ssh-key"), keys.sshPrivateKey, { mode: 0o600 });
    fs.writeFileSync(path.join(dir, "ssh-key.pub"), `${keys.sshPublicKey}\n`);
  });
}
