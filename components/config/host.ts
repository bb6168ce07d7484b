// SSH-reachable hosts, shared by the concerns that run on machines (k3s nodes, edge hosts): one host entry's
// reader, and the checks across every host of the stack.
import { configKey } from "./keys";
import type { ObjectReader } from "./reader";
import {
  checkLabel,
  checkPublicKey,
  isDnsLabel,
  isHostAddress,
  isIpAddress,
  isUserName,
  type Problems,
  SSH_HOST_KEY_PIN,
} from "./validate";

/** One SSH-reachable machine (k3s server/agent, edge host). */
export interface HostConfig {
  /** DNS-1123 label, unique across the whole stack; becomes the k3s node name / resource name. */
  name: string;
  /** IPv4, IPv6 (no brackets) or DNS name used to reach the host over SSH. */
  host: string;
  /** SSH port (defaults to `mynodeone:ssh.port`). */
  port: number;
  /** SSH user (defaults to `mynodeone:ssh.user`); needs passwordless sudo unless it is root. */
  user: string;
  /** Pinned SSH host key, one authorized_keys-format line ("<type> <base64>"). */
  hostKey?: string;
  /** Address k3s advertises for this node (e.g. the overlay/Tailscale IP). */
  nodeIp?: string;
  /** Public address k3s reports as the node's external IP. */
  externalIp?: string;
  /** Kubernetes node labels (k3s `node-label`). */
  labels: Record<string, string>;
}

/** What a host inherits when it does not set its own (the stack's `mynodeone:ssh`). */
export interface HostDefaults {
  user: string;
  port: number;
}

/** One host entry of a list (`k3s.servers[0]`, `edge.hosts[1]`, ...). */
export function readHost(r: ObjectReader, ssh: HostDefaults): HostConfig {
  const fixFor = (field: string, example: string): string =>
    `pulumi config set --path '${r.keyPath(field)}' ${example}`;
  const name = r.requiredString("name", {
    check: (v) =>
      isDnsLabel(v) ? undefined : "is not a DNS-1123 label (lowercase letters, digits, '-', max 63)",
    fix: fixFor("name", "node-1"),
  });
  const host = r.requiredString("host", {
    check: (v) => (isHostAddress(v) ? undefined : "is not an IPv4/IPv6 address or DNS name"),
    fix: fixFor("host", "100.64.0.10"),
  });
  const port = r.integer("port", ssh.port, 1, 65535, fixFor("port", "22"));
  const user = r.string("user", ssh.user, {
    check: (v) => (isUserName(v) ? undefined : "is not a valid user name"),
    fix: fixFor("user", "admin"),
  });
  const hostKey = r.optionalString("hostKey", {
    check: (v) => checkPublicKey(v, SSH_HOST_KEY_PIN),
    fix:
      "pin the host's ed25519 or ECDSA key: the line of its /etc/ssh/ssh_host_ed25519_key.pub (or ssh_host_ecdsa_key.pub), " +
      "'<type> <base64>', e.g. from ssh-keyscan -t ed25519 on a trusted network, compared with the provider console",
  });
  const nodeIp = r.optionalString("nodeIp", {
    check: (v) => (isIpAddress(v) ? undefined : "is not an IP address"),
    fix: fixFor("nodeIp", "100.64.0.10"),
  });
  const externalIp = r.optionalString("externalIp", {
    check: (v) => (isIpAddress(v) ? undefined : "is not an IP address"),
    fix: fixFor("externalIp", "203.0.113.10"),
  });
  const labels = r.stringMap("labels", checkLabel, 'use Kubernetes label syntax, e.g. {"role": "storage"}');
  return {
    name,
    host,
    port,
    user,
    ...(hostKey !== undefined ? { hostKey } : {}),
    ...(nodeIp !== undefined ? { nodeIp } : {}),
    ...(externalIp !== undefined ? { externalIp } : {}),
    labels,
  };
}

export function checkUniqueNames(problems: Problems, listKey: string, hosts: HostConfig[]): void {
  const seen = new Set<string>();
  hosts.forEach((h) => {
    if (h.name !== "" && seen.has(h.name)) {
      problems.add(
        configKey(`${listKey}[name=${h.name}]`),
        `duplicate name ${JSON.stringify(h.name)}: names must be unique`,
        "give every host its own name",
      );
    }
    seen.add(h.name);
  });
}

/**
 * An edge host's firewall drops everything but SSH, 80 and 443: on a k3s node it would cut the node off
 * (API, kubelet, flannel, etcd). The two roles need separate machines.
 */
export function checkSeparateRoles(
  problems: Problems,
  k3sNodes: HostConfig[],
  edgeHosts: (HostConfig & { publicIp?: string })[],
): void {
  const k3sAddresses = new Set(
    k3sNodes.flatMap((h) => [h.host, h.nodeIp, h.externalIp].filter((a) => a !== undefined)),
  );
  for (const host of edgeHosts) {
    const shared = [host.host, host.nodeIp, host.externalIp, host.publicIp].find(
      (a) => a !== undefined && k3sAddresses.has(a),
    );
    if (shared !== undefined) {
      problems.add(
        configKey(`edge.hosts[name=${host.name}].host`),
        `${shared} is also a k3s node: the edge firewall would block the cluster's traffic to and from it`,
        "run Traefik on a machine that is not a k3s node",
      );
    }
  }
}

/** With `mynodeone:requireHostKeys`, every host of every list (keyed by its config path) must pin its key. */
export function checkHostKeysPinned(problems: Problems, lists: Record<string, HostConfig[]>): void {
  for (const [list, hosts] of Object.entries(lists)) {
    for (const host of hosts.filter((h) => h.hostKey === undefined)) {
      problems.add(
        configKey(`${list}[name=${host.name}].hostKey`),
        "is required because mynodeone:requireHostKeys is true (host keys are never trusted on first use)",
        `ssh-keyscan -t ed25519 ${host.host} on a trusted network, compare with the provider console, then set hostKey`,
      );
    }
  }
}
