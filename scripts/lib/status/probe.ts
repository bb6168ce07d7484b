// What every layer's probe gets, and what it gives back.
import type { Finding, Layer, NotChecked } from "./report";
import type { StatusInputs } from "./inputs";
import type { SshClient } from "./ssh";

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
    this.findings.push({ layer: this.layer, check, status: "WARN", detail, next });
  }
  fail(check: string, detail: string, next: string): void {
    this.findings.push({ layer: this.layer, check, status: "FAIL", detail, next });
  }
  skip(check: string, reason: string): void {
    this.notChecked.push({ layer: this.layer, check, reason });
  }
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Human durations for details: `45 s`, `12 min`, `3.5 h`, `2.1 d`. */
export function age(ms: number): string {
  const s = ms / 1000;
  if (s < 120) return `${String(Math.round(s))} s`;
  if (s < 7200) return `${String(Math.round(s / 60))} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}
