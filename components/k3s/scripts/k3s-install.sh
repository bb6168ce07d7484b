#!/usr/bin/env bash
# Install, reconfigure or upgrade k3s on this host, then wait (bounded) until the node is Ready.
#
# Runs as root (sudo -n). Inputs:
#   stdin                  the complete /etc/rancher/k3s/config.yaml; it holds the cluster token, so it is
#                          never printed and never passed on a command line
#   INSTALL_K3S_EXEC       server | agent
#   INSTALL_K3S_VERSION    pinned release, vX.Y.Z+k3sN
#   INSTALL_SCRIPT_URL     where the k3s installer is fetched from (get.k3s.io or a mirror)
#   INSTALL_SCRIPT_SHA256  expected sha256 of that installer; empty: not checked
#   NODE_NAME              this node's Kubernetes name (node-name in the config)
#   READY_TIMEOUT_SECONDS  upper bound of the readiness wait
#   UNINSTALL_ON_DESTROY   true | false: k3s.uninstallOnDestroy (a host running another node is then refused)
#
# Safe to run again: config.yaml is replaced only when its content differs, the installer runs only when the
# installed version differs (or the service is missing), and k3s is restarted only when its config, binary or
# unit differ from what it was last started with (or it is not running).
set -euo pipefail

readonly K3S_BIN=/usr/local/bin/k3s
readonly CONFIG_FILE=/etc/rancher/k3s/config.yaml
# Fingerprint of the config, binary and unit k3s was last (re)started with. A run interrupted between writing
# the config and restarting k3s therefore still restarts it next time.
readonly APPLIED_FILE=/etc/rancher/k3s/config.yaml.applied.sha256
readonly SYSTEMD_DIR=/etc/systemd/system
readonly INSTALLER_TIMEOUT_SECONDS=900
readonly POLL_SECONDS=5
INSTALLER_DIR=""

die() {
  echo "k3s-install: $*" >&2
  exit 1
}

log() {
  echo "k3s-install: $*"
}

# Write stdin to $1 through a temp file in the same directory + rename, unless the file already has exactly
# that content (mode 0600, owned by the caller). Sets FILE_CHANGED=true|false (content only).
write_if_changed() {
  local target=$1 dir tmp
  dir=$(dirname "$target")
  [[ -d "$dir" ]] || install -d -m 0755 "$dir"
  # mktemp creates the file with mode 0600: the content is never readable by others, not even briefly.
  tmp=$(mktemp "$dir/.$(basename "$target").XXXXXX")
  if ! cat >"$tmp" || [[ ! -s "$tmp" ]]; then
    rm -f "$tmp"
    die "no content for $target on stdin"
  fi
  if [[ -f "$target" ]] && cmp -s "$tmp" "$target"; then
    FILE_CHANGED=false
    if [[ "$(stat -c '%a %u' "$target")" == "600 $(id -u)" ]]; then
      rm -f "$tmp"
      return
    fi
    # Same content but the wrong mode or owner: replaced below, which needs no restart.
  else
    FILE_CHANGED=true
  fi
  mv -f "$tmp" "$target"
}

# Fail when the k3s config $1 already on this host names another node than NODE_NAME (a node renamed on the
# same host, or two nodes swapping hosts) and nodes are uninstalled on destroy: the engine runs the old node's
# delete after this install, with its old inputs, and it would uninstall k3s here (and its drain would delete
# the Node object, and with it the etcd member a renamed server keeps using).
refuse_other_node() {
  local config=$1 line current=""
  [[ "$UNINSTALL_ON_DESTROY" == true && -f "$config" ]] || return 0
  while IFS= read -r line; do
    if [[ "$line" =~ ^node-name:\ *\"?([a-z0-9-]+)\"?\ *$ ]]; then
      current=${BASH_REMATCH[1]}
    fi
  done <"$config"
  [[ -z "$current" || "$current" == "$NODE_NAME" ]] ||
    die "this host already runs k3s as node $current, and k3s.uninstallOnDestroy would uninstall it after this install of $NODE_NAME. Rename in two steps: remove $current from the stack config and pulumi up (drains, deletes and uninstalls it), then add $NODE_NAME on this host and pulumi up again"
}

# Fail unless file $1 has sha256 $2.
verify_sha256() {
  local actual
  actual=$(sha256sum "$1" | cut -d' ' -f1)
  [[ "$actual" == "${2,,}" ]] ||
    die "installer from $INSTALL_SCRIPT_URL has sha256 $actual, expected $2: refusing to run it"
}

validate_inputs() {
  [[ "${INSTALL_K3S_EXEC:-}" == server || "${INSTALL_K3S_EXEC:-}" == agent ]] ||
    die "INSTALL_K3S_EXEC must be server or agent"
  [[ "${INSTALL_K3S_VERSION:-}" =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-rc[0-9]+)?\+k3s[0-9]+$ ]] ||
    die "INSTALL_K3S_VERSION must be a pinned release like v1.33.5+k3s1"
  [[ -n "${INSTALL_SCRIPT_URL:-}" ]] || die "INSTALL_SCRIPT_URL is empty"
  [[ -z "${INSTALL_SCRIPT_SHA256:-}" || "$INSTALL_SCRIPT_SHA256" =~ ^[0-9a-fA-F]{64}$ ]] ||
    die "INSTALL_SCRIPT_SHA256 must be 64 hex digits"
  [[ "${NODE_NAME:-}" =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] || die "NODE_NAME must be a DNS-1123 label"
  [[ "${READY_TIMEOUT_SECONDS:-}" =~ ^[1-9][0-9]*$ ]] || die "READY_TIMEOUT_SECONDS must be a positive integer"
  [[ "${UNINSTALL_ON_DESTROY:-}" == true || "${UNINSTALL_ON_DESTROY:-}" == false ]] ||
    die "UNINSTALL_ON_DESTROY must be true or false"
  [[ "$(id -u)" == 0 ]] || die "must run as root (the SSH user needs passwordless sudo)"
  local cmd
  for cmd in curl sha256sum systemctl cmp mktemp timeout; do
    command -v "$cmd" >/dev/null || die "$cmd is required on this host"
  done
}

installed_version() {
  if [[ -x "$K3S_BIN" ]]; then
    "$K3S_BIN" --version 2>/dev/null | awk 'NR == 1 { print $3 }' || true
  fi
}

# Download the installer to a file, check it, and run it with a clean, explicit environment (the installer
# copies K3S_* and proxy variables into the unit's env file; nothing of ours belongs there). It installs
# binary and unit but does not start k3s: the restart decision and the bounded wait are ours.
run_installer() {
  INSTALLER_DIR=$(mktemp -d)
  log "fetching the k3s installer from $INSTALL_SCRIPT_URL"
  curl -fsSL --retry 3 --retry-delay 2 --connect-timeout 20 --max-time 300 \
    -o "$INSTALLER_DIR/install.sh" "$INSTALL_SCRIPT_URL" ||
    die "could not download the installer from $INSTALL_SCRIPT_URL"
  if [[ -n "$INSTALL_SCRIPT_SHA256" ]]; then
    verify_sha256 "$INSTALLER_DIR/install.sh" "$INSTALL_SCRIPT_SHA256"
  fi
  log "installing k3s $INSTALL_K3S_VERSION ($INSTALL_K3S_EXEC)"
  local status=0
  timeout "$INSTALLER_TIMEOUT_SECONDS" env -i PATH="$PATH" \
    INSTALL_K3S_VERSION="$INSTALL_K3S_VERSION" \
    INSTALL_K3S_EXEC="$INSTALL_K3S_EXEC" \
    INSTALL_K3S_BIN_DIR=/usr/local/bin \
    INSTALL_K3S_SKIP_START=true \
    sh "$INSTALLER_DIR/install.sh" </dev/null || status=$?
  ((status == 0)) || die "the k3s installer failed (exit $status; 124: it ran over ${INSTALLER_TIMEOUT_SECONDS}s)"
}

# What a restart would pick up: config, binary, unit and unit env.
install_fingerprint() {
  local file
  for file in "$CONFIG_FILE" "$K3S_BIN" "$SYSTEMD_DIR/$1.service" "$SYSTEMD_DIR/$1.service.env"; do
    if [[ -f "$file" ]]; then
      sha256sum "$file"
    else
      echo "absent $file"
    fi
  done
}

# Print why the node is not ready yet and fail, or succeed silently.
check_ready() {
  local service=$1 kubeconfig=$2 state ready
  state=$(systemctl is-active "$service" 2>/dev/null) || {
    echo "service $service is ${state:-unknown}"
    return 1
  }
  timeout 20 "$K3S_BIN" kubectl --kubeconfig "$kubeconfig" --request-timeout=15s get --raw=/readyz \
    >/dev/null 2>&1 || {
    echo "API server /readyz does not answer ok"
    return 1
  }
  ready=$(timeout 20 "$K3S_BIN" kubectl --kubeconfig "$kubeconfig" --request-timeout=15s get node "$NODE_NAME" \
    -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) || {
    echo "node $NODE_NAME is not registered yet"
    return 1
  }
  [[ "$ready" == True ]] || {
    echo "node $NODE_NAME has Ready=${ready:-unknown}"
    return 1
  }
}

wait_ready() {
  local service=$1 kubeconfig=$2 deadline reason
  deadline=$((SECONDS + READY_TIMEOUT_SECONDS))
  until reason=$(check_ready "$service" "$kubeconfig"); do
    if ((SECONDS >= deadline)); then
      echo "k3s-install: $NODE_NAME not ready after ${READY_TIMEOUT_SECONDS}s: $reason" >&2
      systemctl status --no-pager --lines=0 "$service" >&2 || true
      die "inspect on $NODE_NAME: systemctl status $service; journalctl -u $service -n 100 --no-pager"
    fi
    sleep "$POLL_SECONDS"
  done
}

main() {
  validate_inputs
  trap '[[ -z "$INSTALLER_DIR" ]] || rm -rf "$INSTALLER_DIR"' EXIT
  local service other kubeconfig fingerprint
  if [[ "$INSTALL_K3S_EXEC" == server ]]; then
    service=k3s other=k3s-agent kubeconfig=/etc/rancher/k3s/k3s.yaml
  else
    # An agent has no admin kubeconfig; the kubelet's credentials may read its own Node and /readyz.
    service=k3s-agent other=k3s kubeconfig=/var/lib/rancher/k3s/agent/kubelet.kubeconfig
  fi
  [[ ! -f "$SYSTEMD_DIR/$other.service" ]] ||
    die "$other is installed on this host: a host is a server or an agent, not both (remove it with /usr/local/bin/$other-uninstall.sh)"
  refuse_other_node "$CONFIG_FILE"

  write_if_changed "$CONFIG_FILE"
  [[ "$FILE_CHANGED" == false ]] || log "updated $CONFIG_FILE"

  if [[ "$(installed_version)" != "$INSTALL_K3S_VERSION" || ! -f "$SYSTEMD_DIR/$service.service" ]]; then
    run_installer
  fi

  fingerprint=$(install_fingerprint "$service")
  if [[ ! -f "$APPLIED_FILE" || "$(<"$APPLIED_FILE")" != "$fingerprint" ]]; then
    log "restarting $service: its config, binary or unit changed"
    # --no-block: the unit is Type=notify without a start timeout; wait_ready bounds the wait instead.
    systemctl restart --no-block "$service"
    write_if_changed "$APPLIED_FILE" <<<"$fingerprint"
  elif ! systemctl is-active --quiet "$service"; then
    log "starting $service"
    systemctl start --no-block "$service"
  fi

  wait_ready "$service" "$kubeconfig"
  log "$NODE_NAME ready: k3s $INSTALL_K3S_VERSION ($INSTALL_K3S_EXEC)"
}

# Run unless sourced (the unit tests source this file to exercise write_if_changed and verify_sha256).
if [[ "${BASH_SOURCE[0]:-$0}" == "$0" ]]; then
  main "$@"
fi
