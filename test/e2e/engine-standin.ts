// A stand-in for `pulumi up` / `pulumi destroy`, for `command:remote:Command` resources only.
//
// The real engine cannot be built here (docs/toolchain.md), so the end-to-end test runs the whole program under
// the shared mocks (test/harness/run.ts), takes the remote commands it registered, and this module does what the
// engine plus @pulumi/command 1.2.1 would do with them, over real SSH:
//
// - diff against the previous state: unchanged inputs run nothing; a change of `triggers` replaces the resource
//   (the provider's only replaceOnChanges input), any other change - `connection` included - is an update, which
//   runs `update` if set, else `create` (pulumi-command 1.x, provider/pkg/provider/remote);
// - a replacement creates the new resource first and deletes the old one (its stored `delete`, through its
//   stored connection) after every create and update, unless `deleteBeforeReplace` is set;
// - resources in state but no longer in the program are deleted after the creates and updates, dependents first;
// - steps run as soon as their dependencies succeeded, so independent hosts run in parallel; after a failure
//   nothing new starts (in-flight steps finish), and the failed step's dependents are skipped;
// - a failed create leaves no state, a failed update keeps the old state (the next run retries it);
// - `protect` makes deleting a resource fail, as it fails the engine's deployment;
// - the command runs as `ssh user@host <command>` (the provider's session.Run: the login shell runs the string),
//   stdin piped from the `stdin` input, no pty, the key from `connection.privateKey`, and - when `hostKey` is
//   set - a known_hosts file holding only that key with StrictHostKeyChecking=yes.
//
// NOT emulated (say so when a result depends on it): preview output and plans, refresh/import, the engine's
// checkpoint file format and locking, component resources' own steps, outputs and stack outputs, secrets
// encryption in state, `environment` (rejected: sshd would need AcceptEnv), `addPreviousOutputInEnv` (sent with
// SSH setenv, which a default sshd ignores), `logging` (compared in the diff, not applied to the test's log),
// proxies/bastions, passwords, the SSH agent, custom timeouts, `retainOnDelete`, `ignoreChanges`, `aliases`,
// `replaceOnChanges` options set by the program. Dial retries are emulated as far as they show: the provider
// retries a failed dial (connection or handshake) up to `dialErrorLimit` times, waiting 100 ms x1.5 per retry,
// at most 5 s; here the TCP connect is retried by ssh (ConnectionAttempts), and a host key mismatch (OpenSSH's
// "Host key verification failed") is re-dialled with the provider's waits and then reported with the message
// of the provider's Go SSH client, "ssh: handshake failed: ssh: host key mismatch".
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { isDeepStrictEqual } from "node:util";
import { plain, type RecordedResource } from "../mocks";

export const REMOTE_COMMAND = "command:remote:Command";

interface Connection {
  host: string;
  port?: number;
  user?: string;
  hostKey?: string;
  privateKey?: string;
  dialErrorLimit?: number;
  perDialTimeout?: number;
}

/** The inputs of a remote Command as the provider receives them (secrets unwrapped). */
export interface CommandInputs {
  connection: Connection;
  create?: string;
  update?: string;
  delete?: string;
  stdin?: string;
  triggers?: unknown[];
  environment?: Record<string, string>;
  logging?: string;
  addPreviousOutputInEnv?: boolean;
}

/** One resource in the stand-in's state (what the engine's checkpoint holds for it). */
export interface StateResource {
  urn: string;
  inputs: CommandInputs;
  stdout: string;
  stderr: string;
  dependencies: string[];
  protect: boolean;
  deleteBeforeReplace: boolean;
}

export interface StackState {
  /** In the order they were created (dependencies before dependents), like the checkpoint. */
  resources: StateResource[];
}

export type StepOp = "create" | "update" | "replace" | "delete";

/** The diff of one resource: what `pulumi preview` would list. */
export interface PlannedStep {
  urn: string;
  op: StepOp;
  /** Input fields whose change causes the step. */
  changed: string[];
}

export interface StepResult extends PlannedStep {
  /** The commands that actually ran, in order (e.g. ["create"], ["create", "delete"] for a replacement). */
  ran: ("create" | "update" | "delete")[];
  status: "succeeded" | "failed" | "skipped";
  stdout: string;
  stderr: string;
  error?: string;
  /** SSH dials the last command took (more than one when the provider re-dialled). */
  dials?: number;
  /** Wall clock (ms since the epoch) when the first command started, and its duration. */
  startedAt: number;
  ms: number;
}

export interface Deployment {
  steps: StepResult[];
  /** Resources whose inputs are unchanged: nothing ran for them. */
  same: string[];
  state: StackState;
  error?: string;
  ms: number;
}

export interface EngineOptions {
  /** Called with every line a command prints (prefixed with the resource name), for the test's log. */
  log?: (line: string) => void;
}

/** The remote commands of a whole-program run, inputs unwrapped, optionally only those under `urnPrefix`. */
export function remoteCommands(resources: RecordedResource[], include: (r: RecordedResource) => boolean) {
  const commands = resources.filter((r) => r.type === REMOTE_COMMAND && include(r));
  const urns = new Set(commands.map((r) => r.urn));
  const byParent = (urn: string): string[] =>
    resources.filter((r) => r.parent === urn).flatMap((r) => (urns.has(r.urn) ? [r.urn] : byParent(r.urn)));
  return commands.map((r) => ({
    urn: r.urn,
    inputs: unwrap(r.inputs) as CommandInputs,
    // A dependency on a component is one on every resource under it (the SDK expands it the same way).
    dependencies: [...new Set(r.dependencies.flatMap((d) => (urns.has(d) ? [d] : byParent(d))))].sort(),
    protect: r.protect,
    deleteBeforeReplace: r.deleteBeforeReplace,
  }));
}

export type DesiredResource = ReturnType<typeof remoteCommands>[number];

function unwrap(value: unknown): unknown {
  const v = plain(value);
  if (Array.isArray(v)) return v.map(unwrap);
  if (v !== null && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrap(x)]));
  }
  return v;
}

const REPLACE_ON_CHANGES = ["triggers"] as const;
const INPUT_FIELDS = [
  "connection",
  "create",
  "update",
  "delete",
  "stdin",
  "triggers",
  "environment",
  "logging",
  "addPreviousOutputInEnv",
] as const;

/** The engine's diff: which resources would be created, updated, replaced or deleted. */
export function plan(desired: DesiredResource[], state: StackState): PlannedStep[] {
  const old = new Map(state.resources.map((r) => [r.urn, r]));
  const steps: PlannedStep[] = [];
  for (const r of desired) {
    if (r.inputs.environment !== undefined) {
      throw new Error(`${r.urn}: 'environment' is not emulated by the engine stand-in`);
    }
    const before = old.get(r.urn);
    if (before === undefined) {
      steps.push({ urn: r.urn, op: "create", changed: [] });
      continue;
    }
    const changed = INPUT_FIELDS.filter((f) => !isDeepStrictEqual(before.inputs[f], r.inputs[f]));
    if (changed.length === 0) continue;
    const replace = changed.some((f) => (REPLACE_ON_CHANGES as readonly string[]).includes(f));
    steps.push({ urn: r.urn, op: replace ? "replace" : "update", changed });
  }
  const wanted = new Set(desired.map((r) => r.urn));
  for (const r of [...state.resources].reverse()) {
    if (!wanted.has(r.urn)) steps.push({ urn: r.urn, op: "delete", changed: [] });
  }
  return steps;
}

/** `pulumi up`: bring the hosts to `desired`. Returns the new state even when a step failed. */
export async function up(
  desired: DesiredResource[],
  state: StackState,
  options: EngineOptions = {},
): Promise<Deployment> {
  const started = Date.now();
  const planned = plan(desired, state);
  const byUrn = new Map(planned.map((s) => [s.urn, s]));
  const old = new Map(state.resources.map((r) => [r.urn, r]));
  const next = new Map(state.resources.map((r) => [r.urn, r]));
  const results: StepResult[] = [];
  // An object, not a `let`: the steps set it from their own async functions.
  const outcome = { failed: false };

  // Creates, updates and replacements, each as soon as its dependencies are done.
  const done = new Map<string, Promise<boolean>>();
  const forward = (r: DesiredResource): Promise<boolean> => {
    let promise = done.get(r.urn);
    if (promise === undefined) {
      promise = (async () => {
        const deps = desired.filter((d) => r.dependencies.includes(d.urn));
        const depsOk = (await Promise.all(deps.map(forward))).every(Boolean);
        const step = byUrn.get(r.urn);
        if (step === undefined) return depsOk; // unchanged
        if (!depsOk || outcome.failed) {
          results.push(skipped(step));
          return false;
        }
        const before = old.get(r.urn);
        const result = await runForward(step, r, before, options);
        results.push(result);
        if (result.status !== "succeeded") {
          outcome.failed = true;
          // A delete-before-replace whose delete ran: the old resource is gone from the host and the state.
          if (result.ran.includes("delete") && result.ran.includes("create")) next.delete(r.urn);
          return false;
        }
        next.set(r.urn, {
          ...r,
          stdout: result.stdout,
          stderr: result.stderr,
        });
        return true;
      })();
      done.set(r.urn, promise);
    }
    return promise;
  };
  await Promise.all(desired.map(forward));

  // Deletes: resources gone from the program, and the old halves of create-before-delete replacements, in
  // reverse dependency order (a resource only after everything that depended on it).
  const deletions = planned
    .filter((s) => s.op === "delete" || (s.op === "replace" && !old.get(s.urn)?.deleteBeforeReplace))
    .filter((s) => s.op === "delete" || results.some((x) => x.urn === s.urn && x.status === "succeeded"))
    .map((s) => old.get(s.urn))
    .filter((r): r is StateResource => r !== undefined);
  if (!outcome.failed) {
    const deleted = await deleteAll(deletions, options);
    for (const result of deleted) {
      const index = results.findIndex((x) => x.urn === result.urn && x.op === "replace");
      if (index >= 0) {
        const replaced = results[index];
        if (replaced !== undefined) {
          results[index] = {
            ...replaced,
            ran: [...replaced.ran, ...result.ran],
            status: result.status,
            stdout: replaced.stdout + result.stdout,
            stderr: replaced.stderr + result.stderr,
            ...(result.error !== undefined ? { error: result.error } : {}),
            ms: replaced.ms + result.ms,
          };
        }
      } else {
        results.push(result);
      }
      if (result.status === "succeeded" && result.op === "delete") next.delete(result.urn);
      if (result.status !== "succeeded") outcome.failed = true;
    }
  }

  const order = [...state.resources.map((r) => r.urn), ...desired.map((r) => r.urn)];
  const resources = [...new Set(order)]
    .map((urn) => next.get(urn))
    .filter((r): r is StateResource => r !== undefined);
  const firstError = results.find((r) => r.status === "failed");
  return {
    steps: results,
    same: desired.filter((r) => !byUrn.has(r.urn)).map((r) => r.urn),
    state: { resources },
    ...(firstError !== undefined ? { error: `${firstError.urn}: ${firstError.error ?? "failed"}` } : {}),
    ms: Date.now() - started,
  };
}

/** `pulumi destroy`: every resource's `delete`, dependents first, independent ones in parallel. */
export async function destroy(state: StackState, options: EngineOptions = {}): Promise<Deployment> {
  return up([], state, options);
}

async function deleteAll(resources: StateResource[], options: EngineOptions): Promise<StepResult[]> {
  const results: StepResult[] = [];
  const done = new Map<string, Promise<boolean>>();
  let failed = false;
  const remove = (r: StateResource): Promise<boolean> => {
    let promise = done.get(r.urn);
    if (promise === undefined) {
      promise = (async () => {
        const dependents = resources.filter((d) => d.dependencies.includes(r.urn));
        const ok = (await Promise.all(dependents.map(remove))).every(Boolean);
        const step: PlannedStep = { urn: r.urn, op: "delete", changed: [] };
        if (!ok || failed) {
          results.push(skipped(step));
          return false;
        }
        const result = r.protect
          ? {
              ...step,
              ran: [],
              status: "failed" as const,
              stdout: "",
              stderr: "",
              error: "resource is protected: unprotect it before deleting (pulumi state unprotect)",
              startedAt: Date.now(),
              ms: 0,
            }
          : await runCommand(step, r.inputs, r.inputs.delete, "delete", options);
        results.push(result);
        if (result.status !== "succeeded") failed = true;
        return result.status === "succeeded";
      })();
      done.set(r.urn, promise);
    }
    return promise;
  };
  await Promise.all(resources.map(remove));
  return results;
}

async function runForward(
  step: PlannedStep,
  r: DesiredResource,
  before: StateResource | undefined,
  options: EngineOptions,
): Promise<StepResult> {
  if (step.op === "replace" && before?.deleteBeforeReplace === true) {
    const removed = await runCommand(step, before.inputs, before.inputs.delete, "delete", options);
    if (removed.status !== "succeeded") return removed;
    const created = await runCommand(step, r.inputs, r.inputs.create, "create", options);
    return {
      ...created,
      ran: ["delete", ...created.ran],
      startedAt: removed.startedAt,
      ms: removed.ms + created.ms,
    };
  }
  if (step.op === "update") {
    // pulumi-command: `update` when set, else `create` again.
    const command = r.inputs.update ?? r.inputs.create;
    return runCommand(step, r.inputs, command, r.inputs.update !== undefined ? "update" : "create", options);
  }
  return runCommand(step, r.inputs, r.inputs.create, "create", options);
}

function skipped(step: PlannedStep): StepResult {
  return { ...step, ran: [], status: "skipped", stdout: "", stderr: "", startedAt: Date.now(), ms: 0 };
}

/** Run one command over SSH the way the provider does; a missing command is a no-op success. */
async function runCommand(
  step: PlannedStep,
  inputs: CommandInputs,
  command: string | undefined,
  kind: "create" | "update" | "delete",
  options: EngineOptions,
): Promise<StepResult> {
  const started = Date.now();
  if (command === undefined) {
    return { ...step, ran: [], status: "succeeded", stdout: "", stderr: "", startedAt: started, ms: 0 };
  }
  const result = await dialWithRetry(inputs.connection, () =>
    ssh(inputs.connection, command, inputs.stdin, (line) =>
      options.log?.(`${shortName(step.urn)} ${kind}: ${line}`),
    ),
  );
  return {
    ...step,
    ran: [kind],
    status: result.code === 0 ? "succeeded" : "failed",
    stdout: result.stdout,
    stderr: result.stderr,
    dials: result.dials ?? 1,
    ...(result.code !== 0
      ? { error: `${kind} exited ${String(result.code)}: ${lastLines(result.stderr)}` }
      : {}),
    startedAt: started,
    ms: Date.now() - started,
  };
}

export function shortName(urn: string): string {
  return urn.slice(urn.lastIndexOf("::") + 2);
}

function lastLines(text: string): string {
  return text.trim().split("\n").slice(-5).join("\n");
}

interface SshResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Dials made (the provider's, emulated by dialWithRetry). */
  dials?: number;
}

/** The provider's message when the pinned host key does not match (golang.org/x/crypto/ssh, FixedHostKey). */
export const HOST_KEY_MISMATCH = "ssh: handshake failed: ssh: host key mismatch";

/** The waits between the provider's dials (pulumi-command's dialWithRetry, the SDK's retry.Until defaults). */
export function dialWaitsMs(dialErrorLimit: number): number[] {
  return Array.from({ length: dialErrorLimit }, (_, i) => Math.min(100 * 1.5 ** i, 5000));
}

/** A host-key mismatch is a failed handshake, which the provider re-dials like any other dial error. */
async function dialWithRetry(connection: Connection, dial: () => Promise<SshResult>): Promise<SshResult> {
  const waits = dialWaitsMs(connection.dialErrorLimit ?? 10);
  for (let dials = 1; ; dials++) {
    const result = await dial();
    const mismatch = result.code === 255 && /Host key verification failed/.test(result.stderr);
    if (!mismatch) {
      return { ...result, dials };
    }
    const wait = waits[dials - 1];
    if (wait === undefined) {
      return { code: 255, stdout: "", stderr: `${HOST_KEY_MISMATCH}\n`, dials };
    }
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

/** `ssh` with only the given identity and only the pinned host key; stdin piped; the command as one string. */
export async function ssh(
  connection: Connection,
  command: string,
  stdin: string | undefined,
  onLine?: (line: string) => void,
): Promise<SshResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "engine-standin-"));
  try {
    const port = connection.port ?? 22;
    const args = [
      "-F",
      "/dev/null",
      "-o",
      "BatchMode=yes",
      "-o",
      "IdentitiesOnly=yes",
      "-o",
      "IdentityAgent=none",
      "-o",
      "GlobalKnownHostsFile=/dev/null",
      "-o",
      "LogLevel=ERROR",
      "-o",
      `ConnectTimeout=${String(connection.perDialTimeout ?? 15)}`,
      "-o",
      `ConnectionAttempts=${String(Math.max(1, connection.dialErrorLimit ?? 10))}`,
      "-p",
      String(port),
    ];
    if (connection.hostKey !== undefined) {
      const knownHosts = path.join(dir, "known_hosts");
      const name = port === 22 ? connection.host : `[${connection.host}]:${String(port)}`;
      fs.writeFileSync(knownHosts, `${name} ${connection.hostKey.trim()}\n`);
      args.push("-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${knownHosts}`);
    } else {
      // The provider ignores the host key when none is pinned.
      args.push("-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null");
    }
    if (connection.privateKey !== undefined) {
      const key = path.join(dir, "id");
      fs.writeFileSync(
        key,
        connection.privateKey.endsWith("\n") ? connection.privateKey : `${connection.privateKey}\n`,
        {
          mode: 0o600,
        },
      );
      args.push("-i", key);
    }
    args.push("-l", connection.user ?? "root", connection.host, command);
    return await new Promise<SshResult>((resolve, reject) => {
      const child = spawn("ssh", args, { stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      const lines = (chunk: string): void => {
        for (const line of chunk.split("\n")) if (line !== "") onLine?.(line);
      };
      child.stdout.setEncoding("utf8").on("data", (d: string) => {
        stdout += d;
        lines(d);
      });
      child.stderr.setEncoding("utf8").on("data", (d: string) => {
        stderr += d;
        lines(d);
      });
      child.on("error", reject);
      child.on("close", (code) => {
        resolve({ code, stdout, stderr });
      });
      // No stdin input: an empty stdin, as the provider's session without Stdin.
      child.stdin.end(stdin ?? "");
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
