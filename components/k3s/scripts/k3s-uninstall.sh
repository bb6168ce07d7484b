#!/usr/bin/env bash
# Remove k3s from this host. Runs only on destroy/removal of a node when k3s.uninstallOnDestroy is set, after
# the node was drained and its Node object deleted (k3s-remove-node.sh). Deletes the node's k3s data; on the
# last server that is the cluster datastore.
#
# Runs as root (sudo -n). Inputs: NODE_ROLE (server | agent).
# Safe to run again: a host without k3s is left as it is.
set -euo pipefail

readonly UNINSTALL_TIMEOUT_SECONDS=600

die() {
  echo "k3s-uninstall: $*" >&2
  exit 1
}

case "${NODE_ROLE:-}" in
  server) uninstaller=/usr/local/bin/k3s-uninstall.sh ;;
  agent) uninstaller=/usr/local/bin/k3s-agent-uninstall.sh ;;
  *) die "NODE_ROLE must be server or agent" ;;
esac
[[ "$(id -u)" == 0 ]] || die "must run as root (the SSH user needs passwordless sudo)"

if [[ -x "$uninstaller" ]]; then
  echo "k3s-uninstall: running $uninstaller"
  timeout "$UNINSTALL_TIMEOUT_SECONDS" "$uninstaller" </dev/null ||
    die "$uninstaller failed or ran over ${UNINSTALL_TIMEOUT_SECONDS}s"
else
  echo "k3s-uninstall: $uninstaller not found: k3s is not installed here"
fi
# The config holds the cluster token: never leave it behind (the uninstaller removes it when it ran).
rm -f /etc/rancher/k3s/config.yaml /etc/rancher/k3s/config.yaml.applied.sha256
