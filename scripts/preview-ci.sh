#!/usr/bin/env bash
# The CI preview of one stack, exactly as the GitHub workflow (.github/workflows/preview.yml) runs it:
#   pulumi preview --stack S --diff --refresh=false --json   then   scripts/guard.ts on that JSON
# which prints a human diff (property paths, no values) and fails loudly when the preview would delete or
# replace a resource holding data that cannot be regenerated (docs/disaster-recovery.md, "Guards").
#
# Needs only a self-managed state backend and the stack's passphrase:
#   PULUMI_BACKEND_URL        s3://bucket/prefix, file:///path, azblob://..., gs://... (plus that store's credentials)
#   PULUMI_CONFIG_PASSPHRASE  (or PULUMI_CONFIG_PASSPHRASE_FILE)
# No SSH key, kubeconfig or cluster access: nothing is refreshed, and the preview runs with SSH_AUTH_SOCK and
# KUBECONFIG removed from its environment, so a preview that works here works on any CI runner.
#
# Usage: preview-ci.sh --stack NAME [--allow-destructive] [--report FILE] [-- extra 'pulumi preview' args]
#   --report FILE  also write a Markdown report there (default: $MYNODEONE_PREVIEW_REPORT); in GitHub Actions the
#                  report is appended to the job summary as well.
# Exit status: 0 ok; the preview's status when it fails; 2 when it would lose data (without --allow-destructive).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  echo "usage: $0 --stack NAME [--allow-destructive] [--report FILE] [-- extra 'pulumi preview' args]" >&2
  exit 64
}
die() {
  echo "preview-ci: $*" >&2
  exit 1
}

stack=""
allow=()
report="${MYNODEONE_PREVIEW_REPORT:-}"
extra=()
while (($#)); do
  case "$1" in
    --stack) (($# >= 2)) || usage; stack=$2; shift 2 ;;
    --stack=*) stack=${1#--stack=}; shift ;;
    --report) (($# >= 2)) || usage; report=$2; shift 2 ;;
    --report=*) report=${1#--report=}; shift ;;
    --allow-destructive) allow=(--allow-destructive); shift ;;
    --) shift; extra=("$@"); break ;;
    -h | --help) usage ;;
    *) echo "preview-ci: unknown argument '$1'" >&2; usage ;;
  esac
done
[[ -n "$stack" ]] || usage
[[ "$stack" =~ ^[A-Za-z0-9][A-Za-z0-9._/-]*$ ]] || die "invalid stack name '$stack'"
[[ -n "${PULUMI_BACKEND_URL:-}" ]] ||
  die "PULUMI_BACKEND_URL is not set: point it at the stack's state backend (e.g. s3://bucket/prefix or file:///srv/pulumi-state). In GitHub Actions it comes from the repository secret PULUMI_BACKEND_URL (pull requests from forks get no secrets)."
[[ -n "${PULUMI_CONFIG_PASSPHRASE:-}" || -n "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]] ||
  die "PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE) is not set: the passphrase of the stack's secrets provider."
# shellcheck source=scripts/lib/pulumi.sh
source scripts/lib/pulumi.sh
pulumi_cli_init

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
report_file=${report:-$work/report.md}

echo "--- pulumi preview --stack $stack --diff --refresh=false --json"
set +e
(
  unset SSH_AUTH_SOCK KUBECONFIG
  pulumi_program preview --stack "$stack" --diff --refresh=false --json --non-interactive "${extra[@]}"
) >"$work/preview.json"
preview_status=$?
set -e

guard_status=0
rm -f "$report_file"
if [[ -s "$work/preview.json" ]]; then
  node --require ts-node/register/transpile-only scripts/guard.ts \
    --stack "$stack" --report "$report_file" "${allow[@]}" "$work/preview.json" || guard_status=$?
fi
if [[ ! -f "$report_file" ]]; then
  # No JSON to report on (the preview failed early, or printed something else): say so in the PR.
  {
    echo "<!-- mynodeone-preview:$stack -->"
    echo "### Pulumi preview: \`$stack\`"
    echo
    echo "> [!CAUTION]"
    echo "> **The preview failed** before it printed a result (exit status $preview_status): see the job log."
  } >"$report_file"
fi
if [[ -n "${GITHUB_STEP_SUMMARY:-}" && -f "$report_file" ]]; then
  cat "$report_file" >>"$GITHUB_STEP_SUMMARY"
fi

if ((preview_status != 0)); then
  echo "preview-ci: 'pulumi preview' of stack '$stack' failed (exit status $preview_status); see the errors above" >&2
  exit "$preview_status"
fi
if ((guard_status != 0)); then
  echo "preview-ci: the guard rejected the preview of stack '$stack' (exit status $guard_status)" >&2
  exit "$guard_status"
fi
echo "--- preview of stack '$stack' passed the guard"
