#!/usr/bin/env bash
# Unattended `pulumi up` of one stack (the `up-dev` workflow runs it for dev on main): first the same guarded
# preview as pull requests get (scripts/preview-ci.sh, which fails on data loss), then `pulumi up --yes`.
# Unlike the preview, this needs what `pulumi up` needs: SSH access to the hosts (key in the stack config or an
# SSH agent) over a network path to them (e.g. the overlay network).
#
# Usage: up-ci.sh --stack NAME [--allow-destructive]
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  echo "usage: $0 --stack NAME [--allow-destructive]" >&2
  exit 64
}

stack=""
allow=()
while (($#)); do
  case "$1" in
    --stack) (($# >= 2)) || usage; stack=$2; shift 2 ;;
    --stack=*) stack=${1#--stack=}; shift ;;
    --allow-destructive) allow=(--allow-destructive); shift ;;
    *) echo "up-ci: unknown argument '$1'" >&2; usage ;;
  esac
done
[[ -n "$stack" ]] || usage

# shellcheck source=scripts/lib/pulumi.sh
source scripts/lib/pulumi.sh
pulumi_cli_init

bash scripts/preview-ci.sh --stack "$stack" "${allow[@]}"
echo "--- pulumi up --stack $stack"
pulumi_program up --stack "$stack" --yes --diff --non-interactive
