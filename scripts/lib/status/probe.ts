// What every layer's probe gets, and what it gives back; the remote probe scripts' runner.
import { readScript, scriptCommand } from "../../../components/remote/ssh";
import type { Finding, Layer, Level, NotChecked } from "./report";
import type { StatusInputs } from "./inputs";
import type { SshClient, SshTarget } from "./ssh";

export interface ProbeContext {
  inputs: StatusInputs;
  ssh: SshClient;
  now: Date;
  timeoutMs: number;
}

export interface Outcome {
  findings: Finding[];
  notChecked: NotChecked[];
}

/** A small builder so each probe reads as a list of findings. */
export class Findings implements Outcome {
  readonly findings: Finding[] = [];
  readonly notChecked: NotChecked[] = [];
  constructor(private readonly layer: Layer) {}

  ok(check: string, detail: string): void {
    this.findings.push({ layer: this.layer, check, status: "OK", detail });
  }
  warn(check: string, detail: string, next: string): void {
    this.add("WARN", check, detail, next);
  }
  fail(check: string, detail: string, next: string): void {
    this.add("FAIL", check, detail, next);
  }
  /** A finding whose level was decided elsewhere; `next` is kept for WARN and FAIL only. */
  add(status: Level, check: string, detail: string, next: string): void {
    this.findings.push({ layer: this.layer, check, status, detail, ...(status !== "OK" ? { next } : {}) });
  }
  skip(check: string, reason: string): void {
    this.notChecked.push({ layer: this.layer, check, reason });
  }
}

/** A probe script ran and exited non-zero (most often: the SSH user has no passwordless sudo). */
export class ProbeScriptFailed extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProbeScriptFailed";
  }
}

/**
 * Runs one of the read-only scripts in `./scripts` on `target` as root (`sudo -n` unless the user is root),
 * `env` as quoted assignments (components/remote/ssh.ts); its stdout, or ProbeScriptFailed with the exit
 * status and the script's last words. Connection failures are the SshClient's SshError.
 */
export async function runProbeScript(
  ctx: ProbeContext,
  target: SshTarget,
  name: "edge-probe.sh" | "server-probe.sh",
  env: Readonly<Record<string, string | number>>,
  timeoutMs = ctx.timeoutMs,
): Promise<string> {
  const command = scriptCommand(name, readScript(__dirname, name), env, target.user);
  const result = await ctx.ssh.exec(target, command, "", timeoutMs, ctx.timeoutMs);
  if (result.code !== 0) {
    const lastWords = result.stderr.trim().split("\n").pop() ?? "";
    throw new ProbeScriptFailed(`the probe failed (exit ${String(result.code)}): ${lastWords}`);
  }
  return result.stdout;
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Human durations for details: `45 s`, `12 min`, `3.5 h`, `2.1 d`. */
/** A certificate's end as the findings show it: "expires 2027-03-02 (90.0 days)", "(expired)" once past. */
export function expiryText(notAfter: Date, now: Date): string {
  const days = (notAfter.getTime() - now.getTime()) / 86_400_000;
  return `expires ${notAfter.toISOString().slice(0, 10)} (${days < 0 ? "expired" : `${days.toFixed(1)} days`})`;
}

export function age(ms: number): string {
  const s = ms / 1000;
  if (s < 120) return `${String(Math.round(s))} s`;
  if (s < 7200) return `${String(Math.round(s / 60))} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}
