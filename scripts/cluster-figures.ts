// Figures for the cluster tier, printed (never asserted): build and start of the real Kubernetes API on
// loopback, then `up` and no-op `up` of the cluster layer through the engine stand-in
// (test/harness/cluster-standin.ts; the real engine cannot be built here, see docs/toolchain.md).
//
//   npm run figures:cluster
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { testKeys } from "../test/fixtures";
import { ClusterStandIn } from "../test/harness/cluster-standin";
import { runProgram } from "../test/harness/run";

const SCRIPT = path.join(__dirname, "kube-test-env.sh");
const testEnv = (...args: string[]): string =>
  execFileSync("bash", [SCRIPT, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();

async function timed<T>(label: string, work: () => T | Promise<T>): Promise<T> {
  const start = process.hrtime.bigint();
  const result = await work();
  console.log(`${label.padEnd(52)} ${(Number(process.hrtime.bigint() - start) / 1e9).toFixed(1)} s`);
  return result;
}

async function main(): Promise<void> {
  await timed("kube-test-env build (cold the first time, else warm)", () => testEnv("build"));
  const kubectlBinary = path.join(testEnv("bin-dir"), "kubectl");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mynodeone-figures-"));
  try {
    const kubeconfig = await timed("start etcd + kube-apiserver + controller-manager", () =>
      testEnv("start", dir),
    );
    const kubectl = (args: string[], input?: string): string =>
      execFileSync(kubectlBinary, [`--kubeconfig=${kubeconfig}`, ...args], { input, encoding: "utf8" });
    const engine = new ClusterStandIn(kubectl);
    const config = {
      environment: "dev",
      domain: "dev.example.com",
      existingKubeconfig: fs.readFileSync(kubeconfig, "utf8"),
      flux: { gitUrl: "ssh://git@github.com/example/platform", install: false },
      sopsGpgPrivateKey: (await testKeys()).gpgPrivateKey,
    };
    const run = await timed("program run (mocked registration)", () => runProgram("dev", config));
    const first = await timed("first up (stand-in engine, real API)", () => engine.up(run));
    const again = await timed("no-op up: program run + stand-in engine", async () =>
      engine.up(await runProgram("dev", config)),
    );
    console.log(
      `${"resources created by the first up".padEnd(52)} ${first.objectWrites.length + first.registryWrites.length}`,
    );
    console.log(
      `${"resources changed by the second up (must be 0)".padEnd(52)} ${again.objectWrites.length + again.registryWrites.length}`,
    );
  } finally {
    testEnv("stop", dir);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
