// Typed access to one raw config object that records every problem (wrong type, missing key, unknown key)
// under the key's full path instead of throwing, so one run reports everything that is wrong.
import { hasControlChars, Problems, show } from "./validate";

/** Raw config as Pulumi stores it, keys without the `mynodeone:` prefix; objects already JSON-decoded. */
export type RawConfig = Record<string, unknown>;

type Check<T> = (value: T) => string | undefined;

export interface FieldOptions<T> {
  /** Extra validation; returns what is wrong. */
  check?: Check<T>;
  /** How to fix a problem with this key (shown after the message). */
  fix: string;
}

export class ObjectReader {
  private readonly seen = new Set<string>();

  constructor(
    readonly problems: Problems,
    /** Full path of this object, e.g. `mynodeone:k3s` or `mynodeone:k3s.servers[0]`. */
    readonly path: string,
    private readonly raw: Record<string, unknown>,
  ) {}

  /** Build a reader for `value` at `path`, or record a problem and return undefined when it is not an object. */
  static of(problems: Problems, path: string, value: unknown, fix: string): ObjectReader | undefined {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      problems.add(path, `expected an object, got ${show(value)}`, fix);
      return undefined;
    }
    return new ObjectReader(problems, path, value as Record<string, unknown>);
  }

  keyPath(key: string): string {
    // The root reader's path is the namespace itself ("mynodeone:"); nested paths join with ".".
    return this.path.endsWith(":") ? `${this.path}${key}` : `${this.path}.${key}`;
  }

  has(key: string): boolean {
    return this.value(key) !== undefined;
  }

  /**
   * The raw value, marking the key as known. An empty string or null reads as unset: Pulumi.yaml declares
   * computed defaults (environment = stack name, protect = prod, ...) as "", so the CLI accepts the key as
   * optional and this module applies the real default.
   */
  value(key: string): unknown {
    this.seen.add(key);
    const value = this.raw[key];
    return value === "" || value === null ? undefined : value;
  }

  optionalString(key: string, opts: FieldOptions<string>): string | undefined {
    const value = this.value(key);
    if (value === undefined) {
      return undefined;
    }
    return checkString(this.problems, this.keyPath(key), value, opts);
  }

  string(key: string, fallback: string, opts: FieldOptions<string>): string {
    return this.optionalString(key, opts) ?? fallback;
  }

  requiredString(key: string, opts: FieldOptions<string>): string {
    if (!this.has(key)) {
      this.seen.add(key);
      this.problems.add(this.keyPath(key), "is required but not set", opts.fix);
      return "";
    }
    return this.optionalString(key, opts) ?? "";
  }

  boolean(key: string, fallback: boolean): boolean {
    const value = this.value(key);
    if (value === undefined) {
      return fallback;
    }
    const parsed = parseBoolean(value);
    if (parsed === undefined) {
      this.problems.add(this.keyPath(key), `expected true or false, got ${show(value)}`, "use true or false");
      return fallback;
    }
    return parsed;
  }

  integer(key: string, fallback: number, min: number, max: number, fix: string): number {
    const value = this.value(key);
    if (value === undefined) {
      return fallback;
    }
    const parsed = typeof value === "string" && /^[0-9]+$/.test(value) ? Number(value) : value;
    if (typeof parsed !== "number" || !Number.isInteger(parsed) || parsed < min || parsed > max) {
      this.problems.add(
        this.keyPath(key),
        `expected an integer from ${min} to ${max}, got ${show(value)}`,
        fix,
      );
      return fallback;
    }
    return parsed;
  }

  stringList(key: string, opts: FieldOptions<string>): string[] {
    const value = this.value(key);
    if (value === undefined) {
      return [];
    }
    if (!Array.isArray(value)) {
      this.problems.add(this.keyPath(key), `expected a list, got ${show(value)}`, opts.fix);
      return [];
    }
    return value
      .map((item, i) => checkString(this.problems, `${this.keyPath(key)}[${i}]`, item, opts))
      .filter((item): item is string => item !== undefined);
  }

  /** A list of objects, each read by `read`. */
  objectList<T>(key: string, fix: string, read: (reader: ObjectReader) => T): T[] {
    const value = this.value(key);
    if (value === undefined) {
      return [];
    }
    if (!Array.isArray(value)) {
      this.problems.add(this.keyPath(key), `expected a list, got ${show(value)}`, fix);
      return [];
    }
    const items: T[] = [];
    value.forEach((item, i) => {
      const reader = ObjectReader.of(this.problems, `${this.keyPath(key)}[${i}]`, item, fix);
      if (reader) {
        items.push(read(reader));
        reader.finish();
      }
    });
    return items;
  }

  /** A nested object read by `read` (an absent key reads as an empty object, so defaults apply). */
  object<T>(key: string, fix: string, read: (reader: ObjectReader) => T): T {
    const value = this.value(key) ?? {};
    const reader =
      ObjectReader.of(this.problems, this.keyPath(key), value, fix) ??
      new ObjectReader(this.problems, this.keyPath(key), {});
    const result = read(reader);
    reader.finish();
    return result;
  }

  /** A map of string to string (e.g. node labels). */
  stringMap(
    key: string,
    check: (k: string, v: unknown) => string | undefined,
    fix: string,
  ): Record<string, string> {
    const value = this.value(key);
    if (value === undefined) {
      return {};
    }
    if (typeof value !== "object" || Array.isArray(value)) {
      this.problems.add(this.keyPath(key), `expected a map, got ${show(value)}`, fix);
      return {};
    }
    const result: Record<string, string> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>).sort(([a], [b]) =>
      a.localeCompare(b),
    )) {
      const problem = check(k, v);
      if (problem !== undefined) {
        this.problems.add(`${this.keyPath(key)}.${k}`, problem, fix);
      } else {
        result[k] = v as string;
      }
    }
    return result;
  }

  /** Record unknown keys (typos would otherwise be silently ignored). */
  finish(): void {
    for (const key of Object.keys(this.raw)) {
      if (!this.seen.has(key)) {
        const known = [...this.seen].sort().join(", ");
        this.problems.add(this.keyPath(key), "is not a known setting", `remove it or use one of: ${known}`);
      }
    }
  }
}

export function parseBoolean(value: unknown): boolean | undefined {
  if (typeof value === "boolean") {
    return value;
  }
  if (value === "true" || value === "false") {
    return value === "true";
  }
  return undefined;
}

function checkString(
  problems: Problems,
  key: string,
  value: unknown,
  opts: FieldOptions<string>,
): string | undefined {
  if (typeof value !== "string") {
    problems.add(key, `expected a string, got ${show(value)}`, opts.fix);
    return undefined;
  }
  if (hasControlChars(value)) {
    problems.add(key, "contains control characters (newline, tab, escape, ...)", opts.fix);
    return undefined;
  }
  const problem = opts.check?.(value);
  if (problem !== undefined) {
    problems.add(key, `${show(value)} ${problem}`, opts.fix);
    return undefined;
  }
  return value;
}
