// SSH for `npm run status`, the way the program connects: the host key pinned in the stack config (never
// trust on first use), the stack's private key or else the user's agent. OpenSSH's client does the work; the
// private key goes to a private ssh-agent of this run through stdin and never touches the disk.
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { opensshPrivateKey, publicKeyFingerprint } from "../openssh";

export interface SshTarget {
  host: string;
  port: number;
  user: string;
  /** The pinned host key (`<type> <base64>`); when absent the host is not verified (as the program does). */
  hostKey?: string;
}

export interface RemoteResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Why a connection failed, in words a user can act on. */
export class SshError extends Error {
  constructor(
    message: string,
    readonly kind: "timeout" | "host-key" | "auth" | "connect",
  ) {
    super(message);
    this.name = "SshError";
  }
}

interface Spawned {
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

function run(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; stdin?: string; timeoutMs: number },
): Promise<Spawned> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], {
      env: options.env ?? process.env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, options.timeoutMs);
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr, timedOut });
    });
    child.stdin.on("error", () => undefined);
    child.stdin.end(options.stdin ?? "");
  });
}

interface Agent {
  socket: string;
  publicKeyFile: string;
  /** The key's authorized_keys line (`ssh-ed25519 AAAA...`). */
  publicKey: string;
}

/**
 * One status run's SSH identity and temporary files (known_hosts lines, the public key, the agent's socket).
 * The private agent starts on the first connection, so a run that reaches no host starts none.
 */
export class SshClient {
  private agent: Promise<Agent> | undefined;
  private agentProcess: ChildProcess | undefined;
  private readonly dir: string;

  /**
   * With `privateKey`: a private ssh-agent holding only that key (loaded with `ssh-add -` from stdin, with a
   * lifetime, so an agent orphaned by a killed run forgets it). Without: the user's agent (`SSH_AUTH_SOCK`),
   * as the program's connections use it.
   */
  constructor(
    private readonly privateKey: string | undefined,
    /** Bound of the agent's start and of the key's life in it. */
    private readonly bounds: { startMs: number; keyLifetimeSeconds: number } = {
      startMs: 10_000,
      keyLifetimeSeconds: 300,
    },
  ) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), "mynodeone-status-"));
  }

  private startAgent(privateKey: string): Promise<Agent> {
    this.agent ??= (async () => {
      const socket = path.join(this.dir, "agent.sock");
      const agent = spawn("ssh-agent", ["-D", "-a", socket], { stdio: "ignore" });
      this.agentProcess = agent;
      // Never what keeps this process alive: close() stops it, and the key has a lifetime in it anyway.
      agent.unref();
      const failed = new Promise<never>((_, reject) => {
        agent.once("error", (err) => {
          reject(new Error(`cannot start ssh-agent (is OpenSSH's client installed?): ${err.message}`));
        });
        agent.once("exit", (code) => {
          reject(new Error(`ssh-agent exited (${String(code)})`));
        });
      });
      failed.catch(() => undefined);
      const deadline = Date.now() + this.bounds.startMs;
      while (!fs.existsSync(socket)) {
        if (Date.now() > deadline) {
          throw new Error(`ssh-agent did not start within ${String(this.bounds.startMs / 1000)} s`);
        }
        await Promise.race([failed, new Promise((r) => setTimeout(r, 20))]);
      }
      const env = { ...process.env, SSH_AUTH_SOCK: socket };
      const key = opensshPrivateKey(privateKey.endsWith("\n") ? privateKey : `${privateKey}\n`);
      const lifetime = String(this.bounds.keyLifetimeSeconds);
      const added = await run("ssh-add", ["-q", "-t", lifetime, "-"], {
        env,
        stdin: key,
        timeoutMs: this.bounds.startMs,
      });
      if (added.code !== 0 || added.timedOut) {
        // ssh-add's message names no key material.
        throw new Error(
          `the stack's sshPrivateKey cannot be loaded: ${added.stderr.trim() || "ssh-add timed out"}`,
        );
      }
      const listed = await run("ssh-add", ["-L"], { env, timeoutMs: this.bounds.startMs });
      if (listed.code !== 0 || !listed.stdout.startsWith("ssh-")) {
        throw new Error(`the agent does not list the stack's key: ${listed.stderr.trim()}`);
      }
      const publicKeyFile = path.join(this.dir, "id.pub");
      fs.writeFileSync(publicKeyFile, listed.stdout);
      // `<type> <base64>`, without the comment ssh-add gives a key read from stdin.
      const publicKey = listed.stdout.trim().split(/\s+/).slice(0, 2).join(" ");
      return { socket, publicKeyFile, publicKey };
    })();
    return this.agent;
  }

  /** Runs `command` on `target` (stdin: `stdin`), bounded to `timeoutMs` from the dial. */
  async exec(
    target: SshTarget,
    command: string,
    stdin: string,
    timeoutMs: number,
    /** The TCP connect and SSH handshake's own bound, when the command may take longer than the connection. */
    connectTimeoutMs = timeoutMs,
  ): Promise<RemoteResult> {
    const connectSeconds = Math.max(1, Math.floor(connectTimeoutMs / 1000));
    const args = [
      "-F",
      "/dev/null",
      "-o",
      "BatchMode=yes",
      "-o",
      "LogLevel=ERROR",
      "-o",
      `ConnectTimeout=${String(connectSeconds)}`,
      "-o",
      "ConnectionAttempts=1",
      "-o",
      "ServerAliveInterval=5",
      "-o",
      "GlobalKnownHostsFile=/dev/null",
      "-p",
      String(target.port),
    ];
    if (target.hostKey !== undefined) {
      const knownHosts = path.join(this.dir, `known_hosts-${target.host}-${String(target.port)}`);
      const name = target.port === 22 ? target.host : `[${target.host}]:${String(target.port)}`;
      fs.writeFileSync(knownHosts, `${name} ${target.hostKey.trim()}\n`);
      args.push("-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${knownHosts}`);
    } else {
      args.push("-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null");
    }
    const env = { ...process.env };
    if (this.privateKey !== undefined) {
      const agent = await this.startAgent(this.privateKey);
      // Only the stack's key: the public half names it, the private half stays in the agent.
      args.push("-o", `IdentityAgent=${agent.socket}`, "-o", "IdentitiesOnly=yes", "-i", agent.publicKeyFile);
    }
    args.push("-l", target.user, target.host, command);
    const result = await run("ssh", args, { env, stdin, timeoutMs });
    const where = `${target.user}@${target.host}:${String(target.port)}`;
    if (result.timedOut) {
      throw new SshError(`${where}: no answer within ${String(timeoutMs / 1000)} s`, "timeout");
    }
    if (result.code === 255) {
      const message = result.stderr.trim().split("\n").slice(-3).join(" ");
      if (
        /host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|host key for .* has changed/i.test(
          result.stderr,
        )
      ) {
        throw new SshError(`${where}: host key mismatch (the host's key is not the pinned one)`, "host-key");
      }
      if (/timed out/i.test(message)) {
        throw new SshError(`${where}: connection timed out after ${String(connectSeconds)} s`, "timeout");
      }
      if (/permission denied/i.test(message)) {
        const offered = await this.publicKey();
        const which =
          offered !== undefined ? `the stack's key ${publicKeyFingerprint(offered)}` : "the agent's keys";
        throw new SshError(`${where}: ${which} refused (${message})`, "auth");
      }
      throw new SshError(`${where}: ${message || "ssh failed"}`, "connect");
    }
    return { code: result.code, stdout: result.stdout, stderr: result.stderr };
  }

  /** The public half of the stack's key (starting the agent), or undefined when the user's agent is used. */
  async publicKey(): Promise<string | undefined> {
    return this.privateKey === undefined ? undefined : (await this.startAgent(this.privateKey)).publicKey;
  }

  /** Stops the agent (the key goes with it) and removes the temporary files. */
  close(): void {
    this.agentProcess?.kill("SIGTERM");
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
