// Drives scripts/kube-test-env.sh (a real kube-apiserver, controller manager and etcd on 127.0.0.1) for the
// real-API tests and the figures script: build, start in a fresh directory, kubectl against it, stop.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const SCRIPT = path.join(__dirname, "..", "..", "scripts", "kube-test-env.sh");

/** Runs the script; its progress goes to stderr, its stdout (one path) is returned. */
export function kubeTestEnv(...args: string[]): string {
  return execFileSync("bash", [SCRIPT, ...args], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  }).trim();
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
