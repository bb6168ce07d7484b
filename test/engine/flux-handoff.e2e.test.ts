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
import { parseCron, previousFiring } from "../../scripts/lib/status/cron";
import { rawConfigFromCli, statusInputs, type StatusInputs } from "../../scripts/lib/status/inputs";
import { exitCode, type Report } from "../../scripts/lib/status/report";
import { runStatus } from "../../scripts/lib/status/run";
import { PulumiStack } from "../../scripts/lib/pulumi-cli";
import { generateThrowawayKeys } from "../../scripts/lib/throwaway-keys";
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
import { editKubeconfig, issueClientCert } from "../harness/certs";
import { assertValidReport, finding, problems, runStatusCli, type CliRun } from "../harness/status";

/** The sync interval the stack sets; a new commit must be applied within it (plus the apply itself). */
const INTERVAL_SECONDS = 20;
const APPLY_SLACK_SECONDS = 15;
const APPS = "platform-apps";
/** Bytes that only survive a real decryption exactly: a newline, non-ASCII, a trailing space. */
const GPG_SECRET = "gpg: s3cr3t\nsecond line ✓ ";
const AGE_SECRET = "age: An0ther\tsecret ✓\n";

/** k3s's ETCDSnapshotFile resource, reduced to what the status probe reads (k3s registers the real one). */
const ETCD_SNAPSHOT_FILE_CRD = {
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: "etcdsnapshotfiles.k3s.cattle.io" },
  spec: {
    group: "k3s.cattle.io",
    scope: "Cluster",
    names: {
      plural: "etcdsnapshotfiles",
      singular: "etcdsnapshotfile",
      kind: "ETCDSnapshotFile",
      listKind: "ETCDSnapshotFileList",
    },
    versions: [
      {
        name: "v1",
        served: true,
        storage: true,
        schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } },
      },
    ],
  },
};

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
  let ageIdentity: string;
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
    ageIdentity = identity;
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
      () => {
        clearInterval(heartbeat);
      },
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

  // npm run status against this platform: the real CLI reads the stack, the probes read the real API and what
  // the real controllers wrote. The test API has no kubelet: Node objects whose Lease the test renews stand in
  // for nodes (the controller manager marks a node without one Unknown).
  const NODE = "status-node-1";
  const PINNED_K3S = "v1.35.6+k3s1";
  const leases = new Set<string>();
  let heartbeat: NodeJS.Timeout | undefined;
  const renewLeases = (): void => {
    for (const name of leases) {
      kubectl(
        ["apply", "-f", "-"],
        JSON.stringify({
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name, namespace: "kube-node-lease" },
          spec: {
            holderIdentity: name,
            leaseDurationSeconds: 40,
            renewTime: new Date().toISOString().replace("Z", "000Z"),
          },
        }),
      );
    }
  };
  const setNodeStatus = (name: string, ready: "True" | "False", version = PINNED_K3S): void => {
    const now = new Date().toISOString();
    const status = {
      conditions: [
        {
          type: "Ready",
          status: ready,
          reason: ready === "True" ? "KubeletReady" : "KubeletNotReady",
          message:
            ready === "True" ? "kubelet is posting ready status" : "container runtime network not ready",
          lastHeartbeatTime: now,
          lastTransitionTime: now,
        },
      ],
      nodeInfo: { kubeletVersion: version },
    };
    kubectl([
      "patch",
      "node",
      name,
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({ status }),
    ]);
  };
  const addNode = (name: string, version = PINNED_K3S): void => {
    kubectl(["create", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "Node", metadata: { name } }));
    setNodeStatus(name, "True", version);
    leases.add(name);
    renewLeases();
    heartbeat ??= setInterval(renewLeases, 5000);
  };
  const statusOf = async (): Promise<{ run: CliRun; report: Report }> => {
    assert.ok(stack);
    const run = await runStatusCli(
      ["--stack", stack.name, "--config-file", stack.configFile, "--json"],
      stack.environment,
    );
    let report: unknown;
    try {
      report = JSON.parse(run.stdout);
    } catch {
      assert.fail(`status printed no JSON (exit ${String(run.code)}): ${run.stderr}`);
    }
    assertValidReport(report);
    return { run, report };
  };
  /** Inject a fault (and wait for it to show, if it takes the controllers a moment), check status names it with exit 1, mend it. */
  async function fault(
    what: { inject: () => void; settle?: () => Promise<unknown>; mend: () => void },
    check: string,
    detail: RegExp,
  ): Promise<void> {
    what.inject();
    try {
      await what.settle?.();
      const { run, report } = await statusOf();
      assert.equal(run.code, 1, problems(report).join("\n"));
      const found = finding(report, check);
      assert.equal(found.status, "FAIL");
      assert.match(found.detail, detail);
      console.log(`      FAIL ${check}: ${found.detail}\n        next: ${found.next ?? ""}`);
    } finally {
      what.mend();
    }
  }

  it("status: the real CLI reads the stack; the healthy platform is all OK, exit 0, and no secret is printed", async () => {
    assert.ok(stack && flux && kube);
    addNode(NODE);
    const { run, report } = await statusOf();
    assert.deepEqual(problems(report), []);
    assert.equal(run.code, 0, run.stderr);
    assert.match(finding(report, "API").detail, /^https:\/\/127\.0\.0\.1:\d+ answers, v1\./);
    assert.match(
      finding(report, "API credential").detail,
      /^client certificate CN=mynodeone-test-admin expires \d{4}-\d\d-\d\d \(36[45]\.\d days\)$/,
    );
    assert.equal(finding(report, `node ${NODE}`).detail, `Ready, ${PINNED_K3S}`);
    assert.match(finding(report, "FluxInstance").detail, /^Ready=True \(ReconciliationSucceeded\)/);
    const revision = getJson("flux-system", "gitrepository", "flux-system")?.status?.artifact?.revision ?? "";
    assert.equal(finding(report, "GitRepository").detail, `fetched ${revision}`);
    assert.ok(
      finding(report, "Kustomization").detail.startsWith(`applied ${revision}, `) &&
        finding(report, "Kustomization").detail.endsWith(" since fetched (interval 20s)"),
      finding(report, "Kustomization").detail,
    );
    assert.equal(finding(report, "Kustomizations").detail, "1 in the cluster, none failing");
    assert.equal(finding(report, "sops-gpg gpg key").detail, `the stack's key ${keys.gpgFingerprint}`);
    assert.equal(finding(report, "sops-gpg age key").detail, `the key of ${ageRecipient}`);
    assert.equal(finding(report, "registry service-registry").detail, "services.json: 1");
    assert.equal(
      finding(report, "registry domain-registry").detail,
      "domains.json domains: 1, vps_nodes: 1, routing.json: 1",
    );
    assert.equal(
      finding(report, "registry sync-controller-registry").detail,
      "management_laptops: 0, vps_nodes: 0, worker_nodes: 1",
    );
    assert.deepEqual(
      report.notChecked.map((n) => n.check),
      ["etcd snapshots", "encryption config", "edge hosts"],
    );
    // The kubeconfig, the deploy key and both SOPS keys were in the CLI's output; none is in status's.
    const printed = run.stdout + run.stderr;
    const clientKey = /client-key-data: (\S+)/.exec(fs.readFileSync(kube.kubeconfigPath, "utf8"))?.[1] ?? "";
    const secrets = [
      clientKey,
      flux.deployKey.split("\n")[1] ?? "",
      keys.gpgPrivateKey.split("\n")[3] ?? "",
      ageIdentity,
    ];
    for (const secret of secrets) {
      assert.ok(secret.length > 20 && !printed.includes(secret), "a secret was printed");
    }
    const table = await runStatusCli(
      ["--stack", stack.name, "--config-file", stack.configFile],
      stack.environment,
    );
    assert.equal(table.code, 0, table.stderr);
    assert.match(
      table.stdout.trim().split("\n").at(-1) ?? "",
      /^OK: 12 ok, 0 warning\(s\), 0 failure\(s\) in \d+\.\d s/,
    );
    figures.push(
      `npm run status of the healthy cluster side, the CLI's reads included: ${String(table.ms)} ms`,
    );
    console.log(table.stdout.replace(/^/gm, "        "));
  });

  it("status names each fault with exit 1: a deleted registry, no vps_nodes, another key in sops-gpg, a NotReady node, a failing Kustomization", async () => {
    const saved = (name: string): string => {
      const object = JSON.parse(kubectl(["-n", "kube-system", "get", "configmap", name, "-o", "json"])) as {
        metadata: Record<string, unknown>;
      };
      const serverSet = ["resourceVersion", "uid", "creationTimestamp", "managedFields"];
      object.metadata = Object.fromEntries(
        Object.entries(object.metadata).filter(([k]) => !serverSet.includes(k)),
      );
      return JSON.stringify(object);
    };
    const patch = (args: string[], data: unknown): void => {
      kubectl([...args, "--type", "merge", "-p", JSON.stringify(data)]);
    };
    const serviceRegistry = saved("service-registry");
    await fault(
      {
        inject: () => kubectl(["-n", "kube-system", "delete", "configmap", "service-registry"]),
        mend: () => kubectl(["create", "-f", "-"], serviceRegistry),
      },
      "registry service-registry",
      /^kube-system\/service-registry does not exist: the runtime has lost its entries$/,
    );
    const domainRegistry = saved("domain-registry");
    await fault(
      {
        inject: () => {
          patch(["-n", "kube-system", "patch", "configmap", "domain-registry"], {
            data: { "domains.json": '{"domains":{}}' },
          });
        },
        mend: () => kubectl(["replace", "-f", "-"], domainRegistry),
      },
      "registry domain-registry",
      /^not the contract's shape: domains\.json: vps_nodes is missing$/,
    );
    const other = await generateThrowawayKeys("someone else");
    const ownKey = secretBytes("flux-system", "sops-gpg", "sops.asc") ?? assert.fail("no sops.asc");
    const sopsKey = (armored: string) => () => {
      patch(["-n", "flux-system", "patch", "secret", "sops-gpg"], { data: { "sops.asc": b64(armored) } });
    };
    await fault(
      { inject: sopsKey(other.gpgPrivateKey), mend: sopsKey(ownKey) },
      "sops-gpg gpg key",
      new RegExp(
        `^holds ${other.gpgFingerprint}, not the stack's ${keys.gpgFingerprint}: files encrypted for the stack's key cannot be decrypted$`,
      ),
    );
    await fault(
      {
        inject: () => {
          setNodeStatus(NODE, "False");
        },
        mend: () => {
          setNodeStatus(NODE, "True");
        },
      },
      `node ${NODE}`,
      /^not Ready: Ready=False \(KubeletNotReady\): container runtime network not ready$/,
    );
    const brokenApp = {
      apiVersion: "kustomize.toolkit.fluxcd.io/v1",
      kind: "Kustomization",
      metadata: { name: "broken-app", namespace: "flux-system" },
      spec: {
        interval: "1m",
        path: "./apps/missing",
        prune: true,
        sourceRef: { kind: "GitRepository", name: "flux-system" },
      },
    };
    await fault(
      {
        inject: () => kubectl(["create", "-f", "-"], JSON.stringify(brokenApp)),
        settle: () =>
          waitFor("kustomize-controller to fail broken-app", 60, () =>
            getJson("flux-system", "kustomization", "broken-app")?.status?.conditions?.find(
              (c) => c.type === "Ready" && c.status === "False",
            ),
          ),
        mend: () => kubectl(["-n", "flux-system", "delete", "kustomization", "broken-app", "--wait=true"]),
      },
      "Kustomization flux-system/broken-app",
      /^Ready=False \(ArtifactFailed\): kustomization path not found: .*apps\/missing/,
    );
    const { run, report } = await statusOf();
    assert.deepEqual(problems(report), [], "every fault mended: all OK again");
    assert.equal(run.code, 0);
    assertRuntimeEntriesIntact(kubectl, "status faults mended");
  });

  /**
   * What a status run of the stack starts from, read through the real CLI, for runs with inputs changed; with
   * `kubeconfig`, as if the stack's config and its output held that one (an adopted stack's output is its config's).
   */
  const stackStatusInputs = async (kubeconfig?: string): Promise<StatusInputs> => {
    assert.ok(stack);
    const cli = stack;
    const values = await new PulumiStack(
      cli.name,
      (args) => Promise.resolve(cli.cli([...args])),
      cli.configFile,
    ).values();
    const raw = rawConfigFromCli(values.config);
    return kubeconfig === undefined
      ? statusInputs(cli.name, values.outputs, raw)
      : statusInputs(cli.name, { ...values.outputs, kubeconfig }, { ...raw, existingKubeconfig: kubeconfig });
  };

  it("status in k3s mode on the real API: node versions against the pin, a missing node, etcd snapshots against the schedule", async () => {
    assert.ok(kube);
    const adopted = await stackStatusInputs();
    // k3s registers this CRD itself (with a status subresource); this stand-in takes the status at create.
    kubectl(["apply", "-f", "-"], JSON.stringify(ETCD_SNAPSHOT_FILE_CRD));
    kubectl(["wait", "--for=condition=Established", "--timeout=30s", "crd/etcdsnapshotfiles.k3s.cattle.io"]);
    const cron = "0 */6 * * *";
    const inputs = {
      ...adopted,
      adopted: false,
      nodeNames: [NODE, "status-node-2"],
      k3sVersion: PINNED_K3S,
      etcdScheduleCron: cron,
    };
    const check = async (now?: Date, schedule = cron) =>
      runStatus(
        { ...inputs, etcdScheduleCron: schedule },
        { timeoutSeconds: 10, ...(now ? { now: () => now } : {}) },
      );
    const snapshots = (...ages: number[]): void => {
      kubectl(["delete", "etcdsnapshotfiles", "--all"]);
      ages.forEach((at, i) =>
        kubectl(
          ["create", "-f", "-"],
          JSON.stringify({
            apiVersion: "k3s.cattle.io/v1",
            kind: "ETCDSnapshotFile",
            metadata: { name: `local-etcd-snapshot-${String(i)}` },
            spec: {
              snapshotName: `etcd-snapshot-${String(i)}`,
              nodeName: NODE,
              location: "file:///var/lib/rancher/k3s/server/db/snapshots/x",
            },
            status: { creationTime: new Date(at).toISOString(), readyToUse: true, size: "1M" },
          }),
        ),
      );
    };

    let report = await check();
    assert.equal(finding(report, `node ${NODE}`).status, "OK");
    // A certificate in a k3s-mode stack's kubeconfig (k3s's admin one, from before the program's token) is
    // judged too; its advice is an up (test/status.test.ts).
    assert.equal(finding(report, "API credential").status, "OK");
    assert.deepEqual(finding(report, "node status-node-2"), {
      layer: "cluster",
      check: "node status-node-2",
      status: "FAIL",
      detail: "not registered with the API",
      next: "on the host: sudo systemctl status k3s (or k3s-agent); docs/status.md",
    });
    addNode("status-node-2", "v1.34.9+k3s1");
    report = await check();
    assert.equal(finding(report, "node status-node-2").status, "WARN");
    assert.equal(
      finding(report, "node status-node-2").detail,
      `Ready, runs v1.34.9+k3s1; the stack pins ${PINNED_K3S}`,
    );

    // The cluster is minutes old: no snapshot is due yet under a yearly schedule; one is under a 5-minute one.
    snapshots();
    const kubeSystem = JSON.parse(kubectl(["get", "namespace", "kube-system", "-o", "json"])) as {
      metadata: { creationTimestamp: string };
    };
    const born = Date.parse(kubeSystem.metadata.creationTimestamp);
    assert.match(
      finding(await check(new Date(born + 300_000), "0 0 1 1 *"), "etcd snapshots").detail,
      /^none yet; the cluster is younger than the schedule/,
    );
    const none = finding(await check(new Date(born + 86_400_000), "*/5 * * * *"), "etcd snapshots");
    assert.deepEqual(
      [none.status, none.detail.replace(/\d{4}-.*Z/, "<time>")],
      ["FAIL", "no snapshot, though '*/5 * * * *' (UTC: no server answered) was due at <time>"],
    );
    // Against one clock reading: the firing due then (the last one over 10 minutes before), the one before, older.
    const now = new Date();
    const due =
      previousFiring(parseCron(cron), new Date(now.getTime() - 600_000)) ?? assert.fail("no firing");
    const hours = (h: number): number => due.getTime() - h * 3_600_000;
    snapshots(hours(12) + 60_000, hours(0) + 30_000);
    assert.equal(finding(await check(now), "etcd snapshots").status, "OK");
    snapshots(hours(6) + 30_000);
    const missed = finding(await check(now), "etcd snapshots");
    assert.equal(missed.status, "WARN");
    assert.match(missed.detail, new RegExp(`: the one due at ${due.toISOString()} is missing$`));
    snapshots(hours(12) + 30_000);
    const stale = finding(await check(now), "etcd snapshots");
    assert.equal(stale.status, "FAIL");
    assert.match(
      stale.detail,
      /^newest etcd-snapshot-0, [\d.]+ h old \(1 kept; schedule '0 \*\/6 \* \* \*', UTC: no server answered\): at least two scheduled snapshots are missing$/,
    );
    clearInterval(heartbeat);
    heartbeat = undefined;
    leases.clear();
    kubectl(["delete", "node", NODE, "status-node-2"]);
  });

  it("status on an adopted cluster's client certificate: WARN 10 days before its end (exit 2), FAIL once the API refuses it", async () => {
    assert.ok(kube);
    const adminKubeconfig = fs.readFileSync(kube.kubeconfigPath, "utf8");
    const pki = path.join(kube.dir, "pki");
    const day = 86_400_000;
    // Issued by the cluster's CA, as a kubeconfig from `k3s kubectl config view --raw` is; the API takes it.
    const expiring = editKubeconfig(adminKubeconfig, {
      credential: issueClientCert(pki, "adopted-admin", {
        group: "system:masters",
        notAfter: new Date(Date.now() + 10 * day),
      }),
    });
    const soon = await runStatus(await stackStatusInputs(expiring), {
      timeoutSeconds: 10,
      layers: ["registries"],
    });
    assertValidReport(soon);
    assert.equal(finding(soon, "API").status, "OK");
    const warned = finding(soon, "API credential");
    assert.equal(warned.status, "WARN");
    assert.match(
      warned.detail,
      /^client certificate CN=adopted-admin expires \d{4}-\d\d-\d\d \((10\.0|9\.9) days\)$/,
    );
    assert.match(warned.next ?? "", /^pulumi config set --secret 'mynodeone:existingKubeconfig' /);
    assert.equal(exitCode(soon), 2, problems(soon).join("\n"));
    console.log(`      WARN API credential: ${warned.detail}\n        next: ${warned.next ?? ""}`);

    // Expired 30 s ago: the real API server refuses it (401), and the report says why beside the refusal. The
    // config holds it too (where pulumi up stops at the start): status still reports.
    const expired = editKubeconfig(adminKubeconfig, {
      credential: issueClientCert(pki, "adopted-admin-expired", {
        group: "system:masters",
        notAfter: new Date(Date.now() - 30_000),
      }),
    });
    const refused = await runStatus(await stackStatusInputs(expired), {
      timeoutSeconds: 10,
      layers: ["registries"],
    });
    assertValidReport(refused);
    assert.equal(finding(refused, "API").status, "FAIL");
    assert.match(finding(refused, "API").detail, /401|Unauthorized/i);
    assert.deepEqual(
      [
        finding(refused, "API credential").status,
        finding(refused, "API credential").detail.endsWith("(expired)"),
      ],
      ["FAIL", true],
    );
    assert.deepEqual(
      refused.notChecked.map((n) => [n.check, n.reason]),
      [["registries", "the API did not answer"]],
    );
    assert.equal(exitCode(refused), 1);
    console.log(`      FAIL API: ${finding(refused, "API").detail}`);
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
