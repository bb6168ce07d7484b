#!/usr/bin/env bash
# Print this server's secure join token, K10<sha256 of the cluster CA>::server:<token>, which k3s keeps in
# /var/lib/rancher/k3s/server/token. Nodes joining with this form verify the cluster CA before they send
# credentials. The output is a secret: the caller runs this with logging off and keeps stdout secret.
#
# Runs as root (sudo -n). stdin: the configured cluster token. A cluster whose token differs from it (state
# from another cluster, a changed stack secret) is reported instead of handing out a token nobody configured.
# Read-only, so safe to run again.
set -euo pipefail

readonly TOKEN_FILE=/var/lib/rancher/k3s/server/token

die() {
  echo "k3s-join-token: $*" >&2
  exit 1
}

[[ "$(id -u)" == 0 ]] || die "must run as root (the SSH user needs passwordless sudo)"
configured=$(cat)
[[ -n "$configured" ]] || die "no configured token on stdin"
[[ -s "$TOKEN_FILE" ]] || die "$TOKEN_FILE is missing: is this the initialised first server?"
secure=$(<"$TOKEN_FILE")
[[ "$secure" =~ ^K10[0-9a-f]{64}::server:.+$ ]] || die "$TOKEN_FILE does not hold a K10<hash>::server:<token> value"
[[ "${secure#*::server:}" == "${configured#*::server:}" ]] ||
  die "this cluster was created with a different token than the configured one (mynodeone:k3sToken)"
printf '%s' "$secure"
