// Figures for the cluster tier through the real engine, printed (never asserted): the toolchain build, the
// real Kubernetes API on loopback, then a preview, the first `up`, a no-op `up` of the cluster layer
// (existing-cluster mode, test/harness/engine.ts), and how a preview's wall time splits.
//
//   npm run figures:cluster
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { testKeys } from "../fixtures";
import { changingSteps, cliDir, EngineStack, kubernetesPluginSource, PROJECT_DIR } from "../harness/engine";
import { kubeTestEnv, startKubeEnv } from "../harness/kube-env";

function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function line(label: string, value: string): void {
  console.log(`${label.padEnd(60)} ${value}`);
}

async function timed<T>(label: string, work: () => T | Promise<T>): Promise<T> {
  const start = process.hrtime.bigint();
  const result = await work();
  line(label, `${seconds(start).toFixed(1)} s`);
  return result;
}

/** Median of `runs` timings of `work` (seconds). */
async function median(runs: number, work: () => void | Promise<void>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    await work();
    times.push(seconds(start));
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] ?? 0;
}

/** Time from starting a provider plugin until it prints its gRPC port (its start-up). */
function providerStartup(binary: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(binary, [], { stdio: ["ignore", "pipe", "ignore"] });
    child.stdout.once("data", () => {
      resolve(seconds(start));
      child.kill();
    });
    child.on("error", reject);
  });
}

async function main(): Promise<void> {
  console.log(`engine: Pulumi CLI in ${cliDir()}; ${kubernetesPluginSource()}`);
  await timed("toolchain (cold the first time, else the no-op)", () =>
    execFileSync("bash", ["scripts/pulumi-toolchain.sh", "--only", "cli,kubernetes"], {
      cwd: PROJECT_DIR,
      stdio: ["ignore", "ignore", "inherit"],
    }),
  );
  await timed("kube-test-env build (cold the first time, else warm)", () => kubeTestEnv("build"));
  const env = await timed("start etcd + kube-apiserver + controller-manager", () => startKubeEnv("figures"));
  const stack = await EngineStack.create("figures");
  try {
    const keys = await testKeys();
    stack.setConfig("environment", "dev");
    stack.setConfig("domain", "dev.example.com");
    stack.setConfigObject("flux", { gitUrl: "ssh://git@github.com/example/platform", install: false });
    stack.setConfig("existingKubeconfig", fs.readFileSync(env.kubeconfigPath, "utf8"), { secret: true });
    stack.setConfig("fluxGitPrivateKey", keys.sshPrivateKey, { secret: true });
    stack.setConfig("sopsGpgPrivateKey", keys.gpgPrivateKey, { secret: true });

    const preview = await timed("preview of a new stack (real engine, real API)", () => stack.preview());
    const first = await timed("first up", () => stack.up());
    const again = await timed("no-op up", () => stack.up());
    line("resources created by the first up", String(changingSteps(first).length));
    line("resources changed by the second up (must be 0)", String(changingSteps(again).length));
    line("steps planned by the preview", String(changingSteps(preview).length));

    // Where a preview's time goes (medians of 3; each part measured on its own, so they need not add up).
    const total = await median(3, async () => {
      await stack.preview();
    });
    const pulumi = path.join(cliDir(), "pulumi");
    const cliStart = await median(3, () => {
      execFileSync(pulumi, ["version"], { env: { ...process.env, PULUMI_SKIP_UPDATE_CHECK: "true" } });
    });
    const compile = await median(3, () => {
      // A fresh process: ts-node compiling index.ts and everything it imports, plus loading the SDKs.
      execFileSync(process.execPath, ["-r", "ts-node/register/transpile-only", "-e", 'require("./index")'], {
        cwd: PROJECT_DIR,
      });
    });
    const nodeStart = await median(3, () => {
      execFileSync(process.execPath, ["-e", ""]);
    });
    const plugins = path.join(process.env["PULUMI_HOME"] ?? path.join(os.homedir(), ".pulumi"), "plugins");
    const k8sPlugin = fs
      .readdirSync(plugins)
      .filter((d) => d.startsWith("resource-kubernetes-v") && !d.endsWith(".partial"))
      .map((d) => path.join(plugins, d, "pulumi-resource-kubernetes"))[0];
    const providerStart = k8sPlugin
      ? await median(3, async () => {
          await providerStartup(k8sPlugin);
        })
      : NaN;
    line("preview of the up-to-date stack (median of 3)", `${total.toFixed(2)} s`);
    line("  CLI start-up (`pulumi version`)", `${cliStart.toFixed(2)} s`);
    line(
      "  TypeScript compilation + module load (fresh node, minus node start)",
      `${(compile - nodeStart).toFixed(2)} s`,
    );
    line("  kubernetes provider start-up (until it serves)", `${providerStart.toFixed(2)} s`);
    line(
      "  the rest: program evaluation, engine steps, provider calls",
      `${(total - cliStart - providerStart).toFixed(2)} s`,
    );
  } finally {
    stack.remove();
    env.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
