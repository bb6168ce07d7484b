// The SOPS key Secret kustomize-controller decrypts with: `sops-gpg` in `flux-system`.
//
// kustomize-controller reads every entry ending in `.asc` (GPG) or `.agekey` (age) of the one Secret a
// Kustomization's `spec.decryption.secretRef` names, so one Secret carries both keys. It must exist before
// Flux's first reconcile (the FluxInstance depends on it). The keys come from stack config, never generated:
// a rebuild must decrypt what is already committed. Rotation (a changed key) updates this Secret in place; that
// needs the provider option `enableSecretMutable` (GITOPS_PROVIDER_OPTIONS in components/flux/ownership.ts),
// otherwise the provider replaces the Secret and Flux briefly has no key.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { FluxConfig } from "../flux/config";
import { keepFluxOnDestroy, OWNED_OBJECT_ANNOTATIONS } from "../flux/ownership";
import type { SopsConfig } from "./config";

export const SOPS_SECRET_NAME = "sops-gpg";
export const SOPS_GPG_KEY_ENTRY = "sops.asc";
export const SOPS_AGE_KEY_ENTRY = "age.agekey";

export interface SopsSecretArgs {
  /** Provider for the cluster (built from the cluster's kubeconfig or `existingKubeconfig`). */
  provider: k8s.Provider;
  /** `flux-system`, from `FluxNamespace.name` (the output carries the dependency on the namespace). */
  namespace: pulumi.Input<string>;
  sops: SopsConfig;
  /** Decides whether the Secret outlives `pulumi destroy` (see `keepFluxOnDestroy`). */
  flux: Pick<FluxConfig, "install" | "keepOnDestroy">;
  /** Resources that mean "the cluster API is up" (e.g. the k3s component); the Secret waits for them. */
  clusterReady?: pulumi.Input<pulumi.Resource>[];
}

const base64 = (value: string): string => Buffer.from(value, "utf8").toString("base64");

export class SopsSecret extends pulumi.ComponentResource {
  /** `sops-gpg`, as an output that carries the dependency on the Secret (pass it to FluxBootstrap). */
  public readonly secretName: pulumi.Output<string>;
  /** Fingerprint of the GPG key (uppercase hex): what `.sops.yaml` `pgp` creation rules must list. */
  public readonly gpgFingerprint: string;
  /** age recipient (`age1...`) of the age key, when one is configured. */
  public readonly ageRecipient: string | undefined;

  constructor(name: string, args: SopsSecretArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mynodeone:sops:SopsSecret", name, {}, opts);
    const { sops } = args;
    const data: Record<string, pulumi.Output<string>> = {
      [SOPS_GPG_KEY_ENTRY]: pulumi.secret(sops.gpgPrivateKey.apply(base64)),
    };
    if (sops.ageKey !== undefined) {
      data[SOPS_AGE_KEY_ENTRY] = pulumi.secret(sops.ageKey.apply(base64));
    }
    const secret = new k8s.core.v1.Secret(
      `${name}-secret`,
      {
        metadata: {
          name: SOPS_SECRET_NAME,
          namespace: args.namespace,
          annotations: OWNED_OBJECT_ANNOTATIONS,
        },
        type: "Opaque",
        data,
      },
      {
        parent: this,
        provider: args.provider,
        dependsOn: args.clusterReady ?? [],
        retainOnDelete: keepFluxOnDestroy(args.flux),
      },
    );
    this.secretName = secret.metadata.name;
    this.gpgFingerprint = sops.gpgFingerprint;
    this.ageRecipient = sops.ageRecipient;
    this.registerOutputs({
      secretName: this.secretName,
      gpgFingerprint: this.gpgFingerprint,
      ageRecipient: this.ageRecipient,
    });
  }
}
