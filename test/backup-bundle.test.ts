// The disaster-recovery backup bundle: export -> check round trips with throwaway age identities and a fake
// stack (no pulumi CLI), tampering, stale bundles, restore-config, and that no secret value is ever printed.
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as openpgp from "openpgp";
import { main, type Deps, type StackClient } from "../scripts/backup-bundle";
import { PulumiStack } from "../scripts/lib/pulumi-cli";
import {
  assembleBundle,
  BUNDLE_FORMAT,
  checkBundleAgainstStack,
  decryptBundle,
  encryptBundle,
  parseIdentityFile,
  type ConfigEntry,
  type StackValues,
} from "../scripts/lib/backup-bundle";
import { testKeys } from "./fixtures";

type Age = typeof import("age-encryption");
const loadAge = (): Promise<Age> => import("age-encryption");

interface World {
  dir: string;
  /** The stack's SOPS age identity (bundles are encrypted to its recipient by default). */
  sopsAgeIdentity: string;
  sopsAgeRecipient: string;
  /** A separate offline backup key. */
  backupIdentity: string;
  backupRecipient: string;
  values: StackValues;
  /** Every secret value of the stack: none may ever be printed. */
  secrets: string[];
}

const secretEntry = (value: string): ConfigEntry => ({ value, secret: true });

async function makeWorld(): Promise<World> {
  const age = await loadAge();
  const keys = await testKeys();
  const sopsAgeIdentity = await age.generateX25519Identity();
  const backupIdentity = await age.generateX25519Identity();
  const token = "K3sTokenForTests-" + "a1".repeat(24);
  const encryptionConfig = JSON.stringify({
    kind: "EncryptionConfiguration",
    apiVersion: "apiserver.config.k8s.io/v1",
    resources: [
      {
        resources: ["secrets"],
        providers: [
          {
            aescbc: {
              keys: [{ name: "aescbckey", secret: "c2VjcmV0LWtleS1ieXRlcy1mb3ItdGVzdHMtMDEyMzQ1Njc4OQ==" }],
            },
          },
          { identity: {} },
        ],
      },
    ],
  });
  const kubeconfig =
    "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: Q0EtZGF0YS1mb3ItdGVzdHM=\n";
  const sopsAgeRecipient = await age.identityToRecipient(sopsAgeIdentity);
  const values: StackValues = {
    stack: "prod",
    outputs: {
      k3sToken: token,
      kubeconfig,
      apiEndpoint: "https://100.64.1.1:6443",
      nodeNames: ["prod-cp-1", "prod-worker-1"],
      sopsGpgFingerprint: keys.gpgFingerprint,
      sopsAgeRecipient,
      encryptionConfig,
      edgeHosts: [{ name: "prod-edge-1", publicIp: "203.0.113.10" }],
    },
    config: {
      "mynodeone:environment": { value: "prod", secret: false },
      "mynodeone:k3s": {
        objectValue: { version: "v1.35.6+k3s1" },
        value: '{"version":"v1.35.6+k3s1"}',
        secret: false,
      },
      "mynodeone:sopsGpgPrivateKey": secretEntry(keys.gpgPrivateKey),
      "mynodeone:sopsAgeKey": secretEntry(sopsAgeIdentity),
      "mynodeone:sshPrivateKey": secretEntry(keys.sshPrivateKey),
    },
  };
  return {
    dir: fs.mkdtempSync(path.join(os.tmpdir(), "mynodeone-bundle-")),
    sopsAgeIdentity,
    sopsAgeRecipient,
    backupIdentity,
    backupRecipient: await age.identityToRecipient(backupIdentity),
    values,
    secrets: [
      token,
      encryptionConfig,
      kubeconfig,
      keys.gpgPrivateKey,
      keys.sshPrivateKey,
      sopsAgeIdentity,
      backupIdentity,
    ],
  };
}

/** A fake stack: values in memory, secret config writes recorded. */
class FakeStack implements StackClient {
  readonly written: { key: string; value: string }[] = [];
  constructor(public values_: StackValues) {}
  values(): Promise<StackValues> {
    return Promise.resolve(structuredClone(this.values_));
  }
  pulumiVersion(): Promise<string> {
    return Promise.resolve("v3.265.0");
  }
  setSecretConfig(key: string, value: string): Promise<void> {
    this.written.push({ key, value });
    this.values_.config[key] = { value, secret: true };
    return Promise.resolve();
  }
}

describe("backup bundle", function () {
  let world: World;
  const printed: string[] = [];

  async function cli(
    args: string[],
    stacks: Record<string, FakeStack>,
    env: NodeJS.ProcessEnv = {},
  ): Promise<{ status: number; out: string }> {
    const lines: string[] = [];
    const deps: Deps = {
      stackClient: (name) => {
        const stack = stacks[name];
        if (stack === undefined) {
          throw new Error(`no stack ${name}`);
        }
        return stack;
      },
      env,
      out: (line) => lines.push(line),
      now: () => new Date("2026-11-23T12:00:00Z"),
      programInfo: () => ({ programVersion: "0.1.0", gitCommit: "0123456789abcdef0123456789abcdef01234567" }),
    };
    const status = await main(args, deps);
    printed.push(...lines);
    return { status, out: lines.join("\n") };
  }

  function writeIdentity(name: string, identity: string): string {
    const file = path.join(world.dir, name);
    fs.writeFileSync(file, `# created: 2026-11-23T12:00:00Z\n# public key: (test)\n${identity}\n`, {
      mode: 0o600,
    });
    return file;
  }

  /** Export the world's stack "prod" to the backup recipient as `name` in the world's directory. */
  async function exportToBackupRecipient(name: string): Promise<string> {
    const file = path.join(world.dir, name);
    const exported = await cli(
      ["export", "--stack", "prod", "--out", file, "--recipient", world.backupRecipient],
      { prod: new FakeStack(world.values) },
    );
    assert.equal(exported.status, 0, exported.out);
    return file;
  }

  before(async () => {
    world = await makeWorld();
  });

  after(() => {
    fs.rmSync(world.dir, { recursive: true, force: true });
  });

  it("round-trips: export to the stack's SOPS age recipient, check against the stack", async () => {
    const stack = new FakeStack(world.values);
    const file = path.join(world.dir, "default.age");
    const exported = await cli(["export", "--stack", "prod", "--out", file], { prod: stack });
    assert.equal(exported.status, 0, exported.out);
    assert.match(
      exported.out,
      new RegExp(`encrypted to ${world.sopsAgeRecipient} \\(the stack's SOPS age recipient\\)`),
    );
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    const text = fs.readFileSync(file, "utf8");
    assert.ok(text.startsWith("-----BEGIN AGE ENCRYPTED FILE-----"));

    const checked = await cli(
      ["check", "--stack", "prod", file, "--identity", writeIdentity("sops.key", world.sopsAgeIdentity)],
      { prod: stack },
    );
    assert.equal(checked.status, 0, checked.out);
    assert.match(
      checked.out,
      /^OK +k3s token \(stack\) +stack output k3sToken \(or config mynodeone:k3sToken\): equal$/m,
    );
    assert.match(
      checked.out,
      /^OK +at-rest encryption config \(stack\) +stack output encryptionConfig: equal$/m,
    );
    assert.match(checked.out, /^OK +SOPS GPG fingerprint \(stack\)/m);
    assert.match(checked.out, /^OK +SOPS age recipient \(stack\)/m);
    assert.match(checked.out, /^OK +config mynodeone:sshPrivateKey /m);
    assert.doesNotMatch(checked.out, /MISMATCH|MISSING/);

    const bundle = await decryptBundle(text, { identities: [world.sopsAgeIdentity] });
    assert.equal(bundle.format, BUNDLE_FORMAT);
    assert.deepEqual(bundle.metadata, {
      stack: "prod",
      project: "mynodeone",
      createdAt: "2026-11-23T12:00:00.000Z",
      pulumiVersion: "v3.265.0",
      programVersion: "0.1.0",
      gitCommit: "0123456789abcdef0123456789abcdef01234567",
    });
    assert.deepEqual(bundle.outputs, world.values.outputs);
    assert.deepEqual(bundle.config, world.values.config);
  });

  it("encrypts to an explicit backup recipient, which another identity cannot open", async () => {
    const file = await exportToBackupRecipient("explicit.age");
    const ok = await cli(["check", file], {}, { MYNODEONE_BACKUP_IDENTITY: world.backupIdentity });
    assert.equal(ok.status, 0, ok.out);
    assert.match(
      ok.out,
      /stack 'prod', made 2026-11-23T12:00:00.000Z with v3.265.0, program 0.1.0 \(0123456789ab\)/,
    );
    const wrong = await cli(
      ["check", file, "--identity", writeIdentity("sops2.key", world.sopsAgeIdentity)],
      {},
    );
    assert.equal(wrong.status, 1);
    assert.match(wrong.out, /cannot decrypt the bundle/);
  });

  it("rejects a tampered bundle", async () => {
    const age = await loadAge();
    const armored = await encryptBundle(
      assembleBundle(world.values, { createdAt: "t", pulumiVersion: "v", programVersion: "p" }),
      {
        recipients: [world.backupRecipient],
      },
    );
    const bytes = age.armor.decode(armored);
    const body = bytes.length - 40;
    bytes[body] = (bytes[body] ?? 0) ^ 0x01;
    const file = path.join(world.dir, "tampered.age");
    fs.writeFileSync(file, age.armor.encode(bytes));
    const run = await cli(["check", file], {}, { MYNODEONE_BACKUP_IDENTITY: world.backupIdentity });
    assert.equal(run.status, 1);
    assert.match(
      run.out,
      /cannot decrypt the bundle \(wrong identity\/passphrase, or the file is damaged or was altered\)/,
    );
  });

  it("reports MISMATCH when the stack's token and SOPS key changed since the bundle was made", async () => {
    const file = await exportToBackupRecipient("stale.age");
    const rotated = await openpgp.generateKey({
      type: "ecc",
      curve: "curve25519Legacy",
      userIDs: [{ name: "rotated" }],
      format: "armored",
    });
    const rotatedFingerprint = (await openpgp.readPrivateKey({ armoredKey: rotated.privateKey }))
      .getFingerprint()
      .toUpperCase();
    world.secrets.push(rotated.privateKey);
    const now = structuredClone(world.values);
    now.outputs["k3sToken"] = "another-token-0123456789abcdef";
    world.secrets.push("another-token-0123456789abcdef");
    now.outputs["sopsGpgFingerprint"] = rotatedFingerprint;
    now.config["mynodeone:sopsGpgPrivateKey"] = secretEntry(rotated.privateKey);
    const run = await cli(
      ["check", "--stack", "prod", file],
      { prod: new FakeStack(now) },
      { MYNODEONE_BACKUP_IDENTITY: world.backupIdentity },
    );
    assert.equal(run.status, 1);
    assert.match(run.out, /^MISMATCH +k3s token \(stack\) /m);
    assert.match(run.out, /^MISMATCH +SOPS GPG fingerprint \(stack\) /m);
    assert.match(run.out, /^MISMATCH +config mynodeone:sopsGpgPrivateKey /m);
    assert.match(run.out, /^OK +at-rest encryption config \(stack\) /m);
    assert.match(run.out, /bundle does NOT match/);
  });

  it("reports a secret the stack has but the bundle lacks, and a bundle of another stack", async () => {
    const bundle = assembleBundle(world.values, { createdAt: "t", pulumiVersion: "v", programVersion: "p" });
    const now = structuredClone(world.values);
    now.stack = "dev";
    now.config["mynodeone:fluxGitPrivateKey"] = secretEntry("-----BEGIN OPENSSH PRIVATE KEY-----\nnew\n");
    const statuses = await checkBundleAgainstStack(bundle, now);
    const byName = new Map(statuses.map((s) => [s.name, s.status]));
    assert.equal(byName.get("config mynodeone:fluxGitPrivateKey"), "MISSING");
    assert.equal(byName.get("stack"), "MISMATCH");
  });

  it("refuses to export a stack without its k3s token, writing nothing", async () => {
    const noToken = structuredClone(world.values);
    delete noToken.outputs["k3sToken"];
    const file = path.join(world.dir, "incomplete.age");
    const run = await cli(["export", "--stack", "prod", "--out", file], { prod: new FakeStack(noToken) });
    assert.equal(run.status, 1);
    assert.match(run.out, /^MISSING +k3s token +stack output k3sToken is not set/m);
    assert.match(run.out, /lacks what a rebuild needs/);
    assert.ok(!fs.existsSync(file));
  });

  it("does not need a token for a stack that adopts an existing cluster", () => {
    const adopted = structuredClone(world.values);
    delete adopted.outputs["k3sToken"];
    delete adopted.outputs["encryptionConfig"];
    adopted.config["mynodeone:existingKubeconfig"] = secretEntry("apiVersion: v1\n");
    assert.equal(
      assembleBundle(adopted, { createdAt: "t", pulumiVersion: "v", programVersion: "p" }).metadata.stack,
      "prod",
    );
  });

  it("needs a recipient when the stack has no age key, and refuses to overwrite a bundle", async () => {
    const noAge = structuredClone(world.values);
    delete noAge.outputs["sopsAgeRecipient"];
    delete noAge.config["mynodeone:sopsAgeKey"];
    const file = path.join(world.dir, "x.age");
    const run = await cli(["export", "--stack", "prod", "--out", file], { prod: new FakeStack(noAge) });
    assert.equal(run.status, 64);
    assert.match(run.out, /pass --recipient age1\.\.\./);
    fs.writeFileSync(file, "old");
    const again = await cli(
      ["export", "--stack", "prod", "--out", file, "--recipient", world.backupRecipient],
      { prod: new FakeStack(noAge) },
    );
    assert.equal(again.status, 64);
    assert.equal(fs.readFileSync(file, "utf8"), "old");
    const missingVar = await cli(
      ["export", "--stack", "prod", "--out", file, "--passphrase-env", "NO_SUCH_VAR"],
      { prod: new FakeStack(noAge) },
    );
    assert.match(missingVar.out, /NO_SUCH_VAR is not set/);
  });

  it("encrypts with a passphrase (scrypt) and rejects the wrong one", async () => {
    const bundle = assembleBundle(world.values, { createdAt: "t", pulumiVersion: "v", programVersion: "p" });
    const armored = await encryptBundle(bundle, {
      passphrase: "long random passphrase 42",
      scryptWorkFactor: 10,
    });
    assert.deepEqual(
      (await decryptBundle(armored, { passphrase: "long random passphrase 42" })).outputs,
      world.values.outputs,
    );
    await assert.rejects(decryptBundle(armored, { passphrase: "wrong passphrase 000000" }), /cannot decrypt/);
    await assert.rejects(encryptBundle(bundle, { passphrase: "short" }), /shorter than 12/);
  });

  it("restore-config puts the bundled secrets and the generated token on a new stack, once", async () => {
    const file = await exportToBackupRecipient("restore.age");
    const fresh = new FakeStack({
      stack: "prod-rebuild",
      outputs: {},
      config: { "mynodeone:environment": { value: "prod", secret: false } },
    });
    const env = { MYNODEONE_BACKUP_IDENTITY: world.backupIdentity };
    const dry = await cli(
      ["restore-config", "--stack", "prod-rebuild", file, "--dry-run"],
      { "prod-rebuild": fresh },
      env,
    );
    assert.equal(dry.status, 0);
    assert.equal(fresh.written.length, 0);
    const run = await cli(
      ["restore-config", "--stack", "prod-rebuild", file],
      { "prod-rebuild": fresh },
      env,
    );
    assert.equal(run.status, 0, run.out);
    assert.deepEqual(
      fresh.written.map((w) => w.key),
      [
        "mynodeone:k3sToken",
        "mynodeone:sopsAgeKey",
        "mynodeone:sopsGpgPrivateKey",
        "mynodeone:sshPrivateKey",
      ],
    );
    assert.equal(fresh.written[0]?.value, world.values.outputs["k3sToken"]);
    assert.equal(fresh.written[2]?.value, world.values.config["mynodeone:sopsGpgPrivateKey"]?.value);
    const again = await cli(
      ["restore-config", "--stack", "prod-rebuild", file],
      { "prod-rebuild": fresh },
      env,
    );
    assert.match(again.out, /already has every secret of the bundle/);
    assert.equal(fresh.written.length, 4);
    // The rebuilt stack's config now matches the bundle (the token came from the outputs).
    const statuses = await checkBundleAgainstStack(
      await decryptBundle(fs.readFileSync(file, "utf8"), { identities: [world.backupIdentity] }),
      {
        ...(await fresh.values()),
        stack: "prod",
      },
    );
    assert.ok(statuses.filter((s) => s.name.startsWith("config ")).every((s) => s.status === "OK"));
  });

  it("reads identity files and talks to pulumi through stdin only", async () => {
    assert.deepEqual(parseIdentityFile(`# public key: age1x\n\n${world.backupIdentity}\n`), [
      world.backupIdentity,
    ]);
    assert.throws(() => parseIdentityFile("age1notanidentity\n"), /not an age identity file/);
    const calls: { args: readonly string[]; stdin: string | undefined }[] = [];
    const stack = new PulumiStack("prod", (args, stdin) => {
      calls.push({ args, stdin });
      return Promise.resolve(
        args[0] === "version" ? "v3.265.0\n" : args[0] === "stack" ? '{"k3sToken":"t"}' : "{}",
      );
    });
    assert.deepEqual(await stack.values(), { stack: "prod", outputs: { k3sToken: "t" }, config: {} });
    await stack.setSecretConfig("mynodeone:k3sToken", "the-token-value");
    assert.deepEqual(
      calls.map((c) => c.args.join(" ")),
      [
        "stack output --json --show-secrets --stack prod",
        "config --json --show-secrets --stack prod",
        "config set --secret --raw --stack prod mynodeone:k3sToken",
      ],
    );
    assert.equal(calls[2]?.stdin, "the-token-value");
  });

  it("never printed a secret value in any of the runs above", () => {
    const all = printed.join("\n");
    assert.ok(printed.length > 20, "the runs above printed their reports");
    for (const secret of world.secrets) {
      for (const line of secret.split("\n").filter((l) => l.length >= 16)) {
        assert.ok(!all.includes(line), "a secret value was printed");
      }
    }
  });
});
