// The disaster-recovery backup bundle: everything a rebuild needs that cannot be regenerated (the k3s token, the
// at-rest encryption config, the SOPS keys, the SSH and Git keys, the whole stack config), in ONE file
// encrypted with age. Pure functions only: the Pulumi CLI calls live behind `StackSource`
// (scripts/backup-bundle.ts), so assembling, encrypting, decrypting and comparing are unit-tested directly.
//
// Nothing here prints or returns a secret value: reports carry item names and statuses only.
import { inspectAgeKey, inspectGpgPrivateKey } from "../../components/sops/keys";

export const BUNDLE_FORMAT = "mynodeone-backup/v1";
export const PROJECT = "mynodeone";

/** One entry of `pulumi config --json --show-secrets`. */
export interface ConfigEntry {
  value?: string;
  objectValue?: unknown;
  secret: boolean;
}

/** A stack's current values, as the Pulumi CLI reports them (secrets in plaintext). */
export interface StackValues {
  stack: string;
  /** `pulumi stack output --json --show-secrets`. */
  outputs: Record<string, unknown>;
  /** `pulumi config --json --show-secrets`: full keys (`mynodeone:k3sToken`). */
  config: Record<string, ConfigEntry>;
}

/** Where the values of one stack come from; the CLI implements it with `pulumi`, tests with fakes. */
export interface StackSource {
  values(): Promise<StackValues>;
  /** `pulumi version` of the CLI that read the values. */
  pulumiVersion(): Promise<string>;
}

export interface BundleMetadata {
  stack: string;
  project: string;
  /** ISO-8601 time of the export. */
  createdAt: string;
  pulumiVersion: string;
  /** Version of this program (package.json). */
  programVersion: string;
  /** Commit of the program checkout, when known. */
  gitCommit?: string;
}

export interface BackupBundle {
  format: typeof BUNDLE_FORMAT;
  metadata: BundleMetadata;
  outputs: Record<string, unknown>;
  config: Record<string, ConfigEntry>;
}

/** What a bundle must or may hold; `required` decides per stack (an adopted cluster has no k3s token). */
export interface BackupItem {
  name: string;
  source: "output" | "config";
  /** Output name, or config key without the `mynodeone:` prefix. */
  key: string;
  required: (values: StackValues) => boolean;
  /** Why it matters, for the export report and the runbook. */
  why: string;
}

const configKey = (key: string): string => `${PROJECT}:${key}`;

function configValue(config: Record<string, ConfigEntry>, key: string): string | undefined {
  const value = config[configKey(key)]?.value;
  return value === undefined || value === "" ? undefined : value;
}

/** The stack adopts an existing cluster (`mynodeone:existingKubeconfig`): no k3s install, token or etcd of its own. */
function adopting(values: StackValues): boolean {
  return configValue(values.config, "existingKubeconfig") !== undefined;
}

export const BACKUP_ITEMS: readonly BackupItem[] = [
  {
    name: "k3s token",
    source: "output",
    key: "k3sToken",
    required: (v) => !adopting(v),
    why: "joins nodes and decrypts the bootstrap data in every etcd snapshot: a restore needs the same token",
  },
  {
    name: "at-rest encryption config",
    source: "output",
    key: "encryptionConfig",
    required: (v) => !adopting(v),
    why: "the keys that encrypt Secrets in etcd (also inside the snapshot's bootstrap data, sealed by the token)",
  },
  {
    name: "SOPS GPG private key",
    source: "config",
    key: "sopsGpgPrivateKey",
    required: () => true,
    why: "decrypts the SOPS secrets committed in Git",
  },
  {
    name: "SOPS age key",
    source: "config",
    key: "sopsAgeKey",
    required: (v) => configValue(v.config, "sopsAgeKey") !== undefined,
    why: "decrypts SOPS secrets encrypted to the age recipient",
  },
  {
    name: "SSH private key",
    source: "config",
    key: "sshPrivateKey",
    required: (v) => configValue(v.config, "sshPrivateKey") !== undefined,
    why: "reaches the hosts (absent when the SSH agent is used)",
  },
  {
    name: "Flux Git deploy key",
    source: "config",
    key: "fluxGitPrivateKey",
    required: (v) => configValue(v.config, "fluxGitPrivateKey") !== undefined,
    why: "read access to the platform repository (absent when the program generates the deploy key)",
  },
  {
    name: "admin kubeconfig",
    source: "output",
    key: "kubeconfig",
    required: () => false,
    why: "cluster access while the stack cannot run (valid until the first server is reinstalled)",
  },
];

export interface ItemStatus {
  name: string;
  status: "OK" | "MISSING" | "MISMATCH" | "SKIPPED";
  detail: string;
}

function present(
  values: { outputs: Record<string, unknown>; config: Record<string, ConfigEntry> },
  item: BackupItem,
): boolean {
  if (item.source === "output") {
    const value = values.outputs[item.key];
    return value !== undefined && value !== null && value !== "" && value !== "[secret]";
  }
  return configValue(values.config, item.key) !== undefined;
}

/** Which items the stack's values hold; a required one missing makes the export fail. */
export function inventory(values: StackValues): ItemStatus[] {
  return BACKUP_ITEMS.map((item) => {
    const where = item.source === "output" ? `stack output ${item.key}` : `config ${configKey(item.key)}`;
    if (present(values, item)) {
      return { name: item.name, status: "OK", detail: where };
    }
    return item.required(values)
      ? { name: item.name, status: "MISSING", detail: `${where} is not set: ${item.why}` }
      : { name: item.name, status: "SKIPPED", detail: `${where} is not used by this stack` };
  });
}

/** Build the bundle from a stack's values; throws when a required item is missing (names only, no values). */
export function assembleBundle(
  values: StackValues,
  metadata: Omit<BundleMetadata, "stack" | "project">,
): BackupBundle {
  for (const [name, value] of Object.entries(values.outputs)) {
    if (value === "[secret]") {
      throw new Error(`stack output ${name} is masked ("[secret]"): read the outputs with --show-secrets`);
    }
  }
  for (const [key, entry] of Object.entries(values.config)) {
    if (entry.secret && entry.value === undefined && entry.objectValue === undefined) {
      throw new Error(`config ${key} has no value: read the config with --show-secrets`);
    }
  }
  const missing = inventory(values).filter((s) => s.status === "MISSING");
  if (missing.length > 0) {
    throw new Error(
      `stack '${values.stack}' lacks what a rebuild needs:\n${missing.map((m) => `  - ${m.name}: ${m.detail}`).join("\n")}`,
    );
  }
  return {
    format: BUNDLE_FORMAT,
    metadata: { stack: values.stack, project: PROJECT, ...metadata },
    outputs: values.outputs,
    config: values.config,
  };
}

/** How a bundle is encrypted: to age recipients (`age1...`), or with a passphrase (scrypt). */
export type BundleKey = { recipients: readonly string[] } | { passphrase: string; scryptWorkFactor?: number };

/** How a bundle is decrypted: age identities (`AGE-SECRET-KEY-1...`), or the passphrase. */
export type BundleIdentity = { identities: readonly string[] } | { passphrase: string };

/** Encrypt the bundle as ASCII-armored age (decryptable with `age -d -i key.txt` too). */
export async function encryptBundle(bundle: BackupBundle, key: BundleKey): Promise<string> {
  const age = await import("age-encryption");
  const encrypter = new age.Encrypter();
  if ("recipients" in key) {
    if (key.recipients.length === 0) {
      throw new Error("no age recipient to encrypt the bundle to");
    }
    for (const recipient of key.recipients) {
      if (!/^age1[0-9a-z]+$/.test(recipient)) {
        throw new Error(
          `not an age recipient (expected 'age1...'): ${JSON.stringify(recipient.slice(0, 12))}...`,
        );
      }
      encrypter.addRecipient(recipient);
    }
  } else {
    if (key.passphrase.length < 12) {
      throw new Error(
        "the passphrase is shorter than 12 characters; use a long random one (e.g. openssl rand -base64 24)",
      );
    }
    encrypter.setPassphrase(key.passphrase);
    if (key.scryptWorkFactor !== undefined) {
      encrypter.setScryptWorkFactor(key.scryptWorkFactor);
    }
  }
  const ciphertext = await encrypter.encrypt(JSON.stringify(bundle, null, 2) + "\n");
  return age.armor.encode(ciphertext);
}

/** The identities of an age identity file (comments and blank lines skipped). */
export function parseIdentityFile(text: string): string[] {
  const identities = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
  if (identities.length === 0 || !identities.every((line) => line.startsWith("AGE-SECRET-KEY-"))) {
    throw new Error("not an age identity file (expected lines 'AGE-SECRET-KEY-1...', as age-keygen writes)");
  }
  return identities;
}

/** Decrypt and validate a bundle; any tampering fails age's authentication and throws. */
export async function decryptBundle(armored: string, identity: BundleIdentity): Promise<BackupBundle> {
  const age = await import("age-encryption");
  const decrypter = new age.Decrypter();
  if ("identities" in identity) {
    identity.identities.forEach((id) => {
      decrypter.addIdentity(id);
    });
  } else {
    decrypter.addPassphrase(identity.passphrase);
  }
  let text: string;
  try {
    const ciphertext = armored.trimStart().startsWith("-----BEGIN AGE ENCRYPTED FILE-----")
      ? age.armor.decode(armored)
      : new TextEncoder().encode(armored);
    text = await decrypter.decrypt(ciphertext, "text");
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(
      `cannot decrypt the bundle (wrong identity/passphrase, or the file is damaged or was altered): ${reason}`,
    );
  }
  return validateBundle(parseJsonQuietly(text, "the decrypted bundle"));
}

/** JSON.parse whose error never quotes the text (Node's messages include a snippet, here a secret one). */
export function parseJsonQuietly(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new Error(`${what} is not valid JSON`);
  }
}

function validateBundle(doc: unknown): BackupBundle {
  const b = doc as Partial<BackupBundle> | null;
  if (typeof b !== "object" || b === null || b.format !== BUNDLE_FORMAT) {
    throw new Error(`not a ${BUNDLE_FORMAT} bundle`);
  }
  if (
    typeof b.metadata?.stack !== "string" ||
    typeof b.outputs !== "object" ||
    typeof b.config !== "object"
  ) {
    throw new Error("the bundle is incomplete (metadata.stack, outputs or config missing)");
  }
  return b as BackupBundle;
}

/** SOPS key identities computed from the keys themselves (what `.sops.yaml` lists). */
async function keyIds(config: Record<string, ConfigEntry>): Promise<{ gpg?: string; age?: string }> {
  const gpgKey = configValue(config, "sopsGpgPrivateKey");
  const ageKey = configValue(config, "sopsAgeKey");
  return {
    ...(gpgKey !== undefined ? { gpg: (await inspectGpgPrivateKey(gpgKey)).fingerprint } : {}),
    ...(ageKey !== undefined ? { age: (await inspectAgeKey(ageKey)).recipient } : {}),
  };
}

function compare(name: string, inBundle: unknown, inStack: unknown, what: string): ItemStatus {
  const absent = (v: unknown): boolean => v === undefined || v === null || v === "";
  if (absent(inStack) && absent(inBundle)) {
    return { name, status: "SKIPPED", detail: `${what}: used by neither` };
  }
  if (absent(inBundle)) {
    return { name, status: "MISSING", detail: `${what}: the stack has it, the bundle does not` };
  }
  if (absent(inStack)) {
    return { name, status: "MISSING", detail: `${what}: the bundle has it, the stack does not` };
  }
  return JSON.stringify(inBundle) === JSON.stringify(inStack)
    ? { name, status: "OK", detail: `${what}: equal` }
    : {
        name,
        status: "MISMATCH",
        detail: `${what}: differs (bundle from an older key/token, or another stack)`,
      };
}

/**
 * Check a bundle on its own: every required item present, and the SOPS key fingerprints computed from the keys
 * equal the ones the stack reported when the bundle was made.
 */
export async function checkBundleAlone(bundle: BackupBundle): Promise<ItemStatus[]> {
  const values: StackValues = {
    stack: bundle.metadata.stack,
    outputs: bundle.outputs,
    config: bundle.config,
  };
  const statuses = inventory(values);
  const ids = await keyIds(bundle.config);
  const recorded = (name: string, fromKey: string | undefined, output: string): ItemStatus =>
    fromKey !== undefined && bundle.outputs[output] === undefined
      ? { name, status: "SKIPPED", detail: `the stack did not export ${output} when the bundle was made` }
      : compare(name, fromKey, bundle.outputs[output], `bundled key vs recorded output ${output}`);
  statuses.push(
    recorded("SOPS GPG fingerprint", ids.gpg, "sopsGpgFingerprint"),
    recorded("SOPS age recipient", ids.age, "sopsAgeRecipient"),
  );
  return statuses;
}

/** Compare a bundle with a stack's current values: would restoring it give the stack the same keys and token? */
export async function checkBundleAgainstStack(
  bundle: BackupBundle,
  current: StackValues,
): Promise<ItemStatus[]> {
  const statuses = await checkBundleAlone(bundle);
  if (bundle.metadata.stack !== current.stack) {
    statuses.push({
      name: "stack",
      status: "MISMATCH",
      detail: `the bundle is from stack '${bundle.metadata.stack}', checked against '${current.stack}'`,
    });
  }
  const bundleIds = await keyIds(bundle.config);
  const stackIds = await keyIds(current.config);
  statuses.push(
    compare(
      "k3s token (stack)",
      bundle.outputs["k3sToken"] ?? configValue(bundle.config, "k3sToken"),
      // Before the first `pulumi up` of a rebuilt stack the token is only in its config (restore-config).
      current.outputs["k3sToken"] ?? configValue(current.config, "k3sToken"),
      "stack output k3sToken (or config mynodeone:k3sToken)",
    ),
    compare(
      "at-rest encryption config (stack)",
      bundle.outputs["encryptionConfig"],
      current.outputs["encryptionConfig"],
      "stack output encryptionConfig",
    ),
    compare(
      "SOPS GPG fingerprint (stack)",
      bundleIds.gpg,
      current.outputs["sopsGpgFingerprint"] ?? stackIds.gpg,
      "fingerprint of the bundled key vs the stack's",
    ),
    compare(
      "SOPS age recipient (stack)",
      bundleIds.age,
      current.outputs["sopsAgeRecipient"] ?? stackIds.age,
      "recipient of the bundled key vs the stack's",
    ),
  );
  // Every secret the stack holds today must be in the bundle with the same value (catches key rotation).
  for (const [key, entry] of Object.entries(current.config).sort(([a], [b]) => a.localeCompare(b))) {
    if (entry.secret) {
      // A token generated by the program is in the outputs; a restored stack has it in config (configToRestore).
      const bundled =
        bundle.config[key]?.value ?? (key === configKey("k3sToken") ? bundle.outputs["k3sToken"] : undefined);
      statuses.push(compare(`config ${key}`, bundled, entry.value, "secret config value"));
    }
  }
  return statuses;
}

/** True when every status is OK or SKIPPED. */
export function allGood(statuses: readonly ItemStatus[]): boolean {
  return statuses.every((s) => s.status === "OK" || s.status === "SKIPPED");
}

/** A fixed-width report, one line per item (names and statuses only, never values). */
export function renderStatuses(statuses: readonly ItemStatus[]): string {
  const width = Math.max(...statuses.map((s) => s.name.length));
  return statuses.map((s) => `${s.status.padEnd(8)} ${s.name.padEnd(width)}  ${s.detail}`).join("\n");
}

/**
 * The secret config values to set on a (new) stack so a rebuild uses the bundled keys and token: every secret
 * config entry of the bundle, plus the k3s token from the outputs when it was generated (not configured).
 * Entries whose value the stack already has are left out, so a second run sets nothing.
 */
export function configToRestore(
  bundle: BackupBundle,
  current: StackValues,
): { key: string; value: string }[] {
  const wanted = new Map<string, string>();
  for (const [key, entry] of Object.entries(bundle.config)) {
    if (entry.secret && entry.value !== undefined && entry.value !== "") {
      wanted.set(key, entry.value);
    }
  }
  const token = bundle.outputs["k3sToken"];
  if (typeof token === "string" && token !== "" && !wanted.has(configKey("k3sToken"))) {
    wanted.set(configKey("k3sToken"), token);
  }
  return [...wanted.entries()]
    .filter(([key, value]) => current.config[key]?.value !== value)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]) => ({ key, value }));
}
