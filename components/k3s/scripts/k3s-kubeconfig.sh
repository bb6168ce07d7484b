#!/usr/bin/env bash
# Print the admin kubeconfig k3s wrote on this server. The output is a credential: the caller runs this with
# logging off and keeps stdout secret; the component rewrites its server address and names.
#
# Runs as root (sudo -n); the file is mode 0600 (write-kubeconfig-mode). Read-only, so safe to run again.
set -euo pipefail

readonly KUBECONFIG_FILE=/etc/rancher/k3s/k3s.yaml

die() {
  echo "k3s-kubeconfig: $*" >&2
  exit 1
}

[[ "$(id -u)" == 0 ]] || die "must run as root (the SSH user needs passwordless sudo)"
[[ -s "$KUBECONFIG_FILE" ]] || die "$KUBECONFIG_FILE is missing or empty: is k3s running? (systemctl status k3s)"
cat "$KUBECONFIG_FILE"
