// The whole program (index.ts) under mocks, one child process per run, with the committed stack files' config
// and throwaway secrets: what a `pulumi up` of dev or prod would register.
import { strict as assert } from "node:assert";
import { stackFileConfig, testKeys, withSecrets } from "./fixtures";
import { FAKE } from "./harness/fakes";
import { runProgram, type ProgramRun } from "./harness/run";
import { isSecretValue, plain, type RecordedResource } from "./mocks";

const REMOTE = "command:remote:Command";
const LOCAL = "command:local:Command";

const ofType = (run: ProgramRun, type: string): RecordedResource[] =>
  run.resources.filter((r) => r.type === type);
const named = (run: ProgramRun, type: string, name: string): RecordedResource => {
  const found = run.resources.find((r) => r.type === type && r.name === name);
  assert.ok(found, `no ${type} ${name}`);
  return found;
};
const commandText = (r: RecordedResource): string =>
  ["create", "update", "delete", "environment", "triggers"]
    .map((f) => JSON.stringify(r.inputs[f] ?? ""))
    .join("\n");

describe("the whole program (mocked engine)", function () {
  this.timeout(120_000);
  let dev: ProgramRun;
  let prod: ProgramRun;
  let secrets: string[];

  before(async () => {
    const keys = await testKeys();
    secrets = [keys.gpgPrivateKey, keys.sshPrivateKey, FAKE.generatedToken, FAKE.joinToken, FAKE.clientKey];
    [dev, prod] = await Promise.all([
      runProgram("dev", await withSecrets(stackFileConfig("Pulumi.dev.yaml"))),
      runProgram("prod", await withSecrets(stackFileConfig("Pulumi.prod.yaml"))),
    ]);
    assert.equal(dev.error, undefined, dev.error);
    assert.equal(prod.error, undefined, prod.error);
  });

  it("registers every component of the platform for dev", () => {
    const components = dev.resources
      .filter((r) => r.type.startsWith("mynodeone:"))
      .map((r) => `${r.type} ${r.name}`);
    assert.deepEqual(components.sort(), [
      "mynodeone:edge:EdgeHost edge-dev-edge-1",
      "mynodeone:flux:FluxBootstrap flux",
      "mynodeone:flux:FluxNamespace flux-namespace",
      "mynodeone:k3s:ClusterToken k3s-token",
      "mynodeone:k3s:K3sCluster k3s",
      "mynodeone:registries:RuntimeRegistries registries",
      "mynodeone:sops:SopsSecret sops",
    ]);
    assert.equal(ofType(dev, "pulumi:providers:kubernetes").length, 1);
    assert.ok(named(dev, REMOTE, "k3s-server-dev-cp-1"));
  });

  it("installs prod's three servers one after another, then the agents", () => {
    const server = (n: string): RecordedResource => named(prod, REMOTE, `k3s-server-${n}`);
    assert.ok(server("prod-cp-2").dependencies.includes(server("prod-cp-1").urn));
    assert.ok(server("prod-cp-3").dependencies.includes(server("prod-cp-2").urn));
    for (const agent of ["prod-worker-1", "prod-worker-2"]) {
      assert.ok(named(prod, REMOTE, `k3s-agent-${agent}`).dependencies.includes(server("prod-cp-3").urn));
    }
    assert.ok(server("prod-cp-1").inputs["create"]);
    assert.match(String(server("prod-cp-1").inputs["create"]), /INSTALL_K3S_VERSION='v1\.35\.6\+k3s1'/);
  });

  it("builds the cluster-side objects through the cluster's provider, after the cluster is ready", () => {
    const provider = named(dev, "pulumi:providers:kubernetes", "cluster");
    assert.ok(isSecretValue(provider.inputs["kubeconfig"]));
    const sops = named(dev, "kubernetes:core/v1:Secret", "sops-secret");
    assert.ok(sops.provider.startsWith(provider.urn));
    // Every Kubernetes object and registry waits for the cluster: it depends on the k3s nodes' installs (a
    // dependency on a component is one on its children), directly or through an object that does.
    const waitsForCluster = (r: RecordedResource, seen = new Set<string>()): boolean =>
      r.dependencies.some(
        (d) =>
          d.includes("mynodeone:k3s:K3sCluster$command:remote:Command::k3s-server-") ||
          (!seen.has(d) && dev.resources.some((x) => x.urn === d && waitsForCluster(x, seen.add(d)))),
      );
    const clusterSide = dev.resources.filter(
      (x) =>
        (x.type.startsWith("kubernetes:") || x.type.includes("dynamic")) && !x.type.startsWith("pulumi:"),
    );
    assert.ok(clusterSide.length >= 8);
    for (const r of clusterSide) {
      assert.ok(waitsForCluster(r), `${r.name} does not wait for the cluster`);
    }
  });

  it("provisions edge hosts without waiting for the cluster", () => {
    const edge = dev.resources.filter((r) => r.urn.includes("mynodeone:edge:EdgeHost$"));
    assert.ok(edge.length >= 3);
    for (const r of edge) {
      assert.ok(
        !r.dependencies.some((d) => d.includes("mynodeone:k3s:") || d.includes("kubernetes")),
        r.name,
      );
    }
  });

  it("never puts a secret into a command string, environment or trigger", () => {
    for (const run of [dev, prod]) {
      const commands = [...ofType(run, REMOTE), ...ofType(run, LOCAL)];
      assert.ok(commands.length >= 7);
      for (const r of commands) {
        const text = commandText(r);
        for (const secret of secrets) {
          // The longest line of a multi-line key: a fragment that cannot appear by accident.
          const fragment = secret.split("\n").reduce((a, b) => (b.length > a.length ? b : a), "");
          assert.ok(!text.includes(fragment), `${r.name} leaks a secret`);
        }
      }
    }
  });

  it("never sends a command's previous output (a credential for some) back to a host", () => {
    for (const run of [dev, prod]) {
      const commands = ofType(run, REMOTE);
      assert.ok(commands.length >= 7);
      for (const r of commands) {
        assert.equal(r.inputs["addPreviousOutputInEnv"], false, r.name);
      }
    }
  });

  it("keeps the kubeconfig, the token and the encryption config secret in the outputs", () => {
    for (const key of ["kubeconfig", "k3sToken", "encryptionConfig"]) {
      assert.equal(prod.outputs[key]?.secret, true, key);
    }
    assert.equal(prod.outputs["k3sToken"]?.value, FAKE.generatedToken);
    assert.deepEqual(prod.outputs["nodeNames"]?.value, [
      "prod-cp-1",
      "prod-cp-2",
      "prod-cp-3",
      "prod-worker-1",
      "prod-worker-2",
    ]);
    assert.equal(prod.outputs["apiEndpoint"]?.value, "https://100.64.1.1:6443");
    assert.equal(prod.outputs["sopsGpgFingerprint"]?.secret, false);
    // Nothing secret in a plain output.
    const plainOutputs = JSON.stringify(Object.values(prod.outputs).filter((o) => !o.secret));
    for (const secret of secrets) {
      assert.ok(!plainOutputs.includes(secret));
    }
  });

  it("protects prod's data-bearing resources and leaves dev unprotected", () => {
    for (const [type, name] of [
      [REMOTE, "k3s-server-prod-cp-1"],
      ["kubernetes:core/v1:Namespace", "flux-namespace-namespace"],
      ["kubernetes:core/v1:Secret", "sops-secret"],
      [REMOTE, "edge-prod-edge-1-traefik"],
    ] as const) {
      assert.equal(named(prod, type, name).protect, true, name);
    }
    assert.equal(named(dev, REMOTE, "k3s-server-dev-cp-1").protect, false);
    assert.equal(named(dev, "kubernetes:core/v1:Secret", "sops-secret").protect, false);
  });

  it("points dev and prod at their own Flux paths and ACME CAs", () => {
    const path = (run: ProgramRun): unknown =>
      (plain(run.outputs["fluxSync"]?.value) as { path: string }).path;
    assert.equal(path(dev), "clusters/dev");
    assert.equal(path(prod), "clusters/prod");
    const staticConfig = (run: ProgramRun, host: string): string =>
      String(plain(named(run, REMOTE, `edge-${host}-traefik`).inputs["stdin"]));
    assert.match(staticConfig(dev, "dev-edge-1"), /caServer: "https:\/\/acme-staging-v02\./);
    assert.match(
      staticConfig(prod, "prod-edge-1"),
      /caServer: "https:\/\/acme-v02\.api\.letsencrypt\.org\/directory"/,
    );
  });

  it("is deterministic: a second run with the same config registers identical inputs", async () => {
    const again = await runProgram("dev", await withSecrets(stackFileConfig("Pulumi.dev.yaml")));
    const normalise = (run: ProgramRun): string[] =>
      run.resources.map((r) =>
        JSON.stringify({ urn: r.urn, inputs: r.inputs, deps: r.dependencies }).replace(/-id-\d+/g, "-id"),
      );
    assert.deepEqual(normalise(again), normalise(dev));
  });

  it("adopts an existing cluster without any SSH command for k3s", async () => {
    const raw = await withSecrets(stackFileConfig("Pulumi.dev.yaml"));
    raw["k3s"] = {};
    raw["edge"] = {};
    raw["existingKubeconfig"] =
      "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://100.64.0.10:6443'}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n";
    const run = await runProgram("dev", raw);
    assert.equal(run.error, undefined, run.error);
    assert.deepEqual(ofType(run, REMOTE), []);
    assert.deepEqual(ofType(run, LOCAL), []);
    assert.equal(run.resources.filter((r) => r.type.startsWith("mynodeone:k3s:")).length, 0);
    assert.ok(named(run, "kubernetes:core/v1:Secret", "sops-secret"));
    assert.equal(run.outputs["apiEndpoint"]?.value, "https://100.64.0.10:6443");
    assert.equal(run.outputs["k3sToken"], undefined);
  });

  it("fails before registering anything when the config is invalid", async () => {
    const raw = await withSecrets(stackFileConfig("Pulumi.dev.yaml"));
    raw["domain"] = "not a domain";
    const run = await runProgram("dev", raw);
    assert.match(run.error ?? "", /mynodeone:domain/);
    assert.deepEqual(run.resources, []);
  });
});
