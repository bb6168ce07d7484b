// The cluster layer against a genuine kube-apiserver on 127.0.0.1 (scripts/kube-test-env.sh), in the
// existing-cluster mode (`mynodeone:existingKubeconfig`) with `flux.install: false` (the Flux Operator chart and
// images cannot be fetched here). Opt-in: MYNODEONE_E2E=1.
//
// The real Pulumi engine cannot be built on this project's machines (docs/toolchain.md): the whole program runs
// under the shared mocks and test/harness/cluster-standin.ts plays the engine's part with what it registered.
// Then the test acts like the platform's runtime (kubectl patch --type merge) and checks, with the exact bytes
// read back from the API, that every re-run, a config change, a new stack and destroy leave the entries intact.
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as YAML from "yaml";
import type { RawConfig } from "../components/config";
import { EMPTY_REGISTRIES } from "../components/registries";
import { RUNTIME_REGISTRY_ENTRIES, testKeys } from "./fixtures";
import { ClusterStandIn, type UpResult } from "./harness/cluster-standin";
import { startKubeEnv, type KubeEnv } from "./harness/kube-env";
import { runProgram, type ProgramRun } from "./harness/run";
import { isSecretValue } from "./mocks";

const ENABLED = process.env["MYNODEONE_E2E"] === "1";
const SKIP_REASON = "skipped: set MYNODEONE_E2E=1 to build and start a real kube-apiserver";
const REGISTRY_NAMES = Object.keys(EMPTY_REGISTRIES);

describe(`cluster layer on a real Kubernetes API${ENABLED ? "" : ` (${SKIP_REASON})`}`, function () {
  this.timeout(120_000);
  let env: KubeEnv | undefined;
  let baseConfig: RawConfig;
  let engine: ClusterStandIn;
  const up = (run: ProgramRun): Promise<UpResult> => engine.up(run);

  const kubectl = (args: string[], input?: string): string => {
    assert.ok(env, "the API is not running");
    return env.kubectl(args, input);
  };
  const configMapData = (name: string): Record<string, string> =>
    (
      JSON.parse(kubectl(["-n", "kube-system", "get", "configmap", name, "-o", "json"])) as {
        data: Record<string, string>;
      }
    ).data;
  const resourceVersion = (name: string): string =>
    kubectl(["-n", "kube-system", "get", "configmap", name, "-o", "jsonpath={.metadata.resourceVersion}"]);

  /** Entries the runtime writes (read-modify-write of the whole JSON value, kubectl patch --type merge). */
  const runtimeEntries = RUNTIME_REGISTRY_ENTRIES;

  function assertRuntimeEntriesIntact(step: string): void {
    for (const [name, entries] of Object.entries(runtimeEntries)) {
      const data = configMapData(name);
      for (const [key, value] of Object.entries(entries)) {
        assert.equal(data[key], value, `${step}: ${name} ${key} changed`);
      }
    }
  }

  before(async function () {
    if (!ENABLED) {
      this.skip();
    }
    this.timeout(90 * 60_000);
    env = startKubeEnv("cluster-layer");
    engine = new ClusterStandIn(kubectl);
    const keys = await testKeys();
    baseConfig = {
      environment: "dev",
      domain: "dev.example.com",
      existingKubeconfig: fs.readFileSync(env.kubeconfigPath, "utf8"),
      flux: { gitUrl: "ssh://git@github.com/example/platform", install: false },
      sopsGpgPrivateKey: keys.gpgPrivateKey,
    };
  });

  after(function () {
    this.timeout(60_000);
    env?.stop();
  });

  it("creates the namespace, the SOPS secret, cluster-info and the byte-exact empty registries", async () => {
    const first = await up(await runProgram("dev", baseConfig));
    assert.deepEqual(first.registryWrites.sort(), [
      "create domain-registry",
      "create service-registry",
      "create sync-controller-registry",
    ]);
    assert.ok(first.applied >= 3);
    assert.equal(
      kubectl(["get", "namespace", "flux-system", "-o", "jsonpath={.metadata.name}"]),
      "flux-system",
    );
    assert.deepEqual(configMapData("service-registry"), { "services.json": "{}" });
    assert.deepEqual(configMapData("domain-registry"), {
      "domains.json": '{"domains":{},"vps_nodes":[]}',
      "routing.json": "{}",
    });
    const registry = JSON.parse(configMapData("sync-controller-registry")["registry.json"] ?? "") as Record<
      string,
      unknown
    >;
    assert.deepEqual(
      [registry["management_laptops"], registry["vps_nodes"], registry["worker_nodes"]],
      [[], [], []],
    );
    const info = configMapData("cluster-info");
    assert.equal(info["cluster-name"], "mynodeone-dev");
    assert.equal(info["cluster-domain"], "dev.example.com");
    assert.equal(info["control-plane-ip"], "127.0.0.1");
    assert.equal(info["repo-path"], "/opt/mynodeone");
  });

  it("(e) stores the configured SOPS key in sops-gpg, decodable byte for byte", async () => {
    const secret = JSON.parse(kubectl(["-n", "flux-system", "get", "secret", "sops-gpg", "-o", "json"])) as {
      data: Record<string, string>;
    };
    assert.deepEqual(Object.keys(secret.data), ["sops.asc"]);
    assert.equal(
      Buffer.from(secret.data["sops.asc"] ?? "", "base64").toString("utf8"),
      (await testKeys()).gpgPrivateKey,
    );
  });

  it("(a) a second up after the runtime wrote entries changes nothing and keeps them", async () => {
    for (const [name, entries] of Object.entries(runtimeEntries)) {
      kubectl([
        "-n",
        "kube-system",
        "patch",
        "configmap",
        name,
        "--type",
        "merge",
        "-p",
        JSON.stringify({ data: entries }),
      ]);
    }
    const versions = REGISTRY_NAMES.map(resourceVersion);
    const second = await up(await runProgram("dev", baseConfig));
    assert.deepEqual(second.registryWrites, [], "no registry create/update on a re-run");
    assert.deepEqual(second.objectWrites, [], "no object create/update on a re-run");
    assertRuntimeEntriesIntact("second up");
    assert.deepEqual(REGISTRY_NAMES.map(resourceVersion), versions, "no write reached a registry");
  });

  it("(b) an unrelated config change updates cluster-info and keeps the registries", async () => {
    const changed = { ...baseConfig, domain: "changed.example.com", repoPath: "/srv/mynodeone" };
    const versions = REGISTRY_NAMES.map(resourceVersion);
    const run = await up(await runProgram("dev", changed));
    assert.deepEqual(run.registryWrites, []);
    assert.deepEqual(run.objectWrites, ["ConfigMap/cluster-info"]);
    assertRuntimeEntriesIntact("config change");
    assert.deepEqual(REGISTRY_NAMES.map(resourceVersion), versions);
    assert.equal(configMapData("cluster-info")["cluster-domain"], "changed.example.com");
    assert.equal(configMapData("cluster-info")["repo-path"], "/srv/mynodeone");
  });

  it("(c) a brand-new stack (lost state) against the same cluster succeeds and adopts the registries", async () => {
    engine.state.clear();
    engine.objectState.clear();
    const versions = REGISTRY_NAMES.map(resourceVersion);
    const fresh = await up(await runProgram("dev", baseConfig));
    assert.equal(fresh.registryWrites.length, 3);
    for (const name of REGISTRY_NAMES) {
      assert.equal(engine.state.get(name)?.origin, "adopted", name);
    }
    assertRuntimeEntriesIntact("new stack");
    assert.deepEqual(REGISTRY_NAMES.map(resourceVersion), versions);
  });

  it("(d) destroy keeps the registries unless opted in; the stack's own objects go", async () => {
    await engine.destroy(await runProgram("dev", baseConfig));
    assertRuntimeEntriesIntact("destroy");
    assert.equal(
      kubectl(["-n", "kube-system", "get", "configmap", "cluster-info", "--ignore-not-found", "-o", "name"]),
      "",
    );

    // With the opt-in (applied with an `up` first, as the docs say), destroy deletes them.
    const optIn = await runProgram("dev", { ...baseConfig, registries: { deleteOnDestroy: true } });
    await up(optIn);
    for (const registry of ClusterStandIn.registries(optIn)) {
      assert.equal(registry.retainOnDelete, false);
    }
    await engine.destroy(optIn);
    for (const name of REGISTRY_NAMES) {
      assert.equal(
        kubectl(["-n", "kube-system", "get", "configmap", name, "--ignore-not-found", "-o", "name"]),
        "",
      );
    }
  });

  it("keeps the kubeconfig secret in every recorded input", async () => {
    const run = await runProgram("dev", baseConfig);
    const kubeconfig = YAML.parse(baseConfig["existingKubeconfig"] as string) as {
      users: { user: { "client-key-data": string } }[];
    };
    const clientKey = kubeconfig.users[0]?.user["client-key-data"] ?? "";
    assert.ok(clientKey.length > 20);
    for (const r of run.resources) {
      const visible = JSON.stringify(r.inputs, (_k, v: unknown) => (isSecretValue(v) ? "[secret]" : v));
      assert.ok(!visible.includes(clientKey), `${r.type} ${r.name} exposes the client key`);
    }
  });
});
