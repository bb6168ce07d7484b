#!/usr/bin/env bash
# Lint every shell script in the project (remote scripts under components/, operations under scripts/, test
# environments under test/, and .ci/run).
set -euo pipefail
cd "$(dirname "$0")/../.."
mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.sh' '.ci/run' | sort)
# The linter comes from the distribution (no npm or Go build of it is fetchable everywhere): installed here
# when missing and this user may install packages (root, or passwordless sudo), as `npm test` promises.
if ! command -v shellcheck >/dev/null 2>&1; then
  sudo=()
  ((EUID == 0)) || sudo=(sudo -n)
  if command -v apt-get >/dev/null 2>&1 && { ((EUID == 0)) || sudo -n true 2>/dev/null; }; then
    echo "--- installing shellcheck (apt-get install shellcheck)" >&2
    "${sudo[@]}" apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends shellcheck >&2
  else
    echo "shellcheck is not installed: sudo apt-get install shellcheck (Debian/Ubuntu), brew install shellcheck (macOS)" >&2
    exit 1
  fi
fi
shellcheck --severity=style --external-sources "${files[@]}"
echo "shellcheck: ${#files[@]} scripts clean"
