// Pinned defaults. Every version here is exact; bumping one is a reviewed change (see README "Upgrades").

/** k3s release (Kubernetes 1.35; Flux 2.9 needs >= 1.33). */
export const DEFAULT_K3S_VERSION = "v1.35.6+k3s1";
/**
 * The installer script of the pinned release itself (the tag's install.sh), not the moving get.k3s.io: the
 * same script on every run of the same version. It installs exactly INSTALL_K3S_VERSION and checks the k3s
 * binary against the release's sha256sum file.
 */
export function defaultK3sInstallScriptUrl(version: string): string {
  return `https://raw.githubusercontent.com/k3s-io/k3s/${encodeURIComponent(version)}/install.sh`;
}
/** Traefik v3 release for the edge hosts. */
export const DEFAULT_TRAEFIK_VERSION = "v3.7.13";
export const DEFAULT_TRAEFIK_DOWNLOAD_BASE_URL = "https://github.com/traefik/traefik/releases/download";

export const ACME_CA_URLS = {
  staging: "https://acme-staging-v02.api.letsencrypt.org/directory",
  production: "https://acme-v02.api.letsencrypt.org/directory",
} as const;

/** Packaged k3s components the platform replaces (Traefik runs on the edge hosts; no ServiceLB). */
export const DEFAULT_K3S_DISABLE = ["traefik", "servicelb"];
export const DEFAULT_SSH_USER = "root";
export const DEFAULT_SSH_PORT = 22;
export const DEFAULT_REPO_PATH = "/opt/mynodeone";
export const DEFAULT_ROUTES_DIR = "/etc/traefik/dynamic";

// Flux Operator chart and the Flux distribution it installs (components/flux/bootstrap.ts uses them).
export const DEFAULT_FLUX_OPERATOR_CHART = "oci://ghcr.io/controlplaneio-fluxcd/charts/flux-operator";
/**
 * The operator release the chart installs (the chart's version is the operator's, its appVersion v<version>).
 * 0.59.0 because it is the newest release whose source could be fetched and checked here (its Go module,
 * `github.com/controlplaneio-fluxcd/flux-operator@v0.59.0`): its FluxInstance CRD is what the real-API tier
 * validates our FluxInstance against. 0.60.0, pinned before, could not be found anywhere (the module proxy
 * refuses that version), so it was a pin nobody could verify.
 */
export const DEFAULT_FLUX_OPERATOR_CHART_VERSION = "0.59.0";
/**
 * The Flux release the operator installs: one the pinned operator embeds (its config/data/flux-images/
 * v<version>), or the FluxInstance never becomes Ready. 2.9.5 is the newest in operator 0.59.0; it names
 * source-controller v1.9.5 and kustomize-controller v1.9.5. test/e2e/flux-schema.e2e.test.ts fails when the two
 * pins disagree.
 */
export const DEFAULT_FLUX_DISTRIBUTION_VERSION = "2.9.5";
