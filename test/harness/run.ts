// Parent side of program.ts: run the whole program with a raw config in a child process.
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import type { RawConfig } from "../../components/config";
import type { RecordedResource } from "../mocks";

export interface ProgramRun {
  /** The program's ConfigError/other error message, when it failed. */
  error?: string;
  outputs: Record<string, { value: unknown; secret: boolean }>;
  resources: RecordedResource[];
}

const run = promisify(execFile);

/** Config as the engine passes it: `PULUMI_CONFIG` JSON with `<project>:<key>` keys and string values. */
export function pulumiConfigEnv(raw: RawConfig): string {
  const entries = Object.entries(raw)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => [`mynodeone:${k}`, typeof v === "string" ? v : JSON.stringify(v)]);
  return JSON.stringify(Object.fromEntries(entries));
}

export async function runProgram(stack: string, raw: RawConfig): Promise<ProgramRun> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mynodeone-program-"));
  const out = path.join(dir, "run.json");
  try {
    await run(
      process.execPath,
      ["-r", "ts-node/register/transpile-only", path.join(__dirname, "program.ts")],
      {
        cwd: path.join(__dirname, "..", ".."),
        env: {
          ...process.env,
          PULUMI_CONFIG: pulumiConfigEnv(raw),
          MYNODEONE_TEST_OUT: out,
          MYNODEONE_TEST_STACK: stack,
        },
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    return JSON.parse(fs.readFileSync(out, "utf8")) as ProgramRun;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
