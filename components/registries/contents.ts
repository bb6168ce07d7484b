// The runtime registries' empty contents and the cluster-info data (runtime contract, pure helpers).
//
// The runtime compares some values as strings (`services.json` and `routing.json` must be exactly `{}`), so
// every value here is a fixed string, never pretty-printed JSON.
import { CREATION_TIME_TOKEN } from "./createOnly";

export const REGISTRY_NAMESPACE = "kube-system";
/** `metadata.updated_by` of the initial `registry.json`. */
export const REGISTRY_CREATOR = "mynodeone-bootstrap";

export const SERVICE_REGISTRY = "service-registry";
export const DOMAIN_REGISTRY = "domain-registry";
export const SYNC_CONTROLLER_REGISTRY = "sync-controller-registry";
export const CLUSTER_INFO = "cluster-info";

/**
 * `registry.json` of the sync controller: all three node lists (the controller skips a node type whose list
 * is missing) and the metadata block.
 */
export function syncControllerRegistryJson(lastUpdated: string, updatedBy: string): string {
  return JSON.stringify({
    management_laptops: [],
    vps_nodes: [],
    worker_nodes: [],
    metadata: { version: "1.0", last_updated: lastUpdated, updated_by: updatedBy },
  });
}

/**
 * The registries as they are created: name -> data. `last_updated` is the creation time, filled in by the
 * create-only resource when it creates the ConfigMap, so the program's inputs are the same on every run.
 */
export const EMPTY_REGISTRIES = {
  [SERVICE_REGISTRY]: { "services.json": "{}" },
  [DOMAIN_REGISTRY]: { "domains.json": '{"domains":{},"vps_nodes":[]}', "routing.json": "{}" },
  [SYNC_CONTROLLER_REGISTRY]: {
    "registry.json": syncControllerRegistryJson(CREATION_TIME_TOKEN, REGISTRY_CREATOR),
  },
} as const satisfies Readonly<Record<string, Readonly<Record<string, string>>>>;

export type RegistryName = keyof typeof EMPTY_REGISTRIES;

export interface ClusterInfo {
  clusterName: string;
  /** The platform's public DNS domain. */
  clusterDomain: string;
  /** Address of the (first) control-plane node the runtime scripts talk to. */
  controlPlaneIp: string;
  /** Path of the platform repository checkout on the nodes. */
  repoPath: string;
}

/** `data` of the `cluster-info` ConfigMap, keys as the runtime scripts read them. */
export function clusterInfoData(info: ClusterInfo): Record<string, string> {
  return {
    "cluster-name": info.clusterName,
    "cluster-domain": info.clusterDomain,
    "control-plane-ip": info.controlPlaneIp,
    "repo-path": info.repoPath,
  };
}
