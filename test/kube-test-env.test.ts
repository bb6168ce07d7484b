// The real-API test tier: a genuine kube-apiserver (with etcd and kube-controller-manager) on 127.0.0.1, built
// and run by test/envs/kube-test-env.sh. Opt-in with MYNODEONE_E2E=1, since the first run compiles Kubernetes from
// its Go modules (see docs/testing.md).
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { startKubeEnv, type KubeEnv } from "./harness/kube-env";

const ENABLED = process.env.MYNODEONE_E2E === "1";
const SKIP_REASON = "skipped: set MYNODEONE_E2E=1 to build and start a real kube-apiserver";
const NAMESPACE = "e2e-kube-test-env";

describe(`kube-test-env: a real Kubernetes API on loopback${ENABLED ? "" : ` (${SKIP_REASON})`}`, function () {
  let env: KubeEnv | undefined;

  /** kubectl with stdout as bytes (the tests compare exact bytes). */
  function kubectl(args: string[], input?: string): Buffer {
    assert.ok(env, "the API is not running");
    return execFileSync(
      env.kubectlBinary,
      [`--kubeconfig=${env.kubeconfigPath}`, "--request-timeout=30s", ...args],
      {
        input,
        stdio: ["pipe", "pipe", "pipe"],
      },
    );
  }

  function getJson(args: string[]): Record<string, unknown> {
    return JSON.parse(kubectl(["get", ...args, "-o", "json"]).toString("utf8")) as Record<string, unknown>;
  }

  before(function () {
    if (!ENABLED) {
      this.skip();
    }
    // A cold build compiles kube-apiserver, kube-controller-manager, kubectl and etcd (see docs/testing.md).
    this.timeout(90 * 60_000);
    env = startKubeEnv("kube");
  });

  after(function () {
    this.timeout(60_000);
    env?.stop();
  });

  it("serves the namespaces the API server creates itself", function () {
    const list = getJson(["namespaces", "default", "kube-system"]) as {
      items: { metadata: { name: string } }[];
    };
    assert.deepEqual(list.items.map((ns) => ns.metadata.name).sort(), ["default", "kube-system"]);
  });

  it("stores a ConfigMap created and merge-patched with kubectl, byte for byte", function () {
    kubectl(["create", "namespace", NAMESPACE]);
    const created = 'line one\n  indented\ttab "quoted" ünïcödé €\n\ntrailing space \n';
    const patched = `${created}patched: {"json": [1, 2]}\n`;
    const blob = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const manifest = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "registry", namespace: NAMESPACE },
      data: { config: created, untouched: "kept" },
      binaryData: { blob: blob.toString("base64") },
    };
    kubectl(["create", "-f", "-"], JSON.stringify(manifest));
    kubectl([
      "-n",
      NAMESPACE,
      "patch",
      "configmap",
      "registry",
      "--type",
      "merge",
      "-p",
      JSON.stringify({ data: { config: patched } }),
    ]);

    const raw = kubectl(["-n", NAMESPACE, "get", "configmap", "registry", "-o", "jsonpath={.data.config}"]);
    assert.deepEqual(raw, Buffer.from(patched, "utf8"));
    const stored = getJson(["-n", NAMESPACE, "configmap", "registry"]) as {
      data: Record<string, string>;
      binaryData: Record<string, string>;
    };
    assert.deepEqual(stored.data, { config: patched, untouched: "kept" });
    assert.deepEqual(Buffer.from(stored.binaryData.blob ?? "", "base64"), blob);
  });

  it("stores a Secret", function () {
    kubectl([
      "-n",
      NAMESPACE,
      "create",
      "secret",
      "generic",
      "sops-age",
      "--from-literal=age.agekey=AGE-SECRET-KEY-1TEST",
    ]);
    const secret = getJson(["-n", NAMESPACE, "secret", "sops-age"]) as {
      type: string;
      data: Record<string, string>;
    };
    assert.equal(secret.type, "Opaque");
    assert.equal(
      Buffer.from(secret.data["age.agekey"] ?? "", "base64").toString("utf8"),
      "AGE-SECRET-KEY-1TEST",
    );
  });

  it("finishes deleting a namespace and its contents (kube-controller-manager runs)", function () {
    this.timeout(120_000);
    kubectl(["delete", "namespace", NAMESPACE, "--wait=true", "--timeout=90s"]);
    assert.throws(() => kubectl(["get", "namespace", NAMESPACE]), /NotFound/);
  });
});
