// OpenSSH's key formats, for the keys this project generates or is given: the SSH wire encoding, the
// authorized_keys form of an ed25519 public key, a public key's fingerprint, and a PKCS#8 ed25519 private key
// rewritten in OpenSSH's own format (the program accepts PKCS#8, whose ed25519 form ssh-add cannot read).
import * as crypto from "node:crypto";

/** An SSH wire-format string: a 32-bit big-endian length, then the bytes. */
export function sshString(data: Buffer | string): Buffer {
  const bytes = typeof data === "string" ? Buffer.from(data) : data;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

function ed25519PublicBytes(key: crypto.KeyObject): Buffer {
  const der = key.export({ format: "der", type: "spki" });
  return der.subarray(der.length - 32);
}

/** The authorized_keys form of an ed25519 public key. */
export function opensshEd25519PublicKey(key: crypto.KeyObject): string {
  const blob = Buffer.concat([sshString("ssh-ed25519"), sshString(ed25519PublicBytes(key))]);
  return `ssh-ed25519 ${blob.toString("base64")}`;
}

/** OpenSSH's fingerprint of an authorized_keys line: `SHA256:<base64 of the blob's sha256, unpadded>`. */
export function publicKeyFingerprint(line: string): string {
  const blob = Buffer.from(line.trim().split(/\s+/)[1] ?? "", "base64");
  return `SHA256:${crypto.createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/**
 * `pem` as OpenSSH reads it: an ed25519 key in PKCS#8 is rewritten as an unencrypted `openssh-key-v1` key (in
 * memory: the caller hands it to ssh-add on stdin); any other key is returned as it is (OpenSSH reads its own
 * format, and RSA and ECDSA keys in PEM).
 */
export function opensshPrivateKey(pem: string): string {
  if (!/-----BEGIN PRIVATE KEY-----/.test(pem)) {
    return pem;
  }
  let key: crypto.KeyObject;
  try {
    key = crypto.createPrivateKey(pem);
  } catch {
    return pem;
  }
  if (key.asymmetricKeyType !== "ed25519") {
    return pem;
  }
  const seed = Buffer.from(String(key.export({ format: "jwk" }).d), "base64url");
  const publicBytes = ed25519PublicBytes(crypto.createPublicKey(key));
  const publicBlob = Buffer.concat([sshString("ssh-ed25519"), sshString(publicBytes)]);
  const check = crypto.randomBytes(4);
  const secret = Buffer.concat([
    check,
    check,
    sshString("ssh-ed25519"),
    sshString(publicBytes),
    sshString(Buffer.concat([seed, publicBytes])),
    sshString(""),
  ]);
  // The private section is padded with 1, 2, 3, ... to the cipher's block size (8 for "none").
  const padding = Buffer.from(Array.from({ length: (8 - (secret.length % 8)) % 8 }, (_, i) => i + 1));
  const body = Buffer.concat([
    Buffer.from("openssh-key-v1\0", "latin1"),
    sshString("none"),
    sshString("none"),
    sshString(""),
    Buffer.from([0, 0, 0, 1]),
    sshString(publicBlob),
    sshString(Buffer.concat([secret, padding])),
  ]);
  const lines = body.toString("base64").match(/.{1,70}/g) ?? [];
  return ["-----BEGIN OPENSSH PRIVATE KEY-----", ...lines, "-----END OPENSSH PRIVATE KEY-----", ""].join(
    "\n",
  );
}
