// CLI of the preview guard (scripts/lib/preview-guard.ts), run by scripts/preview-ci.sh on the output of
// `pulumi preview --json`. Prints the human diff and, when the preview would delete or replace data that cannot
// be regenerated, a loud banner (and GitHub error annotations in Actions).
//
// Usage: guard.ts --stack NAME [--allow-destructive] [--report FILE] PREVIEW_JSON
// Exit status: 0 nothing dangerous (or --allow-destructive), 2 data loss, 1 unreadable input or usage error.
import * as fs from "node:fs";
import { option, parseArgs, UsageError } from "./lib/args";
import {
  guardPreview,
  parsePreviewDigest,
  renderBanner,
  renderChangeSummary,
  renderDiff,
  renderMarkdown,
} from "./lib/preview-guard";

export const EXIT_DATA_LOSS = 2;

function main(argv: readonly string[]): number {
  const args = parseArgs(argv, { flags: ["allow-destructive"], options: ["stack", "report"] });
  const stack = option(args, "stack");
  const [file, ...extra] = args.positional;
  if (stack === undefined || file === undefined || extra.length > 0) {
    throw new UsageError("usage: guard.ts --stack NAME [--allow-destructive] [--report FILE] PREVIEW_JSON");
  }
  const allowed = args.flags.has("allow-destructive");
  const digest = parsePreviewDigest(fs.readFileSync(file, "utf8"));
  const result = guardPreview(digest);

  console.log(`--- preview of stack '${stack}': ${renderChangeSummary(digest)}`);
  console.log(renderDiff(digest));
  for (const error of result.errors) {
    console.log(`error: ${error}`);
  }
  for (const step of result.kept) {
    console.log(`kept: ${step.action} of ${step.name} loses nothing: ${step.reason}`);
  }
  const report = option(args, "report");
  if (report !== undefined) {
    fs.writeFileSync(report, renderMarkdown(digest, result, stack, allowed));
  }
  if (result.dangerous.length === 0) {
    console.log(`--- guard: no resource holding data is deleted or replaced`);
    return 0;
  }
  console.log(renderBanner(result, stack, allowed));
  if (process.env["GITHUB_ACTIONS"] === "true") {
    for (const step of result.dangerous) {
      // Workflow commands: one annotation per resource, shown on the run and the PR.
      const message = `${step.action} of ${step.type} ${step.name}: ${step.rule.loses}`.replace(
        /[\r\n%]/g,
        " ",
      );
      console.log(`::${allowed ? "warning" : "error"} title=DATA LOSS in stack ${stack}::${message}`);
    }
  }
  return allowed ? 0 : EXIT_DATA_LOSS;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (err) {
  console.error(`guard: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
