// Drives test/envs/flux-test-env.sh (real source-controller and kustomize-controller as processes against the
// real-API environment, a Git server over SSH on loopback) for the Flux handoff tier: the platform repository's
// commits, SOPS encryption with the sops built from its module, and the part of the Flux Operator that cannot run
// here (see `OperatorStandIn`).
import { execFile, execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import * as YAML from "yaml";
import { goModuleDir } from "./go-module";
import { runTestEnv, type KubeEnv } from "./kube-env";

const run = promisify(execFile);

/** flux-test-env.sh ARGS. */
function fluxTestEnv(...args: string[]): string {
  return runTestEnv("flux-test-env.sh", ...args);
}

/** The pins of flux-test-env.sh (`versions`). */
export interface FluxTestVersions {
  distribution: string;
  sourceController: string;
  kustomizeController: string;
  sops: string;
  operator: string;
  /** The Go release the operator's module needs. */
  operatorToolchain: string;
}

export function fluxTestVersions(): FluxTestVersions {
  return JSON.parse(fluxTestEnv("versions")) as FluxTestVersions;
}

const OPERATOR_MODULE = "github.com/controlplaneio-fluxcd/flux-operator";

/** The Flux Operator's module source at `version` (`v0.59.0`), with the Go release its go.mod needs. */
export function operatorModuleDir(version: string): string {
  return goModuleDir(OPERATOR_MODULE, version, fluxTestVersions().operatorToolchain);
}

/** Installs the operator's FluxInstance CRD from its module source and waits until the API serves it. */
export function installFluxInstanceCrd(kube: KubeEnv, operatorDir: string): void {
  const crd = path.join(operatorDir, "config", "crd", "bases", "fluxcd.controlplane.io_fluxinstances.yaml");
  kube.kubectl(["apply", "--server-side", "-f", crd]);
  kube.kubectl([
    "wait",
    "--for=condition=Established",
    "--timeout=60s",
    "crd/fluxinstances.fluxcd.controlplane.io",
  ]);
}

/** `<dir>/env.json`, written by `flux-test-env.sh start`. */
interface EnvFile {
  gitUrl: string;
  knownHostsLine: string;
  deployKeyPath: string;
  repoPath: string;
  sops: string;
  renderSync: string;
  logs: string;
}

export interface FluxEnv extends EnvFile {
  dir: string;
  /** The deploy key (OpenSSH private key) the Git server authorizes. */
  deployKey: string;
  /** Writes `files` (path -> content) into a new commit on `main` and pushes it; returns the commit id. */
  commit: (message: string, files: Record<string, string>) => string;
  /** sops --encrypt of a Kubernetes object's data for a GPG fingerprint or an age recipient. */
  encrypt: (plaintext: string, recipient: { pgp: string; gpgPublicKey: string } | { age: string }) => string;
  /** Stops the two controllers only (the operator's uninstall deletes their Deployments first). */
  stopControllers: () => void;
  stop: () => void;
}

/** Build (a no-op when up to date), then start the controllers and the Git server against `kube`. */
export function startFluxEnv(kube: KubeEnv): FluxEnv {
  fluxTestEnv("build");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mynodeone-flux-"));
  const stop = (): void => {
    if (fs.existsSync(path.join(dir, ".flux-test-env"))) {
      fluxTestEnv("stop", dir);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    return fluxEnvIn(dir, fluxTestEnv("start", dir, kube.kubeconfigPath), stop);
  } catch (err) {
    stop();
    throw err;
  }
}

function fluxEnvIn(dir: string, envFile: string, stop: () => void): FluxEnv {
  const env = JSON.parse(fs.readFileSync(envFile, "utf8")) as EnvFile;
  const work = path.join(dir, "work");
  const git = (args: string[], cwd = work): string =>
    execFileSync(
      "git",
      ["-c", "user.name=mynodeone-test", "-c", "user.email=test@example.invalid", ...args],
      {
        cwd,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      },
    ).trim();
  git(["clone", "--quiet", env.repoPath, work], dir);
  git(["checkout", "--quiet", "-B", "main"]);
  return {
    ...env,
    dir,
    deployKey: fs.readFileSync(env.deployKeyPath, "utf8"),
    commit: (message, files) => {
      for (const [file, content] of Object.entries(files)) {
        fs.mkdirSync(path.dirname(path.join(work, file)), { recursive: true });
        fs.writeFileSync(path.join(work, file), content);
      }
      git(["add", "--all"]);
      git(["commit", "--quiet", "-m", message]);
      git(["push", "--quiet", "origin", "HEAD:main"]);
      return git(["rev-parse", "HEAD"]);
    },
    encrypt: (plaintext, recipient) => {
      const scratch = fs.mkdtempSync(path.join(dir, "sops-"));
      try {
        const input = path.join(scratch, "secret.yaml");
        fs.writeFileSync(input, plaintext);
        // Only data is encrypted, as Flux's guide does: kustomize reads the object's kind and metadata.
        const args = ["--disable-version-check", "--encrypt", "--encrypted-regex", "^(data|stringData)$"];
        const environment: Record<string, string> = { ...(process.env as Record<string, string>) };
        if ("pgp" in recipient) {
          const gnupgHome = path.join(scratch, "gnupg");
          fs.mkdirSync(gnupgHome, { mode: 0o700 });
          execFileSync("gpg", ["--batch", "--quiet", "--import"], {
            input: recipient.gpgPublicKey,
            env: { ...environment, GNUPGHOME: gnupgHome },
            stdio: ["pipe", "ignore", "pipe"],
          });
          environment["GNUPGHOME"] = gnupgHome;
          args.push("--pgp", recipient.pgp);
        } else {
          args.push("--age", recipient.age);
        }
        return execFileSync(env.sops, [...args, input], { env: environment, encoding: "utf8" });
      } finally {
        fs.rmSync(scratch, { recursive: true, force: true });
      }
    },
    stopControllers: () => fluxTestEnv("stop-controllers", dir),
    stop,
  };
}

/** The operator's finalizer (api/v1/common_types.go). */
export const OPERATOR_FINALIZER = "fluxcd.controlplane.io/finalizer";
/** The field manager the operator applies with. */
const OPERATOR_FIELD_MANAGER = "flux-operator";

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  observedGeneration?: number;
}
interface FluxObject {
  metadata: { generation?: number; deletionTimestamp?: string; finalizers?: string[] };
  status?: { conditions?: Condition[]; lastAppliedRevision?: string };
}

/** Consecutive failed rounds after which the stand-in gives up (a transient API error is retried). */
const STAND_IN_MAX_FAILURES = 10;

/**
 * What the Flux Operator does with a FluxInstance, for the parts a process without a kubelet can do. The
 * operator binary cannot be built here (docs/testing.md), so this stands in for its controller loop; what it
 * applies is the operator's own code: the sync objects come from render-sync (the operator's builder at the
 * pinned version), and its status is written in the operator's form (fluxinstance_controller.go).
 *  - on a new generation of the FluxInstance: add the finalizer, apply the GitRepository and Kustomization
 *    render-sync generates from it (server-side, as `flux-operator`), report Ready=Unknown; once that
 *    Kustomization is Ready, report Ready with the distribution's revision, as the operator does after its
 *    health checks (the controllers and CRDs are already running: flux-test-env.sh);
 *  - on its deletion, the uninstall of internal/controller/fluxinstance_uninstaller.go, as far as it concerns
 *    what runs here: stop the controllers (step 1, "delete the deployments"), remove the Flux objects'
 *    finalizers (2), delete the Flux CRDs (the CRD part of 3, and 4: the garbage collector then deletes every
 *    Flux object), remove the FluxInstance's finalizer (5).
 */
export class OperatorStandIn {
  private stopped = false;
  private loop: Promise<void> | undefined;
  /** The sync objects as render-sync printed them (YAML), once applied. */
  syncObjects: string | undefined;
  /** Why the stand-in gave up, if it did: tests fail with this instead of waiting for a timeout. */
  failure: Error | undefined;

  constructor(
    private readonly kube: KubeEnv,
    private readonly flux: FluxEnv,
    private readonly namespace = "flux-system",
    private readonly name = "flux",
  ) {}

  start(): void {
    this.stopped = false;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  private async kubectl(args: string[], input?: string): Promise<string> {
    const child = run(
      this.kube.kubectlBinary,
      [`--kubeconfig=${this.kube.kubeconfigPath}`, "--request-timeout=30s", ...args],
      { encoding: "utf8", maxBuffer: 16 * 1024 * 1024 },
    );
    if (input !== undefined) {
      child.child.stdin?.end(input);
    }
    return (await child).stdout;
  }

  /** kubectl patch of the FluxInstance (of its status subresource with `subresource`). */
  private async patchInstance(type: "json" | "merge", patch: unknown, subresource?: "status"): Promise<void> {
    await this.kubectl([
      "-n",
      this.namespace,
      "patch",
      "fluxinstances.fluxcd.controlplane.io",
      this.name,
      `--type=${type}`,
      ...(subresource !== undefined ? [`--subresource=${subresource}`] : []),
      `-p=${JSON.stringify(patch)}`,
    ]);
  }

  private async get(kind: string, name: string): Promise<(FluxObject & Record<string, unknown>) | undefined> {
    const out = await this.kubectl([
      "-n",
      this.namespace,
      "get",
      kind,
      name,
      "--ignore-not-found",
      "-o",
      "json",
    ]);
    return out.trim() === "" ? undefined : (JSON.parse(out) as FluxObject & Record<string, unknown>);
  }

  private async run(): Promise<void> {
    const state: RoundState = {};
    let failures = 0;
    while (!this.stopped) {
      try {
        if (await this.round(state)) {
          return;
        }
        failures = 0;
      } catch (err) {
        failures += 1;
        if (failures >= STAND_IN_MAX_FAILURES) {
          this.failure = new Error(`the operator stand-in gave up after ${String(failures)} failed rounds`, {
            cause: err,
          });
          return;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }

  /** One reconcile of the FluxInstance; true once it is gone after an uninstall. */
  private async round(state: RoundState): Promise<boolean> {
    const instance = await this.get("fluxinstances.fluxcd.controlplane.io", this.name);
    if (instance === undefined) {
      return false;
    }
    if (instance.metadata.deletionTimestamp !== undefined) {
      await this.uninstall();
      return true;
    }
    const generation = instance.metadata.generation ?? 0;
    if (generation !== state.generation) {
      const finalizers = instance.metadata.finalizers ?? [];
      if (!finalizers.includes(OPERATOR_FINALIZER)) {
        await this.patchInstance("json", [
          finalizers.length === 0
            ? { op: "add", path: "/metadata/finalizers", value: [OPERATOR_FINALIZER] }
            : { op: "add", path: "/metadata/finalizers/-", value: OPERATOR_FINALIZER },
        ]);
      }
      state.distributionRevision = await this.applySyncObjects(YAML.stringify(instance));
      state.generation = generation;
      state.started = Date.now();
      state.reported = false;
      await this.reportStatus("Unknown", "Progressing", "Reconciliation in progress", generation);
    }
    if (state.reported === true) {
      return false;
    }
    const kustomization = await this.get("kustomizations.kustomize.toolkit.fluxcd.io", this.namespace);
    const ready = kustomization?.status?.conditions?.find((c) => c.type === "Ready");
    if (ready?.status === "True" && kustomization?.status?.lastAppliedRevision !== undefined) {
      const seconds = Math.round((Date.now() - (state.started ?? Date.now())) / 1000);
      await this.reportStatus(
        "True",
        "ReconciliationSucceeded",
        `Reconciliation finished in ${String(seconds)}s`,
        generation,
        state.distributionRevision,
      );
      state.reported = true;
    }
    return false;
  }

  /** render-sync on the live FluxInstance, applied as the operator applies (server-side, forced); returns the
   * distribution revision the operator's builder reports. */
  private async applySyncObjects(instanceYaml: string): Promise<string> {
    const file = path.join(this.flux.dir, "fluxinstance.yaml");
    fs.writeFileSync(file, instanceYaml);
    const { stdout, stderr } = await run(this.flux.renderSync, [file], {
      encoding: "utf8",
      timeout: 120_000,
    });
    const revision = /revision (\S+),/.exec(stderr)?.[1];
    if (revision === undefined) {
      throw new Error(`render-sync printed no revision: ${stderr}`);
    }
    await this.kubectl(
      ["apply", "--server-side", "--force-conflicts", `--field-manager=${OPERATOR_FIELD_MANAGER}`, "-f", "-"],
      stdout,
    );
    this.syncObjects = stdout;
    return revision;
  }

  /** The FluxInstance's status as the operator writes it: the Ready condition and the applied revision. */
  private async reportStatus(
    status: "True" | "Unknown",
    reason: string,
    message: string,
    observedGeneration: number,
    lastAppliedRevision?: string,
  ): Promise<void> {
    const condition = {
      type: "Ready",
      status,
      reason,
      message,
      observedGeneration,
      lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    };
    await this.patchInstance(
      "merge",
      {
        status: {
          conditions: [condition],
          ...(lastAppliedRevision !== undefined ? { lastAppliedRevision } : {}),
        },
      },
      "status",
    );
  }

  private async uninstall(): Promise<void> {
    this.flux.stopControllers();
    for (const kind of [
      "gitrepositories.source.toolkit.fluxcd.io",
      "kustomizations.kustomize.toolkit.fluxcd.io",
    ]) {
      const list = JSON.parse(await this.kubectl(["get", kind, "-A", "-o", "json"])) as {
        items: { metadata: { name: string; namespace: string } }[];
      };
      for (const item of list.items) {
        await this.kubectl([
          "-n",
          item.metadata.namespace,
          "patch",
          kind,
          item.metadata.name,
          "--type=merge",
          `-p=${JSON.stringify({ metadata: { finalizers: null } })}`,
        ]);
      }
    }
    const crds = (await this.kubectl(["get", "crd", "-o", "name"]))
      .split("\n")
      .filter((line) => /\.(source|kustomize)\.toolkit\.fluxcd\.io$/.test(line));
    if (crds.length > 0) {
      await this.kubectl(["delete", "--wait=true", "--timeout=120s", ...crds]);
    }
    await this.patchInstance("json", [{ op: "remove", path: "/metadata/finalizers" }]);
  }
}

/** What the stand-in remembers between rounds. */
interface RoundState {
  generation?: number;
  started?: number;
  reported?: boolean;
  distributionRevision?: string;
}
