#!/usr/bin/env bash
# Builds the Pulumi CLI, the Node.js language host and the resource providers the program uses from their Go
# modules (through GOPROXY only: no GitHub, no get.pulumi.com), at the versions package-lock.json pins, and
# installs them where the Pulumi CLI looks for them:
#   $PULUMI_HOME/versions/<cli>/bin/{pulumi,pulumi-language-nodejs,pulumi-resource-pulumi-nodejs}
#   $PULUMI_HOME/bin/* -> the above (the layout of Pulumi's own installer; put it on PATH)
#   $PULUMI_HOME/plugins/resource-<name>-v<version>/pulumi-resource-<name>
#
# Usage: pulumi-toolchain.sh [--only cli,kubernetes,...]
#   --only   build just these (cli, language-host, or a provider name); what is not listed is left alone.
#            Without it, everything is built and any tool that cannot be is an error.
# The language host, when asked for with everything else, may be missing from the proxy: then the CLI still
# runs programs through the Automation API (docs/toolchain.md), and the script says so instead of failing.
# Re-running with unchanged versions does nothing; Go module and build caches live under
# ${XDG_CACHE_HOME:-~/.cache}/mynodeone/go. See docs/toolchain.md.
set -euo pipefail
SCRIPT=$(realpath "$0")
cd "$(dirname "$SCRIPT")/.."
ROOT=$PWD

die() {
  echo "pulumi-toolchain: $*" >&2
  exit 1
}

ONLY=""
while (($#)); do
  case "$1" in
    --only) (($# >= 2)) || die "--only needs a list (e.g. cli,kubernetes)"; ONLY=",$2,"; shift 2 ;;
    --only=*) ONLY=",${1#--only=},"; shift ;;
    *) die "unknown argument '$1' (usage: $0 [--only cli,language-host,<provider>,...])" ;;
  esac
done
# Whether tool $1 is to be built in this run.
wanted() { [[ -z "$ONLY" || "$ONLY" == *",$1,"* ]]; }

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

for tool in go node; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' is not on PATH"
done
[[ -f package-lock.json ]] || die "package-lock.json is missing in $ROOT"

PULUMI_HOME="${PULUMI_HOME:-$HOME/.pulumi}"
GO_CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/mynodeone/go"
export GOMODCACHE="$GO_CACHE_DIR/mod" GOCACHE="$GO_CACHE_DIR/build"
# -p=2: the machines this runs on have two cores shared with other work.
export GOFLAGS="${GOFLAGS:-} -modcacherw -p=${TOOLCHAIN_GO_PARALLELISM:-2}"
# Static binaries, as Pulumi releases them; no C toolchain needed.
export CGO_ENABLED=0
# Modules come from the proxy only: never fall back to cloning repositories ("direct").
GOPROXY=$(go env GOPROXY | sed 's/[,|]/\n/g' | { grep -vx 'direct' || true; } | paste -sd, -)
[[ -n "$GOPROXY" && "$GOPROXY" != "off" ]] || die "GOPROXY names no module proxy (only direct/off)"
export GOPROXY GOVCS='*:off'
WRAPPER_DIR="$GO_CACHE_DIR/wrappers"

# Versions come from the lockfile (what `npm ci` installs), so a bump in package.json is followed.
# Output lines: "cli <version>", then "provider <name> <version>" for every @pulumi/* dependency but the SDK.
read_pins() {
  node -e '
    const fs = require("fs");
    const pkg = JSON.parse(fs.readFileSync("package.json", "utf8"));
    const lock = JSON.parse(fs.readFileSync("package-lock.json", "utf8"));
    const locked = (name) => {
      const entry = (lock.packages || {})["node_modules/" + name];
      if (!entry || !entry.version) throw new Error(name + " is not in package-lock.json");
      return entry.version;
    };
    console.log("cli " + locked("@pulumi/pulumi"));
    for (const name of Object.keys(pkg.dependencies || {}).sort()) {
      if (name.startsWith("@pulumi/") && name !== "@pulumi/pulumi") {
        console.log("provider " + name.slice("@pulumi/".length) + " " + locked(name));
      }
    }'
}

# Go module holding a provider's main package (cmd/pulumi-resource-<name>) and its pkg/version package.
# Module paths carry the major version suffix (v2+), so they are computed from the pinned version.
provider_module() {
  local name=$1 version=$2
  local major=${version%%.*}
  local suffix=""
  ((major >= 2)) && suffix="/v$major"
  case "$name" in
    kubernetes | tls | command) echo "github.com/pulumi/pulumi-$name/provider$suffix" ;;
    *) die "no build recipe for provider @pulumi/$name: add it to provider_module in $SCRIPT" ;;
  esac
}

# Prints the JSON `go mod download` reports for module@version (with an Error field when it fails).
go_download_json() {
  go mod download -json "$1" 2>/dev/null
}

# Fetches module@version through GOPROXY; prints "<go.mod path> <source dir>".
module_files() {
  local out
  out=$(go_download_json "$1") || true
  node -e '
    let d;
    try { d = JSON.parse(require("fs").readFileSync(0, "utf8")); } catch { d = { Error: "go mod download failed" }; }
    if (d.Error || !d.GoMod || !d.Dir) {
      console.error("pulumi-toolchain: " + (d.Error || "no module files for " + process.argv[1]));
      process.exit(1);
    }
    console.log(d.GoMod + " " + d.Dir);' "$1" <<<"$out"
}

# pulumi-tls replaces github.com/hashicorp/terraform-provider-tls/shim with ./shim, a nested module that is not
# published anywhere: it only re-exports the upstream provider constructor (the shim path may import
# terraform-provider-tls/internal). Recreate it inside the wrapper.
write_tls_shim() {
  mkdir -p "$1"
  printf 'module github.com/hashicorp/terraform-provider-tls/shim\n\ngo 1.22\n' >"$1/go.mod"
  cat >"$1/shim.go" <<'GO'
package shim

import (
	"github.com/hashicorp/terraform-plugin-framework/provider"
	tlsprovider "github.com/hashicorp/terraform-provider-tls/internal/provider"
)

func NewProvider() provider.Provider { return tlsprovider.New() }
GO
}

# Writes a wrapper module in $1 that requires module $2 at version $3 and repeats the replace directives of the
# module's own go.mod $4 (which `go install mod@version` refuses to honour). A replace that points at a directory
# of the same repository becomes a requirement of that module: at version $5 when given (the sibling release a
# commit build pairs with), else at the same release version.
# Leaves the caller in the wrapper directory.
write_wrapper() {
  local dir=$1 module=$2 version=$3 upstream_gomod=$4 sibling_version=${5:-}
  rm -rf "$dir"
  mkdir -p "$dir"
  cd "$dir"
  go mod init mynodeone.local/toolchain/wrapper 2>/dev/null
  # At least go 1.24, for the `tool` directive that lets a wrapper build a main package of a dependency.
  go mod edit -go="$(go mod edit -json "$upstream_gomod" | node -e '
    const go = JSON.parse(require("fs").readFileSync(0, "utf8")).Go || "1.24";
    const [major, minor] = go.split(".").map(Number);
    console.log(major > 1 || minor >= 24 ? go : "1.24");')"
  go mod edit -require="$module@$version"
  local kind path target target_version
  while read -r kind path target target_version; do
    if [[ "$kind" == "module" ]]; then
      go mod edit -replace="$path=$target@$target_version"
    elif [[ "$path" == "github.com/hashicorp/terraform-provider-tls/shim" ]]; then
      write_tls_shim shim
      go mod edit -replace="$path=./shim"
    elif go_download_json "$path@${sibling_version:-$version}" >/dev/null; then
      # A directory of the same repository: the sibling module at the paired version (a replace, so that no
      # other requirement can lift it).
      go mod edit -require="$path@${sibling_version:-$version}" -replace="$path=$path@${sibling_version:-$version}"
    else
      echo "pulumi-toolchain: $module go.mod replaces $path with directory $target," \
        "and $path@${sibling_version:-$version} is not a published module" >&2
      return 1
    fi
  done < <(go mod edit -json "$upstream_gomod" | node -e '
    const replaces = JSON.parse(require("fs").readFileSync(0, "utf8")).Replace || [];
    for (const r of replaces) {
      const from = r.Old.Path + (r.Old.Version ? "@" + r.Old.Version : "");
      if (r.New.Version) console.log(["module", from, r.New.Path, r.New.Version].join(" "));
      else console.log(["dir", r.Old.Path, r.New.Path, "-"].join(" "));
    }')
}

# Builds main package $4 of module $2@$3 into file $5 with ldflags $6, via a wrapper module in $1. $7: the
# version written into a generated schema (default $3), $8: the sibling version for write_wrapper.
# Runs in a subshell with `set -e` in force (see run_build).
build_main() {
  local wrapper=$1 module=$2 version=$3 package=$4 output=$5 ldflags=$6 schema_version=${7:-${3#v}}
  local sibling_version=${8:-}
  local files gomod source_dir
  files=$(module_files "$module@$version")
  read -r gomod source_dir <<<"$files"
  write_wrapper "$wrapper" "$module" "$version" "$gomod" "$sibling_version"
  local pkg_dir="$source_dir/${package#"$module"}"
  local target=$package
  # Providers embed files that their Makefile generates with cmd/.../generate.go: <name>-embed.json from the
  # committed <name>.json (the schema with the release version set, other files re-serialized). The module zip
  # does not carry them, so build a copy of the main package with the generated files beside it.
  local embeds
  embeds=$(sed -n 's|^//go:embed \([a-z-]*\)-embed\.json$|\1|p' "$pkg_dir"/*.go 2>/dev/null | sort -u)
  if [[ -n "$embeds" ]]; then
    mkdir -p main
    find "$pkg_dir" -maxdepth 1 -type f ! -name '*_test.go' ! -name generate.go -exec cp {} main/ \;
    chmod -R u+w main
    local embed
    for embed in $embeds; do
      [[ -f "main/$embed-embed.json" ]] && continue
      node -e '
        const fs = require("fs");
        const [name, version] = process.argv.slice(1);
        const doc = JSON.parse(fs.readFileSync("main/" + name + ".json", "utf8"));
        if (name === "schema") doc.version = version;
        fs.writeFileSync("main/" + name + "-embed.json", JSON.stringify(doc));' "$embed" "$schema_version"
    done
    target=./main
  else
    go mod edit -tool="$package"
  fi
  go mod tidy 2>tidy.log || {
    cat tidy.log >&2
    return 1
  }
  local selected
  selected=$(go list -m -f '{{.Version}}' "$module")
  [[ "$selected" == "$version" ]] || {
    echo "pulumi-toolchain: dependencies lift $module to $selected (pinned $version)" >&2
    return 1
  }
  nice -n 10 go build -trimpath -ldflags "-s -w $ldflags" -o "$output" "$target"
}

# Where the proxy serves no module for a provider's release, the provider is built from a commit of the same
# module that it does serve, and installed under the version the SDK asks for (the CLI loads only that one).
# The build says so, and writes the source into the plugin directory (BUILT-FROM). Users with normal internet
# access get the real release from the CLI's own plugin download, not this.
#   <provider> <module version (a commit)> <sibling module version its ../sdk replace becomes>
# kubernetes: the only version of provider/v4 the proxy serves, commit f47bc2d6f199 (2026-01-15) between
# releases v4.24.0 and v4.26.0; the sdk/v4 pseudo-version of that commit is refused, so its sibling is v4.25.0.
# The resource types and clusterIdentifier the program uses are older than that commit; upsertExistingObjects
# is not (pulumi-kubernetes#4278, with the create that fails on an existing object): this build ignores the
# option and always upserts (docs/testing.md says what that leaves unproven).
COMMIT_SOURCES=(
  "kubernetes v4.0.0-20260115033456-f47bc2d6f199 v4.25.0"
)
commit_source() {
  local entry
  for entry in "${COMMIT_SOURCES[@]}"; do
    [[ "${entry%% *}" == "$1" ]] && echo "${entry#* }" && return 0
  done
  return 1
}

TOTAL_START=$(now)
mapfile -t PINS < <(read_pins)
CLI_VERSION=${PINS[0]#cli }
[[ "${PINS[0]}" == "cli "* && -n "$CLI_VERSION" ]] || die "could not read the @pulumi/pulumi version"
CLI_DIR="$PULUMI_HOME/versions/$CLI_VERSION"
SCRIPT_HASH=$(sha256sum "$SCRIPT" | cut -d' ' -f1)

FAILED=()
SKIPPED=()
# Builds one tool into a staging file, then moves it into place so a failed build never leaves a broken binary.
# A stamp beside the binary (Go version, script hash, source) makes a re-run with nothing changed a no-op.
# Arguments: label dest wrapper module version package ldflags [schema version] [sibling version]
run_build() {
  local label=$1 dest=$2
  shift 2
  local stamp="$dest.toolchain-stamp" content start staging status
  content=$(printf '%s\n' "$(go version)" "script $SCRIPT_HASH" "$*")
  if [[ -x "$dest" && -f "$stamp" && "$(cat "$stamp")" == "$content" ]]; then
    echo "--- $label: up to date ($dest)"
    return 0
  fi
  start=$(now)
  mkdir -p "$(dirname "$dest")"
  staging="$dest.partial-build"
  echo "--- building $label ($2@$3)"
  rm -f "$stamp"
  # Not in an `if`: there, `set -e` would be off inside build_main and a failed step would go unnoticed.
  set +e
  (
    set -e
    build_main "$1" "$2" "$3" "$4" "$staging" "$5" "${6:-}" "${7:-}"
  )
  status=$?
  set -e
  if ((status == 0)); then
    mv -f "$staging" "$dest"
    printf '%s\n' "$content" >"$stamp"
    echo "--- $label: built in $(elapsed "$start") s"
  else
    rm -f "$staging"
    echo "--- $label: FAILED after $(elapsed "$start") s" >&2
  fi
  return "$status"
}

SDK_VERSION_VAR="github.com/pulumi/pulumi/sdk/v3/go/common/version.Version"
if wanted cli; then
  run_build "pulumi CLI v$CLI_VERSION" "$CLI_DIR/bin/pulumi" "$WRAPPER_DIR/pulumi-cli" \
    "github.com/pulumi/pulumi/pkg/v3" "v$CLI_VERSION" "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi" \
    "-X $SDK_VERSION_VAR=v$CLI_VERSION" || FAILED+=("cli")
  # Dynamic providers run through this shim; the Node SDK of the same version ships it.
  SHIM="node_modules/@pulumi/pulumi/pulumi-resource-pulumi-nodejs"
  if [[ -f "$SHIM" ]]; then
    mkdir -p "$CLI_DIR/bin"
    install -m 0755 "$SHIM" "$CLI_DIR/bin/pulumi-resource-pulumi-nodejs"
  else
    echo "pulumi-toolchain: $SHIM is missing (run 'npm ci'): dynamic providers will not load" >&2
    FAILED+=("dynamic-provider shim")
  fi
fi

if wanted language-host; then
  NODEJS_HOST_MODULE="github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3"
  if ! run_build "pulumi-language-nodejs v$CLI_VERSION" "$CLI_DIR/bin/pulumi-language-nodejs" \
    "$WRAPPER_DIR/pulumi-language-nodejs" "$NODEJS_HOST_MODULE" "v$CLI_VERSION" "$NODEJS_HOST_MODULE" \
    "-X $SDK_VERSION_VAR=v$CLI_VERSION"; then
    if [[ -n "$ONLY" ]]; then
      FAILED+=("language-host")
    else
      # Not fatal: scripts/stack.sh and the tests run the program through the Automation API, which needs none.
      SKIPPED+=("language-host (the program runs through the Automation API instead: docs/toolchain.md)")
    fi
  fi
fi

for pin in "${PINS[@]:1}"; do
  read -r _ name version <<<"$pin"
  wanted "$name" || continue
  module=$(provider_module "$name" "$version")
  plugin_dir="$PULUMI_HOME/plugins/resource-$name-v$version"
  # A leftover .partial marker (from an interrupted `pulumi plugin install`) hides the plugin from the CLI.
  rm -f "$plugin_dir.partial"
  dest="$plugin_dir/pulumi-resource-$name"
  ldflags="-X $module/pkg/version.Version=$version"
  source_version="v$version"
  sibling=""
  if ! go_download_json "$module@v$version" >/dev/null && source=$(commit_source "$name"); then
    read -r source_version sibling <<<"$source"
    echo "--- NOTE: GOPROXY serves no $module@v$version; building provider $name from commit $source_version" \
      "(sibling $sibling) and installing it as v$version, the version @pulumi/$name asks for." \
      "Users with normal internet access get the v$version release instead."
  fi
  if run_build "provider $name v$version" "$dest" "$WRAPPER_DIR/resource-$name" "$module" "$source_version" \
    "$module/cmd/pulumi-resource-$name" "$ldflags" "$version" "$sibling"; then
    printf '%s@%s%s\n' "$module" "$source_version" "${sibling:+, its ../sdk replace as $sibling}" >"$plugin_dir/BUILT-FROM"
  else
    FAILED+=("provider $name")
  fi
done

# The layout of Pulumi's own installer: $PULUMI_HOME/bin holds the current CLI (links into versions/<v>/bin).
mkdir -p "$PULUMI_HOME/bin"
for binary in "$CLI_DIR"/bin/*; do
  if [[ -x "$binary" && "$binary" != *.partial-build && "$binary" != *.toolchain-stamp ]]; then
    ln -sfn "$binary" "$PULUMI_HOME/bin/$(basename "$binary")"
  fi
done

echo "--- total $(elapsed "$TOTAL_START") s; caches: $(du -sh "$GO_CACHE_DIR" 2>/dev/null | cut -f1) in $GO_CACHE_DIR"
for skipped in "${SKIPPED[@]}"; do
  echo "pulumi-toolchain: not built: $skipped"
done
if ((${#FAILED[@]})); then
  die "failed: ${FAILED[*]} (every module version must be served by GOPROXY=$(go env GOPROXY))"
fi
echo "pulumi-toolchain: installed into $PULUMI_HOME; add $PULUMI_HOME/bin to PATH"
