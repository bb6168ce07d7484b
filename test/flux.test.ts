import { strict as assert } from "node:assert";
import * as crypto from "node:crypto";
import * as command from "@pulumi/command";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { loadConfig, type PlatformConfig } from "../components/config";
import { durationSeconds, type FluxConfig } from "../components/flux/config";
import {
  describeFluxInstanceStatus,
  FLUX_COMPONENTS,
  FluxBootstrap,
  FluxNamespace,
  GITHUB_KNOWN_HOSTS,
  gitRefName,
  GITOPS_PROVIDER_OPTIONS,
  keepFluxOnDestroy,
  knownHostsFile,
  readinessMessage,
  sopsDecryptionPatch,
} from "../components/flux";
import { SopsSecret } from "../components/sops";
import { devRawConfig, prodRawConfig } from "./fixtures";
import {
  installMocks,
  metadataOf,
  outputsFor,
  registeredUnder,
  secretData,
  valueOf,
  type RecordedResource,
  type Registered,
} from "./mocks";

installMocks();

const NAMESPACE = "kubernetes:core/v1:Namespace";
const SECRET = "kubernetes:core/v1:Secret";
const RELEASE = "kubernetes:helm.sh/v3:Release";
const INSTANCE = "kubernetes:fluxcd.controlplane.io/v1:FluxInstance";
const TLS_KEY = "tls:index/privateKey:PrivateKey";
const FAKE_PRIVATE_KEY =
  "-----BEGIN OPENSSH PRIVATE KEY-----\ntest-only\n-----END OPENSSH PRIVATE KEY-----\n";
const FAKE_PUBLIC_KEY = "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQ-test-only\n";

interface Built extends Registered {
  ready: RecordedResource;
  bootstrap: FluxBootstrap;
}

/** Namespace, SOPS Secret and Flux as the program wires them, all waiting for a "cluster ready" resource. */
async function build(prefix: string, config: Pick<PlatformConfig, "flux" | "sops">): Promise<Built> {
  const provider = new k8s.Provider(`${prefix}-provider`, { kubeconfig: "{}", ...GITOPS_PROVIDER_OPTIONS });
  const clusterReady = [new command.local.Command(`${prefix}-ready`, { create: "true" })];
  const namespace = new FluxNamespace(`${prefix}-ns`, { provider, flux: config.flux, clusterReady });
  const sops = new SopsSecret(`${prefix}-sops`, {
    provider,
    namespace: namespace.name,
    sops: config.sops,
    flux: config.flux,
    clusterReady,
  });
  const bootstrap = new FluxBootstrap(`${prefix}-flux`, {
    provider,
    namespace: namespace.name,
    flux: config.flux,
    sopsSecretName: sops.secretName,
    clusterReady,
  });
  await valueOf(bootstrap.syncStatus);
  if (bootstrap.deployPublicKey !== undefined) {
    await valueOf(bootstrap.deployPublicKey);
  }
  const registered = await registeredUnder(prefix);
  return { ...registered, ready: registered.one("command:local:Command"), bootstrap };
}

function secretNamed(built: Built, name: string): RecordedResource | undefined {
  return built.of(SECRET).find((r) => metadataOf(r).name === name);
}

function minutes(duration: string | undefined): number {
  const match = /^(\d+)m$/.exec(duration ?? "");
  assert.ok(match, `expected a duration in minutes, got ${String(duration)}`);
  return Number(match[1]);
}

function spec(instance: RecordedResource): Record<string, unknown> {
  return instance.inputs["spec"] as Record<string, unknown>;
}

async function platformConfig(stack: "dev" | "prod"): Promise<PlatformConfig> {
  return loadConfig(stack === "dev" ? await devRawConfig() : await prodRawConfig(), { stack });
}

function withFlux(config: PlatformConfig, flux: Partial<FluxConfig>): PlatformConfig {
  return { ...config, flux: { ...config.flux, ...flux } };
}

describe("flux: pure helpers", () => {
  it("says what the up waits for at the FluxInstance, and where to look when the wait ends", async () => {
    const { flux } = await platformConfig("dev");
    assert.equal(
      readinessMessage({ ...flux, readyTimeout: "20m", installOperator: false }),
      "on create or change, pulumi up waits up to 20m (flux.readyTimeout) for FluxInstance flux-system/flux " +
        "to report Ready: the cluster's own " +
        "Flux Operator installs Flux 2.9.5 and applies clusters/dev from ssh://git@github.com/example/platform. " +
        'If the wait ends first: kubectl -n flux-system describe fluxinstance flux (docs/gitops.md, "Readiness")',
    );
    assert.match(
      readinessMessage(flux),
      /waits up to 10m .* the Flux Operator \(installed by this stack\) installs Flux/,
    );
  });

  it("reads readyTimeout durations in hours, minutes and seconds", () => {
    assert.equal(durationSeconds("10m"), 600);
    assert.equal(durationSeconds("1h30m"), 5400);
    assert.equal(durationSeconds("90s"), 90);
    assert.equal(durationSeconds(""), undefined);
    assert.equal(durationSeconds("1.5h"), undefined);
  });

  it("pins github.com's published SSH host keys (fingerprints recomputed)", () => {
    // The SHA256 fingerprints GitHub Docs publishes ("GitHub's SSH key fingerprints").
    const published: Record<string, string> = {
      "ssh-ed25519": "+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU",
      "ecdsa-sha2-nistp256": "p2QAMXNIC1TJYWeIOttrVc98/R1BUFWu3/LiyKgUfQM",
      "ssh-rsa": "uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s",
    };
    assert.equal(GITHUB_KNOWN_HOSTS.length, 3);
    for (const line of GITHUB_KNOWN_HOSTS) {
      const [host, type, key] = line.split(" ");
      assert.equal(host, "github.com");
      const blob = Buffer.from(key ?? "", "base64");
      // The key blob starts with its own algorithm name: the line is internally consistent.
      assert.equal(blob.subarray(4, 4 + blob.readUInt32BE(0)).toString(), type);
      const fingerprint = crypto.createHash("sha256").update(blob).digest("base64").replace(/=+$/, "");
      assert.equal(fingerprint, published[type ?? ""], `fingerprint of the ${type ?? "?"} key`);
    }
  });

  it("uses the configured known_hosts lines, else github.com's", () => {
    assert.equal(knownHostsFile([]), GITHUB_KNOWN_HOSTS.join("\n") + "\n");
    const own = ["[git.example.com]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHtest"];
    assert.equal(knownHostsFile(own), `${own[0] ?? ""}\n`);
  });

  it("turns a branch or tag into the ref the FluxInstance takes", () => {
    assert.equal(gitRefName({ branch: "main" }), "refs/heads/main");
    assert.equal(gitRefName({ tag: "v1.2.0" }), "refs/tags/v1.2.0");
  });

  it("patches the generated flux-system Kustomization to decrypt with the SOPS Secret", () => {
    const { target, patch } = sopsDecryptionPatch("sops-gpg");
    assert.deepEqual(target, {
      group: "kustomize.toolkit.fluxcd.io",
      kind: "Kustomization",
      name: "flux-system",
    });
    assert.ok(!("namespace" in target), "the operator rejects a namespace in patch targets");
    assert.deepEqual(JSON.parse(patch), [
      { op: "add", path: "/spec/decryption", value: { provider: "sops", secretRef: { name: "sops-gpg" } } },
    ]);
  });

  it("describes the FluxInstance status", () => {
    assert.match(describeFluxInstanceStatus(undefined), /^unknown/);
    assert.equal(
      describeFluxInstanceStatus({
        conditions: [
          { type: "Reconciling", status: "False" },
          {
            type: "Ready",
            status: "True",
            reason: "ReconciliationSucceeded",
            message: "Reconciliation finished",
          },
        ],
        lastAppliedRevision: "v2.9.5@sha256:abc",
      }),
      "Ready=True (ReconciliationSucceeded): Reconciliation finished; applied v2.9.5@sha256:abc",
    );
    assert.equal(describeFluxInstanceStatus({ conditions: [] }), "Ready=Unknown");
  });

  it("keeps Flux objects on destroy when asked to, or when this stack did not install Flux", () => {
    assert.equal(keepFluxOnDestroy({ install: true, keepOnDestroy: false }), false);
    assert.equal(keepFluxOnDestroy({ install: true, keepOnDestroy: true }), true);
    assert.equal(keepFluxOnDestroy({ install: false, keepOnDestroy: false }), true);
  });
});

describe("flux: FluxBootstrap (mocked)", () => {
  // Fake provider outputs for this suite only; whatever another test file installed is restored afterwards.
  const fakeOutputs = new Map<
    string,
    (typeof outputsFor extends Map<string, infer F> ? F : never) | undefined
  >();
  before(() => {
    fakeOutputs.set(TLS_KEY, outputsFor.get(TLS_KEY));
    fakeOutputs.set(INSTANCE, outputsFor.get(INSTANCE));
    outputsFor.set(TLS_KEY, () => ({
      privateKeyOpenssh: FAKE_PRIVATE_KEY,
      publicKeyOpenssh: FAKE_PUBLIC_KEY,
    }));
    outputsFor.set(INSTANCE, () => ({
      status: { conditions: [{ type: "Ready", status: "True", message: "Reconciliation finished in 9s" }] },
    }));
  });
  after(() => {
    for (const [type, previous] of fakeOutputs) {
      if (previous) {
        outputsFor.set(type, previous);
      } else {
        outputsFor.delete(type);
      }
    }
  });

  let dev: Built;
  let devConfig: PlatformConfig;
  before(async () => {
    devConfig = await platformConfig("dev");
    dev = await build("fluxdev", devConfig);
  });

  it("creates the flux-system namespace, the operator release and the FluxInstance with pinned versions", () => {
    const namespace = dev.one(NAMESPACE);
    assert.equal(metadataOf(namespace).name, "flux-system");

    const release = dev.one(RELEASE);
    assert.equal(release.inputs["name"], "flux-operator");
    assert.equal(release.inputs["chart"], "oci://ghcr.io/controlplaneio-fluxcd/charts/flux-operator");
    assert.equal(release.inputs["version"], devConfig.flux.operatorChartVersion);
    assert.match(devConfig.flux.operatorChartVersion, /^\d+\.\d+\.\d+$/, "an exact chart version");
    assert.equal(release.inputs["namespace"], "flux-system");
    assert.equal(release.inputs["createNamespace"], false);

    const instance = dev.one(INSTANCE);
    const metadata = metadataOf(instance);
    assert.equal(metadata.name, "flux");
    assert.equal(metadata.namespace, "flux-system");
    assert.equal(instance.inputs["apiVersion"], "fluxcd.controlplane.io/v1");
    assert.equal(instance.inputs["kind"], "FluxInstance");
    const s = spec(instance);
    assert.deepEqual(s["distribution"], {
      version: devConfig.flux.distributionVersion,
      registry: "ghcr.io/fluxcd",
    });
    assert.match(devConfig.flux.distributionVersion, /^\d+\.\d+\.\d+$/, "an exact version, no range");
    assert.deepEqual(s["components"], [...FLUX_COMPONENTS]);
    assert.deepEqual(s["cluster"], { type: "kubernetes", networkPolicy: true, domain: "cluster.local" });
  });

  it("syncs clusters/<environment> over SSH with the pull secret, and decrypts with sops-gpg", () => {
    const s = spec(dev.one(INSTANCE));
    assert.deepEqual(s["sync"], {
      kind: "GitRepository",
      url: "ssh://git@github.com/example/platform",
      ref: "refs/heads/main",
      path: "clusters/dev",
      interval: "1m",
      pullSecret: "flux-system",
    });
    assert.deepEqual((s["kustomize"] as { patches: unknown[] }).patches, [sopsDecryptionPatch("sops-gpg")]);
  });

  it("uses another path for prod than for dev", async () => {
    const prod = await build("fluxprod", await platformConfig("prod"));
    const devSync = spec(dev.one(INSTANCE))["sync"] as { path: string };
    const prodSync = spec(prod.one(INSTANCE))["sync"] as { path: string };
    assert.equal(devSync.path, "clusters/dev");
    assert.equal(prodSync.path, "clusters/prod");
    assert.deepEqual(prod.bootstrap.sync, {
      url: "ssh://git@github.com/example/platform",
      ref: "refs/heads/main",
      path: "clusters/prod",
    });
  });

  it("waits (bounded) for the FluxInstance to be Ready and reports its status", async () => {
    const instance = dev.one(INSTANCE);
    assert.equal(metadataOf(instance).annotations?.["pulumi.com/waitFor"], "condition=Ready");
    assert.equal(spec(instance)["wait"], true);
    assert.equal(instance.customTimeouts?.create, "10m", "flux.readyTimeout's default bounds the create");
    assert.equal(instance.customTimeouts.update, "10m", "and the update");
    assert.ok(minutes(instance.customTimeouts.delete) >= 10, "the finalizer's uninstall needs time");
    assert.ok(minutes(dev.one(RELEASE).customTimeouts?.delete) >= 10);
    assert.equal(await valueOf(dev.bootstrap.syncStatus), "Ready=True: Reconciliation finished in 9s");
  });

  it("orders: operator and both Secrets before the FluxInstance, everything after the cluster is ready", () => {
    const instance = dev.one(INSTANCE);
    const release = dev.one(RELEASE);
    const sopsSecret = secretNamed(dev, "sops-gpg");
    const gitSecret = secretNamed(dev, "flux-system");
    assert.ok(sopsSecret && gitSecret);
    for (const before of [release, sopsSecret, gitSecret]) {
      assert.ok(instance.dependencies.includes(before.urn), `FluxInstance must depend on ${before.name}`);
    }
    const namespace = dev.one(NAMESPACE);
    for (const inNamespace of [release, sopsSecret, gitSecret, instance]) {
      assert.ok(
        inNamespace.dependencies.includes(namespace.urn),
        `${inNamespace.name} waits for the namespace`,
      );
    }
    const kubernetesObjects = dev.all.filter((r) => r.type.startsWith("kubernetes:"));
    assert.equal(kubernetesObjects.length, 5);
    for (const object of kubernetesObjects) {
      assert.ok(object.dependencies.includes(dev.ready.urn), `${object.name} must wait for the cluster`);
      assert.ok(object.provider.includes("fluxdev-provider"), `${object.name} uses the given provider`);
    }
  });

  it("writes the SSH pull secret: generated deploy key, its public half, github.com's host keys", async () => {
    const secret = secretNamed(dev, "flux-system");
    assert.equal((secret?.inputs["metadata"] as { namespace: string }).namespace, "flux-system");
    assert.equal(secret?.inputs["type"], "Opaque");
    assert.deepEqual(secretData(secret), {
      identity: FAKE_PRIVATE_KEY,
      "identity.pub": FAKE_PUBLIC_KEY,
      known_hosts: GITHUB_KNOWN_HOSTS.join("\n") + "\n",
    });

    const key = dev.one(TLS_KEY);
    assert.equal(key.inputs["algorithm"], "ECDSA");
    assert.equal(key.inputs["ecdsaCurve"], "P384");
    assert.ok(dev.bootstrap.deployPublicKey);
    assert.equal(await valueOf(dev.bootstrap.deployPublicKey), FAKE_PUBLIC_KEY.trim());
  });

  it("uses a given deploy key instead of generating one", async () => {
    const given = "-----BEGIN OPENSSH PRIVATE KEY-----\ngiven-test-only\n-----END OPENSSH PRIVATE KEY-----\n";
    const knownHosts = ["[git.example.com]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHtest"];
    const built = await build(
      "fluxgiven",
      withFlux(devConfig, {
        gitUrl: "ssh://git@git.example.com:2222/platform",
        gitPrivateKey: pulumi.secret(given),
        knownHosts,
      }),
    );
    assert.equal(built.of(TLS_KEY).length, 0);
    assert.deepEqual(secretData(secretNamed(built, "flux-system")), {
      identity: given,
      known_hosts: `${knownHosts[0] ?? ""}\n`,
    });
    assert.equal(built.bootstrap.deployPublicKey, undefined);
  });

  it("uses username/password for HTTPS with a token, and no Secret for a public repository", async () => {
    const https = { gitUrl: "https://git.example.com/platform.git", ref: { tag: "v1.0.0" } };
    const withToken = await build(
      "fluxhttps",
      withFlux(devConfig, { ...https, gitToken: pulumi.secret("t0ken") }),
    );
    assert.deepEqual(secretData(secretNamed(withToken, "flux-system")), {
      username: "git",
      password: "t0ken",
    });
    const sync = spec(withToken.one(INSTANCE))["sync"] as Record<string, unknown>;
    assert.equal(sync["ref"], "refs/tags/v1.0.0");
    assert.equal(sync["pullSecret"], "flux-system");
    assert.equal(withToken.of(TLS_KEY).length, 0);

    const open = await build("fluxpublic", withFlux(devConfig, https));
    assert.equal(open.of(SECRET).length, 1, "only sops-gpg");
    assert.ok(!("pullSecret" in (spec(open.one(INSTANCE))["sync"] as object)));
  });

  it("passes every Secret's data to the provider as a Pulumi secret", () => {
    assert.equal(dev.of(SECRET).length, 2);
    for (const secret of dev.of(SECRET)) {
      assert.ok(Object.keys(secretData(secret)).length > 0, secret.name);
    }
  });

  it("takes over the objects it owns on a rebuild, never the namespace labels the operator sets", () => {
    for (const owned of [...dev.of(SECRET), dev.one(INSTANCE)]) {
      assert.equal(metadataOf(owned).annotations?.["pulumi.com/patchForce"], "true", owned.name);
    }
    const namespace = dev.one(NAMESPACE).inputs["metadata"] as Record<string, unknown>;
    assert.deepEqual(Object.keys(namespace), ["name"]);
  });

  it("deletes Flux on destroy by default, the FluxInstance before the operator", () => {
    for (const object of dev.all.filter((r) => r.type.startsWith("kubernetes:"))) {
      assert.equal(object.retainOnDelete, false, object.name);
    }
    // Pulumi deletes in reverse dependency order: the instance (whose finalizer needs the operator) goes first.
    assert.ok(dev.one(INSTANCE).dependencies.includes(dev.one(RELEASE).urn));
  });

  it("keepOnDestroy retains every Flux object", async () => {
    const kept = await build("fluxkeep", withFlux(devConfig, { keepOnDestroy: true }));
    const objects = kept.all.filter((r) => r.type.startsWith("kubernetes:"));
    assert.equal(objects.length, 5);
    for (const object of objects) {
      assert.equal(object.retainOnDelete, true, object.name);
    }
  });

  it("install=false creates only the namespace and the SOPS Secret, both kept on destroy", async () => {
    const off = await build("fluxoff", withFlux(devConfig, { install: false }));
    assert.equal(off.of(RELEASE).length, 0);
    assert.equal(off.of(INSTANCE).length, 0);
    const objects = off.all.filter((r) => r.type.startsWith("kubernetes:"));
    assert.deepEqual(objects.map((r) => r.type).sort(), [NAMESPACE, SECRET]);
    assert.equal(metadataOf(off.one(SECRET)).name, "sops-gpg");
    for (const object of objects) {
      assert.equal(object.retainOnDelete, true, `${object.name}: Flux belongs to whoever installed it`);
    }
    // The deploy key is still generated, so it can be registered before Flux is installed.
    assert.ok(off.bootstrap.deployPublicKey);
    assert.equal(await valueOf(off.bootstrap.deployPublicKey), FAKE_PUBLIC_KEY.trim());
    assert.match(await valueOf(off.bootstrap.syncStatus), /not installed/);
  });

  it("installOperator=false (the cluster runs the operator): the FluxInstance and both Secrets, no release", async () => {
    const given =
      "-----BEGIN OPENSSH PRIVATE KEY-----\noperator-present-test-only\n-----END OPENSSH PRIVATE KEY-----\n";
    const present = await build(
      "fluxpresent",
      withFlux(devConfig, { installOperator: false, gitPrivateKey: pulumi.secret(given) }),
    );
    assert.equal(present.of(RELEASE).length, 0, "no Helm release of the operator");
    const instance = present.one(INSTANCE);
    assert.deepEqual(
      present
        .of(SECRET)
        .map((r) => metadataOf(r).name)
        .sort(),
      ["flux-system", "sops-gpg"],
    );
    assert.equal(secretData(secretNamed(present, "flux-system"))["identity"], given);
    // Still waits, bounded, for Ready: the operator already in the cluster reconciles it.
    assert.equal(metadataOf(instance).annotations?.["pulumi.com/waitFor"], "condition=Ready");
    assert.ok(instance.customTimeouts?.create, "a bounded wait");
    const credentials = secretNamed(present, "flux-system");
    assert.ok(
      credentials && instance.dependencies.includes(credentials.urn),
      "created after the Git credentials",
    );
  });
});
