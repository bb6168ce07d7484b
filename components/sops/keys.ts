// Fail-fast checks of the SOPS keys, run at program start before any resource is registered.
//
// A disaster-recovery rebuild must decrypt the secrets already committed in Git, so the keys are inputs, never
// generated. A wrong key must stop the run with a message the operator can act on, not surface later as a
// Flux decryption error. Messages never contain key material; they read as a predicate after the config key
// name (the config module prints "mynodeone:sopsGpgPrivateKey: <message>. Fix: ...").
//
// Both libraries are loaded with `await import()`: `age-encryption` is ESM-only and `openpgp` resolves to its
// ESM typings, and TypeScript (module node16) keeps a real `import()` in this CommonJS output.

const PRIVATE_KEY_HEADER = "-----BEGIN PGP PRIVATE KEY BLOCK-----";
const PUBLIC_KEY_HEADER = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
const EXPORT_HINT = "export it with: gpg --export-secret-keys --armor <fingerprint>";

/**
 * Check an ASCII-armored OpenPGP private key for use by Flux's kustomize-controller: exactly one key, not
 * protected by a passphrase, primary key neither expired nor revoked, with a usable encryption subkey.
 * Returns its fingerprint (uppercase hex), the value `.sops.yaml` creation rules list.
 */
export async function inspectGpgPrivateKey(armored: string): Promise<{ fingerprint: string }> {
  const text = armored.trim();
  const privateBlocks = text.split(PRIVATE_KEY_HEADER).length - 1;
  if (privateBlocks === 0) {
    if (text.includes(PUBLIC_KEY_HEADER)) {
      throw new Error(`is a public key; Flux needs the private key (${EXPORT_HINT})`);
    }
    throw new Error(`is not an ASCII-armored OpenPGP private key (expected '${PRIVATE_KEY_HEADER}')`);
  }
  if (privateBlocks > 1) {
    throw new Error(`contains ${privateBlocks} armored key blocks; exactly one key is expected`);
  }

  const openpgp = await import("openpgp");
  let keys: Awaited<ReturnType<typeof openpgp.readPrivateKeys>>;
  try {
    keys = await openpgp.readPrivateKeys({ armoredKeys: text });
  } catch (err) {
    // The library's messages describe the structure ("Misformed armored text", ...), never the key bytes.
    const reason = err instanceof Error ? err.message.slice(0, 120) : "unreadable";
    throw new Error(`is not a readable OpenPGP private key (${reason})`);
  }
  const [key, ...others] = keys;
  if (key === undefined) {
    throw new Error("contains no OpenPGP key");
  }
  if (others.length > 0) {
    throw new Error(
      `contains ${keys.length} keys; export exactly one: gpg --export-secret-keys --armor <fingerprint>`,
    );
  }
  const fingerprint = key.getFingerprint().toUpperCase();
  if (!key.isDecrypted()) {
    throw new Error(
      `is protected by a passphrase (key ${fingerprint}); kustomize-controller cannot prompt for it ` +
        "(remove it: gpg --edit-key <fingerprint> passwd, empty passphrase, then export again)",
    );
  }
  try {
    await key.verifyPrimaryKey();
  } catch (err) {
    const reason = err instanceof Error ? err.message : "invalid";
    throw new Error(
      `cannot be used (key ${fingerprint}): ${reason}; use a valid key, or extend an expired one ` +
        "(gpg --quick-set-expire <fingerprint> 0, then export again)",
    );
  }
  try {
    await key.getEncryptionKey();
  } catch {
    throw new Error(
      `has no valid encryption subkey (key ${fingerprint}; expired, revoked or missing): ` +
        "SOPS encrypts to that subkey, so secrets cannot be decrypted",
    );
  }
  return { fingerprint };
}

/** The identity line of an age key file: comments (`# created: ...`, `# public key: ...`) and blank lines skipped. */
function ageIdentityLines(key: string): string[] {
  return key
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
}

/**
 * Check an age X25519 identity (`AGE-SECRET-KEY-1...`, alone or as the file `age-keygen` writes) and return its
 * recipient (`age1...`), the value `.sops.yaml` creation rules list.
 */
export async function inspectAgeKey(key: string): Promise<{ recipient: string }> {
  const lines = ageIdentityLines(key);
  if (lines.length !== 1) {
    throw new Error(`must hold exactly one age identity, found ${lines.length}`);
  }
  const identity = lines[0] ?? "";
  if (!/^AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]+$/.test(identity)) {
    throw new Error(
      "is not an age X25519 identity (expected one line 'AGE-SECRET-KEY-1...', as written by age-keygen)",
    );
  }
  const age = await import("age-encryption");
  try {
    return { recipient: await age.identityToRecipient(identity) };
  } catch {
    throw new Error("is not a valid age identity (bad checksum or length); copy it again from the key file");
  }
}
