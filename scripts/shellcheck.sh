#!/usr/bin/env bash
# Lint every shell script in the project (remote scripts under components/, tooling under scripts/ and .ci/).
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.sh' '.ci/run' | sort)
if ! command -v shellcheck >/dev/null 2>&1; then
  echo "shellcheck is not installed (Debian: apt-get install shellcheck)" >&2
  exit 1
fi
shellcheck --severity=style --external-sources "${files[@]}"
echo "shellcheck: ${#files[@]} scripts clean"
