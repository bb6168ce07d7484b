// SSH conventions shared by every component that runs commands on hosts.
import * as fs from "node:fs";
import * as path from "node:path";
import type * as command from "@pulumi/command";
import type { HostConfig } from "../config/host";
import type { SshConfig } from "./config";
import { envAssignments, shellQuote } from "./shell";

/**
 * Retries of a failed dial, for freshly booted hosts. @pulumi/command waits between dials as the Pulumi SDK's
 * retry.Until does by default (pulumi-command's connection.go dialWithRetry): 100 ms, growing x1.5 per retry,
 * at most 5 s. 20 retries are 21 dials with 61 s of waiting between them (11.3 s for the first ten waits, then
 * 10 x 5 s): a host that refuses connections gets about one minute. A host that drops packets also costs the
 * per-dial timeout on every dial: 21 x 15 s + 61 s, about six minutes.
 */
export const DIAL_ERROR_LIMIT = 20;
/** Bound of each dial's TCP connect (the provider's ssh.ClientConfig.Timeout). */
export const PER_DIAL_TIMEOUT_SECONDS = 15;

/** The SSH connection for a host: pinned host key when configured, private key or the agent. */
export function sshConnection(host: HostConfig, ssh: SshConfig): command.types.input.remote.ConnectionArgs {
  return {
    host: host.host,
    port: host.port,
    user: host.user,
    ...(host.hostKey !== undefined ? { hostKey: host.hostKey } : {}),
    ...(ssh.privateKey !== undefined ? { privateKey: ssh.privateKey } : {}),
    dialErrorLimit: DIAL_ERROR_LIMIT,
    perDialTimeout: PER_DIAL_TIMEOUT_SECONDS,
  };
}

/**
 * The inputs every remote command of this program shares: the host's connection, and
 * `addPreviousOutputInEnv: false`. @pulumi/command otherwise sends a command's previous stdout back to the
 * host as SSH environment variables when it runs again, and several commands' stdout is a credential (the
 * kubeconfig, the join token, the encryption keys).
 */
export function remoteCommandBase(
  host: HostConfig,
  ssh: SshConfig,
): { connection: command.types.input.remote.ConnectionArgs; addPreviousOutputInEnv: false } {
  return { connection: sshConnection(host, ssh), addPreviousOutputInEnv: false };
}

/** Read a remote script shipped beside a component (`components/<module>/scripts/<name>`). */
export function readScript(moduleDir: string, name: string): string {
  return fs.readFileSync(path.join(moduleDir, "scripts", name), "utf8");
}

/**
 * The command string that runs `script` on a host as root with `env` set.
 *
 * The script text and every env value are single-quoted, so nothing in them is interpreted by the login
 * shell. Secrets never go here (the command string appears in error messages and state): pass them on
 * stdin. `sudo -n` fails at once instead of prompting when passwordless sudo is missing.
 */
export function scriptCommand(
  scriptName: string,
  script: string,
  env: Readonly<Record<string, string | number | boolean>>,
  user: string,
): string {
  const words = [
    ...(user === "root" ? [] : ["sudo", "-n"]),
    "env",
    ...envAssignments(env),
    "bash",
    "-c",
    shellQuote(script),
    shellQuote(scriptName),
  ];
  return words.join(" ");
}
