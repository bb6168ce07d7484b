import { strict as assert } from "node:assert";
import * as command from "@pulumi/command";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as openpgp from "openpgp";
import type { SopsConfig } from "../components/sops/config";
import { FluxNamespace, GITOPS_PROVIDER_OPTIONS } from "../components/flux";
import { inspectAgeKey, inspectGpgPrivateKey, SopsSecret } from "../components/sops";
import {
  installMocks,
  metadataOf,
  registeredUnder,
  secretData,
  valueOf,
  type RecordedResource,
} from "./mocks";

installMocks();

// Keys are generated here, per run: no private key is ever committed.
const generate = (options: Partial<Parameters<typeof openpgp.generateKey>[0]> = {}) =>
  openpgp.generateKey({
    type: "ecc",
    userIDs: [{ name: "sops test", email: "sops@example.invalid" }],
    ...options,
    format: "armored",
  });

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof Error);
    return err;
  }
  assert.fail("expected a rejection");
}

/** The base64 body lines of an armored key: none of them may appear in an error message. */
function keyMaterial(armored: string): string[] {
  return armored.split("\n").filter((line) => line.length >= 20 && !line.startsWith("-----"));
}

function assertNoKeyMaterial(message: string, armored: string): void {
  for (const line of keyMaterial(armored)) {
    assert.ok(!message.includes(line.slice(0, 20)), "error message contains key material");
  }
}

describe("sops: GPG key validation", () => {
  let valid: { privateKey: string; publicKey: string };
  before(async () => {
    valid = await generate();
  });

  it("accepts an unprotected private key and returns its uppercase fingerprint", async () => {
    const { fingerprint } = await inspectGpgPrivateKey(valid.privateKey);
    const expected = (await openpgp.readPrivateKey({ armoredKey: valid.privateKey })).getFingerprint();
    assert.equal(fingerprint, expected.toUpperCase());
    assert.match(fingerprint, /^[0-9A-F]{40}$/);
  });

  it("accepts surrounding whitespace (as pasted into pulumi config)", async () => {
    const { fingerprint } = await inspectGpgPrivateKey(`\n\n${valid.privateKey}\n\n`);
    assert.match(fingerprint, /^[0-9A-F]{40}$/);
  });

  it("rejects a public key", async () => {
    const error = await rejection(inspectGpgPrivateKey(valid.publicKey));
    assert.match(error.message, /public key/);
    assert.match(error.message, /gpg --export-secret-keys --armor/);
  });

  it("rejects a passphrase-protected key, naming its fingerprint but no key material", async () => {
    const protectedKey = await generate({ passphrase: "correct horse battery staple" });
    const error = await rejection(inspectGpgPrivateKey(protectedKey.privateKey));
    assert.match(error.message, /passphrase/);
    const fingerprint = (
      await openpgp.readPrivateKey({ armoredKey: protectedKey.privateKey })
    ).getFingerprint();
    assert.ok(error.message.includes(fingerprint.toUpperCase()));
    assertNoKeyMaterial(error.message, protectedKey.privateKey);
  });

  it("rejects an expired key", async () => {
    const expired = await generate({ keyExpirationTime: 3600, date: new Date(Date.now() - 2 * 86_400_000) });
    const error = await rejection(inspectGpgPrivateKey(expired.privateKey));
    assert.match(error.message, /expired/);
    assertNoKeyMaterial(error.message, expired.privateKey);
  });

  it("rejects a revoked key", async () => {
    const key = await openpgp.generateKey({ type: "ecc", userIDs: [{ name: "revoked" }], format: "object" });
    const revoked = await openpgp.revokeKey({ key: key.privateKey, format: "armored" });
    const error = await rejection(inspectGpgPrivateKey(revoked.privateKey));
    assert.match(error.message, /revoked/);
  });

  it("rejects garbage and text that is not an armored key", async () => {
    const garbage = await rejection(inspectGpgPrivateKey("-----BEGIN PGP PRIVATE KEY BLOCK-----\ngarbage\n"));
    assert.match(garbage.message, /not a readable OpenPGP private key/);
    const notArmored = await rejection(inspectGpgPrivateKey("just some text"));
    assert.match(notArmored.message, /not an ASCII-armored OpenPGP private key/);
  });

  it("rejects more than one key, as two blocks or as two keys in one block", async () => {
    const other = await generate();
    const twoBlocks = await rejection(inspectGpgPrivateKey(`${valid.privateKey}\n${other.privateKey}`));
    assert.match(twoBlocks.message, /2 armored key blocks/);

    const first = await openpgp.readPrivateKey({ armoredKey: valid.privateKey });
    const second = await openpgp.readPrivateKey({ armoredKey: other.privateKey });
    const oneBlock = openpgp.armor(
      openpgp.enums.armor.privateKey,
      new Uint8Array([...first.write(), ...second.write()]),
    );
    const error = await rejection(inspectGpgPrivateKey(oneBlock));
    assert.match(error.message, /contains 2 keys/);
  });
});

describe("sops: age key validation", () => {
  it("accepts an age identity, alone or as age-keygen writes it, and returns its recipient", async () => {
    const age = await import("age-encryption");
    const identity = await age.generateIdentity();
    const expected = await age.identityToRecipient(identity);
    assert.deepEqual(await inspectAgeKey(identity), { recipient: expected });
    const file = `# created: 2026-01-01T00:00:00Z\n# public key: ${expected}\n${identity}\n`;
    assert.deepEqual(await inspectAgeKey(file), { recipient: expected });
    assert.match(expected, /^age1[0-9a-z]+$/);
  });

  it("rejects anything that is not one valid AGE-SECRET-KEY-1 identity, without echoing it", async () => {
    const age = await import("age-encryption");
    const identity = await age.generateIdentity();
    const corrupted = identity.slice(0, -1) + (identity.endsWith("Q") ? "P" : "Q");
    const cases: [string, RegExp][] = [
      ["AGE-SECRET-KEY-1NOPE", /not an age X25519 identity/],
      [corrupted, /bad checksum/],
      [await age.generateHybridIdentity(), /not an age X25519 identity/],
      [`${identity}\n${identity}`, /exactly one age identity, found 2/],
      ["", /found 0/],
      ["age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", /not an age X25519 identity/],
    ];
    for (const [key, expected] of cases) {
      const error = await rejection(inspectAgeKey(key));
      assert.match(error.message, expected, key.slice(0, 20));
      if (key.length > 20) {
        assert.ok(!error.message.includes(key.slice(16)), "error message echoes the key");
      }
    }
  });
});

describe("sops: SopsSecret (mocked)", () => {
  async function build(
    prefix: string,
    sops: SopsConfig,
    flux = { install: true, keepOnDestroy: false },
  ): Promise<{
    secret: RecordedResource;
    namespace: RecordedResource;
    ready: RecordedResource;
    component: SopsSecret;
  }> {
    const provider = new k8s.Provider(`${prefix}-provider`, { kubeconfig: "{}", ...GITOPS_PROVIDER_OPTIONS });
    const clusterReady = [new command.local.Command(`${prefix}-ready`, { create: "true" })];
    const namespace = new FluxNamespace(`${prefix}-ns`, { provider, flux, clusterReady });
    const component = new SopsSecret(`${prefix}-sops`, {
      provider,
      namespace: namespace.name,
      sops,
      flux,
      clusterReady,
    });
    assert.equal(await valueOf(component.secretName), "sops-gpg");
    const { one } = await registeredUnder(prefix);
    return {
      secret: one("kubernetes:core/v1:Secret"),
      namespace: one("kubernetes:core/v1:Namespace"),
      ready: one("command:local:Command"),
      component,
    };
  }

  it("writes sops.asc (and age.agekey) to sops-gpg in flux-system, after the namespace and the cluster", async () => {
    const gpg = await generate();
    const { fingerprint } = await inspectGpgPrivateKey(gpg.privateKey);
    const age = await import("age-encryption");
    const ageKey = await age.generateIdentity();
    const { recipient } = await inspectAgeKey(ageKey);
    const built = await build("sopsboth", {
      gpgPrivateKey: pulumi.secret(gpg.privateKey),
      gpgFingerprint: fingerprint,
      ageKey: pulumi.secret(ageKey),
      ageRecipient: recipient,
    });
    const metadata = metadataOf(built.secret);
    assert.equal(metadata.name, "sops-gpg");
    assert.equal(metadata.namespace, "flux-system");
    assert.equal(metadata.annotations?.["pulumi.com/patchForce"], "true");
    assert.equal(built.secret.inputs["type"], "Opaque");
    assert.deepEqual(secretData(built.secret), { "sops.asc": gpg.privateKey, "age.agekey": ageKey });
    assert.ok(built.secret.dependencies.includes(built.namespace.urn));
    assert.ok(built.secret.dependencies.includes(built.ready.urn));
    assert.ok(built.namespace.dependencies.includes(built.ready.urn));
    assert.equal(built.secret.retainOnDelete, false);
    assert.equal(built.component.gpgFingerprint, fingerprint);
    assert.equal(built.component.ageRecipient, recipient);
  });

  it("writes only sops.asc without an age key, and keeps it on destroy when Flux is not this stack's", async () => {
    const gpg = await generate();
    const { fingerprint } = await inspectGpgPrivateKey(gpg.privateKey);
    const sops = { gpgPrivateKey: pulumi.secret(gpg.privateKey), gpgFingerprint: fingerprint };
    const built = await build("sopsgpg", sops, { install: false, keepOnDestroy: false });
    assert.deepEqual(Object.keys(secretData(built.secret)), ["sops.asc"]);
    assert.equal(built.component.ageRecipient, undefined);
    assert.equal(built.secret.retainOnDelete, true);
    assert.equal(built.namespace.retainOnDelete, true);
  });
});
