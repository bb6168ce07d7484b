// Figures for the edge hosts: wall time of an "up" (the whole program under mocks, then the engine stand-in
// running the edge commands over SSH) on 1 fresh host and on N fresh hosts at once, and of a no-op "up".
// Real hosts from test/envs/edge-test-env.sh (root needed); see docs/testing.md "Edge hosts end-to-end".
//
// Usage: node -r ts-node/register/transpile-only test/figures/edge-figures.ts [N]   (N >= 2, default 3)
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { plan, up, type StackState } from "../e2e/engine-standin";
import { edgeCommands, envScript, loadEnv, stackConfig, type EdgeEnv } from "../e2e/edge-env";

interface Timed {
  programMs: number;
  commandsMs: number;
  steps: number;
}

async function timedUp(env: EdgeEnv, hosts: EdgeEnv["hosts"], state: StackState) {
  const programStart = Date.now();
  const desired = await edgeCommands(await stackConfig(env, { hosts }));
  const programMs = Date.now() - programStart;
  const deployment = await up(desired, state);
  if (deployment.error !== undefined) throw new Error(deployment.error);
  const figures: Timed = { programMs, commandsMs: deployment.ms, steps: deployment.steps.length };
  return { figures, state: deployment.state, planned: plan(desired, deployment.state).length };
}

async function withFreshHosts<T>(n: number, log: string[], body: (env: EdgeEnv) => Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edge-figures-"));
  await envScript(["start", dir, String(n)], (line) => log.push(line));
  try {
    return await body(loadEnv(dir));
  } finally {
    await envScript(["stop", dir], () => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? "3");
  if (!Number.isInteger(n) || n < 2) throw new Error("usage: edge-figures.ts [N>=2]");
  const log: string[] = [];
  await envScript(["build"], (line) => log.push(line));

  const one = await withFreshHosts(n, log, async (env) => {
    const host = env.hosts.slice(0, 1);
    return (await timedUp(env, host, { resources: [] })).figures;
  });
  const { all, noop } = await withFreshHosts(n, log, async (env) => {
    const first = await timedUp(env, env.hosts, { resources: [] });
    const second = await timedUp(env, env.hosts, first.state);
    if (second.figures.steps !== 0) throw new Error(`the no-op up ran ${String(second.figures.steps)} steps`);
    return { all: first.figures, noop: second.figures };
  });

  const row = (label: string, t: Timed): string =>
    `| ${label} | ${(t.programMs / 1000).toFixed(1)} s | ${(t.commandsMs / 1000).toFixed(1)} s | ${String(t.steps)} |`;
  console.log("environment:");
  for (const line of log.filter((l) => /: [0-9]+s/.test(l))) console.log(`  ${line}`);
  console.log(`\nup on fresh hosts (${os.cpus().length.toString()} CPUs):\n`);
  console.log("| run | program under mocks | remote commands (stand-in) | commands run |");
  console.log("| --- | --- | --- | --- |");
  console.log(row("1 host", one));
  console.log(row(`${String(n)} hosts`, all));
  console.log(row(`no-op, ${String(n)} hosts`, noop));
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
