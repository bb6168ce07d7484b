// What the status tests share: the committed JSON schema of `npm run status -- --json`, and the CLI itself.
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import Ajv from "ajv";
import type { Finding, Report } from "../../scripts/lib/status/report";

const ROOT = path.join(__dirname, "..", "..");
export const REPORT_SCHEMA = path.join(ROOT, "scripts", "lib", "status", "report.schema.json");

const validate = new Ajv({ allErrors: true, strict: true }).compile(
  JSON.parse(fs.readFileSync(REPORT_SCHEMA, "utf8")) as object,
);

/** Fails with every schema error when `report` does not validate. */
export function assertValidReport(report: unknown): asserts report is Report {
  const ok = validate(report);
  assert.ok(ok, `the report does not match ${REPORT_SCHEMA}: ${JSON.stringify(validate.errors, null, 2)}`);
}

/** The one finding named `check` (fails when there is not exactly one). */
export function finding(report: Report, check: string): Finding {
  const found = report.findings.filter((f) => f.check === check);
  assert.equal(
    found.length,
    1,
    `findings named ${JSON.stringify(check)}: ${JSON.stringify(report.findings, null, 2)}`,
  );
  return found[0] as Finding;
}

/** The findings that are not OK, as `STATUS check: detail` lines (for assertion messages and exact checks). */
export function problems(report: Report): string[] {
  return report.findings.filter((f) => f.status !== "OK").map((f) => `${f.status} ${f.check}: ${f.detail}`);
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** `node scripts/status.ts ARGS` as `npm run status` runs it, with `env` added (PATH with the pinned CLI). */
export function runStatusCli(args: string[], env: Record<string, string>): Promise<CliRun> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["-r", "ts-node/register/transpile-only", path.join(ROOT, "scripts", "status.ts"), ...args],
      { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => {
      resolve({ code: code ?? -1, stdout, stderr, ms: Date.now() - started });
    });
  });
}
