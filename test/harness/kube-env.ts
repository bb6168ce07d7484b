// Drives test/envs/kube-test-env.sh (a real kube-apiserver, controller manager and etcd on 127.0.0.1) for the
// real-API tests and the figures script: build, start in a fresh directory, kubectl against it, stop.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { strict as assert } from "node:assert";
import { RUNTIME_REGISTRY_ENTRIES } from "../fixtures";

/** Runs test/envs/SCRIPT with ARGS; its progress goes to stderr, its stdout (trimmed) is returned. */
export function runTestEnv(script: string, ...args: string[]): string {
  return execFileSync("bash", [path.join(__dirname, "..", "envs", script), ...args], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  }).trim();
}

/** kube-test-env.sh ARGS (stdout: one path). */
export function kubeTestEnv(...args: string[]): string {
  return runTestEnv("kube-test-env.sh", ...args);
}

export interface KubeEnv {
  dir: string;
  /** Path of the admin kubeconfig (embedded certificates). */
  kubeconfigPath: string;
  kubectlBinary: string;
  /** kubectl against this API, stdout as text. */
  kubectl: (args: string[], input?: string) => string;
  /** Stops the control plane and removes its state (a no-op when it is not running). */
  stop: () => void;
}

/** Build (a no-op when up to date), then start a control plane in a new temp directory named after `name`. */
export function startKubeEnv(name: string): KubeEnv {
  kubeTestEnv("build");
  const kubectlBinary = path.join(kubeTestEnv("bin-dir"), "kubectl");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `mynodeone-${name}-`));
  const kubeconfigPath = kubeTestEnv("start", dir);
  return {
    dir,
    kubeconfigPath,
    kubectlBinary,
    kubectl: (args, input) =>
      execFileSync(kubectlBinary, [`--kubeconfig=${kubeconfigPath}`, "--request-timeout=30s", ...args], {
        input,
        encoding: "utf8",
        stdio: ["pipe", "pipe", "pipe"],
      }),
    stop: () => {
      if (fs.existsSync(path.join(dir, ".kube-test-env"))) {
        kubeTestEnv("stop", dir);
      }
    },
  };
}

/** kubectl against one API, stdout as text. */
export type Kubectl = (args: string[], input?: string) => string;

/** What the platform's runtime does: merge its entries into every registry (kubectl patch --type merge). */
export function writeRuntimeEntries(kubectl: Kubectl): void {
  for (const [name, entries] of Object.entries(RUNTIME_REGISTRY_ENTRIES)) {
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
}

/** Every entry `writeRuntimeEntries` wrote is still there, byte for byte. */
export function assertRuntimeEntriesIntact(kubectl: Kubectl, step: string): void {
  for (const [name, entries] of Object.entries(RUNTIME_REGISTRY_ENTRIES)) {
    const { data } = JSON.parse(kubectl(["-n", "kube-system", "get", "configmap", name, "-o", "json"])) as {
      data: Record<string, string>;
    };
    for (const [key, value] of Object.entries(entries)) {
      assert.equal(data[key], value, `${step}: ${name} ${key} changed`);
    }
  }
}
