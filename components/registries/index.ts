// The runtime registry ConfigMaps the platform's runtime fills (create-if-absent, never modified, kept on
// destroy) and the static `cluster-info` ConfigMap this stack owns. Semantics and mechanism: docs/gitops.md
// "Runtime registries".
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { OWNED_OBJECT_ANNOTATIONS } from "../flux/ownership";
import type { RegistriesConfig } from "./config";
import {
  CLUSTER_INFO,
  type ClusterInfo,
  clusterInfoData,
  EMPTY_REGISTRIES,
  REGISTRY_NAMESPACE,
} from "./contents";
import { CreateOnlyConfigMap } from "./createOnly";
import { kubeConnection } from "./kubeconfig";

export * from "./contents";
export * from "./createOnly";
export * from "./kubeconfig";

export interface RuntimeRegistriesArgs {
  /** Provider for the cluster; used for `cluster-info` only. */
  provider: k8s.Provider;
  /**
   * The same kubeconfig the provider was built from (secret). The registries are created through the API
   * directly (see createOnly.ts), so they need the credentials themselves.
   */
  kubeconfig: pulumi.Input<string>;
  clusterInfo: ClusterInfo;
  registries: RegistriesConfig;
  /** Resources that mean "the cluster API is up" (e.g. the k3s component); everything waits for them. */
  clusterReady?: pulumi.Input<pulumi.Resource>[];
}

export class RuntimeRegistries extends pulumi.ComponentResource {
  /** Per registry: `created` by this stack or `adopted` (it existed, left untouched). */
  public readonly origins: pulumi.Output<Record<string, "created" | "adopted">>;

  constructor(name: string, args: RuntimeRegistriesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mynodeone:registries:RuntimeRegistries", name, {}, opts);
    const dependsOn = args.clusterReady ?? [];
    const connection = pulumi.secret(pulumi.output(args.kubeconfig).apply(kubeConnection));
    const { deleteOnDestroy } = args.registries;

    const registries = Object.entries(EMPTY_REGISTRIES).map(
      ([registryName, data]) =>
        [
          registryName,
          new CreateOnlyConfigMap(
            `${name}-${registryName}`,
            { connection, namespace: REGISTRY_NAMESPACE, name: registryName, data, deleteOnDestroy },
            // Never deleted unless the stack opted in; the provider checks deleteOnDestroy again itself.
            { parent: this, dependsOn, retainOnDelete: !deleteOnDestroy },
          ),
        ] as const,
    );
    this.origins = pulumi
      .all(
        registries.map(([registryName, resource]) =>
          resource.origin.apply((origin) => [registryName, origin]),
        ),
      )
      .apply((entries) => Object.fromEntries(entries) as Record<string, "created" | "adopted">);

    // Static configuration owned by this stack: updated in place when the config changes (needs the provider
    // option enableConfigMapMutable), taken over from the old tooling on first apply (patchForce).
    new k8s.core.v1.ConfigMap(
      `${name}-cluster-info`,
      {
        metadata: {
          name: CLUSTER_INFO,
          namespace: REGISTRY_NAMESPACE,
          annotations: OWNED_OBJECT_ANNOTATIONS,
        },
        data: clusterInfoData(args.clusterInfo),
      },
      { parent: this, provider: args.provider, dependsOn },
    );
    this.registerOutputs({ origins: this.origins });
  }
}
