// Figures for the cluster tier, printed (never asserted): build and start of the real Kubernetes API on
// loopback, then `up` and no-op `up` of the cluster layer through the engine stand-in
// (test/harness/cluster-standin.ts; the real engine cannot be built here, see docs/toolchain.md).
//
//   npm run figures:cluster
import * as fs from "node:fs";
import { testKeys } from "../test/fixtures";
import { ClusterStandIn, type UpResult } from "../test/harness/cluster-standin";
import { kubeTestEnv, startKubeEnv } from "../test/harness/kube-env";
import { runProgram } from "../test/harness/run";

async function timed<T>(label: string, work: () => T | Promise<T>): Promise<T> {
  const start = process.hrtime.bigint();
  const result = await work();
  console.log(`${label.padEnd(52)} ${(Number(process.hrtime.bigint() - start) / 1e9).toFixed(1)} s`);
  return result;
}

async function main(): Promise<void> {
  await timed("kube-test-env build (cold the first time, else warm)", () => kubeTestEnv("build"));
  const env = await timed("start etcd + kube-apiserver + controller-manager", () => startKubeEnv("figures"));
  try {
    const engine = new ClusterStandIn(env.kubectl);
    const config = {
      environment: "dev",
      domain: "dev.example.com",
      existingKubeconfig: fs.readFileSync(env.kubeconfigPath, "utf8"),
      flux: { gitUrl: "ssh://git@github.com/example/platform", install: false },
      sopsGpgPrivateKey: (await testKeys()).gpgPrivateKey,
    };
    const run = await timed("program run (mocked registration)", () => runProgram("dev", config));
    const first = await timed("first up (stand-in engine, real API)", () => engine.up(run));
    const again = await timed("no-op up: program run + stand-in engine", async () =>
      engine.up(await runProgram("dev", config)),
    );
    const count = (result: UpResult): number => result.objectWrites.length + result.registryWrites.length;
    console.log(`${"resources created by the first up".padEnd(52)} ${count(first)}`);
    console.log(`${"resources changed by the second up (must be 0)".padEnd(52)} ${count(again)}`);
  } finally {
    env.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
