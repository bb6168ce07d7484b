// The Pulumi CLI as the operation tools (backup-bundle.ts, status.ts) use it: `pulumi` from PATH (the npm
// scripts put the pinned CLI there), its stdout returned, its stderr in errors, never its stdout (secrets).
import { spawn } from "node:child_process";
import { parseJsonQuietly, type ConfigEntry, type StackSource, type StackValues } from "./backup-bundle";

/** Runs `pulumi` with `args`; resolves with stdout. Errors carry pulumi's stderr, never its stdout (secrets). */
export function runPulumi(args: readonly string[], stdin?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("pulumi", [...args], {
      stdio: [stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      env: { ...process.env, PULUMI_SKIP_UPDATE_CHECK: "true" },
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr?.on("data", (chunk: Buffer) => err.push(chunk));
    child.on("error", (e) => {
      reject(new Error(`cannot run pulumi (${e.message}); run through npm so node_modules/.bin is on PATH`));
    });
    child.on("close", (code) => {
      if (code === 0) {
        resolve(Buffer.concat(out).toString("utf8"));
      } else {
        const stderr = Buffer.concat(err).toString("utf8").trim().split("\n").slice(-5).join("\n");
        reject(new Error(`'pulumi ${args.slice(0, 3).join(" ")} ...' failed (exit ${code}): ${stderr}`));
      }
    });
    if (child.stdin !== null) {
      // A pulumi that exits without reading stdin fails through its exit status, not through EPIPE here.
      child.stdin.on("error", () => undefined);
      child.stdin.end(stdin);
    }
  });
}

/** The pulumi CLI for one stack: its values (secrets shown, in memory only) and its secret config. */
export class PulumiStack implements StackSource {
  constructor(
    private readonly stack: string,
    private readonly run: (args: readonly string[], stdin?: string) => Promise<string> = runPulumi,
    /** The stack's config file when it is not the project's `Pulumi.<stack>.yaml`. */
    private readonly configFile?: string,
  ) {}

  private get configArgs(): string[] {
    return [
      "--stack",
      this.stack,
      ...(this.configFile !== undefined ? ["--config-file", this.configFile] : []),
    ];
  }

  async values(): Promise<StackValues> {
    const outputs = parseJsonQuietly(
      await this.run(["stack", "output", "--json", "--show-secrets", "--stack", this.stack]),
      "the output of 'pulumi stack output --json'",
    ) as Record<string, unknown>;
    const config = parseJsonQuietly(
      await this.run(["config", "--json", "--show-secrets", ...this.configArgs]),
      "the output of 'pulumi config --json'",
    ) as Record<string, ConfigEntry>;
    return { stack: this.stack, outputs, config };
  }

  async pulumiVersion(): Promise<string> {
    return (await this.run(["version"])).trim();
  }

  async setSecretConfig(key: string, value: string): Promise<void> {
    // The value goes through stdin (never the command line); --raw keeps it byte for byte.
    await this.run(["config", "set", "--secret", "--raw", ...this.configArgs, key], value);
  }
}
