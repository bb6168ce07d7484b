// The FluxInstance the Flux Operator turns into a running Flux plus the cluster sync (pure helpers).
//
// Field names follow the operator's API (fluxcd.controlplane.io/v1, api/v1/fluxinstance_types.go): the
// operator installs `spec.distribution.version` from the manifests embedded in its image, and for `spec.sync`
// generates a GitRepository and a Kustomization both named after the namespace (`flux-system`, as
// `flux bootstrap` would), which `spec.kustomize.patches` can patch. It must be named `flux` and live in the
// operator's namespace.
import { FLUX_NAMESPACE } from "./ownership";

export const FLUX_INSTANCE_API_VERSION = "fluxcd.controlplane.io/v1";
export const FLUX_INSTANCE_NAME = "flux";
/** Upstream Flux images. */
export const FLUX_REGISTRY = "ghcr.io/fluxcd";
/** The operator's default set, written out so an operator upgrade cannot change what runs. */
export const FLUX_COMPONENTS: readonly string[] = [
  "source-controller",
  "kustomize-controller",
  "helm-controller",
  "notification-controller",
];

export interface FluxSyncSpec {
  /** `ssh://...` or `https://...` */
  url: string;
  /** `refs/heads/<branch>` or `refs/tags/<tag>` (see `gitRefName`). */
  ref: string;
  /** Directory in the repository, e.g. `clusters/prod`. */
  path: string;
  /** Go duration between fetches. */
  interval: string;
  /** Secret with the Git credentials; absent for a public HTTPS repository. */
  pullSecret?: string;
}

/**
 * The kustomize patch that makes the generated `flux-system` Kustomization decrypt SOPS files with the keys
 * in `secretName`. The target carries no namespace: the operator applies patches in its own namespace only.
 */
export function sopsDecryptionPatch(secretName: string): { target: Record<string, string>; patch: string } {
  return {
    target: { group: "kustomize.toolkit.fluxcd.io", kind: "Kustomization", name: FLUX_NAMESPACE },
    // A JSON 6902 patch; JSON is valid YAML, and stable byte for byte.
    patch: JSON.stringify([
      { op: "add", path: "/spec/decryption", value: { provider: "sops", secretRef: { name: secretName } } },
    ]),
  };
}

/** `spec` of the FluxInstance. */
export function fluxInstanceSpec(args: {
  distributionVersion: string;
  sync: FluxSyncSpec;
  sopsSecretName: string;
}): Record<string, unknown> {
  const { sync } = args;
  return {
    distribution: { version: args.distributionVersion, registry: FLUX_REGISTRY },
    components: [...FLUX_COMPONENTS],
    cluster: { type: "kubernetes", networkPolicy: true, domain: "cluster.local" },
    // The operator health-checks what it applied (controllers, the GitRepository fetch and the flux-system
    // Kustomization apply) before it reports Ready. Apps deployed from Git are not part of that.
    wait: true,
    sync: {
      kind: "GitRepository",
      url: sync.url,
      ref: sync.ref,
      path: sync.path,
      interval: sync.interval,
      ...(sync.pullSecret !== undefined ? { pullSecret: sync.pullSecret } : {}),
    },
    kustomize: { patches: [sopsDecryptionPatch(args.sopsSecretName)] },
  };
}

interface Condition {
  type?: unknown;
  status?: unknown;
  reason?: unknown;
  message?: unknown;
}

/**
 * One line on the FluxInstance's state as last seen by `pulumi up`, e.g.
 * `Ready=True (ReconciliationSucceeded): Reconciliation finished in 12s; applied v2.9.5@sha256:...`.
 */
export function describeFluxInstanceStatus(status: unknown): string {
  if (typeof status !== "object" || status === null) {
    return "unknown: no status recorded yet";
  }
  const { conditions, lastAppliedRevision } = status as {
    conditions?: unknown;
    lastAppliedRevision?: unknown;
  };
  const ready = Array.isArray(conditions)
    ? (conditions as Condition[]).find((c) => c.type === "Ready")
    : undefined;
  const parts = [
    ready === undefined
      ? "Ready=Unknown"
      : `Ready=${String(ready.status)}` +
        (typeof ready.reason === "string" ? ` (${ready.reason})` : "") +
        (typeof ready.message === "string" ? `: ${ready.message}` : ""),
  ];
  if (typeof lastAppliedRevision === "string" && lastAppliedRevision !== "") {
    parts.push(`applied ${lastAppliedRevision}`);
  }
  return parts.join("; ");
}
