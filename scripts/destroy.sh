#!/usr/bin/env bash
# `pulumi destroy` with a production guard: a stack whose environment is prod (config mynodeone:environment,
# default: the stack name) is refused unless --i-understand-this-destroys-prod is given. Any other stack is
# passed straight to `pulumi destroy`.
#
# Usage: destroy.sh --stack NAME [--i-understand-this-destroys-prod] [-- extra 'pulumi destroy' arguments]
# Exit status: 3 refused; otherwise that of `pulumi destroy` (or 1 when the stack's config cannot be read).
set -euo pipefail
cd "$(dirname "$0")/.."

PROD_FLAG=--i-understand-this-destroys-prod

usage() {
  echo "usage: $0 --stack NAME [$PROD_FLAG] [-- extra 'pulumi destroy' arguments]" >&2
  exit 64
}
die() {
  echo "destroy: $*" >&2
  exit 1
}

stack=""
confirmed=false
extra=()
while (($#)); do
  case "$1" in
    --stack) (($# >= 2)) || usage; stack=$2; shift 2 ;;
    --stack=*) stack=${1#--stack=}; shift ;;
    "$PROD_FLAG") confirmed=true; shift ;;
    --) shift; extra=("$@"); break ;;
    -h | --help) usage ;;
    *) echo "destroy: unknown argument '$1' (pass pulumi's own flags after --)" >&2; usage ;;
  esac
done
[[ -n "$stack" ]] || usage
# shellcheck source=scripts/lib/pulumi.sh
source scripts/lib/pulumi.sh
pulumi_cli_init

# Fail closed: if the config cannot be read, nobody knows whether this is prod.
config_json=$("$PULUMI_CLI" config --stack "$stack" --json) ||
  die "could not read the config of stack '$stack' (backend login, PULUMI_CONFIG_PASSPHRASE?); refusing to destroy a stack whose environment is unknown"
read -r environment protect < <(node -e '
  const config = JSON.parse(require("fs").readFileSync(0, "utf8"));
  const value = (key) => config["mynodeone:" + key]?.value ?? "";
  console.log((value("environment") || "-") + " " + (value("protect") || "-"));' <<<"$config_json") ||
  die "could not parse the output of 'pulumi config --json' for stack '$stack'"
[[ "$environment" != "-" ]] || environment=${stack##*/}

if [[ "$environment" == "prod" || "$protect" == "true" ]]; then
  cat >&2 <<MSG
destroy: stack '$stack' is environment '$environment'$([[ "$protect" == "true" ]] && echo " with mynodeone:protect true").
  Destroying it can uninstall k3s (and its etcd datastore) and delete the runtime registries, the SOPS key secret
  and the edge hosts' Traefik. Take a backup first: npm run backup:export -- --stack $stack --out <file>
  Protected resources make 'pulumi destroy' fail until they are unprotected, either
    - in the program: pulumi config set mynodeone:protect false --stack $stack && pulumi up --stack $stack
    - or in the state only: pulumi state unprotect --all --stack $stack
  See docs/disaster-recovery.md.
MSG
fi
if [[ "$environment" == "prod" && "$confirmed" != true ]]; then
  echo "destroy: REFUSED: '$stack' is a prod stack; re-run with $PROD_FLAG if you really mean it" >&2
  exit 3
fi

pulumi_program destroy --stack "$stack" "${extra[@]}"
