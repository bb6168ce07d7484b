# shellcheck shell=bash
# Sourced by the operation scripts (stack.sh, preview-ci.sh, up-ci.sh, destroy.sh), from the project root.
#
#   pulumi_cli_init        finds the Pulumi CLI pinned by package-lock.json (@pulumi/pulumi's version) on PATH
#                          or in $PULUMI_HOME/bin, checks its version, sets PULUMI_CLI; exits with the install
#                          command when it is missing or another version
#   pulumi_program ARGS    runs a command that runs the program (preview, up, destroy, refresh): with the CLI's
#                          Node.js language host when it has one, else with the program served in-process
#                          (scripts/lib/inline-host.ts, the Automation API's inline mechanism)
#
# MYNODEONE_PULUMI_RUNNER=inline forces the in-process program; MYNODEONE_PULUMI_ANY_VERSION=1 accepts a CLI
# of another version (at your own risk: the pinned one is the one the tests ran).

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
  Install Pulumi CLI v$version, then run this again:
    bash scripts/install-pulumi.sh                 # the release from get.pulumi.com, sha256-verified, into \$PULUMI_HOME
    bash scripts/pulumi-toolchain.sh --only cli,kubernetes   # no access to Pulumi's downloads: build it from Go modules
  and put \${PULUMI_HOME:-~/.pulumi}/bin on PATH (docs/toolchain.md).
MSG
}

pulumi_cli_init() {
  local pinned found version
  pinned=$(pulumi_pinned_version) || exit 1
  found=$(command -v pulumi 2>/dev/null || true)
  if [[ -z "$found" && -x "${PULUMI_HOME:-$HOME/.pulumi}/bin/pulumi" ]]; then
    found="${PULUMI_HOME:-$HOME/.pulumi}/bin/pulumi"
  fi
  if [[ -z "$found" ]]; then
    echo "the Pulumi CLI is not installed (not on PATH, not in ${PULUMI_HOME:-$HOME/.pulumi}/bin)." >&2
    pulumi_install_hint "$pinned"
    exit 1
  fi
  version=$(PULUMI_SKIP_UPDATE_CHECK=true "$found" version 2>/dev/null) || version="(unknown)"
  if [[ "$version" != "v$pinned" && "${MYNODEONE_PULUMI_ANY_VERSION:-}" != 1 ]]; then
    echo "$found is Pulumi $version; this project pins v$pinned (package-lock.json, @pulumi/pulumi)." >&2
    pulumi_install_hint "$pinned"
    echo "  (or set MYNODEONE_PULUMI_ANY_VERSION=1 to use $version anyway)" >&2
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
