#!/usr/bin/env bash
# `npm run status -- --stack NAME [--json] [--timeout SECONDS] [--layer LAYER]... [--config-file FILE]`: the
# platform's health, probed read-only (scripts/status.ts, docs/status.md), with the Pulumi CLI this project
# pins. The stack's backend and passphrase come from the environment as for `npm run up` (default backend:
# file://<repo>/.state).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/pulumi.sh
source scripts/lib/pulumi.sh
pulumi_cli_init
if [[ -z "${PULUMI_BACKEND_URL:-}" && -d .state ]]; then
  export PULUMI_BACKEND_URL="file://$PWD/.state"
fi
PATH="$(dirname "$PULUMI_CLI"):$PATH" exec node -r ts-node/register/transpile-only scripts/status.ts "$@"
