// Secret values: read as plaintext only to validate them; problems never echo them, and each concern wraps what
// it keeps in `pulumi.secret`.
import { configKey, secretFix } from "./keys";
import type { RawConfig } from "./reader";
import type { Problems } from "./validate";

/**
 * A secret value as a string; problems never echo it. Multi-line values (keys, kubeconfigs) are allowed. `file`
 * names what the fix sets it from.
 */
export function secretString(
  problems: Problems,
  raw: RawConfig,
  key: string,
  file: string,
): string | undefined {
  const fix = secretFix(key, file);
  const value = raw[key];
  if (value === undefined || value === null || value === "") {
    return undefined;
  }
  if (typeof value !== "string") {
    problems.add(configKey(key), "must be a string", fix);
    return undefined;
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(value)) {
    problems.add(configKey(key), "contains control characters other than newlines (binary data?)", fix);
    return undefined;
  }
  return value;
}

/** What is wrong with an SSH private key (the hosts' key, a Git deploy key), or undefined when it is usable. */
export function checkSshPrivateKey(value: string): string | undefined {
  const match = /-----BEGIN ([A-Z ]*)PRIVATE KEY-----\r?\n([\s\S]*?)-----END \1PRIVATE KEY-----/.exec(value);
  if (!match) {
    return "is not a PEM/OpenSSH private key (expected '-----BEGIN ... PRIVATE KEY-----')";
  }
  if (/ENCRYPTED/.test(value)) {
    return "is passphrase-protected; Pulumi cannot prompt for it (use the SSH agent instead, or an unencrypted deploy key)";
  }
  if (match[1] === "OPENSSH ") {
    // openssh-key-v1 format: magic, then the cipher name; "none" means unencrypted.
    const body = Buffer.from((match[2] ?? "").replace(/\s+/g, ""), "base64");
    const magic = "openssh-key-v1\0";
    if (body.subarray(0, magic.length).toString("latin1") !== magic) {
      return "is not a valid OpenSSH private key";
    }
    const cipherLength = body.length >= magic.length + 4 ? body.readUInt32BE(magic.length) : 0;
    const cipher = body.subarray(magic.length + 4, magic.length + 4 + cipherLength).toString("latin1");
    if (cipher !== "none") {
      return "is passphrase-protected; Pulumi cannot prompt for it (use the SSH agent instead, or an unencrypted deploy key)";
    }
  }
  return undefined;
}

/**
 * A key as the file it came from holds it: `pulumi config set --secret KEY < file` drops the file's final
 * newline, pasting may add blank lines around it. Flux gets the same bytes whichever way the key was set.
 */
export function asKeyFile(value: string): string {
  return value.trim() + "\n";
}
