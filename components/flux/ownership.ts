// Who owns which Kubernetes object, and what that means for `pulumi up`, disaster recovery and destroy.
import type * as k8s from "@pulumi/kubernetes";
import type { FluxConfig } from "./config";

/** The namespace Flux (and the Flux Operator) run in; the FluxInstance must live here. */
export const FLUX_NAMESPACE = "flux-system";

/**
 * Annotations for objects this program owns outright (Secrets, FluxInstance, cluster-info). With
 * `pulumi.com/patchForce` the server-side apply takes over fields another manager wrote (the old shell
 * tooling's `kubectl create`, or the Pulumi field manager of a lost stack during a disaster-recovery run)
 * instead of failing with a field conflict: the stack's value wins, which is right only for owned objects.
 * Never used on the runtime registries (components/registries).
 */
export const OWNED_OBJECT_ANNOTATIONS: Readonly<Record<string, string>> = { "pulumi.com/patchForce": "true" };

/**
 * Provider options the GitOps components rely on; the lead spreads them into the one `k8s.Provider`.
 * - `upsertExistingObjects`: a new stack (disaster recovery, lost state) against a cluster that already has
 *   `flux-system`, `sops-gpg`, the FluxInstance or `cluster-info` adopts them instead of failing with
 *   AlreadyExists (the default since @pulumi/kubernetes 4.29). The runtime registries do not depend on it.
 * - `enableSecretMutable`: a rotated SOPS key or deploy key updates `sops-gpg`/`flux-system` in place;
 *   without it a data change replaces the Secret (delete, then create), leaving Flux without its key.
 * - `enableConfigMapMutable`: a config change updates `cluster-info` in place instead of replacing it.
 */
export const GITOPS_PROVIDER_OPTIONS = {
  upsertExistingObjects: true,
  enableSecretMutable: true,
  enableConfigMapMutable: true,
} as const satisfies k8s.ProviderArgs;

/**
 * Whether Flux objects (namespace, secrets, operator, FluxInstance) survive `pulumi destroy`: when the stack
 * asks for it, and always when this stack did not install Flux (`install: false`): then Flux belongs to
 * whoever installed it, and deleting its namespace or keys would break it.
 */
export function keepFluxOnDestroy(flux: Pick<FluxConfig, "install" | "keepOnDestroy">): boolean {
  return flux.keepOnDestroy || !flux.install;
}
