// Flux in the cluster: the Flux Operator (pinned Helm chart) and one FluxInstance that installs a pinned Flux
// distribution and syncs `clusters/<environment>` from Git, decrypting SOPS files with the `sops-gpg` key.
//
// Why the Flux Operator rather than `flux bootstrap`, the Terraform provider or the flux2 chart: it needs only a
// read-only deploy key (nothing is committed to Git, so a rebuild with lost state cannot overwrite the repo or
// make Flux prune itself), its API is declarative (one object, re-applied by `pulumi up`), its FluxInstance
// finalizer uninstalls Flux while keeping the workloads Flux deployed, and it names the sync objects like
// `flux bootstrap` (`flux-system`). Upstream install manifests plus our own GitRepository/Kustomization were
// rejected: deleting a Pulumi-owned `flux-system` Kustomization (prune: true) on destroy would garbage-collect
// every workload, and the manifests cannot be fetched at build time here to pin them.
//
// One owner per object: Pulumi owns the operator release, the FluxInstance and the Git credentials Secret; the
// operator owns everything it generates (controllers, CRDs, GitRepository and Kustomization `flux-system`).
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { parseGitUrl, type FluxConfig } from "./config";
import { gitRefName, knownHostsFile } from "./git";
import {
  describeFluxInstanceStatus,
  FLUX_INSTANCE_API_VERSION,
  FLUX_INSTANCE_NAME,
  fluxInstanceSpec,
} from "./instance";
import { FLUX_NAMESPACE, keepFluxOnDestroy, OWNED_OBJECT_ANNOTATIONS } from "./ownership";

/** Helm release name of the operator. */
export const FLUX_OPERATOR_RELEASE = "flux-operator";
/** The Git credentials Secret; `flux bootstrap` uses the same name. */
export const GIT_CREDENTIALS_SECRET = FLUX_NAMESPACE;
/**
 * The FluxInstance's delete: the operator's uninstall waits up to ~5 min for the controllers and ~5 min for the
 * CRDs, so it gets more than both together. Create and update wait `flux.readyTimeout`.
 */
export const FLUX_DELETE_TIMEOUT = "15m";

export interface FluxBootstrapArgs {
  /** Provider for the cluster (built from the cluster's kubeconfig or `existingKubeconfig`). */
  provider: k8s.Provider;
  /** `flux-system`, from `FluxNamespace.name` (the output carries the dependency on the namespace). */
  namespace: pulumi.Input<string>;
  flux: FluxConfig;
  /** The SOPS key Secret's name, from `SopsSecret.secretName`: the FluxInstance is created after it. */
  sopsSecretName: pulumi.Input<string>;
  /** Resources that mean "the cluster API is up" (e.g. the k3s component); everything waits for them. */
  clusterReady?: pulumi.Input<pulumi.Resource>[];
}

const base64 = (value: string): string => Buffer.from(value, "utf8").toString("base64");

/** The SSH deploy key; `publicKey` only when this stack generated it. */
interface SshIdentity {
  privateKey: pulumi.Output<string>;
  publicKey?: pulumi.Output<string>;
}

export class FluxBootstrap extends pulumi.ComponentResource {
  /**
   * Public half of the generated SSH deploy key (`ecdsa-sha2-nistp384 ...`): add it to the repository as a
   * read-only deploy key. Undefined when `flux.gitPrivateKey` is given or the URL is https.
   */
  public readonly deployPublicKey: pulumi.Output<string> | undefined;
  /** What Flux syncs: URL, ref and path. */
  public readonly sync: { url: string; ref: string; path: string };
  /** The FluxInstance's Ready condition as last seen by `pulumi up` (see `describeFluxInstanceStatus`). */
  public readonly syncStatus: pulumi.Output<string>;

  constructor(name: string, args: FluxBootstrapArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mynodeone:flux:FluxBootstrap", name, {}, opts);
    const { flux, provider } = args;
    const git = parseGitUrl(flux.gitUrl);
    if (typeof git === "string") {
      throw new Error(`FluxBootstrap ${name}: flux.gitUrl ${git}`);
    }
    this.sync = { url: flux.gitUrl, ref: gitRefName(flux.ref), path: flux.path };
    const clusterReady = args.clusterReady ?? [];
    const objectOptions = (dependsOn: pulumi.Input<pulumi.Resource>[]): pulumi.CustomResourceOptions => ({
      parent: this,
      provider,
      dependsOn: [...clusterReady, ...dependsOn],
      retainOnDelete: keepFluxOnDestroy(flux),
    });

    // The SSH identity: the given deploy key, or one generated here. Generated also when install=false, so its
    // public half can be registered with the Git host before the FluxInstance first needs it (docs/gitops.md
    // "First install"). A generated key lives in the stack state only.
    let ssh: SshIdentity | undefined;
    if (git.scheme === "ssh") {
      if (flux.gitPrivateKey !== undefined) {
        ssh = { privateKey: flux.gitPrivateKey };
      } else {
        const deployKey = new tls.PrivateKey(
          `${name}-deploy-key`,
          { algorithm: "ECDSA", ecdsaCurve: "P384" },
          { parent: this },
        );
        ssh = { privateKey: deployKey.privateKeyOpenssh, publicKey: deployKey.publicKeyOpenssh };
      }
    }
    // Only for a generated key (there is nothing to register otherwise; an undefined output warns on every run).
    this.deployPublicKey = ssh?.publicKey?.apply((key) => key.trim());

    if (!flux.install) {
      this.syncStatus = pulumi.output("not installed by this stack (flux.install is false)");
      this.registerOutputs({
        deployPublicKey: this.deployPublicKey,
        sync: this.sync,
        syncStatus: this.syncStatus,
      });
      return;
    }

    const credentials = gitCredentials(flux, ssh);
    const credentialsSecret =
      credentials === undefined
        ? undefined
        : new k8s.core.v1.Secret(
            `${name}-git-credentials`,
            {
              metadata: {
                name: GIT_CREDENTIALS_SECRET,
                namespace: args.namespace,
                annotations: OWNED_OBJECT_ANNOTATIONS,
              },
              type: "Opaque",
              data: Object.fromEntries(
                Object.entries(credentials).map(([key, value]) => [key, pulumi.secret(value.apply(base64))]),
              ),
            },
            objectOptions([]),
          );

    // Without the release (flux.installOperator false) the cluster's own operator serves the FluxInstance.
    const operator = !flux.installOperator
      ? undefined
      : new k8s.helm.v3.Release(
          `${name}-operator`,
          {
            name: FLUX_OPERATOR_RELEASE,
            chart: flux.operatorChart,
            version: flux.operatorChartVersion,
            namespace: args.namespace,
            createNamespace: false,
            // A failed install or upgrade is rolled back instead of leaving a half-installed operator.
            atomic: true,
            cleanupOnFail: true,
            timeout: 600,
            maxHistory: 5,
          },
          { ...objectOptions([]), customTimeouts: { create: "10m", update: "10m", delete: "10m" } },
        );

    const spec = pulumi
      .all([args.sopsSecretName, credentialsSecret?.metadata.name])
      .apply(([sopsSecretName, pullSecret]) =>
        fluxInstanceSpec({
          distributionVersion: flux.distributionVersion,
          sync: {
            url: flux.gitUrl,
            ref: gitRefName(flux.ref),
            path: flux.path,
            interval: flux.interval,
            ...(pullSecret !== undefined ? { pullSecret } : {}),
          },
          sopsSecretName,
        }),
      );
    // Depends on the operator release (its CRDs must exist first; on destroy the instance goes first, so its
    // finalizer still has an operator to run it) and on both Secrets (Flux's first reconcile needs them).
    const instance = new k8s.apiextensions.CustomResource(
      `${name}-instance`,
      {
        apiVersion: FLUX_INSTANCE_API_VERSION,
        kind: "FluxInstance",
        metadata: {
          name: FLUX_INSTANCE_NAME,
          namespace: args.namespace,
          annotations: { ...OWNED_OBJECT_ANNOTATIONS, "pulumi.com/waitFor": "condition=Ready" },
        },
        spec,
        // Declared so the live status becomes an output (CustomResource outputs only the keys it was given).
        status: undefined,
      },
      {
        ...objectOptions([
          ...(operator ? [operator] : []),
          ...(credentialsSecret ? [credentialsSecret] : []),
        ]),
        customTimeouts: { create: flux.readyTimeout, update: flux.readyTimeout, delete: FLUX_DELETE_TIMEOUT },
      },
    );
    // Said on the component (the instance's own URN only resolves after its wait), before the wait starts, so
    // a timeout has its explanation right above it.
    if (!pulumi.runtime.isDryRun()) {
      void pulumi.log.info(readinessMessage(flux), this);
    }
    const status = (instance as unknown as { status: pulumi.Output<unknown> }).status;
    this.syncStatus = status.apply(describeFluxInstanceStatus);
    this.registerOutputs({
      deployPublicKey: this.deployPublicKey,
      sync: this.sync,
      syncStatus: this.syncStatus,
    });
  }
}

/**
 * Entries of the `flux-system` Secret: `identity`, `identity.pub` (generated key only) and `known_hosts` for
 * SSH, `username`/`password` for an HTTPS token; undefined for a public HTTPS repository (no Secret needed).
 */
function gitCredentials(
  flux: FluxConfig,
  ssh: SshIdentity | undefined,
): Record<string, pulumi.Output<string>> | undefined {
  if (ssh !== undefined) {
    return {
      identity: ssh.privateKey,
      ...(ssh.publicKey !== undefined ? { "identity.pub": ssh.publicKey } : {}),
      known_hosts: pulumi.output(knownHostsFile(flux.knownHosts)),
    };
  }
  return flux.gitToken === undefined
    ? undefined
    : { username: pulumi.output(flux.httpsUsername), password: flux.gitToken };
}

/** What `pulumi up` waits for at the FluxInstance, and where to look when the wait ends without it. */
export function readinessMessage(flux: FluxConfig): string {
  const operator = flux.installOperator
    ? "the Flux Operator (installed by this stack)"
    : "the cluster's own Flux Operator";
  return (
    `on create or change, pulumi up waits up to ${flux.readyTimeout} (flux.readyTimeout) for FluxInstance ` +
    `${FLUX_NAMESPACE}/${FLUX_INSTANCE_NAME} to report Ready: ${operator} installs Flux ` +
    `${flux.distributionVersion} and applies ${flux.path} from ${flux.gitUrl}. If the wait ends first: ` +
    `kubectl -n ${FLUX_NAMESPACE} describe fluxinstance ${FLUX_INSTANCE_NAME} (docs/gitops.md, "Readiness")`
  );
}
