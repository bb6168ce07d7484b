// Shell quoting for values that end up in a remote command string.
// Config validation already rejects control characters; quoting is the second, independent line of defence.

/** Quote one word for a POSIX shell: the result is always a single word with the exact bytes of `value`. */
export function shellQuote(value: string): string {
  if (value.includes("\0")) {
    throw new Error("shellQuote: NUL bytes cannot be passed through a shell");
  }
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** `KEY='value'` words for `env`, in a stable (sorted) order so the command string is deterministic. */
export function envAssignments(env: Readonly<Record<string, string | number | boolean>>): string[] {
  return Object.keys(env)
    .sort()
    .map((key) => {
      if (!/^[A-Z_][A-Z0-9_]*$/.test(key)) {
        throw new Error(`envAssignments: invalid variable name ${JSON.stringify(key)}`);
      }
      return `${key}=${shellQuote(String(env[key]))}`;
    });
}
