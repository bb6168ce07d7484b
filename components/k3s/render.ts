// Pure helpers of the k3s component: the per-node /etc/rancher/k3s/config.yaml and the kubeconfig rewrite.
// No Pulumi resources here, so they are unit-tested directly (test/k3s-render.test.ts).
import { isIP } from "node:net";
import * as YAML from "yaml";
import type { HostConfig } from "../config/host";
import type { K3sConfig } from "./config";

/** Port of the Kubernetes API on every k3s server. */
export const API_PORT = 6443;

const DNS_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** `address` as the host part of a URL: IPv6 literals in brackets; anything but an IP or DNS name is rejected. */
export function urlHost(address: string): string {
  const family = isIP(address);
  if (family === 6) {
    return `[${address}]`;
  }
  if (family === 4 || DNS_NAME.test(address)) {
    return address;
  }
  throw new Error(`not an IP address or DNS name (no scheme, port or brackets): ${JSON.stringify(address)}`);
}

/** `https://<address>:6443`. */
export function apiServerUrl(address: string): string {
  return `https://${urlHost(address)}:${API_PORT}`;
}

/** Address the other nodes use to reach a node's k3s: its overlay/node IP when set, else its SSH address. */
export function nodeAddress(host: HostConfig): string {
  return host.nodeIp ?? host.host;
}

/** How a node takes part in the cluster. */
export type K3sNodeRole =
  | { kind: "first-server" }
  | { kind: "joining-server"; serverUrl: string }
  | { kind: "agent"; serverUrl: string };

// Every string value double-quoted: k3s and client-go read YAML 1.1-style, where a plain `no`, `on` or
// `1:30` would turn into a boolean or a number.
const YAML_OPTIONS = { lineWidth: 0, defaultStringType: "QUOTE_DOUBLE", defaultKeyType: "PLAIN" } as const;

const CONFIG_HEADER =
  "# Written by mynodeone (Pulumi, K3sCluster). Local edits are overwritten by the next `pulumi up`.\n";

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}

/**
 * The complete `/etc/rancher/k3s/config.yaml` of one node.
 *
 * Keys come in a fixed order and lists are sorted or in config order, so the same config always renders the
 * same bytes (the install script restarts k3s only when this text changes). Settings k3s requires to be
 * identical on every server (disabled components, secrets encryption) come from cluster-wide config only, so
 * all servers get the same values. `node-label` is applied by k3s when the node registers, not on later runs.
 */
export function renderK3sConfig(k3s: K3sConfig, host: HostConfig, role: K3sNodeRole, token: string): string {
  if (token.trim() === "") {
    throw new Error("renderK3sConfig: the cluster token is empty");
  }
  const config: Record<string, unknown> = {};
  if (role.kind === "first-server") {
    // Embedded etcd from the start, so servers can be added later and snapshots work.
    config["cluster-init"] = true;
  } else {
    config["server"] = role.serverUrl;
  }
  config["token"] = token;
  config["node-name"] = host.name;
  if (host.nodeIp !== undefined) {
    config["node-ip"] = host.nodeIp;
  }
  if (host.externalIp !== undefined) {
    config["node-external-ip"] = host.externalIp;
  }
  const labels = Object.keys(host.labels)
    .sort()
    .map((key) => `${key}=${host.labels[key] ?? ""}`);
  if (labels.length > 0) {
    config["node-label"] = labels;
  }
  if (k3s.flannelIface !== undefined) {
    config["flannel-iface"] = k3s.flannelIface;
  }
  if (role.kind !== "agent") {
    // Every address a client may use for this server; the API endpoint first (the kubeconfig points there).
    config["tls-san"] = unique([
      k3s.apiEndpoint,
      ...k3s.tlsSans,
      host.host,
      ...(host.nodeIp !== undefined ? [host.nodeIp] : []),
      ...(host.externalIp !== undefined ? [host.externalIp] : []),
    ]);
    const disable = unique(k3s.disable).sort();
    if (disable.length > 0) {
      config["disable"] = disable;
    }
    // Secrets encryption cannot be switched on cleanly later: it is on from the first start.
    config["secrets-encryption"] = true;
    config["write-kubeconfig-mode"] = "0600";
    config["etcd-snapshot-schedule-cron"] = k3s.etcdSnapshots.scheduleCron;
    config["etcd-snapshot-retention"] = k3s.etcdSnapshots.retention;
  }
  return CONFIG_HEADER + YAML.stringify(config, YAML_OPTIONS);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The single `<key>` entry of a kubeconfig list (`clusters`, `users`, `contexts`), or an error. */
function singleEntry(doc: Record<string, unknown>, list: string, key: string): Record<string, unknown> {
  const entries = doc[list];
  if (!Array.isArray(entries) || entries.length !== 1) {
    throw new Error(`kubeconfig: expected exactly one entry in "${list}"`);
  }
  const entry: unknown = entries[0];
  if (!isRecord(entry) || !isRecord(entry[key])) {
    throw new Error(`kubeconfig: the "${list}" entry has no "${key}" map`);
  }
  return entry[key];
}

/**
 * Turn the admin kubeconfig k3s writes (`/etc/rancher/k3s/k3s.yaml`: server `https://127.0.0.1:6443`, every
 * name `default`) into one for clients: the cluster server is `https://<endpoint>:6443` and the cluster, user
 * and context are all named `clusterName`. Done on the parsed structure, not by text replacement.
 *
 * The input holds the admin client key: error messages never quote it.
 */
export function rewriteKubeconfig(raw: string, endpoint: string, clusterName: string): string {
  if (clusterName.trim() === "") {
    throw new Error("kubeconfig: the cluster name is empty");
  }
  const server = apiServerUrl(endpoint);
  let doc: unknown;
  try {
    doc = YAML.parse(raw);
  } catch {
    // The parser's message quotes the offending line, which may be key material.
    throw new Error("kubeconfig: not valid YAML");
  }
  if (!isRecord(doc)) {
    throw new Error("kubeconfig: not a YAML map");
  }
  const cluster = singleEntry(doc, "clusters", "cluster");
  const user = singleEntry(doc, "users", "user");
  singleEntry(doc, "contexts", "context");
  if (typeof cluster["server"] !== "string" || typeof cluster["certificate-authority-data"] !== "string") {
    throw new Error('kubeconfig: the cluster needs "server" and "certificate-authority-data"');
  }
  if (Object.keys(user).length === 0) {
    throw new Error("kubeconfig: the user has no credentials");
  }
  const rewritten = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: clusterName, cluster: { ...cluster, server } }],
    contexts: [{ name: clusterName, context: { cluster: clusterName, user: clusterName } }],
    "current-context": clusterName,
    users: [{ name: clusterName, user }],
  };
  return YAML.stringify(rewritten, YAML_OPTIONS);
}
