#!/usr/bin/env bash
# A genuine Kubernetes API on loopback for tests: etcd + kube-apiserver + kube-controller-manager, built from
# their Go modules (the Go module proxy is the only source needed), started with fresh certificates, bound to
# 127.0.0.1 only. No kubelet, no scheduler: objects are stored and served, controllers run, no pod ever runs.
#
#   kube-test-env.sh build        build the binaries into the cache (skipped when up to date)
#   kube-test-env.sh start DIR    start a fresh control plane with its state in DIR; prints DIR/kubeconfig
#   kube-test-env.sh stop DIR     stop it and remove the state `start` created in DIR
#   kube-test-env.sh bin-dir      print the directory holding kubectl & co (after `build`)
#   kube-test-env.sh pin          regenerate scripts/kube-test-env/*/go.{mod,sum} from the pins in this script
#
# See docs/testing.md.
set -euo pipefail
SCRIPT=$(realpath "$0")
ROOT=$(cd "$(dirname "$SCRIPT")/.." && pwd)

# Pinned versions. k8s.io/kubernetes v1.35.x matches the k3s minor the program installs (v1.35.*+k3s1); its
# staging modules (k8s.io/api, ...) are published as v0.35.x. etcd v3.6 is what Kubernetes 1.35 is tested with.
# After changing one, run `kube-test-env.sh pin` and commit scripts/kube-test-env/*/go.{mod,sum}.
KUBERNETES_VERSION=v1.35.4
ETCD_VERSION=v3.6.16
KUBERNETES_TOOLS=(kube-apiserver kube-controller-manager kubectl)

CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/mynodeone"
# The same Go caches as scripts/pulumi-toolchain.sh: shared modules are downloaded and compiled once.
GO_CACHE_DIR="$CACHE_ROOT/go"
KUBE_BIN_DIR="$CACHE_ROOT/kube/$KUBERNETES_VERSION/bin"
ETCD_BIN_DIR="$CACHE_ROOT/kube/etcd-$ETCD_VERSION/bin"
WRAPPERS_DIR="$ROOT/scripts/kube-test-env"
READY_TIMEOUT="${KUBE_TEST_ENV_TIMEOUT:-60}"

die() {
  echo "kube-test-env: $*" >&2
  exit 1
}
log() { echo "kube-test-env: $*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

usage() {
  sed -n '2,/^# See docs/s/^# \{0,1\}//p' "$SCRIPT" >&2
  exit 2
}

# --- Go environment -------------------------------------------------------------------------------------------

go_env() {
  command -v go >/dev/null 2>&1 || die "'go' is not on PATH (Debian: /usr/local/go/bin)"
  export GOMODCACHE="$GO_CACHE_DIR/mod" GOCACHE="$GO_CACHE_DIR/build"
  # -p=2: the machines this runs on have two cores shared with other work.
  export GOFLAGS="-modcacherw -trimpath -p=${KUBE_TEST_ENV_GO_PARALLELISM:-2}"
  # Static binaries, as Kubernetes and etcd release them.
  export CGO_ENABLED=0
  # Never download another Go toolchain, never clone a repository: the module proxy only.
  export GOTOOLCHAIN=local GOVCS='*:off'
  local proxy
  proxy=$(go env GOPROXY | sed 's/[,|]/\n/g' | grep -vx 'direct' | paste -sd, -)
  [[ -n "$proxy" && "$proxy" != "off" ]] || die "GOPROXY names no module proxy (only direct/off)"
  export GOPROXY="$proxy"
}

# JSON of `go mod edit -json FILE`, reduced to lines "KIND PATH TARGET VERSION" for the replace directives.
replace_lines() {
  go mod edit -json "$1" | node -e '
    const mod = JSON.parse(require("fs").readFileSync(0, "utf8"));
    for (const r of mod.Replace || []) {
      console.log([r.New.Version ? "module" : "dir", r.Old.Path, r.New.Path, r.New.Version || "-"].join(" "));
    }'
}

gomod_field() {
  go mod edit -json "$1" | node -e '
    const mod = JSON.parse(require("fs").readFileSync(0, "utf8"));
    const v = process.argv[1].split(".").reduce((o, k) => (o == null ? undefined : o[k]), mod);
    if (v !== undefined) console.log(typeof v === "string" ? v : JSON.stringify(v));' "$2"
}

# Writes wrapper module DIR that requires MODULE@VERSION, builds the main packages TOOLS (Go 1.24 `tool`
# directives) and repeats the module's replace directives, which `go install module@version` refuses:
#  - ./staging/src/P (Kubernetes' staging repositories) -> P at the published v0.<minor>.<patch>;
#  - ../X (etcd's sibling modules) -> that module at the same version;
#  - other directories (etcd's ./FORBIDDEN_DEPENDENCY guards) are dropped: nothing may import them anyway.
write_wrapper() {
  local dir=$1 name=$2 module=$3 version=$4
  shift 4
  local info gomod
  info=$(go mod download -json "$module@$version") || die "the module proxy does not serve $module@$version"
  gomod=$(node -e 'const d = JSON.parse(process.argv[1]); if (d.Error) { console.error(d.Error); process.exit(1); }
    console.log(d.GoMod);' "$info") || die "cannot fetch $module@$version"
  rm -rf "$dir"
  mkdir -p "$dir"
  (
    cd "$dir"
    go mod init "mynodeone.local/kube-test-env/$name" 2>/dev/null
    go mod edit -go="$(gomod_field "$gomod" Go)" -require="$module@$version"
    local godebug
    godebug=$(go mod edit -json "$gomod" | node -e '
      const mod = JSON.parse(require("fs").readFileSync(0, "utf8"));
      for (const g of mod.GoDebug || []) console.log(g.Key + "=" + g.Value);')
    local setting
    for setting in $godebug; do go mod edit -godebug="$setting"; done
    local staging_version="v0.${version#v1.}"
    local kind path target target_version
    while read -r kind path target target_version; do
      if [[ "$kind" == "module" ]]; then
        go mod edit -replace="$path=$target@$target_version"
      elif [[ "$target" == "./staging/src/$path" ]]; then
        go mod edit -replace="$path=$path@$staging_version"
      elif [[ "$target" == ../* ]]; then
        go mod edit -require="$path@$version"
      fi
    done < <(replace_lines "$gomod")
    local tool
    for tool in "$@"; do go mod edit -tool="$tool"; done
    go mod tidy
  )
}

cmd_pin() {
  go_env
  local start
  start=$(now)
  log "pinning k8s.io/kubernetes@$KUBERNETES_VERSION"
  local tools=() tool
  for tool in "${KUBERNETES_TOOLS[@]}"; do tools+=("k8s.io/kubernetes/cmd/$tool"); done
  write_wrapper "$WRAPPERS_DIR/kubernetes" kubernetes k8s.io/kubernetes "$KUBERNETES_VERSION" "${tools[@]}"
  log "pinning go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  write_wrapper "$WRAPPERS_DIR/etcd" etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION" go.etcd.io/etcd/server/v3
  log "wrapper modules written in $(elapsed "$start") s: commit $WRAPPERS_DIR/*/go.{mod,sum}"
}

# --- build ----------------------------------------------------------------------------------------------------

# The wrapper in DIR must require MODULE at VERSION (else the pins above and the committed go.mod disagree).
check_wrapper() {
  local dir=$1 module=$2 version=$3 pinned
  [[ -f "$dir/go.mod" && -f "$dir/go.sum" ]] || die "$dir/go.{mod,sum} missing: run '$0 pin'"
  pinned=$(go mod edit -json "$dir/go.mod" | node -e '
    const mod = JSON.parse(require("fs").readFileSync(0, "utf8"));
    const r = (mod.Require || []).find((x) => x.Path === process.argv[1]);
    console.log(r ? r.Version : "");' "$module")
  [[ "$pinned" == "$version" ]] ||
    die "$dir/go.mod requires $module ${pinned:-(nothing)}, the script pins $version: run '$0 pin'"
}

# Builds main package PACKAGE of the wrapper module in DIR into OUTPUT (via a staging file, so an interrupted
# build never leaves a broken binary), unless OUTPUT exists and was built from the same inputs (Go version,
# wrapper go.mod/go.sum, ldflags: recorded in OUTPUT.stamp).
build_tool() {
  local dir=$1 package=$2 output=$3 ldflags=$4 start stamp
  stamp=$({
    go version
    echo "$package $ldflags"
    cat "$dir/go.mod" "$dir/go.sum"
  } | sha256sum | cut -d' ' -f1)
  if [[ -x "$output" && "$(cat "$output.stamp" 2>/dev/null)" == "$stamp" ]]; then
    log "$(basename "$output"): up to date ($output)"
    return
  fi
  start=$(now)
  mkdir -p "$(dirname "$output")"
  log "building $(basename "$output") ($package)"
  (cd "$dir" && nice -n 10 go build -ldflags "-s -w $ldflags" -o "$output.partial-build" "$package") ||
    die "building $package failed after $(elapsed "$start") s"
  mv -f "$output.partial-build" "$output"
  echo "$stamp" >"$output.stamp"
  log "$(basename "$output"): built in $(elapsed "$start") s"
}

cmd_build() {
  go_env
  local start
  start=$(now)
  check_wrapper "$WRAPPERS_DIR/kubernetes" k8s.io/kubernetes "$KUBERNETES_VERSION"
  check_wrapper "$WRAPPERS_DIR/etcd" go.etcd.io/etcd/server/v3 "$ETCD_VERSION"
  # What Kubernetes' hack/lib/version.sh stamps into release binaries (`kubectl version`, the API's /version).
  local minor=${KUBERNETES_VERSION#v1.}
  minor=${minor%%.*}
  local ldflags="" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    # The module zip carries no commit id; an empty one beats the "$Format:%H$" placeholder.
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.gitCommit="
  done
  local tool
  for tool in "${KUBERNETES_TOOLS[@]}"; do
    build_tool "$WRAPPERS_DIR/kubernetes" "k8s.io/kubernetes/cmd/$tool" "$KUBE_BIN_DIR/$tool" "$ldflags"
  done
  build_tool "$WRAPPERS_DIR/etcd" go.etcd.io/etcd/server/v3 "$ETCD_BIN_DIR/etcd" ""
  log "done in $(elapsed "$start") s: $KUBE_BIN_DIR, $ETCD_BIN_DIR" \
    "($(du -sh "$CACHE_ROOT/kube" | cut -f1) binaries, $(du -sh "$GO_CACHE_DIR" | cut -f1) Go caches)"
}

cmd_bin_dir() {
  local tool
  for tool in "${KUBERNETES_TOOLS[@]}"; do
    [[ -x "$KUBE_BIN_DIR/$tool" ]] || die "$KUBE_BIN_DIR/$tool is missing: run '$0 build'"
  done
  echo "$KUBE_BIN_DIR"
}

# --- start / stop ---------------------------------------------------------------------------------------------

# Processes in start order; stop goes the other way.
COMPONENTS=(etcd kube-apiserver kube-controller-manager)
MARKER=.kube-test-env

component_binary() {
  case "$1" in
    etcd) echo "$ETCD_BIN_DIR/etcd" ;;
    *) echo "$KUBE_BIN_DIR/$1" ;;
  esac
}

# Sets variable VAR to a free TCP port on 127.0.0.1 (nothing answers a connect) that no earlier call chose.
# The port is only probed, not held: a process that takes it in between makes that component fail to start,
# which `start` reports.
USED_PORTS=()
free_port() {
  local var=$1 port attempt
  for ((attempt = 1; attempt <= 100; attempt++)); do
    port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    [[ " ${USED_PORTS[*]} " == *" $port "* ]] && continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      USED_PORTS+=("$port")
      printf -v "$var" '%s' "$port"
      return
    fi
  done
  die "no free port on 127.0.0.1 after 100 attempts"
}

# Certificate NAME signed by the test CA in PKI: subject SUBJECT, extensions EXT (openssl x509v3 config lines).
issue_cert() {
  local pki=$1 name=$2 subject=$3 ext=$4
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$pki/$name.key" 2>/dev/null
  openssl req -new -key "$pki/$name.key" -subj "$subject" -out "$pki/$name.csr"
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 7 -out "$pki/$name.crt" -extfile <(printf '%s\n' "$ext") 2>/dev/null
  rm -f "$pki/$name.csr"
}

generate_pki() {
  local pki=$1
  mkdir -p "$pki"
  chmod 700 "$pki"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$pki/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$pki/ca.key" -subj "/CN=mynodeone-test-ca" -days 7 -out "$pki/ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
  local leaf="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature"
  issue_cert "$pki" apiserver "/CN=kube-apiserver" "$leaf
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:$SERVICE_IP"
  # system:masters: the group the API server authorizes for everything, what k3s' admin kubeconfig uses.
  issue_cert "$pki" admin "/O=system:masters/CN=mynodeone-test-admin" "$leaf
extendedKeyUsage=clientAuth"
  # The identity RBAC's bootstrap policy grants the controller manager (it then uses one service account per
  # controller, as kubeadm and k3s run it).
  issue_cert "$pki" kube-controller-manager "/CN=system:kube-controller-manager" "$leaf
extendedKeyUsage=clientAuth"
  # Service-account token signing key pair.
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$pki/sa.key" 2>/dev/null
  openssl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub"
}

# Kubeconfig FILE for client certificate NAME (data embedded, so the file can be read and passed on as a string).
write_kubeconfig() {
  local file=$1 pki=$2 name=$3 port=$4
  local umask_before
  umask_before=$(umask)
  umask 077
  cat >"$file" <<YAML
apiVersion: v1
kind: Config
clusters:
  - name: mynodeone-test
    cluster:
      server: https://127.0.0.1:$port
      certificate-authority-data: $(base64 -w0 "$pki/ca.crt")
users:
  - name: $name
    user:
      client-certificate-data: $(base64 -w0 "$pki/$name.crt")
      client-key-data: $(base64 -w0 "$pki/$name.key")
contexts:
  - name: mynodeone-test
    context:
      cluster: mynodeone-test
      user: $name
current-context: mynodeone-test
YAML
  umask "$umask_before"
}

# Starts component NAME detached (own session, so it outlives this script and the caller's terminal),
# logging to DIR/logs/NAME.log, its pid in DIR/NAME.pid.
launch() {
  local dir=$1 name=$2
  shift 2
  local binary
  binary=$(component_binary "$name")
  setsid "$binary" "$@" </dev/null >>"$dir/logs/$name.log" 2>&1 &
  echo $! >"$dir/$name.pid"
}

# Pid of component NAME in DIR when it is running (the pid file's process is still that binary), else nothing.
running_pid() {
  local dir=$1 name=$2 pid state exe
  [[ -f "$dir/$name.pid" ]] || return 0
  pid=$(cat "$dir/$name.pid")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  # " (deleted)": the binary was rebuilt while the process ran.
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
  [[ "${exe% (deleted)}" == "$(realpath -m "$(component_binary "$name")")" ]] || return 0
  # A zombie (exited, not yet reaped by whoever adopted it) counts as stopped.
  state=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null || true)
  [[ -n "$state" && "$state" != Z ]] && echo "$pid"
  return 0
}

fail_start() {
  local dir=$1 name=$2 message=$3
  echo "kube-test-env: $message; last lines of $dir/logs/$name.log:" >&2
  tail -n 30 "$dir/logs/$name.log" >&2 || true
  stop_components "$dir"
  exit 1
}

# Waits (until DEADLINE, epoch seconds) for CHECK (a command) to succeed while component NAME keeps running.
wait_for() {
  local dir=$1 name=$2 what=$3
  shift 3
  until "$@" >/dev/null 2>&1; do
    [[ -n "$(running_pid "$dir" "$name")" ]] || fail_start "$dir" "$name" "$name exited while waiting for $what"
    ((SECONDS < DEADLINE)) || fail_start "$dir" "$name" "timed out after ${READY_TIMEOUT}s waiting for $what"
    sleep 0.5
  done
}

# The service network only names the `kubernetes` Service's cluster IP; nothing routes or sends to it.
SERVICE_CIDR=10.0.0.0/24
SERVICE_IP=10.0.0.1

cmd_start() {
  local dir=${1:-}
  [[ -n "$dir" ]] || usage
  local name binary
  for name in "${COMPONENTS[@]}"; do
    binary=$(component_binary "$name")
    [[ -x "$binary" ]] || die "$binary is missing: run '$0 build' first"
  done
  local kubectl="$KUBE_BIN_DIR/kubectl"
  command -v openssl >/dev/null 2>&1 || die "'openssl' is not on PATH (Debian: apt-get install openssl)"
  mkdir -p "$dir"
  dir=$(realpath "$dir")
  if [[ -f "$dir/$MARKER" ]]; then
    for name in "${COMPONENTS[@]}"; do
      [[ -z "$(running_pid "$dir" "$name")" ]] || die "$name is already running for $dir: '$0 stop $dir' first"
    done
    remove_state "$dir"
  elif [[ -n "$(ls -A "$dir")" ]]; then
    die "$dir is not empty: give an empty or new directory"
  fi
  local start
  start=$(now)
  DEADLINE=$((SECONDS + READY_TIMEOUT))
  touch "$dir/$MARKER"
  mkdir -p "$dir/logs"
  generate_pki "$dir/pki"
  local etcd_port etcd_peer_port apiserver_port
  free_port etcd_port
  free_port etcd_peer_port
  free_port apiserver_port
  write_kubeconfig "$dir/kubeconfig" "$dir/pki" admin "$apiserver_port"
  write_kubeconfig "$dir/kube-controller-manager.kubeconfig" "$dir/pki" kube-controller-manager "$apiserver_port"
  local pki=$dir/pki

  # Plain HTTP on loopback: only this API server talks to it. No fsync: the data is thrown away with DIR.
  launch "$dir" etcd \
    --name=test --data-dir="$dir/etcd-data" \
    --listen-client-urls="http://127.0.0.1:$etcd_port" --advertise-client-urls="http://127.0.0.1:$etcd_port" \
    --listen-peer-urls="http://127.0.0.1:$etcd_peer_port" \
    --initial-advertise-peer-urls="http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster="test=http://127.0.0.1:$etcd_peer_port" --initial-cluster-state=new \
    --unsafe-no-fsync=true --log-level=warn

  # Flags as k3s and kubeadm set them (Node,RBAC authorization, NodeRestriction, service-account tokens signed
  # with our key); secure port only, on 127.0.0.1. No endpoint reconciler: the default one publishes
  # --advertise-address as the `kubernetes` Service's endpoint, an Endpoints object may not hold a loopback
  # address, so it would fail every 10 s; no pod ever needs that endpoint here.
  launch "$dir" kube-apiserver \
    --etcd-servers="http://127.0.0.1:$etcd_port" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$apiserver_port" \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --client-ca-file="$pki/ca.crt" --cert-dir="$pki" \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction --allow-privileged=true \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --service-cluster-ip-range="$SERVICE_CIDR" --profiling=false --endpoint-reconciler-type=none
  wait_for "$dir" kube-apiserver "/readyz" \
    "$kubectl" --kubeconfig="$dir/kubeconfig" --request-timeout=5s get --raw=/readyz
  wait_for "$dir" kube-apiserver "namespaces default and kube-system" \
    "$kubectl" --kubeconfig="$dir/kubeconfig" --request-timeout=5s get namespace default kube-system
  local apiserver_ready
  apiserver_ready=$(elapsed "$start")

  # No serving port (--secure-port=0): nothing scrapes it. No leader election: it is the only one. The flex
  # volume directory defaults to /usr/libexec/kubernetes/..., which it would create on the host.
  launch "$dir" kube-controller-manager \
    --kubeconfig="$dir/kube-controller-manager.kubeconfig" --secure-port=0 --leader-elect=false \
    --use-service-account-credentials=true --service-account-private-key-file="$pki/sa.key" \
    --root-ca-file="$pki/ca.crt" --cluster-signing-cert-file="$pki/ca.crt" \
    --cluster-signing-key-file="$pki/ca.key" --cluster-name=mynodeone-test \
    --service-cluster-ip-range="$SERVICE_CIDR" --profiling=false --flex-volume-plugin-dir="$dir/flexvolume"
  # Its root-CA publisher writes this ConfigMap into every namespace: proof the controllers are running.
  wait_for "$dir" kube-controller-manager "kube-controller-manager (ConfigMap default/kube-root-ca.crt)" \
    "$kubectl" --kubeconfig="$dir/kubeconfig" --request-timeout=5s -n default get configmap kube-root-ca.crt
  log "API server https://127.0.0.1:$apiserver_port ready in $apiserver_ready s, controllers in $(elapsed "$start") s"
  echo "$dir/kubeconfig"
}

# Stops every component of DIR: SIGTERM, then SIGKILL after 15 s.
stop_components() {
  local dir=$1 i name pid waited
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
    name=${COMPONENTS[i]}
    pid=$(running_pid "$dir" "$name")
    [[ -n "$pid" ]] || continue
    kill -TERM "$pid" 2>/dev/null || true
    for ((waited = 0; waited < 30; waited++)); do
      [[ -n "$(running_pid "$dir" "$name")" ]] || break
      sleep 0.5
    done
    if [[ -n "$(running_pid "$dir" "$name")" ]]; then
      log "$name (pid $pid) ignored SIGTERM for 15 s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
}

# Removes what `start` created in DIR (and DIR itself when that leaves it empty).
remove_state() {
  local dir=$1 name
  for name in "${COMPONENTS[@]}"; do rm -f "$dir/$name.pid"; done
  rm -rf "$dir/pki" "$dir/etcd-data" "$dir/logs" "$dir/flexvolume"
  rm -f "$dir/kubeconfig" "$dir/kube-controller-manager.kubeconfig" "$dir/$MARKER"
}

cmd_stop() {
  local dir=${1:-}
  [[ -n "$dir" ]] || usage
  [[ -d "$dir" ]] || die "$dir does not exist"
  dir=$(realpath "$dir")
  [[ -f "$dir/$MARKER" ]] || die "$dir holds no environment started by '$0 start'"
  stop_components "$dir"
  remove_state "$dir"
  rmdir "$dir" 2>/dev/null || true
  log "stopped; removed its state from $dir"
}

case "${1:-}" in
  build) cmd_build ;;
  start) cmd_start "${2:-}" ;;
  stop) cmd_stop "${2:-}" ;;
  bin-dir) cmd_bin_dir ;;
  pin) cmd_pin ;;
  *) usage ;;
esac
