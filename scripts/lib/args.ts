// Minimal command-line parsing shared by the scripts/*.ts tools: `--flag`, `--option value` (repeatable) and
// positional arguments. Unknown options are errors, so a typo never silently changes what a tool does.

export interface ParsedArgs {
  positional: string[];
  flags: Set<string>;
  options: Map<string, string[]>;
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export function parseArgs(
  argv: readonly string[],
  spec: { flags?: readonly string[]; options?: readonly string[] },
): ParsedArgs {
  const flags = new Set<string>();
  const options = new Map<string, string[]>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (arg === "--") {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("--")) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    if (spec.flags?.includes(name) === true && eq < 0) {
      flags.add(name);
    } else if (spec.options?.includes(name) === true) {
      const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined || value === "") {
        throw new UsageError(`--${name} needs a value`);
      }
      options.set(name, [...(options.get(name) ?? []), value]);
    } else {
      throw new UsageError(`unknown option ${arg}`);
    }
  }
  return { positional, flags, options };
}

/** The last value of an option (later ones override earlier ones), or undefined. */
export function option(args: ParsedArgs, name: string): string | undefined {
  return args.options.get(name)?.at(-1);
}
