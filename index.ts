// The MyNodeOne platform bootstrap: one stack per environment.
//
// Order of things: the config is validated first (every problem at once, before any resource exists); then k3s
// is installed over SSH (or an existing cluster is adopted), and in parallel the edge hosts get Traefik; the
// cluster side (SOPS keys, Git credentials, Flux, runtime registries) goes through one Kubernetes provider
// built from the cluster's kubeconfig.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { loadStackConfig, type PlatformConfig } from "./components/config";
import { EdgeHost } from "./components/edge";
import { FluxBootstrap, FluxNamespace, GITOPS_PROVIDER_OPTIONS } from "./components/flux";
import { apiServerUrl, ClusterToken, K3sCluster } from "./components/k3s";
import { RuntimeRegistries } from "./components/registries";
import { SopsSecret } from "./components/sops";

/** The cluster the cluster-side components go onto: installed here, or adopted through `existingKubeconfig`. */
interface Cluster {
  kubeconfig: pulumi.Output<string>;
  apiEndpoint: string;
  nodeNames: string[];
  /** Present when this stack installed k3s (the token exists only then). */
  token?: pulumi.Output<string>;
  encryptionConfig?: pulumi.Output<string>;
  ready: pulumi.Resource[];
}

function cluster(config: PlatformConfig): Cluster {
  if (config.existingKubeconfig !== undefined) {
    return {
      kubeconfig: config.existingKubeconfig,
      // The adopted API's own URL (its port need not be k3s's 6443).
      apiEndpoint: config.existingApiServerUrl ?? apiServerUrl(config.k3s.apiEndpoint),
      nodeNames: [],
      ready: [],
    };
  }
  const token = new ClusterToken("k3s-token", { token: config.k3sToken, protect: config.protect });
  const k3s = new K3sCluster("k3s", {
    k3s: config.k3s,
    ssh: config.ssh,
    token: token.token,
    clusterName: config.clusterName,
    protect: config.protect,
  });
  return {
    kubeconfig: k3s.kubeconfig,
    apiEndpoint: k3s.apiEndpoint,
    nodeNames: k3s.nodeNames,
    token: k3s.token,
    encryptionConfig: k3s.encryptionConfig,
    ready: [k3s],
  };
}

export = async (): Promise<Record<string, unknown>> => {
  const config = await loadStackConfig();

  // Edge hosts do not depend on the cluster: they are provisioned in parallel with it.
  const edgeHosts = config.edge.hosts.map(
    (host) =>
      new EdgeHost(`edge-${host.name}`, {
        host,
        edge: config.edge,
        ssh: config.ssh,
        environment: config.environment,
        protect: config.protect,
      }),
  );

  const target = cluster(config);
  // The provider's identity is the stack's cluster, not its kubeconfig: a rotated credential, another address
  // for the same API or a re-read kubeconfig (unknown at preview) is then an in-place update of the provider.
  // Without it, pulumi-kubernetes replaces the provider on any such change, and with it every object in the
  // cluster (refused in prod, where they are protected). A rebuild onto a new cluster: docs/disaster-recovery.md.
  const provider = new k8s.Provider("cluster", {
    kubeconfig: target.kubeconfig,
    clusterIdentifier: `${pulumi.getProject()}/${pulumi.getStack()}`,
    ...GITOPS_PROVIDER_OPTIONS,
  });
  const clusterReady = target.ready;

  // Protected in prod: deleting the namespace removes Flux and everything in it; the SOPS key Secret is what
  // lets Flux decrypt the Git secrets. Updates (key rotation) stay possible.
  const namespace = new FluxNamespace(
    "flux-namespace",
    { provider, flux: config.flux, clusterReady },
    { protect: config.protect },
  );
  const sops = new SopsSecret(
    "sops",
    { provider, namespace: namespace.name, sops: config.sops, flux: config.flux, clusterReady },
    { protect: config.protect },
  );
  const flux = new FluxBootstrap("flux", {
    provider,
    namespace: namespace.name,
    flux: config.flux,
    sopsSecretName: sops.secretName,
    clusterReady,
  });
  const registries = new RuntimeRegistries("registries", {
    provider,
    kubeconfig: target.kubeconfig,
    clusterInfo: {
      clusterName: config.clusterName,
      clusterDomain: config.domain,
      controlPlaneIp: config.k3s.apiEndpoint,
      repoPath: config.repoPath,
    },
    registries: config.registries,
    clusterReady,
  });

  return {
    environment: config.environment,
    apiEndpoint: target.apiEndpoint,
    kubeconfig: pulumi.secret(target.kubeconfig),
    nodeNames: target.nodeNames,
    ...(target.token ? { k3sToken: pulumi.secret(target.token) } : {}),
    ...(target.encryptionConfig ? { encryptionConfig: pulumi.secret(target.encryptionConfig) } : {}),
    fluxSync: flux.sync,
    fluxSyncStatus: flux.syncStatus,
    ...(flux.deployPublicKey !== undefined ? { fluxDeployPublicKey: flux.deployPublicKey } : {}),
    sopsGpgFingerprint: sops.gpgFingerprint,
    // Only with an age key: an undefined output makes the engine warn on every run.
    ...(sops.ageRecipient !== undefined ? { sopsAgeRecipient: sops.ageRecipient } : {}),
    registryOrigins: registries.origins,
    edgeHosts: edgeHosts.map((edge) => ({
      address: edge.address,
      publicIp: edge.publicIp,
      traefikVersion: edge.traefikVersion,
      routesDir: edge.routesDir,
      syncUser: edge.syncUser,
    })),
  };
};
