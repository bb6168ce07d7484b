#!/usr/bin/env bash
# Runs `pulumi preview` or `pulumi up` for a stack, with a local state backend and passphrase secrets by
# default (no Pulumi Cloud account):
#
#   scripts/stack.sh preview                  # self-contained example stack: throwaway keys, temp state
#   scripts/stack.sh preview --stack dev      # the real dev stack (Pulumi.dev.yaml + your secrets)
#   scripts/stack.sh up --stack dev           # apply it
#
# Real stacks use $PULUMI_BACKEND_URL (default: file://<repo>/.state, created on first use) and need
# PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE. Extra arguments after `--` go to pulumi.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

usage() {
  echo "usage: $0 preview|up [--stack NAME] [-- pulumi args...]" >&2
  exit 2
}

(($# >= 1)) || usage
action=$1
shift
case "$action" in
  preview | up) ;;
  *) usage ;;
esac
stack=example
while (($#)); do
  case "$1" in
    --stack)
      (($# >= 2)) || usage
      stack=$2
      shift 2
      ;;
    --)
      shift
      break
      ;;
    *) usage ;;
  esac
done
[[ "$stack" =~ ^[a-z0-9][a-z0-9-]*$ ]] || {
  echo "stack name must be lowercase letters, digits and '-'" >&2
  exit 2
}

# shellcheck source=scripts/lib/pulumi.sh
source scripts/lib/pulumi.sh
pulumi_cli_init

if [[ "$stack" == example ]]; then
  if [[ "$action" == up ]]; then
    echo "the example stack points at documentation addresses (RFC 5737) and can only be previewed" >&2
    exit 2
  fi
  # Everything lives in a temporary directory removed on exit: state, config, keys.
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/state"
  export PULUMI_BACKEND_URL="file://$work/state"
  export PULUMI_CONFIG_PASSPHRASE="example-only-throwaway-passphrase"
  unset PULUMI_CONFIG_PASSPHRASE_FILE
  config_file="$work/Pulumi.example.yaml"
  cp "$ROOT/examples/Pulumi.example.yaml" "$config_file"
  node -r ts-node/register/transpile-only scripts/lib/throwaway-keys.ts "$work"
  # `stack init` writes the passphrase salt into the project's Pulumi.example.yaml; this stack's config is the
  # temporary copy (--config-file), so that file is not left behind.
  if [[ -e "$ROOT/Pulumi.example.yaml" ]]; then
    echo "Pulumi.example.yaml exists in $ROOT: remove it (the example's config is examples/Pulumi.example.yaml)" >&2
    exit 1
  fi
  trap 'rm -rf "$work" "$ROOT/Pulumi.example.yaml"' EXIT
  "$PULUMI_CLI" stack init example --non-interactive >/dev/null
  rm -f "$ROOT/Pulumi.example.yaml"
  "$PULUMI_CLI" config set --stack example --config-file "$config_file" --secret mynodeone:sopsGpgPrivateKey <"$work/sops-gpg.asc"
  "$PULUMI_CLI" config set --stack example --config-file "$config_file" --secret mynodeone:sshPrivateKey <"$work/ssh-key"
  # The same guarded preview CI runs for every stack (no refresh, no SSH key, no kubeconfig).
  bash scripts/preview-ci.sh --stack example -- --config-file "$config_file" "$@"
  exit 0
fi

[[ -f "Pulumi.$stack.yaml" ]] || {
  echo "Pulumi.$stack.yaml does not exist" >&2
  exit 1
}
if [[ -z "${PULUMI_CONFIG_PASSPHRASE:-}" && -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]]; then
  echo "set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE (the passphrase of the stack's secrets)" >&2
  exit 1
fi
if [[ -z "${PULUMI_BACKEND_URL:-}" ]]; then
  mkdir -p "$ROOT/.state"
  export PULUMI_BACKEND_URL="file://$ROOT/.state"
fi
"$PULUMI_CLI" stack select --create "$stack" --non-interactive >/dev/null
pulumi_program "$action" --stack "$stack" --non-interactive --diff "$@"
