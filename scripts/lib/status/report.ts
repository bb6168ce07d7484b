// The findings of `npm run status` and how they are shown: a table grouped by layer for humans, JSON (the
// schema beside this file, report.schema.json) for machines, and the exit code. Pure functions only.

export const LAYERS = ["cluster", "flux", "sops", "registries", "edge"] as const;
export type Layer = (typeof LAYERS)[number];
export type Level = "OK" | "WARN" | "FAIL";

export interface Finding {
  layer: Layer;
  /** What was checked, e.g. `node cp-1`, `registry domain-registry`, `edge-1 certificate app.example.com`. */
  check: string;
  status: Level;
  /** What was found. Never a secret value. */
  detail: string;
  /** For WARN and FAIL: the command to run or the doc section to read next. */
  next?: string;
}

/** A check that did not apply to this stack, or could not run because another one failed first. */
export interface NotChecked {
  layer: Layer;
  check: string;
  reason: string;
}

export interface Report {
  /** `mynodeone-status/v1`. */
  format: typeof REPORT_FORMAT;
  stack: string;
  checkedAt: string;
  durationMs: number;
  /** The bound every probe had, seconds. */
  timeoutSeconds: number;
  status: Level;
  summary: { ok: number; warn: number; fail: number };
  findings: Finding[];
  notChecked: NotChecked[];
}

export const REPORT_FORMAT = "mynodeone-status/v1";

export const EXIT_OK = 0;
export const EXIT_FAIL = 1;
export const EXIT_WARN = 2;

const LEVEL_RANK: Record<Level, number> = { OK: 0, WARN: 1, FAIL: 2 };

export function worst(levels: readonly Level[]): Level {
  return levels.reduce<Level>((a, b) => (LEVEL_RANK[b] > LEVEL_RANK[a] ? b : a), "OK");
}

/** 0 when all is OK, 1 on any FAIL, 2 for warnings only. */
export function exitCode(report: Pick<Report, "findings">): number {
  const level = worst(report.findings.map((f) => f.status));
  return level === "FAIL" ? EXIT_FAIL : level === "WARN" ? EXIT_WARN : EXIT_OK;
}

/** Findings in layer order (stable within a layer), with the summary and overall status. */
export function buildReport(args: {
  stack: string;
  checkedAt: Date;
  durationMs: number;
  timeoutSeconds: number;
  findings: readonly Finding[];
  notChecked: readonly NotChecked[];
}): Report {
  const byLayer = <T extends { layer: Layer }>(items: readonly T[]): T[] =>
    LAYERS.flatMap((layer) => items.filter((i) => i.layer === layer));
  const findings = byLayer(args.findings);
  const count = (level: Level): number => findings.filter((f) => f.status === level).length;
  return {
    format: REPORT_FORMAT,
    stack: args.stack,
    checkedAt: args.checkedAt.toISOString(),
    durationMs: Math.round(args.durationMs),
    timeoutSeconds: args.timeoutSeconds,
    status: worst(findings.map((f) => f.status)),
    summary: { ok: count("OK"), warn: count("WARN"), fail: count("FAIL") },
    findings,
    notChecked: byLayer(args.notChecked),
  };
}

/** Cuts `text` to one line of at most `max` characters (Flux and kubelet messages can be long). */
export function oneLine(text: string, max = 240): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

/** The human table: one block per layer, a line per finding, the next step under each WARN and FAIL. */
export function renderTable(report: Report): string {
  const width = Math.min(48, Math.max(5, ...report.findings.map((f) => f.check.length)));
  const lines = [`mynodeone status of stack ${report.stack} at ${report.checkedAt}`];
  for (const layer of LAYERS) {
    const findings = report.findings.filter((f) => f.layer === layer);
    const skipped = report.notChecked.filter((n) => n.layer === layer);
    if (findings.length === 0 && skipped.length === 0) {
      continue;
    }
    lines.push("", layer.toUpperCase());
    for (const f of findings) {
      lines.push(`  ${f.status.padEnd(4)}  ${f.check.padEnd(width)}  ${f.detail}`);
      if (f.next !== undefined && f.status !== "OK") {
        lines.push(`  ${" ".repeat(4)}  ${" ".repeat(width)}  next: ${f.next}`);
      }
    }
    for (const n of skipped) {
      lines.push(`  ${"-".padEnd(4)}  ${n.check.padEnd(width)}  not checked: ${n.reason}`);
    }
  }
  const { ok, warn, fail } = report.summary;
  lines.push(
    "",
    `${report.status}: ${String(ok)} ok, ${String(warn)} warning(s), ${String(fail)} failure(s) ` +
      `in ${(report.durationMs / 1000).toFixed(1)} s (each probe bounded to ${String(report.timeoutSeconds)} s)`,
  );
  return lines.join("\n");
}
