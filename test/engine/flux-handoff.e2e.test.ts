// The Flux handoff for real: the program through the real engine in `flux.installOperator: false` mode, real
// source-controller and kustomize-controller (built from their modules at the versions the pinned Flux ships)
// syncing `clusters/dev` over SSH from a Git server on loopback, with the Git credentials and `sops-gpg` Secrets
// the program wrote, decrypting SOPS files (GPG and age) made with sops built from its module. The Flux Operator
// itself cannot be built here: `OperatorStandIn` (test/harness/flux-env.ts) applies the sync objects the
// operator's own builder generates from the program's FluxInstance, reports Ready, and runs the operator's
// uninstall steps on destroy. Opt-in: MYNODEONE_E2E=1 (npm run e2e:flux).
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import {
  DEFAULT_FLUX_DISTRIBUTION_VERSION,
  DEFAULT_FLUX_OPERATOR_CHART_VERSION,
} from "../../components/flux/config";
import { publicKeyLine, testKeys, type TestKeys } from "../fixtures";
import {
  changingSteps,
  ENGINE_E2E_ENABLED,
  ENGINE_E2E_SKIP_REASON,
  EngineStack,
  kubernetesPluginSource,
  urnName,
} from "../harness/engine";
import {
  fluxTestVersions,
  installFluxInstanceCrd,
  operatorModuleDir,
  OperatorStandIn,
  startFluxEnv,
  type FluxEnv,
  type FluxTestVersions,
} from "../harness/flux-env";
import {
  assertRuntimeEntriesIntact,
  startKubeEnv,
  writeRuntimeEntries,
  type KubeEnv,
} from "../harness/kube-env";

/** The sync interval the stack sets; a new commit must be applied within it (plus the apply itself). */
const INTERVAL_SECONDS = 20;
const APPLY_SLACK_SECONDS = 15;
const APPS = "platform-apps";
/** Bytes that only survive a real decryption exactly: a newline, non-ASCII, a trailing space. */
const GPG_SECRET = "gpg: s3cr3t\nsecond line ✓ ";
const AGE_SECRET = "age: An0ther\tsecret ✓\n";

const b64 = (text: string): string => Buffer.from(text, "utf8").toString("base64");
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Condition {
  type: string;
  status: string;
  message?: string;
}
/** The fields of Flux's objects and of Secrets and ConfigMaps this test reads. */
interface KubeObject {
  kind?: string;
  data?: Record<string, string>;
  spec?: Record<string, unknown>;
  status?: {
    conditions?: Condition[];
    artifact?: { revision?: string };
    lastAppliedRevision?: string;
  };
}

describe(`Flux handoff with real controllers${ENGINE_E2E_ENABLED ? "" : ` (${ENGINE_E2E_SKIP_REASON})`}`, function () {
  this.timeout(600_000);
  let kube: KubeEnv | undefined;
  let flux: FluxEnv | undefined;
  let operator: OperatorStandIn | undefined;
  let stack: EngineStack | undefined;
  let keys: TestKeys;
  let ageRecipient: string;
  let firstCommit: string;
  let versions: FluxTestVersions;
  const figures: string[] = [];

  const kubectl = (args: string[], input?: string): string => {
    assert.ok(kube, "the API is not running");
    return kube.kubectl(args, input);
  };
  const getJson = (namespace: string, kind: string, name: string): KubeObject | undefined => {
    const out = kubectl(["-n", namespace, "get", kind, name, "--ignore-not-found", "-o", "json"]);
    return out.trim() === "" ? undefined : (JSON.parse(out) as KubeObject);
  };
  const gitRepositoryReady = (): Condition | undefined =>
    getJson("flux-system", "gitrepository", "flux-system")?.status?.conditions?.find(
      (c) => c.type === "Ready",
    );
  const secretBytes = (namespace: string, name: string, key: string): string | undefined => {
    const data = getJson(namespace, "secret", name)?.data?.[key];
    return data === undefined ? undefined : Buffer.from(data, "base64").toString("utf8");
  };
  const configMapData = (name: string): Record<string, string> | undefined =>
    getJson(APPS, "configmap", name)?.data;
  /** Polls `check` every second until it returns a value, for at most `seconds`. */
  async function waitFor<T>(what: string, seconds: number, check: () => T | undefined): Promise<T> {
    const deadline = Date.now() + seconds * 1000;
    for (;;) {
      if (operator?.failure !== undefined) {
        throw operator.failure;
      }
      const value = check();
      if (value !== undefined) {
        return value;
      }
      if (Date.now() > deadline) {
        const logs = flux ? fs.readdirSync(flux.logs).map((f) => path.join(flux?.logs ?? "", f)) : [];
        const tails = logs.map(
          (f) => `--- ${f}\n${fs.readFileSync(f, "utf8").split("\n").slice(-15).join("\n")}`,
        );
        throw new Error(`timed out after ${String(seconds)} s waiting for ${what}\n${tails.join("\n")}`);
      }
      await sleep(1000);
    }
  }
  /** What `flux reconcile source git` does: the GitRepository fetches now, not at its next interval. */
  const requestGitRepositoryReconcile = (): void => {
    kubectl([
      "-n",
      "flux-system",
      "annotate",
      "--overwrite",
      "gitrepository",
      "flux-system",
      `reconcile.fluxcd.io/requestedAt=${new Date().toISOString()}`,
    ]);
  };
  const fluxConfig = (knownHostsLine: string): Record<string, unknown> => ({
    gitUrl: flux?.gitUrl,
    install: true,
    installOperator: false,
    interval: `${String(INTERVAL_SECONDS)}s`,
    knownHosts: [knownHostsLine],
    // Well inside mocha's timeout: a stand-in that stopped fails the up, not the test run.
    readyTimeout: "3m",
  });

  /** A stack in existing-cluster mode on the test API with the Git server's deploy key and the GPG key. */
  async function newStack(name: string, fluxSettings: Record<string, unknown>): Promise<EngineStack> {
    assert.ok(kube && flux);
    const created = await EngineStack.create(name);
    created.setConfig("environment", "dev");
    created.setConfig("domain", "dev.example.com");
    created.setConfigObject("flux", fluxSettings);
    created.setConfig("existingKubeconfig", fs.readFileSync(kube.kubeconfigPath, "utf8"), { secret: true });
    created.setConfig("fluxGitPrivateKey", flux.deployKey, { secret: true });
    created.setConfig("sopsGpgPrivateKey", keys.gpgPrivateKey, { secret: true });
    return created;
  }

  /** clusters/dev: a namespace, a plain ConfigMap, and one Secret encrypted for each SOPS key. */
  function platformRepository(greeting: string): Record<string, string> {
    assert.ok(flux);
    const secret = (name: string, value: string): string =>
      YAML.stringify({
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name, namespace: APPS },
        type: "Opaque",
        data: { password: b64(value) },
      });
    return {
      "clusters/dev/kustomization.yaml": YAML.stringify({
        apiVersion: "kustomize.config.k8s.io/v1beta1",
        kind: "Kustomization",
        resources: ["namespace.yaml", "app.yaml", "secret-gpg.enc.yaml", "secret-age.enc.yaml"],
      }),
      "clusters/dev/namespace.yaml": YAML.stringify({
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name: APPS },
      }),
      "clusters/dev/app.yaml": YAML.stringify({
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "hello", namespace: APPS },
        data: { greeting },
      }),
      "clusters/dev/secret-gpg.enc.yaml": flux.encrypt(secret("from-gpg", GPG_SECRET), {
        pgp: keys.gpgFingerprint,
        gpgPublicKey: keys.gpgPublicKey,
      }),
      "clusters/dev/secret-age.enc.yaml": flux.encrypt(secret("from-age", AGE_SECRET), { age: ageRecipient }),
    };
  }

  before(async function () {
    if (!ENGINE_E2E_ENABLED) {
      this.skip();
    }
    versions = fluxTestVersions();
    this.timeout(90 * 60_000);
    console.log(`      engine: ${kubernetesPluginSource()}`);
    kube = startKubeEnv("flux-handoff");
    installFluxInstanceCrd(kube, operatorModuleDir(versions.operator));
    flux = startFluxEnv(kube);
    keys = await testKeys();
    const age = await import("age-encryption");
    const identity = await age.generateIdentity();
    ageRecipient = await age.identityToRecipient(identity);
    firstCommit = flux.commit("clusters/dev: hello, two SOPS secrets", platformRepository("hello from git"));

    stack = await newStack("flux-handoff", fluxConfig(flux.knownHostsLine));
    stack.setConfig("sopsAgeKey", `${identity}\n`, { secret: true });
    operator = new OperatorStandIn(kube, flux);
    operator.start();
  });

  after(async function () {
    this.timeout(180_000);
    if (figures.length > 0) {
      console.log(figures.map((f) => `      figure: ${f}`).join("\n"));
    }
    // Every step runs whatever the one before it did; the first error is reported after all of them.
    const errors: unknown[] = [];
    for (const step of [
      () => operator?.stop(),
      () => stack?.remove(),
      () => flux?.stop(),
      () => kube?.stop(),
    ]) {
      await Promise.resolve()
        .then(step)
        .catch((err: unknown) => errors.push(err));
    }
    if (errors.length > 0) {
      throw errors[0];
    }
  });

  it("the test controllers are the ones the pinned Flux ships (the operator's embedded image list)", () => {
    assert.equal(versions.distribution, `v${DEFAULT_FLUX_DISTRIBUTION_VERSION}`);
    assert.equal(versions.operator, `v${DEFAULT_FLUX_OPERATOR_CHART_VERSION}`);
    const operatorDir = operatorModuleDir(versions.operator);
    const images = YAML.parse(
      fs.readFileSync(
        path.join(
          operatorDir,
          "config",
          "data",
          "flux-images",
          versions.distribution,
          "upstream-alpine.yaml",
        ),
        "utf8",
      ),
    ) as { images: { name: string; newTag: string }[] };
    const tag = (name: string): string | undefined =>
      images.images.find((i) => i.name === `ghcr.io/fluxcd/${name}`)?.newTag;
    assert.equal(tag("source-controller"), versions.sourceController);
    assert.equal(tag("kustomize-controller"), versions.kustomizeController);
  });

  it("first up: the FluxInstance, the Git credentials and sops-gpg; Flux clones over SSH and applies clusters/dev", async () => {
    assert.ok(stack && flux && operator);
    const started = Date.now();
    const first = await stack.up();
    const upSeconds = (Date.now() - started) / 1000;
    const ops = changingSteps(first).map((s) => `${s.op} ${s.type} ${urnName(s.urn)}`);
    assert.ok(
      ops.includes("create kubernetes:fluxcd.controlplane.io/v1:FluxInstance flux-instance"),
      ops.join("\n"),
    );
    assert.ok(!ops.some((op) => op.includes("helm")), "no Helm release in this mode");
    // The up returned only once the FluxInstance was Ready (the operator's form of its status: the
    // distribution's revision), which comes after the sync applied the commit.
    const revision = `refs/heads/main@sha1:${firstCommit}`;
    assert.match(
      String(first.outputs["fluxSyncStatus"]?.value),
      /^Ready=True \(ReconciliationSucceeded\): Reconciliation finished in \d+s; applied v2\.9\.5@sha256:[0-9a-f]{64}$/,
    );
    assert.equal(
      getJson("flux-system", "kustomization", "flux-system")?.status?.lastAppliedRevision,
      revision,
      "the Kustomization applied the commit before the up returned",
    );
    figures.push(`first up to the first applied revision: ${upSeconds.toFixed(1)} s`);
    writeRuntimeEntries(kubectl);

    // The sync objects are the operator builder's, from the FluxInstance the program wrote.
    const sync = YAML.parseAllDocuments(operator.syncObjects ?? "").map((d) => d.toJSON() as KubeObject);
    const gitRepository = sync.find((o) => o.kind === "GitRepository");
    const kustomization = sync.find((o) => o.kind === "Kustomization");
    assert.deepEqual(gitRepository?.spec, {
      interval: `${String(INTERVAL_SECONDS)}s`,
      ref: { name: "refs/heads/main" },
      secretRef: { name: "flux-system" },
      url: flux.gitUrl,
    });
    assert.equal(kustomization?.spec?.["path"], "clusters/dev");
    assert.deepEqual(kustomization.spec["decryption"], {
      provider: "sops",
      secretRef: { name: "sops-gpg" },
    });

    // The clone used the given deploy key and the pinned known_hosts, and the revision is the commit.
    assert.equal(secretBytes("flux-system", "flux-system", "identity"), flux.deployKey);
    assert.equal(secretBytes("flux-system", "flux-system", "known_hosts"), `${flux.knownHostsLine}\n`);
    assert.equal(gitRepositoryReady()?.status, "True");
    assert.equal(
      getJson("flux-system", "gitrepository", "flux-system")?.status?.artifact?.revision,
      revision,
    );
    // kustomize-controller decrypted both files with the keys in sops-gpg: the exact bytes.
    assert.equal(secretBytes(APPS, "from-gpg", "password"), GPG_SECRET);
    assert.equal(secretBytes(APPS, "from-age", "password"), AGE_SECRET);
    assert.deepEqual(configMapData("hello"), { greeting: "hello from git" });
  });

  it("a second up with no config change changes nothing", async () => {
    assert.ok(stack);
    const second = await stack.up();
    assert.deepEqual(changingSteps(second), []);
    assertRuntimeEntriesIntact(kubectl, "second up");
  });

  it("a new commit reaches the cluster within the sync interval", async () => {
    assert.ok(flux);
    const pushed = Date.now();
    const commit = flux.commit("clusters/dev: new greeting", platformRepository("hello again"));
    await waitFor("the new greeting", INTERVAL_SECONDS + APPLY_SLACK_SECONDS, () =>
      configMapData("hello")?.["greeting"] === "hello again" ? true : undefined,
    );
    const seconds = (Date.now() - pushed) / 1000;
    figures.push(
      `commit to applied in the cluster: ${seconds.toFixed(1)} s (interval ${String(INTERVAL_SECONDS)} s)`,
    );
    // The status follows the apply (after kustomize-controller's health checks).
    await waitFor("the Kustomization to report the commit", 30, () =>
      getJson("flux-system", "kustomization", "flux-system")?.status?.lastAppliedRevision ===
      `refs/heads/main@sha1:${commit}`
        ? true
        : undefined,
    );
    assertRuntimeEntriesIntact(kubectl, "new commit");
  });

  it("a wrong known_hosts line: the GitRepository fails with a host-key error; the right one restores it", async () => {
    assert.ok(stack && flux);
    const host = flux.knownHostsLine.split(" ")[0] ?? "";
    stack.setConfigObject("flux", fluxConfig(`${host} ${publicKeyLine("ssh-ed25519")}`));
    const wrong = await stack.up();
    assert.deepEqual(
      changingSteps(wrong).map((s) => `${s.op} ${s.type} ${urnName(s.urn)}`),
      [
        // The dynamic providers' default provider is given the stack's config (test/engine/cluster-layer).
        "update pulumi:providers:pulumi-nodejs default",
        "update kubernetes:core/v1:Secret flux-git-credentials",
      ],
      "only the Git credentials change",
    );
    requestGitRepositoryReconcile();
    const failed = await waitFor("the GitRepository to fail", 60, () => {
      const condition = gitRepositoryReady();
      return condition?.status === "False" ? condition : undefined;
    });
    assert.match(failed.message ?? "", /ssh: handshake failed: knownhosts: key mismatch/);
    console.log(`      GitRepository with the wrong known_hosts: ${failed.message ?? ""}`);
    // What Flux applied stays while it cannot fetch.
    assert.deepEqual(configMapData("hello"), { greeting: "hello again" });

    stack.setConfigObject("flux", fluxConfig(flux.knownHostsLine));
    await stack.up();
    requestGitRepositoryReconcile();
    await waitFor("the GitRepository to recover", 60, () =>
      gitRepositoryReady()?.status === "True" ? true : undefined,
    );
    assertRuntimeEntriesIntact(kubectl, "known_hosts fixed");
  });

  it("the documented pulumi destroy removes Flux and keeps what Flux deployed and the runtime's entries", async () => {
    assert.ok(stack && operator);
    await stack.destroy();
    await operator.stop();
    assert.equal(getJson("flux-system", "fluxinstances.fluxcd.controlplane.io", "flux"), undefined);
    assert.equal(
      kubectl(["get", "crd", "-o", "name"])
        .split("\n")
        .filter((l) => l.includes("toolkit.fluxcd.io")).length,
      0,
    );
    assert.equal(secretBytes(APPS, "from-gpg", "password"), GPG_SECRET);
    assert.equal(secretBytes(APPS, "from-age", "password"), AGE_SECRET);
    assert.deepEqual(configMapData("hello"), { greeting: "hello again" });
    assertRuntimeEntriesIntact(kubectl, "destroy");
  });
  it("no operator to report Ready: the up ends after flux.readyTimeout, saying what it waited for", async () => {
    assert.ok(flux);
    const waiting = await newStack("flux-handoff-wait", {
      ...fluxConfig(flux.knownHostsLine),
      readyTimeout: "1m",
    });
    try {
      const started = Date.now();
      const failure = await waiting.up().then(
        () => "",
        (err: unknown) => (err instanceof Error ? err.message : String(err)),
      );
      const seconds = (Date.now() - started) / 1000;
      assert.match(
        failure,
        /info: on create or change, pulumi up waits up to 1m \(flux\.readyTimeout\) for FluxInstance flux-system\/flux to report Ready: the cluster's own Flux Operator installs Flux 2\.9\.5 and applies clusters\/dev/,
      );
      // The provider's own words for the timeout, after the program's message.
      assert.match(
        failure,
        /flux-instance" was successfully created, but .* timed out waiting for the condition/,
      );
      const said = failure.split("\n").filter((line) => /^info: on create|timed out waiting/.test(line));
      console.log(
        `      the failed up after ${seconds.toFixed(0)} s:\n${said.map((l) => `        ${l}`).join("\n")}`,
      );
      assert.ok(seconds >= 60 && seconds < 180, `bounded by flux.readyTimeout (${seconds.toFixed(0)} s)`);
      await waiting.destroy();
    } finally {
      waiting.remove();
    }
  });
});
