#!/usr/bin/env bash
# A genuine Kubernetes API on loopback for tests: etcd + kube-apiserver + kube-controller-manager, built from
# their Go modules (the Go module proxy is the only source needed), started with fresh certificates, bound to
# 127.0.0.1 only. No kubelet, no scheduler: objects are stored and served, controllers run, no pod ever runs.
#
#   kube-test-env.sh build        build the binaries into the cache (skipped when up to date)
#   kube-test-env.sh start DIR    start a fresh control plane with its state in DIR; prints DIR/kubeconfig
#   kube-test-env.sh stop DIR     stop it and remove the state `start` created in DIR
#   kube-test-env.sh bin-dir      print the directory holding kubectl & co (after `build`)
#   kube-test-env.sh pin          regenerate test/envs/kube-test-env/*/go.{mod,sum} from the pins in this script
#
# See docs/testing.md.
set -euo pipefail
SCRIPT=$(realpath "$0")
ROOT=$(cd "$(dirname "$SCRIPT")/../.." && pwd)

# Pinned versions. k8s.io/kubernetes v1.35.x matches the k3s minor the program installs (v1.35.*+k3s1); its
# staging modules (k8s.io/api, ...) are published as v0.35.x. etcd v3.6 is what Kubernetes 1.35 is tested with.
# After changing one, run `kube-test-env.sh pin` and commit test/envs/kube-test-env/*/go.{mod,sum}.
KUBERNETES_VERSION=v1.35.4
ETCD_VERSION=v3.6.16
KUBERNETES_TOOLS=(kube-apiserver kube-controller-manager kubectl)

ENV_NAME=kube-test-env
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "$SCRIPT")/lib.sh"
KUBE_BIN_DIR="$CACHE_ROOT/kube/$KUBERNETES_VERSION/bin"
ETCD_BIN_DIR="$CACHE_ROOT/kube/etcd-$ETCD_VERSION/bin"
WRAPPERS_DIR="$ROOT/test/envs/kube-test-env"
READY_TIMEOUT="${KUBE_TEST_ENV_TIMEOUT:-60}"

usage() {
  sed -n '2,/^# See docs/s/^# \{0,1\}//p' "$SCRIPT" >&2
  exit 2
}

cmd_pin() {
  go_env local
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

cmd_build() {
  go_env local
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

# Certificate NAME signed by the test CA in PKI: subject SUBJECT, extensions EXT (openssl x509v3 config lines).
# Valid 365 days, as k3s issues its client and serving certificates (its CA: 10 years): a kubeconfig from here
# reads as a fresh k3s one, not one that `pulumi up` and `npm run status` must warn about.
issue_cert() {
  local pki=$1 name=$2 subject=$3 ext=$4
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$pki/$name.key" 2>/dev/null
  openssl req -new -key "$pki/$name.key" -subj "$subject" -out "$pki/$name.csr"
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 365 -out "$pki/$name.crt" -extfile <(printf '%s\n' "$ext") 2>/dev/null
  rm -f "$pki/$name.csr"
}

generate_pki() {
  local pki=$1
  mkdir -p "$pki"
  chmod 700 "$pki"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$pki/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$pki/ca.key" -subj "/CN=mynodeone-test-ca" -days 3650 -out "$pki/ca.crt" \
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

fail_start() {
  show_log "$1" "$2" "$3"
  stop_components "$1" kube-controller-manager kube-apiserver etcd
  exit 1
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

# Removes what `start` created in DIR (and DIR itself when that leaves it empty).
remove_state() {
  local dir=$1 name
  for name in "${COMPONENTS[@]}"; do rm -f "$dir/$name.pid"; done
  rm -rf "$dir/pki" "$dir/etcd-data" "$dir/logs" "$dir/flexvolume"
  rm -f "$dir/kubeconfig" "$dir/kube-controller-manager.kubeconfig" "$dir/$MARKER"
}

cmd_stop() {
  local dir
  dir=$(checked_dir "${1:-}")
  stop_components "$dir" kube-controller-manager kube-apiserver etcd
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
