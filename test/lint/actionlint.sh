#!/usr/bin/env bash
# Lints the GitHub Actions workflows under .github/workflows with actionlint (which also runs shellcheck on every
# `run:` block). actionlint is built once from its Go module at a pinned version, through the Go module proxy
# only, and cached under ${XDG_CACHE_HOME:-~/.cache}/mynodeone/bin.
# Without Go it is skipped with a warning, except in CI (CI=true), where that is an error.
# Usage: test/lint/actionlint.sh [extra actionlint flags...]
set -euo pipefail
cd "$(dirname "$0")/../.."

ACTIONLINT_VERSION=v1.7.12
CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/mynodeone"
BIN="$CACHE_DIR/bin/actionlint-$ACTIONLINT_VERSION"

die() {
  echo "actionlint.sh: $*" >&2
  exit 1
}

if [[ ! -x "$BIN" ]]; then
  if ! command -v go >/dev/null 2>&1; then
    # CI must lint; a developer machine without Go still has test/workflows.test.ts's checks.
    [[ "${CI:-}" == true ]] && die "'go' is not on PATH (needed once to build actionlint $ACTIONLINT_VERSION)"
    echo "actionlint.sh: skipped: 'go' is not on PATH (needed once to build actionlint $ACTIONLINT_VERSION)" >&2
    exit 0
  fi
  # Same module/build caches as scripts/pulumi-toolchain.sh; modules from the proxy only, never from VCS.
  export GOMODCACHE="$CACHE_DIR/go/mod" GOCACHE="$CACHE_DIR/go/build" CGO_ENABLED=0 GOVCS='*:off'
  export GOFLAGS="${GOFLAGS:-} -modcacherw"
  GOPROXY=$(go env GOPROXY | sed 's/[,|]/\n/g' | grep -vx 'direct' | paste -sd, -)
  [[ -n "$GOPROXY" && "$GOPROXY" != "off" ]] || die "GOPROXY names no module proxy (only direct/off)"
  export GOPROXY
  staging=$(mktemp -d)
  trap 'rm -rf "$staging"' EXIT
  echo "--- building actionlint $ACTIONLINT_VERSION (go install, cached in $CACHE_DIR/bin)"
  GOBIN="$staging" nice -n 10 go install -trimpath -ldflags "-s -w" \
    "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"
  mkdir -p "$(dirname "$BIN")"
  mv -f "$staging/actionlint" "$BIN"
fi

shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
((${#workflows[@]})) || die "no workflow files under .github/workflows"
command -v shellcheck >/dev/null 2>&1 || echo "actionlint.sh: shellcheck not on PATH: run: blocks are not linted" >&2
"$BIN" -no-color "$@" "${workflows[@]}"
echo "actionlint $ACTIONLINT_VERSION: ${#workflows[@]} workflow files clean"
