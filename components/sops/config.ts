// The SOPS concern's config: the keys Flux decrypts the secrets in Git with (`sopsGpgPrivateKey`, `sopsAgeKey`)
// and the fingerprint they must match (`sopsGpgFingerprint`).
import * as pulumi from "@pulumi/pulumi";
import { configKey, secretFix } from "../config/keys";
import type { ObjectReader, RawConfig } from "../config/reader";
import { asKeyFile, secretString } from "../config/secret";
import { inspectAgeKey, inspectGpgPrivateKey } from "./keys";

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

/**
 * Reads the keys now; the returned step checks the key material. That check is async (OpenPGP parsing): run it
 * after every synchronous reader, so that every problem is still reported in one error.
 */
export function readSops(root: ObjectReader, raw: RawConfig): () => Promise<SopsConfig> {
  const problems = root.problems;
  const gpgKey = secretString(problems, raw, "sopsGpgPrivateKey", "sops-key.asc");
  const ageKey = secretString(problems, raw, "sopsAgeKey", "age.agekey");
  const expectedFingerprint = root.optionalString("sopsGpgFingerprint", {
    check: (v) =>
      /^([0-9A-Fa-f]{40}|[0-9A-Fa-f]{64})$/.test(v.replace(/ /g, ""))
        ? undefined
        : "is not a 40/64-digit hex fingerprint",
    fix: "gpg --list-secret-keys --with-colons | awk -F: '/^fpr/ {print $10; exit}'",
  });
  if (gpgKey === undefined && !raw["sopsGpgPrivateKey"]) {
    problems.add(
      configKey("sopsGpgPrivateKey"),
      "is required: Flux needs it to decrypt the SOPS secrets committed in Git",
      secretFix("sopsGpgPrivateKey", "sops-key.asc") + " (see docs/gitops.md to create one)",
    );
  }
  return async () => {
    let gpgFingerprint = "";
    if (gpgKey !== undefined) {
      try {
        gpgFingerprint = (await inspectGpgPrivateKey(gpgKey)).fingerprint;
        const expected = expectedFingerprint?.replace(/ /g, "").toUpperCase();
        if (expected !== undefined && expected !== gpgFingerprint) {
          problems.add(
            configKey("sopsGpgFingerprint"),
            `does not match the key in mynodeone:sopsGpgPrivateKey (its fingerprint is ${gpgFingerprint}): wrong key for this environment?`,
            "restore the right key from the backup, or update sopsGpgFingerprint after re-encrypting the secrets in Git",
          );
        }
      } catch (err) {
        problems.add(
          configKey("sopsGpgPrivateKey"),
          errorMessage(err),
          secretFix("sopsGpgPrivateKey", "sops-key.asc"),
        );
      }
    }
    let ageRecipient: string | undefined;
    if (ageKey !== undefined) {
      try {
        ageRecipient = (await inspectAgeKey(ageKey)).recipient;
      } catch (err) {
        problems.add(configKey("sopsAgeKey"), errorMessage(err), secretFix("sopsAgeKey", "age.agekey"));
      }
    }
    return {
      gpgPrivateKey: pulumi.secret(gpgKey !== undefined ? asKeyFile(gpgKey) : ""),
      gpgFingerprint,
      ...(ageKey !== undefined ? { ageKey: pulumi.secret(asKeyFile(ageKey)) } : {}),
      ...(ageRecipient !== undefined ? { ageRecipient } : {}),
    };
  };
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
