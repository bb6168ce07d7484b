// The cluster layer through the real Pulumi engine (test/harness/engine.ts: the pinned CLI, the real kubernetes
// provider plugin, the dynamic-provider host) against a genuine kube-apiserver on 127.0.0.1
// (test/envs/kube-test-env.sh), in the existing-cluster mode (`mynodeone:existingKubeconfig`) with a given Git
// deploy key and `flux.install: false` (the Flux Operator chart and images cannot be fetched here, and the
// command and tls providers cannot be built: docs/testing.md says which check runs on which engine).
// Config is set with `pulumi config set`, secrets with --secret from stdin, as a user does. The test then acts
// like the platform's runtime (kubectl patch --type merge) and checks, with the exact bytes read back from the
// API, that every re-run, a config change, a new stack and destroy leave the entries intact.
// Opt-in: MYNODEONE_E2E=1.
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as YAML from "yaml";
import { EMPTY_REGISTRIES } from "../../components/registries";
import { testKeys, type TestKeys } from "../fixtures";
import { kubeconfigServer } from "../harness/certs";
import {
  changingSteps,
  ENGINE_E2E_ENABLED,
  ENGINE_E2E_SKIP_REASON,
  EngineStack,
  kubernetesPluginSource,
  PROJECT_DIR,
  urnName,
  type EngineRun,
} from "../harness/engine";
import {
  assertRuntimeEntriesIntact as assertEntriesIntact,
  startKubeEnv,
  writeRuntimeEntries,
  type KubeEnv,
} from "../harness/kube-env";

const REGISTRY_NAMES = Object.keys(EMPTY_REGISTRIES);
const FLUX = { gitUrl: "ssh://git@github.com/example/platform", install: false };

/** What `pulumi config set --secret KEY < file` reads: the file's bytes (the CLI drops the final newline). */
function keyFile(text: string): string {
  return text.endsWith("\n") ? text : `${text}\n`;
}

describe(`cluster layer through the real engine${ENGINE_E2E_ENABLED ? "" : ` (${ENGINE_E2E_SKIP_REASON})`}`, function () {
  this.timeout(300_000);
  let env: KubeEnv | undefined;
  let keys: TestKeys;
  let kubeconfig: string;
  const stacks: EngineStack[] = [];

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
  const exists = (namespace: string, kind: string, name: string): boolean =>
    kubectl(["-n", namespace, "get", kind, name, "--ignore-not-found", "-o", "name"]) !== "";

  const assertRuntimeEntriesIntact = (step: string): void => {
    assertEntriesIntact(kubectl, step);
  };

  /** A new stack in existing-cluster mode, configured the way README "Secrets" and "Configuration" say. */
  async function newStack(
    name: string,
    extra: Record<string, Record<string, unknown>> = {},
  ): Promise<EngineStack> {
    const stack = await EngineStack.create(name);
    stacks.push(stack);
    stack.setConfig("environment", "dev");
    stack.setConfig("domain", "dev.example.com");
    stack.setConfigObject("flux", FLUX);
    for (const [key, value] of Object.entries(extra)) {
      stack.setConfigObject(key, value);
    }
    stack.setConfig("existingKubeconfig", kubeconfig, { secret: true });
    stack.setConfig("fluxGitPrivateKey", keyFile(keys.sshPrivateKey), { secret: true });
    stack.setConfig("sopsGpgPrivateKey", keyFile(keys.gpgPrivateKey), { secret: true });
    return stack;
  }

  const opsOf = (run: EngineRun): string[] =>
    changingSteps(run).map((s) => `${s.op} ${s.type} ${urnName(s.urn)}`);

  before(async function () {
    if (!ENGINE_E2E_ENABLED) {
      this.skip();
    }
    this.timeout(90 * 60_000);
    console.log(`      engine: ${kubernetesPluginSource()}`);
    env = startKubeEnv("engine-cluster");
    kubeconfig = fs.readFileSync(env.kubeconfigPath, "utf8");
    keys = await testKeys();
  });

  after(function () {
    this.timeout(120_000);
    for (const stack of stacks) {
      stack.remove();
    }
    env?.stop();
  });

  let main: EngineStack;

  it("first up: creates the namespace, the secrets, cluster-info and the byte-exact empty registries", async () => {
    main = await newStack("cluster-dev");
    const first = await main.up();
    assert.deepEqual(first.diagnostics, [], "the engine printed no warning");
    // flux.install false: no operator, no FluxInstance and no Git credentials (Flux is someone else's).
    assert.deepEqual(
      changingSteps(first)
        .filter((s) => s.type.startsWith("kubernetes:"))
        .map((s) => `${s.op} ${s.type} ${urnName(s.urn)}`)
        .sort(),
      [
        "create kubernetes:core/v1:ConfigMap registries-cluster-info",
        "create kubernetes:core/v1:Namespace flux-namespace-namespace",
        "create kubernetes:core/v1:Secret sops-secret",
      ],
    );
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
    // The adopted API's own URL, port included (not k3s's 6443).
    assert.equal(first.outputs["apiEndpoint"]?.value, kubeconfigServer(kubeconfig));
    assert.equal(first.outputs["kubeconfig"]?.secret, true);
    assert.ok(!("sopsAgeRecipient" in first.outputs), "no age recipient without an age key");
  });

  it("(e) stores the SOPS key in sops-gpg as the key file's bytes, though the CLI dropped the final newline", () => {
    const stored = JSON.parse(
      main.cli([
        "config",
        "--stack",
        main.name,
        "--config-file",
        main.configFile,
        "--show-secrets",
        "--json",
      ]),
    ) as Record<string, { value: string }>;
    const viaCli = stored["mynodeone:sopsGpgPrivateKey"]?.value ?? "";
    assert.ok(!viaCli.endsWith("\n"), "pulumi config set --secret < file keeps no final newline");
    const secret = JSON.parse(kubectl(["-n", "flux-system", "get", "secret", "sops-gpg", "-o", "json"])) as {
      data: Record<string, string>;
    };
    assert.deepEqual(Object.keys(secret.data), ["sops.asc"]);
    assert.equal(
      Buffer.from(secret.data["sops.asc"] ?? "", "base64").toString("utf8"),
      keyFile(keys.gpgPrivateKey),
    );
  });

  it("keeps the kubeconfig's client key, the deploy key and the GPG key out of the state in plain text", () => {
    const state = main.exportState();
    const clientKey = (YAML.parse(kubeconfig) as { users: { user: { "client-key-data": string } }[] })
      .users[0]?.user["client-key-data"];
    assert.ok(clientKey && clientKey.length > 20);
    // The longest line of the armored key: key material, not armor headers.
    const armoredBody = keys.gpgPrivateKey.split("\n").reduce((a, b) => (b.length > a.length ? b : a), "");
    const deployKeyBody = keys.sshPrivateKey.split("\n")[1] ?? "";
    for (const [what, secret] of [
      ["client key", clientKey],
      ["client key (decoded)", Buffer.from(clientKey, "base64").toString("utf8").split("\n")[1] ?? ""],
      ["GPG key", armoredBody],
      [
        "GPG key (base64 of the file)",
        Buffer.from(keyFile(keys.gpgPrivateKey)).toString("base64").slice(0, 60),
      ],
      ["deploy key", deployKeyBody],
    ] as const) {
      assert.ok(secret.length > 20, what);
      assert.ok(!state.includes(secret), `the state holds the ${what} in plain text`);
    }
  });

  it("(a) after the runtime wrote entries, preview (with and without --refresh) and up change nothing", async () => {
    writeRuntimeEntries(kubectl);
    const versions = REGISTRY_NAMES.map(resourceVersion);
    for (const refresh of [false, true]) {
      const preview = await main.preview({ refresh });
      assert.deepEqual(opsOf(preview), [], `preview --diff${refresh ? " --refresh" : ""} plans no change`);
    }
    const second = await main.up();
    assert.deepEqual(opsOf(second), [], "a second up changes nothing");
    assert.deepEqual(Object.keys(second.changes), ["same"]);
    assertRuntimeEntriesIntact("second up");
    assert.deepEqual(REGISTRY_NAMES.map(resourceVersion), versions, "no write reached a registry");
  });

  it("the CI preview (scripts/preview-ci.sh: real CLI --json, the guard) passes the up-to-date stack", () => {
    // The CLI here has no Node.js language host: the script serves the program itself (scripts/lib/inline-host.ts).
    const output = execFileSync(
      "bash",
      ["scripts/preview-ci.sh", "--stack", main.name, "--", "--config-file", main.configFile],
      { cwd: PROJECT_DIR, env: { ...process.env, ...main.environment }, encoding: "utf8" },
    );
    assert.match(output, /preview of stack 'cluster-dev' passed the guard/);
    assert.match(output, /no resource holding data is deleted or replaced/);
  });

  it("(b) an unrelated config change updates cluster-info only and keeps the registries", async () => {
    main.setConfig("domain", "changed.example.com");
    main.setConfig("repoPath", "/srv/mynodeone");
    const versions = REGISTRY_NAMES.map(resourceVersion);
    const run = await main.up();
    // The dynamic providers' default provider is given the stack's config (so that a dynamic provider can read
    // it): a config change updates it too, in the engine's state only.
    assert.deepEqual(opsOf(run), [
      "update pulumi:providers:pulumi-nodejs default",
      "update kubernetes:core/v1:ConfigMap registries-cluster-info",
    ]);
    assertRuntimeEntriesIntact("config change");
    assert.deepEqual(REGISTRY_NAMES.map(resourceVersion), versions);
    assert.equal(configMapData("cluster-info")["cluster-domain"], "changed.example.com");
    assert.equal(configMapData("cluster-info")["repo-path"], "/srv/mynodeone");
  });

  let rebuilt: EngineStack;

  it("(c) a brand-new stack (lost state) against the same cluster succeeds and adopts the registries", async () => {
    const versions = REGISTRY_NAMES.map(resourceVersion);
    rebuilt = await newStack("cluster-rebuilt");
    const run = await rebuilt.up();
    assert.deepEqual(run.diagnostics, []);
    const origins = run.outputs["registryOrigins"]?.value as Record<string, string>;
    for (const name of REGISTRY_NAMES) {
      assert.equal(origins[name], "adopted", name);
    }
    assertRuntimeEntriesIntact("new stack");
    assert.deepEqual(REGISTRY_NAMES.map(resourceVersion), versions);
  });

  it("(d) destroy keeps the registries unless opted in; the stack's own objects go", async () => {
    await rebuilt.destroy();
    assertRuntimeEntriesIntact("destroy");
    assert.ok(!exists("kube-system", "configmap", "cluster-info"), "cluster-info is the stack's own");
    // Flux is not this stack's (flux.install false): its namespace and keys stay for whoever runs it.
    assert.ok(exists("flux-system", "secret", "sops-gpg"));

    // With the opt-in, applied with an `up` first (as the docs say), destroy deletes them.
    rebuilt.setConfigObject("registries", { deleteOnDestroy: true });
    await rebuilt.up();
    await rebuilt.destroy();
    for (const name of REGISTRY_NAMES) {
      assert.ok(!exists("kube-system", "configmap", name), `${name} deleted with the opt-in`);
    }
  });

  it("flux.installOperator false on a cluster without the operator: the up fails at the FluxInstance, naming the CRD", async () => {
    const present = await newStack("cluster-operator-present");
    present.setConfigObject("flux", { ...FLUX, install: true, installOperator: false });
    const failure = await present.up().then(
      () => "",
      (err: unknown) => (err instanceof Error ? err.message : String(err)),
    );
    assert.match(
      failure,
      /apiVersion for this resource does not exist\. Verify that any required CRDs have been created/,
    );
    assert.match(failure, /no matches for kind "FluxInstance"/);
    // The Git credentials came first, so a later operator install finds them.
    assert.ok(exists("flux-system", "secret", "flux-system"));
    assert.ok(!exists("flux-system", "deployment", "flux-operator"), "no operator was installed");
  });
});
