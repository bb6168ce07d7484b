// `npm run status -- --stack <name> [--json] [--timeout <seconds>] [--layer <layer>]... [--config-file <file>]`: is the stack's
// platform healthy, and what to do when it is not. Reads the stack's outputs and config through the Pulumi CLI
// (secrets shown, kept in memory only), then probes the live platform read-only: the cluster, Flux, the SOPS
// key, the runtime registries and the edge hosts (scripts/lib/status/, docs/status.md).
// Exit status: 0 all OK, 1 any FAIL (or the stack cannot be read), 2 warnings only, 64 usage.
import { ConfigError } from "../components/config";
import { option, parseArgs, UsageError } from "./lib/args";
import { PulumiStack } from "./lib/pulumi-cli";
import { rawConfigFromCli, statusInputs } from "./lib/status/inputs";
import { EXIT_FAIL, exitCode, LAYERS, renderTable, type Layer } from "./lib/status/report";
import { runStatus } from "./lib/status/run";

const EXIT_USAGE = 64;
const DEFAULT_TIMEOUT_SECONDS = 10;
const USAGE =
  "usage: npm run status -- --stack NAME [--json] [--timeout SECONDS (1-300, default 10)] [--layer LAYER]... [--config-file FILE]\n" +
  `  LAYER: ${LAYERS.join(", ")} (default: all)`;

async function main(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, {
    flags: ["json", "help"],
    options: ["stack", "timeout", "config-file", "layer"],
  });
  if (args.flags.has("help")) {
    console.log(USAGE);
    return 0;
  }
  const stack = option(args, "stack");
  if (stack === undefined || args.positional.length > 0) {
    throw new UsageError("--stack NAME is required, and nothing else");
  }
  const timeoutText = option(args, "timeout") ?? String(DEFAULT_TIMEOUT_SECONDS);
  const timeoutSeconds = Number(timeoutText);
  if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1 || timeoutSeconds > 300) {
    throw new UsageError(`--timeout ${timeoutText}: expected whole seconds from 1 to 300`);
  }
  const layers = args.options.get("layer");
  for (const layer of layers ?? []) {
    if (!(LAYERS as readonly string[]).includes(layer)) {
      throw new UsageError(`--layer ${layer}: expected one of ${LAYERS.join(", ")}`);
    }
  }
  const values = await new PulumiStack(stack, undefined, option(args, "config-file")).values();
  const inputs = await statusInputs(stack, values.outputs, rawConfigFromCli(values.config));
  const report = await runStatus(inputs, {
    timeoutSeconds,
    ...(layers !== undefined ? { layers: layers as Layer[] } : {}),
  });
  console.log(args.flags.has("json") ? JSON.stringify(report, null, 2) : renderTable(report));
  return exitCode(report);
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      if (err instanceof UsageError) {
        console.error(`${err.message}\n${USAGE}`);
        process.exitCode = EXIT_USAGE;
      } else if (err instanceof ConfigError) {
        console.error(
          `the stack's config does not validate, so its platform cannot be checked:\n${err.message}`,
        );
        process.exitCode = EXIT_FAIL;
      } else {
        console.error(`status: ${err instanceof Error ? err.message : String(err)}`);
        process.exitCode = EXIT_FAIL;
      }
    },
  );
}
