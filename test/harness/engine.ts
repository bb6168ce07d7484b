// The real Pulumi engine for the test tiers and figures: the Pulumi CLI built by scripts/pulumi-toolchain.sh runs
// the project's own Pulumi.yaml (project directory as the work dir, so the CLI's project and stack-config
// validation apply) with index.ts served in-process through the Automation API (an inline program: no Node.js
// language host needed, see docs/toolchain.md). Providers are the real plugins in $PULUMI_HOME/plugins; none is
// downloaded. Config goes in through the `pulumi config set` calls a user makes (secrets with --secret, from
// stdin) into a stack config file of the test's own (so the project directory stays as committed); state lives
// in a file backend in a temporary directory.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  LocalWorkspace,
  PulumiCommand,
  type EngineEvent,
  type OpType,
  type Stack,
} from "@pulumi/pulumi/automation";
import { lockedVersion, pinnedCliVersion, PROJECT_DIR } from "./project";

export { PROJECT_DIR } from "./project";

/** The engine tiers are opt-in: they build and start real binaries. */
export const ENGINE_E2E_ENABLED = process.env["MYNODEONE_E2E"] === "1";
export const ENGINE_E2E_SKIP_REASON =
  "skipped: set MYNODEONE_E2E=1 to run the real engine against a real kube-apiserver";

const PULUMI_HOME = process.env["PULUMI_HOME"] ?? path.join(os.homedir(), ".pulumi");
const PASSPHRASE = "engine-tier-throwaway-passphrase";

/** Directory of the pinned CLI, or an error naming the command that installs it. */
export function cliDir(): string {
  const dir = path.join(PULUMI_HOME, "versions", pinnedCliVersion(), "bin");
  if (!fs.existsSync(path.join(dir, "pulumi"))) {
    throw new Error(
      `no Pulumi CLI v${pinnedCliVersion()} in ${dir}: run 'bash scripts/pulumi-toolchain.sh --only cli,kubernetes'`,
    );
  }
  return dir;
}

/** Where the kubernetes provider plugin came from (BUILT-FROM, written by the toolchain script). */
export function kubernetesPluginSource(): string {
  const version = lockedVersion("@pulumi/kubernetes");
  const file = path.join(PULUMI_HOME, "plugins", `resource-kubernetes-v${version}`, "BUILT-FROM");
  return `resource-kubernetes-v${version} built from ${fs.existsSync(file) ? fs.readFileSync(file, "utf8").trim() : "(unknown)"}`;
}

/** One step the engine planned or ran, from its event stream. */
export interface EngineStep {
  op: OpType;
  urn: string;
  type: string;
}

export interface EngineRun {
  steps: EngineStep[];
  /** Count per op, as the engine's summary reports it (`same` included). */
  changes: Record<string, number>;
  /** Warning and error diagnostics the engine printed. */
  diagnostics: string[];
  outputs: Record<string, { value: unknown; secret: boolean }>;
}

/** Ops that change something (everything but `same` and reads). */
export function changingSteps(run: EngineRun): EngineStep[] {
  return run.steps.filter((s) => s.op !== "same" && s.op !== "read" && s.op !== "refresh");
}

/** The name part of a URN (`...::<name>`). */
export function urnName(urn: string): string {
  return urn.slice(urn.lastIndexOf("::") + 2);
}

export class EngineStack {
  readonly configFile: string;
  private constructor(
    readonly name: string,
    readonly dir: string,
    /** The environment the CLI runs with: backend, passphrase, PATH with the pinned CLI. */
    readonly environment: Record<string, string>,
    private readonly stack: Stack,
  ) {
    this.configFile = path.join(dir, `Pulumi.${name}.yaml`);
  }

  /** A new stack of the project, named `name`, in a fresh file backend. */
  static async create(name: string): Promise<EngineStack> {
    const bin = cliDir();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `mynodeone-engine-${name}-`));
    const backendDir = path.join(dir, "state");
    fs.mkdirSync(backendDir);
    const env: Record<string, string> = {
      PULUMI_HOME,
      PULUMI_BACKEND_URL: `file://${backendDir}`,
      PULUMI_CONFIG_PASSPHRASE: PASSPHRASE,
      PULUMI_SKIP_UPDATE_CHECK: "true",
      // Every plugin must already be installed: a test never downloads one.
      PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
      PATH: `${bin}:${process.env["PATH"] ?? ""}`,
    };
    // The CLI writes the passphrase salt into the project's Pulumi.<stack>.yaml (stack init, and at times later);
    // this stack's config lives in its own file (every command gets --config-file), so that file is removed
    // again, and a name whose file exists (someone's real stack) is refused.
    const projectStackFile = path.join(PROJECT_DIR, `Pulumi.${name}.yaml`);
    if (fs.existsSync(projectStackFile)) {
      throw new Error(`${projectStackFile} exists: choose another test stack name`);
    }
    const pulumiCommand = await PulumiCommand.get({ root: path.dirname(bin) });
    const stack = await LocalWorkspace.createOrSelectStack(
      { stackName: name, projectName: "mynodeone", program: programOfProject() },
      { workDir: PROJECT_DIR, envVars: env, pulumiCommand },
    );
    fs.rmSync(projectStackFile, { force: true });
    return new EngineStack(name, dir, env, stack);
  }

  /** The CLI, as a user runs it (cwd = the project), with this stack's backend and passphrase. */
  cli(args: string[], input?: string): string {
    return execFileSync(path.join(cliDir(), "pulumi"), args, {
      cwd: PROJECT_DIR,
      env: { ...process.env, ...this.environment },
      input,
      encoding: "utf8",
      stdio: ["pipe", "pipe", "pipe"],
      maxBuffer: 64 * 1024 * 1024,
    });
  }

  /** `pulumi config set [--secret] mynodeone:<key>`: a secret is read from stdin, as `... --secret < file`. */
  setConfig(key: string, value: string, options: { secret?: boolean } = {}): void {
    if (options.secret) {
      this.cli([...this.configArgs("set"), "--secret", `mynodeone:${key}`], value);
    } else {
      this.cli([...this.configArgs("set"), `mynodeone:${key}`, "--", value]);
    }
  }

  /** An object key as a user writes one, leaf by leaf with `pulumi config set --path`. */
  setConfigObject(key: string, value: Record<string, unknown>): void {
    this.cli([...this.configArgs("rm"), `mynodeone:${key}`]);
    for (const [leaf, leafValue] of configLeaves(value)) {
      this.cli([...this.configArgs("set"), "--path", `mynodeone:${key}${leaf}`, "--", String(leafValue)]);
    }
  }

  private configArgs(verb: "set" | "rm"): string[] {
    return ["config", verb, "--stack", this.name, "--config-file", this.configFile];
  }

  async preview(options: { refresh?: boolean } = {}): Promise<EngineRun> {
    const events = new EventLog();
    const result = await this.stack.preview({
      configFile: this.configFile,
      refresh: options.refresh ?? false,
      diff: true,
      onEvent: events.add,
    });
    return events.run(result.changeSummary, {});
  }

  /** `pulumi up`; `runProgram` with `refresh`: refresh through the program's providers, not the state's. */
  async up(options: { refresh?: boolean; runProgram?: boolean } = {}): Promise<EngineRun> {
    const events = new EventLog();
    const result = await this.stack
      .up({
        configFile: this.configFile,
        refresh: options.refresh ?? false,
        ...(options.runProgram !== undefined ? { runProgram: options.runProgram } : {}),
        diff: true,
        onEvent: events.add,
      })
      .catch((err: unknown) => {
        throw events.failed(err);
      });
    const outputs = Object.fromEntries(
      Object.entries(result.outputs).map(([k, v]) => [k, { value: v.value as unknown, secret: v.secret }]),
    );
    return events.run(result.summary.resourceChanges ?? {}, outputs);
  }

  async destroy(): Promise<EngineRun> {
    const events = new EventLog();
    const result = await this.stack.destroy({ configFile: this.configFile, onEvent: events.add });
    return events.run(result.summary.resourceChanges ?? {}, {});
  }

  /** The checkpoint (`pulumi stack export`) as text: what the state backend holds. */
  exportState(): string {
    return this.cli(["stack", "export", "--stack", this.name]);
  }

  /** Removes the stack from its backend (state included) and the temporary directory. */
  remove(): void {
    try {
      this.cli(["stack", "rm", "--stack", this.name, "--yes", "--force", "--preserve-config"]);
    } finally {
      fs.rmSync(this.dir, { recursive: true, force: true });
      fs.rmSync(path.join(PROJECT_DIR, `Pulumi.${this.name}.yaml`), { force: true });
    }
  }
}

/** `{a: {b: 1}, l: [x]}` -> `[".a.b", 1], ["l[0]", x]` (the paths `pulumi config set --path` takes). */
export function configLeaves(value: unknown, prefix = ""): [string, string | number | boolean][] {
  if (Array.isArray(value)) {
    return value.flatMap((item, i) => configLeaves(item, `${prefix}[${i}]`));
  }
  if (typeof value === "object" && value !== null) {
    return Object.entries(value).flatMap(([k, v]) => configLeaves(v, `${prefix}.${k}`));
  }
  if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
    return [[prefix, value]];
  }
  throw new Error(`config value at '${prefix}' is not a string, number, boolean, list or map`);
}

/** index.ts's default export, loaded once; each engine run calls it anew in a fresh runtime state. */
function programOfProject(): () => Promise<Record<string, unknown>> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- ts-node compiles index.ts on load
  return require(path.join(PROJECT_DIR, "index")) as () => Promise<Record<string, unknown>>;
}

class EventLog {
  private readonly steps: EngineStep[] = [];
  private readonly diagnostics: string[] = [];
  /** Info messages too, for the error of a failed run. */
  private readonly messages: string[] = [];

  readonly add = (event: EngineEvent): void => {
    const step = event.resourcePreEvent?.metadata;
    if (step) {
      this.steps.push({ op: step.op, urn: step.urn, type: step.type });
    }
    const diagnostic = event.diagnosticEvent;
    if (diagnostic) {
      const line = `${diagnostic.severity}: ${diagnostic.message.trim()}`;
      this.messages.push(line);
      if (diagnostic.severity === "warning" || diagnostic.severity === "error") {
        this.diagnostics.push(line);
      }
    }
  };

  /** The CLI's error of a failed run, followed by every diagnostic the engine reported (info included). */
  failed(err: unknown): Error {
    const message = err instanceof Error ? err.message : String(err);
    return new Error(`${message}\n--- engine diagnostics:\n${this.messages.join("\n")}`);
  }

  run(changes: Record<string, number>, outputs: EngineRun["outputs"]): EngineRun {
    return { steps: this.steps, changes, diagnostics: this.diagnostics, outputs };
  }
}
