// The `flux-system` namespace: created by this stack before the SOPS key and the Git credentials go into it,
// which must happen before Flux's first reconcile. The Flux Operator later applies the same namespace with its
// own labels (server-side apply, its own field manager, annotated `fluxcd.controlplane.io/prune: disabled`),
// so the two never fight: Pulumi owns the object's lifecycle, the operator only adds labels.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { FluxConfig } from "./config";
import { FLUX_NAMESPACE, keepFluxOnDestroy } from "./ownership";

export interface FluxNamespaceArgs {
  /** Provider for the cluster (built from the cluster's kubeconfig or `existingKubeconfig`). */
  provider: k8s.Provider;
  flux: Pick<FluxConfig, "install" | "keepOnDestroy">;
  /** Resources that mean "the cluster API is up" (e.g. the k3s component); everything waits for them. */
  clusterReady?: pulumi.Input<pulumi.Resource>[];
}

export class FluxNamespace extends pulumi.ComponentResource {
  /** `flux-system`, as an output that carries the dependency on the namespace. */
  public readonly name: pulumi.Output<string>;

  constructor(name: string, args: FluxNamespaceArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mynodeone:flux:FluxNamespace", name, {}, opts);
    const namespace = new k8s.core.v1.Namespace(
      `${name}-namespace`,
      { metadata: { name: FLUX_NAMESPACE } },
      {
        parent: this,
        provider: args.provider,
        dependsOn: args.clusterReady ?? [],
        retainOnDelete: keepFluxOnDestroy(args.flux),
        // Deleting the namespace waits for everything in it to be finalized.
        customTimeouts: { delete: "15m" },
      },
    );
    this.name = namespace.metadata.name;
    this.registerOutputs({ name: this.name });
  }
}
