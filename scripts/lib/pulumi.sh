# shellcheck shell=bash
# Sourced by the operation scripts (stack.sh, preview-ci.sh, up-ci.sh, destroy.sh), from the project root.
#
#   pulumi_cli_init        finds the Pulumi CLI pinned by package-lock.json (@pulumi/pulumi's version):
#                          $PULUMI_HOME/versions/<version>/bin (where install-pulumi.sh and pulumi-toolchain.sh put
#                          it), else `pulumi` on PATH if it is that version, else installs it with
#                          scripts/install-pulumi.sh (sha256-verified download); sets PULUMI_CLI, or exits with
#                          what to do
#   pulumi_program ARGS    runs a command that runs the program (preview, up, destroy, refresh): with the CLI's
#                          Node.js language host when it has one, else with the program served in-process
#                          (scripts/lib/inline-host.ts, the Automation API's inline mechanism)
#
# MYNODEONE_PULUMI_RUNNER=inline forces the in-process program; MYNODEONE_PULUMI_ANY_VERSION=1 takes `pulumi` from
# PATH whatever its version (at your own risk: the pinned one is the one the tests ran).

pulumi_pinned_version() {
  node -e '
    const lock = JSON.parse(require("fs").readFileSync("package-lock.json", "utf8"));
    const entry = (lock.packages || {})["node_modules/@pulumi/pulumi"];
    if (!entry || !entry.version) { console.error("@pulumi/pulumi is not in package-lock.json"); process.exit(1); }
    console.log(entry.version);'
}

pulumi_install_hint() {
  local version=$1
  cat >&2 <<MSG
  Install Pulumi CLI v$version, then run this again (or set MYNODEONE_PULUMI_ANY_VERSION=1 to use another):
    bash scripts/install-pulumi.sh                 # the release from get.pulumi.com, sha256-verified, into \$PULUMI_HOME
    bash scripts/pulumi-toolchain.sh --only cli,kubernetes   # no access to Pulumi's downloads: build it from Go modules
  and put \${PULUMI_HOME:-~/.pulumi}/bin on PATH (docs/toolchain.md).
MSG
}

pulumi_cli_init() {
  local pinned home found version
  pinned=$(pulumi_pinned_version) || exit 1
  home="${PULUMI_HOME:-$HOME/.pulumi}"
  found=""
  if [[ "${MYNODEONE_PULUMI_ANY_VERSION:-}" == 1 ]]; then
    found=$(command -v pulumi 2>/dev/null || true)
  elif [[ -x "$home/versions/$pinned/bin/pulumi" ]]; then
    found="$home/versions/$pinned/bin/pulumi"
  elif command -v pulumi >/dev/null 2>&1 &&
    [[ "$(PULUMI_SKIP_UPDATE_CHECK=true pulumi version 2>/dev/null)" == "v$pinned" ]]; then
    found=$(command -v pulumi)
  else
    echo "--- Pulumi CLI v$pinned is not installed: installing it (scripts/install-pulumi.sh)" >&2
    if bash scripts/install-pulumi.sh >&2; then
      found="$home/versions/$pinned/bin/pulumi"
    fi
  fi
  if [[ -z "$found" || ! -x "$found" ]]; then
    echo "the Pulumi CLI v$pinned is not installed and could not be installed." >&2
    pulumi_install_hint "$pinned"
    exit 1
  fi
  version=$(PULUMI_SKIP_UPDATE_CHECK=true "$found" version 2>/dev/null) || version="(unknown)"
  if [[ "$version" != "v$pinned" && "${MYNODEONE_PULUMI_ANY_VERSION:-}" != 1 ]]; then
    echo "$found is Pulumi $version; this project pins v$pinned (package-lock.json, @pulumi/pulumi)." >&2
    pulumi_install_hint "$pinned"
    exit 1
  fi
  PULUMI_CLI=$found
  export PULUMI_SKIP_UPDATE_CHECK=true
}

# Whether the CLI can start the program itself: its Node.js language host beside it or on PATH.
pulumi_has_language_host() {
  [[ "${MYNODEONE_PULUMI_RUNNER:-}" != inline ]] || return 1
  [[ -x "$(dirname "$(realpath "$PULUMI_CLI")")/pulumi-language-nodejs" ]] ||
    command -v pulumi-language-nodejs >/dev/null 2>&1
}

pulumi_program() {
  if pulumi_has_language_host; then
    "$PULUMI_CLI" "$@"
  else
    node --require ts-node/register/transpile-only scripts/lib/inline-host.ts "$PULUMI_CLI" "$@"
  fi
}
