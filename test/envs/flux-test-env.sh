#!/usr/bin/env bash
# Real Flux controllers against the real-API test environment (kube-test-env.sh), and a Git server over SSH on
# loopback for them to sync from. source-controller and kustomize-controller are built from their Go modules at
# the versions the pinned Flux distribution ships, sops from its module, and render-sync (the Flux Operator's own
# builder, test/envs/flux-test-env/render-sync) from the pinned operator's module. The controllers run as
# processes with the test API's admin kubeconfig: no pod, no image, no registry.
#
#   flux-test-env.sh build                 build the four binaries into the cache (skipped when up to date)
#   flux-test-env.sh start DIR KUBECONFIG  install the controllers' CRDs (from their modules) through KUBECONFIG,
#                                          start sshd with a bare repository and both controllers; writes
#                                          DIR/env.json (Git URL, known_hosts line, deploy key, binaries)
#   flux-test-env.sh stop DIR              stop what `start DIR` started and remove its state
#   flux-test-env.sh stop-controllers DIR  stop only the two controllers (what the operator's uninstall does first)
#   flux-test-env.sh versions              print the pins as JSON
#   flux-test-env.sh pin                   regenerate test/envs/flux-test-env/*/go.{mod,sum} from the pins below
#
# See docs/testing.md, "Flux handoff".
set -euo pipefail
SCRIPT=$(realpath "$0")
HERE=$(dirname "$SCRIPT")

# Pins. The controllers at the versions Flux v2.9.5 ships (the operator's config/data/flux-images/v2.9.5; a
# test checks both). source-controller v1.9.5 requires github.com/fluxcd/pkg/artifact v0.18.3, which the module
# proxy refuses; it is built with v0.18.1 (a patch release of the same library, the newest that is served), the
# one deviation from the released binary.
FLUX_DISTRIBUTION_VERSION=v2.9.5
SOURCE_CONTROLLER_VERSION=v1.9.5
SOURCE_CONTROLLER_REPLACES=(github.com/fluxcd/pkg/artifact=github.com/fluxcd/pkg/artifact@v0.18.1)
KUSTOMIZE_CONTROLLER_VERSION=v1.9.5
SOPS_VERSION=v3.13.3
OPERATOR_MODULE=github.com/controlplaneio-fluxcd/flux-operator
OPERATOR_VERSION=v0.59.0
# The operator's go.mod needs Go 1.27; the go command fetches it through the module proxy.
OPERATOR_TOOLCHAIN=go1.27.3

ENV_NAME=flux-test-env
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$HERE/lib.sh"
BIN_DIR="$CACHE_ROOT/flux/bin"
WRAPPERS_DIR="$HERE/flux-test-env"
READY_TIMEOUT="${FLUX_TEST_ENV_TIMEOUT:-60}"
SSHD=/usr/sbin/sshd

usage() {
  sed -n '2,/^# See docs/s/^# \{0,1\}//p' "$SCRIPT" >&2
  exit 2
}

component_binary() {
  case "$1" in
    sshd) echo "$SSHD" ;;
    *) echo "$BIN_DIR/$1" ;;
  esac
}

# --- pin / build ----------------------------------------------------------------------------------------------

cmd_pin() {
  go_env local
  local start
  start=$(now)
  EXTRA_REPLACES=("${SOURCE_CONTROLLER_REPLACES[@]}")
  # -e: its tests import a module the proxy refuses (helmtestserver); the binary does not.
  WRAPPER_TIDY_FLAGS=-e write_wrapper "$WRAPPERS_DIR/source-controller" source-controller \
    github.com/fluxcd/source-controller "$SOURCE_CONTROLLER_VERSION" github.com/fluxcd/source-controller
  EXTRA_REPLACES=()
  write_wrapper "$WRAPPERS_DIR/kustomize-controller" kustomize-controller \
    github.com/fluxcd/kustomize-controller "$KUSTOMIZE_CONTROLLER_VERSION" github.com/fluxcd/kustomize-controller
  write_wrapper "$WRAPPERS_DIR/sops" sops github.com/getsops/sops/v3 "$SOPS_VERSION" \
    github.com/getsops/sops/v3/cmd/sops
  log "wrapper modules written in $(elapsed "$start") s: commit $WRAPPERS_DIR/*/go.{mod,sum}"
}

# render-sync is built inside a writable copy of the operator's module (it imports internal/builder), with the
# operator's own go.mod and go.sum. Only the packages it imports are fetched: the refused dependency belongs to
# internal/controller.
build_render_sync() {
  go_env "$OPERATOR_TOOLCHAIN"
  export GOFLAGS="$GOFLAGS -mod=mod -buildvcs=false"
  local src="$CACHE_ROOT/flux/operator-src-$OPERATOR_VERSION" module
  if [[ ! -f "$src/.complete" ]]; then
    module=$(module_field Dir "$OPERATOR_MODULE" "$OPERATOR_VERSION")
    rm -rf "$src"
    cp -r "$module" "$src"
    chmod -R u+w "$src"
    touch "$src/.complete"
  fi
  mkdir -p "$src/cmd/render-sync"
  cp "$WRAPPERS_DIR/render-sync/main.go" "$src/cmd/render-sync/main.go"
  EXTRA_STAMP=$(sha256sum "$WRAPPERS_DIR/render-sync/main.go") build_tool "$src" ./cmd/render-sync \
    "$BIN_DIR/render-sync" "-X main.defaultDataDir=$src/config/data"
}

cmd_build() {
  local start
  start=$(now)
  go_env local
  check_wrapper "$WRAPPERS_DIR/source-controller" github.com/fluxcd/source-controller "$SOURCE_CONTROLLER_VERSION"
  check_wrapper "$WRAPPERS_DIR/kustomize-controller" github.com/fluxcd/kustomize-controller \
    "$KUSTOMIZE_CONTROLLER_VERSION"
  check_wrapper "$WRAPPERS_DIR/sops" github.com/getsops/sops/v3 "$SOPS_VERSION"
  build_tool "$WRAPPERS_DIR/source-controller" github.com/fluxcd/source-controller "$BIN_DIR/source-controller" ""
  build_tool "$WRAPPERS_DIR/kustomize-controller" github.com/fluxcd/kustomize-controller \
    "$BIN_DIR/kustomize-controller" ""
  # What sops' own release build stamps (`sops --version`).
  build_tool "$WRAPPERS_DIR/sops" github.com/getsops/sops/v3/cmd/sops "$BIN_DIR/sops" \
    "-X github.com/getsops/sops/v3/version.Version=${SOPS_VERSION#v}"
  build_render_sync
  log "done in $(elapsed "$start") s: $BIN_DIR"
}

cmd_versions() {
  node -e 'console.log(JSON.stringify({
    distribution: process.argv[1], sourceController: process.argv[2], kustomizeController: process.argv[3],
    sops: process.argv[4], operator: process.argv[5], operatorToolchain: process.argv[6] }))' \
    "$FLUX_DISTRIBUTION_VERSION" "$SOURCE_CONTROLLER_VERSION" "$KUSTOMIZE_CONTROLLER_VERSION" "$SOPS_VERSION" \
    "$OPERATOR_VERSION" "$OPERATOR_TOOLCHAIN"
}

# --- start / stop ---------------------------------------------------------------------------------------------

CONTROLLERS=(source-controller kustomize-controller)
MARKER=.flux-test-env

fail_start() {
  show_log "$1" "$2" "$3"
  stop_components "$1" kustomize-controller source-controller sshd
  exit 1
}

# Loopback only: never through a proxy the environment may name.
http_ok() { curl -fsS -o /dev/null --max-time 2 --noproxy '*' "$1"; }

# sshd as the Git host: root's login is a forced `git-upload-pack` of the one repository (read only; the tests
# push through the file system), for the deploy key only, on 127.0.0.1:PORT, with its own host key, config and
# authorized_keys in DIR (nothing of the machine's sshd is read or changed).
start_git_server() {
  local dir=$1 port=$2
  command -v git-upload-pack >/dev/null 2>&1 || die "git is not installed (Debian: apt-get install git)"
  [[ -x "$SSHD" ]] || die "$SSHD is missing (Debian: apt-get install openssh-server)"
  mkdir -p "$dir/ssh" "$dir/git"
  ssh-keygen -q -t ed25519 -N '' -C flux-test-env-host -f "$dir/ssh/host_ed25519"
  ssh-keygen -q -t ed25519 -N '' -C flux-test-env-deploy -f "$dir/deploy_key"
  printf 'restrict,command="git-upload-pack %s" %s\n' "'$dir/git/platform.git'" "$(cat "$dir/deploy_key.pub")" \
    >"$dir/ssh/authorized_keys"
  chmod 600 "$dir/ssh/authorized_keys"
  cat >"$dir/ssh/sshd_config" <<EOF
ListenAddress 127.0.0.1:$port
HostKey $dir/ssh/host_ed25519
PidFile none
AuthorizedKeysFile $dir/ssh/authorized_keys
PermitRootLogin forced-commands-only
AllowUsers root
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
DisableForwarding yes
PermitTTY no
PrintMotd no
LogLevel VERBOSE
EOF
  git init -q --bare -b main "$dir/git/platform.git"
  # Privilege separation needs this directory (the service unit creates it; we run no unit).
  mkdir -p /run/sshd
  "$SSHD" -t -f "$dir/ssh/sshd_config" || die "sshd rejects $dir/ssh/sshd_config"
  launch "$dir" sshd -D -e -f "$dir/ssh/sshd_config"
  wait_for "$dir" sshd "sshd on 127.0.0.1:$port" bash -c "exec 3<>/dev/tcp/127.0.0.1/$port"
}

cmd_start() {
  local dir=${1:-} kubeconfig=${2:-}
  [[ -n "$dir" && -n "$kubeconfig" ]] || usage
  [[ -f "$kubeconfig" ]] || die "no kubeconfig at $kubeconfig"
  kubeconfig=$(realpath "$kubeconfig")
  local name
  for name in "${CONTROLLERS[@]}" sops render-sync; do
    [[ -x "$BIN_DIR/$name" ]] || die "$BIN_DIR/$name is missing: run '$0 build' first"
  done
  command -v gpg >/dev/null 2>&1 || die "kustomize-controller imports GPG keys with gpg (Debian: apt-get install gnupg)"
  ((EUID == 0)) || die "start needs root: sshd runs the Git server (as root, for the deploy key only)"
  local kubectl
  kubectl="$(bash "$HERE/kube-test-env.sh" bin-dir)/kubectl"
  mkdir -p "$dir"
  dir=$(realpath "$dir")
  [[ ! -f "$dir/$MARKER" && -z "$(ls -A "$dir")" ]] || die "$dir is not empty: give an empty or new directory"
  touch "$dir/$MARKER"
  mkdir -p "$dir/logs" "$dir/artifacts"
  # Whatever fails from here on, nothing started stays running.
  # shellcheck disable=SC2064 # $dir is fixed now
  trap "stop_components '$dir' kustomize-controller source-controller sshd" EXIT
  local start
  start=$(now)

  # The CRDs from the controllers' own modules, as the Flux distribution packages them.
  go_env local
  local source_dir kustomize_dir
  source_dir=$(module_field Dir github.com/fluxcd/source-controller "$SOURCE_CONTROLLER_VERSION")
  kustomize_dir=$(module_field Dir github.com/fluxcd/kustomize-controller "$KUSTOMIZE_CONTROLLER_VERSION")
  "$kubectl" --kubeconfig="$kubeconfig" apply --server-side -f "$source_dir/config/crd/bases" \
    -f "$kustomize_dir/config/crd/bases" >"$dir/logs/crds.log"
  "$kubectl" --kubeconfig="$kubeconfig" wait --for=condition=Established --timeout=60s \
    -f "$source_dir/config/crd/bases" -f "$kustomize_dir/config/crd/bases" >>"$dir/logs/crds.log"

  DEADLINE=$((SECONDS + READY_TIMEOUT))
  local ssh_port storage_port
  free_port ssh_port
  free_port storage_port
  start_git_server "$dir" "$ssh_port"

  # One health and one metrics port each, on 127.0.0.1 (the defaults bind every interface).
  local health metrics
  free_port health
  free_port metrics
  launch "$dir" source-controller KUBECONFIG="$kubeconfig" RUNTIME_NAMESPACE=flux-system \
    --storage-path="$dir/artifacts" --storage-addr="127.0.0.1:$storage_port" \
    --storage-adv-addr="127.0.0.1:$storage_port" --health-addr="127.0.0.1:$health" \
    --metrics-addr="127.0.0.1:$metrics" --enable-leader-election=false --events-addr=
  wait_for "$dir" source-controller "source-controller /readyz" http_ok "http://127.0.0.1:$health/readyz"
  free_port health
  free_port metrics
  # No remote bases: everything comes from the artifact, as the operator configures it.
  launch "$dir" kustomize-controller KUBECONFIG="$kubeconfig" RUNTIME_NAMESPACE=flux-system \
    --health-addr="127.0.0.1:$health" --metrics-addr="127.0.0.1:$metrics" --enable-leader-election=false \
    --events-addr= --no-remote-bases=true
  wait_for "$dir" kustomize-controller "kustomize-controller /readyz" http_ok "http://127.0.0.1:$health/readyz"

  local host_key
  host_key=$(cut -d' ' -f1,2 "$dir/ssh/host_ed25519.pub")
  # shellcheck disable=SC2016 # JavaScript template literals
  node -e 'const [dir, port, hostKey, bin] = process.argv.slice(1);
    require("fs").writeFileSync(dir + "/env.json", JSON.stringify({
      gitUrl: `ssh://root@127.0.0.1:${port}${dir}/git/platform.git`,
      knownHostsLine: `[127.0.0.1]:${port} ${hostKey}`,
      deployKeyPath: `${dir}/deploy_key`,
      repoPath: `${dir}/git/platform.git`,
      sops: `${bin}/sops`,
      renderSync: `${bin}/render-sync`,
      logs: `${dir}/logs`,
    }, null, 2) + "\n");' "$dir" "$ssh_port" "$host_key" "$BIN_DIR"
  trap - EXIT
  log "Git over SSH on 127.0.0.1:$ssh_port, controllers ready in $(elapsed "$start") s ($dir/env.json)"
  echo "$dir/env.json"
}

remove_state() {
  local dir=$1 name
  for name in "${CONTROLLERS[@]}" sshd; do rm -f "$dir/$name.pid"; done
  rm -rf "$dir/logs" "$dir/artifacts" "$dir/ssh" "$dir/git"
  rm -f "$dir/deploy_key" "$dir/deploy_key.pub" "$dir/env.json" "$dir/$MARKER"
}

cmd_stop() {
  local dir
  dir=$(checked_dir "${1:-}")
  stop_components "$dir" kustomize-controller source-controller sshd
  remove_state "$dir"
  rmdir "$dir" 2>/dev/null || true
  log "stopped; removed its state from $dir"
}

cmd_stop_controllers() {
  local dir
  dir=$(checked_dir "${1:-}")
  stop_components "$dir" kustomize-controller source-controller
  log "controllers stopped ($dir)"
}

case "${1:-}" in
  build) cmd_build ;;
  start) cmd_start "${2:-}" "${3:-}" ;;
  stop) cmd_stop "${2:-}" ;;
  stop-controllers) cmd_stop_controllers "${2:-}" ;;
  versions) cmd_versions ;;
  pin) cmd_pin ;;
  *) usage ;;
esac
