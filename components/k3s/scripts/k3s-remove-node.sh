#!/usr/bin/env bash
# Drain a node and delete its Node object, run on the first server before the node itself is uninstalled.
# Deleting the Node object also removes a server's etcd member, and lets a host with the same name join again
# later (k3s rejects it with "Node password rejected" otherwise).
#
# Best effort: every failure is reported as a warning and the script still succeeds, so a broken cluster
# cannot block `pulumi destroy` (an unreachable first server is a different matter: see K3sConfig
# unreachableNodes).
#
# Runs as root (sudo -n). Inputs: NODE_NAME, DRAIN_TIMEOUT_SECONDS.
# Safe to run again: a node that is already gone is skipped.
set -euo pipefail

readonly K3S_BIN=/usr/local/bin/k3s
readonly KUBECONFIG_FILE=/etc/rancher/k3s/k3s.yaml

die() {
  echo "k3s-remove-node: $*" >&2
  exit 1
}

warn() {
  echo "k3s-remove-node: warning: $*" >&2
}

[[ "${NODE_NAME:-}" =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] || die "NODE_NAME must be a DNS-1123 label"
[[ "${DRAIN_TIMEOUT_SECONDS:-}" =~ ^[1-9][0-9]*$ ]] || die "DRAIN_TIMEOUT_SECONDS must be a positive integer"
[[ "$(id -u)" == 0 ]] || die "must run as root (the SSH user needs passwordless sudo)"

kube() {
  timeout $((DRAIN_TIMEOUT_SECONDS + 60)) \
    "$K3S_BIN" kubectl --kubeconfig "$KUBECONFIG_FILE" --request-timeout=30s "$@"
}

if [[ ! -x "$K3S_BIN" || ! -f "$KUBECONFIG_FILE" ]]; then
  warn "k3s is not installed on this server: cannot remove node $NODE_NAME from the cluster"
  exit 0
fi
if ! found=$(kube get node "$NODE_NAME" --ignore-not-found -o name); then
  warn "the API server does not answer: node $NODE_NAME stays in the cluster (delete it later: k3s kubectl delete node $NODE_NAME)"
  exit 0
fi
if [[ -z "$found" ]]; then
  echo "k3s-remove-node: node $NODE_NAME is not in the cluster"
  exit 0
fi
echo "k3s-remove-node: draining $NODE_NAME"
kube drain "$NODE_NAME" --ignore-daemonsets --delete-emptydir-data --force \
  --timeout="${DRAIN_TIMEOUT_SECONDS}s" ||
  warn "drain of $NODE_NAME did not finish; deleting the node object anyway"
kube delete node "$NODE_NAME" --wait=true ||
  warn "could not delete node $NODE_NAME (delete it later: k3s kubectl delete node $NODE_NAME)"
