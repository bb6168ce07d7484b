#!/usr/bin/env bash
# Read-only probe of one k3s server for `npm run status` (scripts/lib/status/cluster.ts): whether the at-rest
# encryption config k3s reads is present, and its sha256 (compared with the stack's copy; the file itself
# never leaves the host), and the server's UTC offset (k3s runs its snapshot schedule in local time). Runs as
# root (sudo -n); changes nothing.
#
#   encryption-config <sha256>    the file is present and not empty
#   encryption-config missing     it is not
#   utc-offset <+hhmm>            `date +%z`
set -uo pipefail

readonly FILE=/var/lib/rancher/k3s/server/cred/encryption-config.json
if [[ -s "$FILE" ]]; then
  echo "encryption-config $(sha256sum <"$FILE" | awk '{ print $1 }')"
else
  echo "encryption-config missing"
fi
echo "utc-offset $(date +%z)"
