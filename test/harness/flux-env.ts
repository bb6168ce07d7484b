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
}

export function fluxTestVersions(): FluxTestVersions {
  return JSON.parse(fluxTestEnv("versions")) as FluxTestVersions;
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
  const envFile = fluxTestEnv("start", dir, kube.kubeconfigPath);
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
    stop: () => {
      if (fs.existsSync(path.join(dir, ".flux-test-env"))) {
        fluxTestEnv("stop", dir);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
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
}
interface FluxObject {
  metadata: { deletionTimestamp?: string; finalizers?: string[] };
  status?: { conditions?: Condition[]; lastAppliedRevision?: string; artifact?: { revision?: string } };
}

/**
 * What the Flux Operator does with a FluxInstance, for the parts a process without a kubelet can do. The
 * operator binary cannot be built here (docs/testing.md), so this stands in for its controller loop; what it
 * applies is the operator's own code: the sync objects come from render-sync (the operator's builder at the
 * pinned version), and the uninstall follows internal/controller/fluxinstance_uninstaller.go step by step.
 *  - on a new FluxInstance: add the finalizer, apply the GitRepository and Kustomization render-sync generates
 *    from it (server-side, as `flux-operator`), and once that Kustomization is Ready report Ready with its
 *    revision on the FluxInstance (the controllers and CRDs are already running: flux-test-env.sh);
 *  - on its deletion: stop the controllers (step 1, "delete the deployments"), remove the Flux objects'
 *    finalizers (2), delete the Flux CRDs (3, 4: the garbage collector then deletes every Flux object), remove the
 *    FluxInstance's finalizer (5).
 */
export class OperatorStandIn {
  private stopped = false;
  private loop: Promise<void> | undefined;
  /** The sync objects as render-sync printed them (YAML), once applied. */
  syncObjects: string | undefined;
  /** Flux CRDs the uninstall deleted. */
  readonly uninstalled: string[] = [];

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
    const child = run(this.kube.kubectlBinary, [`--kubeconfig=${this.kube.kubeconfigPath}`, ...args], {
      encoding: "utf8",
      maxBuffer: 16 * 1024 * 1024,
    });
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
    let reportedRevision: string | undefined;
    while (!this.stopped) {
      const instance = await this.get("fluxinstances.fluxcd.controlplane.io", this.name);
      if (instance?.metadata.deletionTimestamp !== undefined) {
        await this.uninstall();
        return;
      }
      if (instance !== undefined) {
        if (!(instance.metadata.finalizers ?? []).includes(OPERATOR_FINALIZER)) {
          await this.patchInstance("json", [
            { op: "add", path: "/metadata/finalizers", value: [OPERATOR_FINALIZER] },
          ]);
        }
        await this.applySyncObjects(YAML.stringify(instance));
        const kustomization = await this.get("kustomizations.kustomize.toolkit.fluxcd.io", this.namespace);
        const ready = kustomization?.status?.conditions?.find((c) => c.type === "Ready");
        const revision = kustomization?.status?.lastAppliedRevision;
        if (ready?.status === "True" && revision !== undefined && revision !== reportedRevision) {
          await this.reportReady(revision);
          reportedRevision = revision;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }

  /** render-sync on the live FluxInstance, applied as the operator applies (server-side, forced). */
  private async applySyncObjects(instanceYaml: string): Promise<void> {
    const file = path.join(this.flux.dir, "fluxinstance.yaml");
    fs.writeFileSync(file, instanceYaml);
    const { stdout } = await run(this.flux.renderSync, [file], { encoding: "utf8" });
    if (stdout !== this.syncObjects) {
      await this.kubectl(
        [
          "apply",
          "--server-side",
          "--force-conflicts",
          `--field-manager=${OPERATOR_FIELD_MANAGER}`,
          "-f",
          "-",
        ],
        stdout,
      );
      this.syncObjects = stdout;
    }
  }

  private async reportReady(revision: string): Promise<void> {
    const status = {
      conditions: [
        {
          type: "Ready",
          status: "True",
          reason: "ReconciliationSucceeded",
          message: `Reconciliation finished, sync applied ${revision}`,
          lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
        },
      ],
      lastAppliedRevision: revision,
    };
    await this.patchInstance("merge", { status }, "status");
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
    await this.kubectl(["delete", "--wait=true", "--timeout=120s", ...crds]);
    this.uninstalled.push(...crds);
    await this.patchInstance("json", [{ op: "remove", path: "/metadata/finalizers" }]);
  }
}
