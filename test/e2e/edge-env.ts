// The edge end-to-end environment (test/envs/edge-test-env.sh) seen from TypeScript: start/stop it, build the
// stack config that points the program at its hosts and stand-ins, run the program under mocks and hand its
// edge commands to the engine stand-in. Shared by test/e2e/edge.e2e.test.ts and test/figures/edge-figures.ts.
import { execFile, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import type { RawConfig } from "../../components/config";
import { devRawConfig } from "../fixtures";
import { runProgram } from "../harness/run";
import { remoteCommands, ssh, type DesiredResource } from "./engine-standin";

const execFileAsync = promisify(execFile);

export const ROOT = path.join(__dirname, "..", "..");
export const ENV_SCRIPT = path.join(ROOT, "test", "envs", "edge-test-env.sh");

export interface TestHost {
  name: string;
  address: string;
  netns: string;
  /** A name challtestsrv resolves to this host, for Pebble's HTTP-01 validation. */
  domain: string;
  hostKey: string;
}

/** `<dir>/env.json`, written by `edge-test-env.sh start`. */
export interface EdgeEnv {
  dir: string;
  bridgeAddress: string;
  adminUser: string;
  adminKey: string;
  syncKey: string;
  syncPublicKey: string;
  caCert: string;
  traefikVersion: string;
  upgradeVersion: string;
  mirrorBaseUrl: string;
  mirrorDir: string;
  mirrorLog: string;
  acmeDirectoryUrl: string;
  /** Listens on 127.0.0.1 with a certificate for `pebble`: resolve that name to 127.0.0.1. */
  pebbleManagementUrl: string;
  pebbleLog: string;
  backendUrl: string;
  probeNetns: string;
  hosts: TestHost[];
}

/** Run the environment script, its progress lines (timings) going to `log`. */
export async function envScript(args: string[], log: (line: string) => void): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn("bash", [ENV_SCRIPT, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let tail = "";
    const onData = (d: Buffer): void => {
      const text = d.toString("utf8");
      tail = (tail + text).slice(-4000);
      for (const line of text.split("\n")) if (line !== "") log(line);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve();
      else reject(new Error(`edge-test-env.sh ${args.join(" ")} exited ${String(code)}:\n${tail}`));
    });
  });
}

export function loadEnv(dir: string): EdgeEnv {
  return JSON.parse(fs.readFileSync(path.join(dir, "env.json"), "utf8")) as EdgeEnv;
}

export interface EdgeOverrides {
  /** Other `edge` settings (traefikVersion, sshAllowFrom, syncAuthorizedKeys, ...). */
  edge?: Record<string, unknown>;
  hosts?: TestHost[];
  hostKeyOf?: (host: TestHost) => string;
}

/**
 * The stack config a user would write for these hosts: the dev fixture (its cluster part is registered by the
 * program but never run here), the deployment key, and `edge` pointing at the test hosts and the stand-ins.
 */
export async function stackConfig(env: EdgeEnv, overrides: EdgeOverrides = {}): Promise<RawConfig> {
  const base = await devRawConfig();
  const hosts = overrides.hosts ?? env.hosts;
  return {
    ...base,
    sshPrivateKey: fs.readFileSync(env.adminKey, "utf8"),
    edge: {
      acmeEmail: "ops@example.com",
      acmeCa: env.acmeDirectoryUrl,
      downloadBaseUrl: env.mirrorBaseUrl,
      syncAuthorizedKeys: [`${env.syncPublicKey} route-sync`],
      ...overrides.edge,
      hosts: hosts.map((h) => ({
        name: h.name,
        host: h.address,
        user: env.adminUser,
        hostKey: overrides.hostKeyOf?.(h) ?? h.hostKey,
      })),
    },
  };
}

/** The whole program under mocks; its edge hosts' remote commands, ready for the engine stand-in. */
export async function edgeCommands(config: RawConfig): Promise<DesiredResource[]> {
  const run = await runProgram("dev", config);
  if (run.error !== undefined) {
    throw new Error(`the program failed: ${run.error}`);
  }
  return remoteCommands(run.resources, (r) => r.urn.includes("mynodeone:edge:EdgeHost$"));
}

/** A command on a test host as the admin user (pinned host key), for the test's own checks. */
export async function onHost(env: EdgeEnv, host: TestHost, command: string, stdin?: string) {
  return ssh(
    {
      host: host.address,
      user: env.adminUser,
      hostKey: host.hostKey,
      privateKey: fs.readFileSync(env.adminKey, "utf8"),
    },
    command,
    stdin,
  );
}

/** As the route pusher: only the sync key (or `keyFile`), the request as the SSH command. */
export async function asSyncUser(
  env: EdgeEnv,
  host: TestHost,
  request: string,
  stdin?: string,
  keyFile = env.syncKey,
) {
  return ssh(
    {
      host: host.address,
      user: "traefik-sync",
      hostKey: host.hostKey,
      privateKey: fs.readFileSync(keyFile, "utf8"),
    },
    request,
    stdin,
  );
}

/** The serial number of the certificate a host serves for its test name. */
export async function certificateSerial(host: TestHost): Promise<string> {
  const { stdout } = await execFileAsync("bash", [
    "-c",
    'openssl s_client -connect "$1:443" -servername "$2" </dev/null 2>/dev/null | openssl x509 -noout -serial',
    "serial",
    host.address,
    host.domain,
  ]);
  return stdout.trim();
}

/** How many certificates Pebble has issued since it started. */
export function pebbleIssued(env: EdgeEnv): number {
  return fs
    .readFileSync(env.pebbleLog, "utf8")
    .split("\n")
    .filter((l) => l.includes("Issued certificate serial")).length;
}

export interface CurlResult {
  code: number;
  status: number;
  body: string;
  redirect: string;
  stderr: string;
}

/**
 * curl from the harness (root namespace) to a test host: `--resolve` sends `name` to the host's address, so
 * TLS (SNI, certificate name) and the Host header are those of the real name.
 */
export async function curl(url: string, resolveTo: string, extra: string[] = []): Promise<CurlResult> {
  const u = new URL(url);
  const port = u.port !== "" ? u.port : u.protocol === "https:" ? "443" : "80";
  const marker = "\n--curl-status--";
  try {
    const { stdout, stderr } = await execFileAsync(
      "curl",
      [
        "--silent",
        "--show-error",
        "--max-time",
        "10",
        "--resolve",
        `${u.hostname}:${port}:${resolveTo}`,
        "--write-out",
        `${marker}%{http_code} %{redirect_url}`,
        ...extra,
        url,
      ],
      { encoding: "utf8" },
    );
    const at = stdout.lastIndexOf(marker);
    const [status = "0", redirect = ""] = stdout.slice(at + marker.length).split(" ");
    return { code: 0, status: Number(status), body: stdout.slice(0, at), redirect, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, status: 0, body: "", redirect: "", stderr: e.stderr ?? String(err) };
  }
}

/** TCP connect from a network namespace (another machine on the test subnet), bounded to 3 s. */
export async function canConnectFrom(netns: string, address: string, port: number): Promise<boolean> {
  try {
    await execFileAsync("ip", [
      "netns",
      "exec",
      netns,
      "timeout",
      "3",
      "bash",
      "-c",
      `exec 3<>/dev/tcp/${address}/${String(port)}`,
    ]);
    return true;
  } catch {
    return false;
  }
}

/** Poll `check` until it returns a value, at most `seconds`. */
export async function eventually<T>(
  seconds: number,
  what: string,
  check: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${what}: not within ${String(seconds)}s${last instanceof Error ? ` (${last.message})` : ""}`,
      );
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}
