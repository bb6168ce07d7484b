// CLI of the disaster-recovery backup bundle (scripts/lib/backup-bundle.ts). npm scripts:
//   npm run backup:export -- --stack prod --out prod.bundle.age [--recipient age1...]... [--passphrase-env VAR] [--force]
//   npm run backup:check  -- [--stack prod] prod.bundle.age [--identity key.txt]... [--passphrase-env VAR]
//   npm run backup:restore-config -- --stack prod prod.bundle.age [--identity key.txt]... [--dry-run]
// export: reads the stack's outputs and config (secrets shown) through the pulumi CLI and writes ONE age-encrypted
//   file, to the stack's SOPS age recipient by default.
// check: decrypts a bundle and reports per item OK/MISMATCH/MISSING against the stack (or, without --stack,
//   on its own); exit status 1 on any problem.
// restore-config: sets the bundle's secret config (keys, token) on a stack, values through stdin only.
// The identity may also come from the environment: MYNODEONE_BACKUP_IDENTITY (the identity file's text).
// Secret values are never printed: reports show item names and statuses.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { inspectAgeKey } from "../components/sops/keys";
import { option, parseArgs, UsageError, type ParsedArgs } from "./lib/args";
import { PulumiStack } from "./lib/pulumi-cli";
import {
  allGood,
  assembleBundle,
  checkBundleAgainstStack,
  checkBundleAlone,
  configToRestore,
  decryptBundle,
  encryptBundle,
  inventory,
  parseIdentityFile,
  renderStatuses,
  type BundleIdentity,
  type BundleKey,
  type StackSource,
  type StackValues,
} from "./lib/backup-bundle";

export const IDENTITY_ENV = "MYNODEONE_BACKUP_IDENTITY";
const EXIT_PROBLEM = 1;
const EXIT_USAGE = 64;

/** A stack the CLI can read from and (for restore-config) write secret config to. */
export interface StackClient extends StackSource {
  setSecretConfig(key: string, value: string): Promise<void>;
}

export interface Deps {
  stackClient: (stack: string) => StackClient;
  env: NodeJS.ProcessEnv;
  out: (line: string) => void;
  now: () => Date;
  /** Version of this program and the commit of its checkout (best effort). */
  programInfo: () => { programVersion: string; gitCommit?: string };
}

function defaultProgramInfo(): { programVersion: string; gitCommit?: string } {
  const root = path.join(__dirname, "..");
  const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { version: string };
  try {
    const head = fs.readFileSync(path.join(root, ".git", "HEAD"), "utf8").trim();
    const ref = head.startsWith("ref: ") ? head.slice(5) : undefined;
    const commit = ref !== undefined ? fs.readFileSync(path.join(root, ".git", ref), "utf8").trim() : head;
    return { programVersion: pkg.version, ...(/^[0-9a-f]{40}$/.test(commit) ? { gitCommit: commit } : {}) };
  } catch {
    return { programVersion: pkg.version };
  }
}

const defaultDeps: Deps = {
  stackClient: (stack) => new PulumiStack(stack),
  env: process.env,
  out: (line) => {
    console.log(line);
  },
  now: () => new Date(),
  programInfo: defaultProgramInfo,
};

function requireStack(args: ParsedArgs): string {
  const stack = option(args, "stack");
  if (stack === undefined) {
    throw new UsageError("--stack NAME is required");
  }
  return stack;
}

function passphraseFrom(args: ParsedArgs, env: NodeJS.ProcessEnv): string | undefined {
  const variable = option(args, "passphrase-env");
  if (variable === undefined) {
    return undefined;
  }
  const value = env[variable];
  if (value === undefined || value === "") {
    throw new UsageError(`--passphrase-env ${variable}: the environment variable ${variable} is not set`);
  }
  return value;
}

async function encryptionKey(
  args: ParsedArgs,
  deps: Deps,
  values: StackValues,
): Promise<{ key: BundleKey; shown: string }> {
  const passphrase = passphraseFrom(args, deps.env);
  const given = args.options.get("recipient") ?? [];
  if (passphrase !== undefined) {
    if (given.length > 0) {
      throw new UsageError("use either --recipient or --passphrase-env, not both");
    }
    return { key: { passphrase }, shown: `the passphrase in $${option(args, "passphrase-env") ?? ""}` };
  }
  if (given.length > 0) {
    return { key: { recipients: given }, shown: given.join(", ") };
  }
  // Default: the stack's own SOPS age recipient.
  const output = values.outputs["sopsAgeRecipient"];
  const ageKey = values.config["mynodeone:sopsAgeKey"]?.value;
  const recipient =
    typeof output === "string" && output !== ""
      ? output
      : ageKey !== undefined && ageKey !== ""
        ? (await inspectAgeKey(ageKey)).recipient
        : undefined;
  if (recipient === undefined) {
    throw new UsageError(
      "the stack has no SOPS age recipient to encrypt to: pass --recipient age1... (create a key with " +
        "age-keygen -o backup-key.txt; keep that file offline) or --passphrase-env VAR",
    );
  }
  return { key: { recipients: [recipient] }, shown: `${recipient} (the stack's SOPS age recipient)` };
}

function identityFrom(args: ParsedArgs, env: NodeJS.ProcessEnv): BundleIdentity {
  const passphrase = passphraseFrom(args, env);
  if (passphrase !== undefined) {
    return { passphrase };
  }
  const files = args.options.get("identity") ?? [];
  if (files.length > 0) {
    return { identities: files.flatMap((file) => parseIdentityFile(fs.readFileSync(file, "utf8"))) };
  }
  const fromEnv = env[IDENTITY_ENV];
  if (fromEnv !== undefined && fromEnv !== "") {
    return { identities: parseIdentityFile(fromEnv) };
  }
  throw new UsageError(`give --identity KEYFILE, --passphrase-env VAR, or the identity in $${IDENTITY_ENV}`);
}

/** Write `text` to `file` with mode 0600 through a temporary file, so a partial bundle never exists. */
function writePrivateFile(file: string, text: string, force: boolean): void {
  if (fs.existsSync(file) && !force) {
    throw new UsageError(`${file} exists; pass --force to replace it`);
  }
  const temp = `${file}.partial-${process.pid}`;
  fs.writeFileSync(temp, text, { mode: 0o600 });
  fs.renameSync(temp, file);
}

async function exportCommand(args: ParsedArgs, deps: Deps): Promise<number> {
  const stack = requireStack(args);
  const out = option(args, "out");
  if (out === undefined || args.positional.length > 0) {
    throw new UsageError(
      "usage: export --stack NAME --out FILE [--recipient age1...]... [--passphrase-env VAR] [--force]",
    );
  }
  const client = deps.stackClient(stack);
  const values = await client.values();
  deps.out(`--- stack '${stack}': what a rebuild needs`);
  deps.out(renderStatuses(inventory(values)));
  const { key, shown } = await encryptionKey(args, deps, values);
  const bundle = assembleBundle(values, {
    createdAt: deps.now().toISOString(),
    pulumiVersion: await client.pulumiVersion(),
    ...deps.programInfo(),
  });
  const armored = await encryptBundle(bundle, key);
  writePrivateFile(out, armored, args.flags.has("force"));
  const sha256 = crypto.createHash("sha256").update(armored).digest("hex");
  deps.out(`--- wrote ${out} (${armored.length} bytes, sha256 ${sha256})`);
  deps.out(`    encrypted to ${shown}`);
  deps.out(`    check it: npm run backup:check -- --stack ${stack} ${out} --identity <age key file>`);
  return 0;
}

async function checkCommand(args: ParsedArgs, deps: Deps): Promise<number> {
  const [file, ...extra] = args.positional;
  if (file === undefined || extra.length > 0) {
    throw new UsageError("usage: check [--stack NAME] FILE [--identity KEYFILE]... [--passphrase-env VAR]");
  }
  const bundle = await decryptBundle(fs.readFileSync(file, "utf8"), identityFrom(args, deps.env));
  const { metadata } = bundle;
  deps.out(
    `--- ${file}: stack '${metadata.stack}', made ${metadata.createdAt} with ${metadata.pulumiVersion}, program ${metadata.programVersion}${metadata.gitCommit !== undefined ? ` (${metadata.gitCommit.slice(0, 12)})` : ""}`,
  );
  const stack = option(args, "stack");
  const statuses =
    stack !== undefined
      ? await checkBundleAgainstStack(bundle, await deps.stackClient(stack).values())
      : await checkBundleAlone(bundle);
  deps.out(renderStatuses(statuses));
  const good = allGood(statuses);
  deps.out(
    good
      ? `--- bundle OK${stack !== undefined ? ` for stack '${stack}'` : ""}`
      : "--- bundle does NOT match (MISSING/MISMATCH above): a stale bundle needs a new export; a stack rebuilt from it has no outputs until its first pulumi up",
  );
  return good ? 0 : EXIT_PROBLEM;
}

async function restoreConfigCommand(args: ParsedArgs, deps: Deps): Promise<number> {
  const stack = requireStack(args);
  const [file, ...extra] = args.positional;
  if (file === undefined || extra.length > 0) {
    throw new UsageError(
      "usage: restore-config --stack NAME FILE [--identity KEYFILE]... [--passphrase-env VAR] [--dry-run]",
    );
  }
  const bundle = await decryptBundle(fs.readFileSync(file, "utf8"), identityFrom(args, deps.env));
  const client = deps.stackClient(stack);
  const entries = configToRestore(bundle, await client.values());
  const dryRun = args.flags.has("dry-run");
  if (entries.length === 0) {
    deps.out(`--- stack '${stack}' already has every secret of the bundle`);
    return 0;
  }
  for (const { key, value } of entries) {
    deps.out(`${dryRun ? "would set" : "set"} ${key} (secret)`);
    if (!dryRun) {
      await client.setSecretConfig(key, value);
    }
  }
  deps.out(
    `--- ${dryRun ? "would set" : "set"} ${entries.length} secret config value(s) on stack '${stack}' from bundle of '${bundle.metadata.stack}'`,
  );
  return 0;
}

export async function main(argv: readonly string[], deps: Deps = defaultDeps): Promise<number> {
  const [command, ...rest] = argv;
  const spec = {
    flags: ["force", "dry-run"],
    options: ["stack", "out", "recipient", "passphrase-env", "identity"],
  };
  try {
    const args = parseArgs(rest, spec);
    switch (command) {
      case "export":
        return await exportCommand(args, deps);
      case "check":
        return await checkCommand(args, deps);
      case "restore-config":
        return await restoreConfigCommand(args, deps);
      default:
        throw new UsageError(
          "usage: backup-bundle.ts export|check|restore-config ... (see the header of scripts/backup-bundle.ts)",
        );
    }
  } catch (err) {
    deps.out(`backup-bundle: ${err instanceof Error ? err.message : String(err)}`);
    return err instanceof UsageError ? EXIT_USAGE : EXIT_PROBLEM;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((status) => {
    process.exitCode = status;
  });
}
