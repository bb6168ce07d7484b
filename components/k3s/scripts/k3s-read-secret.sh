#!/usr/bin/env bash
# Print one credential file k3s keeps on this server: WHAT=encryption-config (the at-rest encryption keys,
# exported as a secret output for backups: without them an etcd snapshot's Secrets cannot be read). The output
# is a credential: the caller runs this with logging off and keeps stdout secret. (The program's kubeconfig is
# not read from here: k3s-program-credential.sh.)
#
# Runs as root (sudo -n); the file is mode 0600. Read-only, so safe to run again.
set -euo pipefail

die() {
  echo "k3s-read-secret: $*" >&2
  exit 1
}

case "${WHAT:-}" in
  encryption-config) file=/var/lib/rancher/k3s/server/cred/encryption-config.json ;;
  *) die "WHAT must be encryption-config" ;;
esac

[[ "$(id -u)" == 0 ]] || die "must run as root (the SSH user needs passwordless sudo)"
[[ -s "$file" ]] || die "$file is missing or empty: is k3s running with secrets-encryption? (systemctl status k3s)"
cat "$file"
