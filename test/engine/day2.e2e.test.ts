// Day-2 changes of the cluster credential through the real engine (test/harness/engine.ts) against a real
// kube-apiserver, in a prod stack (protect on) in existing-cluster mode: a rotated client certificate, another
// name for the same API, a reordered CA bundle and a changed SSH secret must each be an in-place update of the
// Kubernetes provider, never a replacement of the cluster's objects; an expired client certificate is reported
// before any resource is touched, and a fresh one brings the stack back. Opt-in: MYNODEONE_E2E=1.
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { testKeys, type TestKeys } from "../fixtures";
import {
  editKubeconfig,
  issueClientCert,
  kubeconfigCa,
  kubeconfigServer,
  otherCaCert,
} from "../harness/certs";
import {
  changingSteps,
  ENGINE_E2E_ENABLED,
  ENGINE_E2E_SKIP_REASON,
  EngineStack,
  urnName,
  type EngineRun,
} from "../harness/engine";
import {
  assertRuntimeEntriesIntact,
  startKubeEnv,
  writeRuntimeEntries,
  type KubeEnv,
} from "../harness/kube-env";

const REPLACING_OPS = new Set(["replace", "create-replacement", "delete-replaced", "delete", "create"]);

/** The cluster objects whose identity (uid) must survive every credential change. */
const OBJECTS: [namespace: string, kind: string, name: string][] = [
  ["", "namespace", "flux-system"],
  ["flux-system", "secret", "sops-gpg"],
  ["kube-system", "configmap", "cluster-info"],
  ["kube-system", "configmap", "service-registry"],
  ["kube-system", "configmap", "domain-registry"],
  ["kube-system", "configmap", "sync-controller-registry"],
];

describe(`day-2 credential changes through the real engine${ENGINE_E2E_ENABLED ? "" : ` (${ENGINE_E2E_SKIP_REASON})`}`, function () {
  this.timeout(300_000);
  let env: KubeEnv | undefined;
  let keys: TestKeys;
  let stack: EngineStack;
  /** Stacks to remove afterwards (none when the suite is skipped). */
  const created: EngineStack[] = [];
  let pki: string;
  let kubeconfig: string;
  let uids: string[];

  const kubectl = (args: string[]): string => {
    assert.ok(env, "the API is not running");
    return env.kubectl(args);
  };
  const uidOf = ([namespace, kind, name]: (typeof OBJECTS)[number]): string =>
    kubectl([...(namespace ? ["-n", namespace] : []), "get", kind, name, "-o", "jsonpath={.metadata.uid}"]);

  function assertNoReplacement(run: EngineRun, step: string): void {
    const replacing = changingSteps(run).filter((s) => REPLACING_OPS.has(s.op));
    assert.deepEqual(
      replacing.map((s) => `${s.op} ${s.type} ${urnName(s.urn)}`),
      [],
      `${step}: nothing is created, replaced or deleted`,
    );
  }

  function assertClusterIntact(step: string): void {
    assert.deepEqual(OBJECTS.map(uidOf), uids, `${step}: every object is the one the first up created`);
    assertRuntimeEntriesIntact(kubectl, step);
  }

  /** Sets a new kubeconfig, then preview and up: both plan no replacement, and the cluster is untouched. */
  async function changeKubeconfig(step: string, next: string): Promise<EngineRun> {
    kubeconfig = next;
    stack.setConfig("existingKubeconfig", next, { secret: true });
    const preview = await stack.preview();
    assertNoReplacement(preview, `${step} (preview)`);
    const up = await stack.up();
    assertNoReplacement(up, `${step} (up)`);
    assertClusterIntact(step);
    return up;
  }

  before(async function () {
    if (!ENGINE_E2E_ENABLED) {
      this.skip();
    }
    this.timeout(30 * 60_000);
    env = startKubeEnv("engine-day2");
    pki = path.join(env.dir, "pki");
    keys = await testKeys();
    // A CA bundle of two certificates from the start, so that reordering it is a change of its own.
    const bundle = `${kubeconfigCa(fs.readFileSync(env.kubeconfigPath, "utf8"))}${otherCaCert()}`;
    kubeconfig = editKubeconfig(fs.readFileSync(env.kubeconfigPath, "utf8"), { caPem: bundle });
    stack = await EngineStack.create("day2-prod");
    created.push(stack);
    stack.setConfig("environment", "prod");
    stack.setConfig("protect", "true");
    stack.setConfig("domain", "example.com");
    stack.setConfigObject("flux", { gitUrl: "ssh://git@github.com/example/platform", install: false });
    stack.setConfig("existingKubeconfig", kubeconfig, { secret: true });
    stack.setConfig("fluxGitPrivateKey", keys.sshPrivateKey, { secret: true });
    stack.setConfig("sopsGpgPrivateKey", keys.gpgPrivateKey, { secret: true });
    await stack.up();
    writeRuntimeEntries(kubectl);
    uids = OBJECTS.map(uidOf);
  });

  let rebuiltEnv: KubeEnv | undefined;

  after(function () {
    this.timeout(120_000);
    rebuiltEnv?.stop();
    created.forEach((s) => {
      s.remove();
    });
    env?.stop();
  });

  it("a rotated client certificate (new key, issued by the cluster CA) is an in-place provider update", async () => {
    const credential = issueClientCert(pki, "mynodeone-test-admin-2", { group: "system:masters" });
    await changeKubeconfig("new client certificate", editKubeconfig(kubeconfig, { credential }));
  });

  it("another name for the same API server is an in-place provider update", async () => {
    const server = kubeconfigServer(kubeconfig);
    assert.match(server, /^https:\/\/127\.0\.0\.1:\d+$/);
    await changeKubeconfig(
      "server renamed",
      editKubeconfig(kubeconfig, { server: server.replace("127.0.0.1", "localhost") }),
    );
  });

  it("a reordered CA bundle is an in-place provider update", async () => {
    const [first, second] = kubeconfigCa(kubeconfig).split(/(?<=-----END CERTIFICATE-----\n)/);
    assert.ok(first && second);
    await changeKubeconfig("CA bundle reordered", editKubeconfig(kubeconfig, { caPem: `${second}${first}` }));
  });

  it("a changed secret SSH setting touches nothing in the cluster", async () => {
    stack.setConfig("sshPrivateKey", (await testKeys()).sshPrivateKey, { secret: true });
    const preview = await stack.preview();
    assertNoReplacement(preview, "ssh key (preview)");
    assert.deepEqual(
      changingSteps(preview).filter((s) => s.type.startsWith("kubernetes:")),
      [],
    );
    assertNoReplacement(await stack.up(), "ssh key (up)");
    assertClusterIntact("ssh key");
  });

  it("an expired client certificate is reported at program start; a fresh one brings the stack back", async () => {
    const expiresAt = new Date(Date.now() + 20_000);
    const shortLived = issueClientCert(pki, "mynodeone-test-admin-short", {
      group: "system:masters",
      notAfter: expiresAt,
    });
    const warned = await changeKubeconfig(
      "short-lived certificate",
      editKubeconfig(kubeconfig, { credential: shortLived }),
    );
    // Valid, but inside the 30 days: the engine prints the program's warning, with the fix.
    assert.ok(
      warned.diagnostics.some((d) =>
        /mynodeone:existingKubeconfig: its client certificate \(CN=mynodeone-test-admin-short\) expires at .*Before then: pulumi config set --secret/.test(
          d,
        ),
      ),
      warned.diagnostics.join("\n"),
    );
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(0, expiresAt.getTime() - Date.now()) + 2_000),
    );

    let failure = "";
    try {
      await stack.preview();
    } catch (err) {
      failure = err instanceof Error ? err.message : String(err);
    }
    assert.match(
      failure,
      /mynodeone:existingKubeconfig: its client certificate \(CN=mynodeone-test-admin-short\) expired/,
    );
    assert.match(failure, /pulumi config set --secret 'mynodeone:existingKubeconfig'/);

    const fresh = issueClientCert(pki, "mynodeone-test-admin-3", { group: "system:masters" });
    await changeKubeconfig(
      "fresh certificate after expiry",
      editKubeconfig(kubeconfig, { credential: fresh }),
    );
  });

  it("a rebuild onto a new cluster at a new address: up --refresh --run-program recreates everything there", async () => {
    assert.ok(env);
    const next = startKubeEnv("engine-day2-rebuilt");
    rebuiltEnv = next;
    // The disaster: the old cluster is gone (its address no longer answers).
    env.stop();
    stack.setConfig("existingKubeconfig", fs.readFileSync(next.kubeconfigPath, "utf8"), { secret: true });
    const run = await stack.up({ refresh: true, runProgram: true });
    // The refresh (through the new kubeconfig) finds the objects gone; the up creates them there. Nothing is
    // replaced, and nothing deleted through the dead old address.
    assert.deepEqual(
      changingSteps(run)
        .filter((s) => s.op !== "update")
        .map((s) => `${s.op} ${urnName(s.urn)}`)
        .sort(),
      ["create flux-namespace-namespace", "create registries-cluster-info", "create sops-secret"],
    );
    const inNew = (namespace: string, kind: string, name: string): string =>
      next.kubectl([...(namespace ? ["-n", namespace] : []), "get", kind, name, "-o", "name"]).trim();
    for (const object of OBJECTS) {
      assert.notEqual(inNew(...object), "", `${object.join("/")} exists in the new cluster`);
    }
    const services = JSON.parse(
      next.kubectl(["-n", "kube-system", "get", "configmap", "service-registry", "-o", "json"]),
    ) as {
      data: Record<string, string>;
    };
    assert.deepEqual(
      services.data,
      { "services.json": "{}" },
      "a new, empty registry for the runtime to fill",
    );
    const again = await stack.up();
    assert.deepEqual(changingSteps(again), [], "and the next up is a no-op again");
  });
});
