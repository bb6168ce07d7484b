#!/usr/bin/env bash
# Install, upgrade or reconfigure Traefik as a hardened systemd service on an edge host (run as root).
#
# Idempotent: the release is downloaded only when the installed version differs, files are rewritten only
# when their content differs, and Traefik is restarted only when its binary, unit or static configuration
# differ from what it last started healthy with (recorded in /var/lib/mynodeone/traefik.applied, so a run
# interrupted between writing and restarting is finished by the next). Nothing else (a re-run, new
# route-sync keys, a firewall change) restarts it.
#
# stdin: the static configuration (traefik.yml), rendered and unit-tested in components/edge/render.ts.
# env:   TRAEFIK_VERSION, TRAEFIK_DOWNLOAD_BASE_URL, FETCH_TRAEFIK_SCRIPT, TRAEFIK_UNIT (unit file text),
#        TRAEFIK_BIN_DIR, TRAEFIK_CONFIG_FILE, ACME_STORAGE, LOG_DIR, ROUTES_DIR, TRAEFIK_USER, SYNC_USER,
#        SYNC_HOME; optional TRAEFIK_SHA256_PINS (see fetch-traefik.sh)
set -euo pipefail

: "${TRAEFIK_VERSION:?}" "${TRAEFIK_DOWNLOAD_BASE_URL:?}" "${FETCH_TRAEFIK_SCRIPT:?}" "${TRAEFIK_UNIT:?}"
: "${TRAEFIK_BIN_DIR:?}" "${TRAEFIK_CONFIG_FILE:?}" "${ACME_STORAGE:?}" "${LOG_DIR:?}" "${ROUTES_DIR:?}"
: "${TRAEFIK_USER:?}" "${SYNC_USER:?}" "${SYNC_HOME:?}"

readonly UNIT_FILE=/etc/systemd/system/traefik.service
readonly LOGROTATE_FILE=/etc/logrotate.d/traefik
readonly HEALTH_TIMEOUT_SECONDS=60
readonly APPLIED_FILE=/var/lib/mynodeone/traefik.applied
binary="$TRAEFIK_BIN_DIR/traefik"
acme_dir=$(dirname "$ACME_STORAGE")
config_dir=$(dirname "$TRAEFIK_CONFIG_FILE")

die() {
  printf 'install-traefik: %s\n' "$*" >&2
  exit 1
}

((EUID == 0)) || die "must run as root"
umask 022

work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT

# The routes directory is handed to the sync user, who may then rename or delete anything inside it. So it
# must be a dedicated directory: never one holding Traefik's binary, config, ACME storage or logs, and never
# an existing, non-empty directory that belongs to someone else (e.g. a typo'd /etc/ssh).
check_routes_dir() {
  local dir=$1 ours owner
  [[ "$dir" =~ ^(/[A-Za-z0-9._-]+){2,}$ && "$dir/" != *"/./"* && "$dir/" != *"/../"* ]] ||
    die "routes directory '$dir' must be an absolute path of at least two plain components (letters, digits, . _ -; no . or ..)"
  for ours in "$TRAEFIK_BIN_DIR/traefik" "$TRAEFIK_CONFIG_FILE" "$ACME_STORAGE" "$LOG_DIR" "$SYNC_HOME"; do
    [[ "$ours/" != "$dir/"* ]] || die "routes directory '$dir' must not contain $ours"
  done
  for ours in "$acme_dir" "$LOG_DIR" "$SYNC_HOME"; do
    [[ "$dir/" != "$ours/"* ]] || die "routes directory '$dir' must not be inside $ours"
  done
  [[ ! -L "$dir" ]] || die "routes directory '$dir' is a symlink"
  [[ ! -e "$dir" || -d "$dir" ]] || die "routes directory '$dir' exists and is not a directory"
  if [[ -d "$dir" ]]; then
    owner=$(stat -c %U "$dir")
    if [[ "$owner" != "$SYNC_USER" && -n "$(ls -A "$dir")" ]]; then
      die "routes directory '$dir' already exists, is not empty and belongs to $owner: choose a dedicated directory"
    fi
  fi
}

# Write $2 (a file) to $1 atomically when the content differs, then enforce mode/owner either way.
# Returns 0 when the content changed, 1 when it was already up to date.
write_if_changed() {
  local target=$1 source=$2 mode=$3 owner=$4 staged
  if [[ -f "$target" ]] && cmp -s "$source" "$target"; then
    chmod "$mode" "$target"
    chown "$owner" "$target"
    return 1
  fi
  staged=$(mktemp "$(dirname "$target")/.$(basename "$target").XXXXXX")
  cat "$source" >"$staged"
  chmod "$mode" "$staged"
  chown "$owner" "$staged"
  mv -f -- "$staged" "$target"
  echo "updated $target"
}

ensure_system_user() {
  local name=$1 home=$2 shell=$3
  if ! id -u "$name" >/dev/null 2>&1; then
    useradd --system --user-group --home-dir "$home" --no-create-home --shell "$shell" "$name"
    echo "created system user $name"
  fi
}

# A binary that does not run (wrong architecture, corrupt, a leftover manual install) reads as "none", so it is
# replaced instead of stopping the script.
installed_version() {
  if [[ -x "$binary" ]]; then
    "$binary" version 2>/dev/null | awk '$1 == "Version:" { print "v" $2; exit }' || true
  fi
}

# What the running Traefik was last (re)started with: binary, unit and static config. Recorded only after a
# healthy restart, so a run that changed files and then died before the restart is completed by the next one.
applied_state() {
  sha256sum "$binary" "$UNIT_FILE" "$TRAEFIK_CONFIG_FILE" 2>/dev/null | awk '{ print $1 }' | paste -sd' ' - || true
}

restart_or_die() {
  if ! systemctl "$1" traefik.service; then
    journalctl --no-pager --unit=traefik.service --lines=40 >&2 || true
    die "systemctl $1 traefik failed (see the log above)"
  fi
}

wait_until_healthy() {
  local deadline=$((SECONDS + HEALTH_TIMEOUT_SECONDS))
  until "$binary" healthcheck --configFile="$TRAEFIK_CONFIG_FILE" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      systemctl --no-pager --lines=0 status traefik.service >&2 || true
      journalctl --no-pager --unit=traefik.service --lines=40 >&2 || true
      die "Traefik did not answer its ping within ${HEALTH_TIMEOUT_SECONDS}s (see the log above)"
    fi
    sleep 2
  done
}

check_routes_dir "$ROUTES_DIR"

# Read the static configuration first: nothing is touched when it is missing.
cat >"$work/traefik.yml"
[[ -s "$work/traefik.yml" ]] || die "no static configuration on stdin"

restart_reasons=()

# The release first: a download or checksum failure leaves the host exactly as it was (fetch-traefik.sh
# verifies in a temp dir and swaps the binary in only at the very end).
current=$(installed_version)
if [[ "$current" != "$TRAEFIK_VERSION" ]]; then
  echo "installing traefik $TRAEFIK_VERSION (installed: ${current:-none})"
  TRAEFIK_INSTALL_DIR="$TRAEFIK_BIN_DIR" TRAEFIK_SHA256_PINS="${TRAEFIK_SHA256_PINS:-}" \
    bash -c "$FETCH_TRAEFIK_SCRIPT" fetch-traefik.sh \
    "$TRAEFIK_DOWNLOAD_BASE_URL" "$TRAEFIK_VERSION"
  restart_reasons+=("binary ${current:-none} -> $TRAEFIK_VERSION")
fi

# Users. Traefik: no login shell, no home. The sync user logs in with a forced command (see
# route-sync-access.sh), which needs a real shell to start; its home (root-owned) only holds authorized_keys.
ensure_system_user "$TRAEFIK_USER" /nonexistent /usr/sbin/nologin
ensure_system_user "$SYNC_USER" "$SYNC_HOME" /bin/sh
# "*": no password, but not "locked" ("!"), which sshd without PAM would treat as "no key logins either".
usermod --password '*' "$SYNC_USER"

# Directories. The routes directory is written only by the sync user; setgid makes every file it creates
# belong to the traefik group, which may read but not write.
install -d -m 0755 -o root -g root "$config_dir"
mkdir -p -- "$ROUTES_DIR"
chown "$SYNC_USER:$TRAEFIK_USER" "$ROUTES_DIR"
chmod 2750 "$ROUTES_DIR"
mkdir -p -- "$acme_dir" "$LOG_DIR"
chown "$TRAEFIK_USER:$TRAEFIK_USER" "$acme_dir" "$LOG_DIR"
chmod 0700 "$acme_dir"
chmod 0750 "$LOG_DIR"
# Traefik ignores an ACME storage file with looser permissions than 0600. Never truncate an existing one:
# it holds the ACME account and certificates (rate limits make them expensive to lose).
if [[ ! -e "$ACME_STORAGE" ]]; then
  install -m 0600 -o "$TRAEFIK_USER" -g "$TRAEFIK_USER" /dev/null "$ACME_STORAGE"
fi
chown "$TRAEFIK_USER:$TRAEFIK_USER" "$ACME_STORAGE"
chmod 0600 "$ACME_STORAGE"

printf '%s' "$TRAEFIK_UNIT" >"$work/traefik.service"
if write_if_changed "$UNIT_FILE" "$work/traefik.service" 0644 root:root; then
  systemctl daemon-reload
  restart_reasons+=("unit")
fi

if write_if_changed "$TRAEFIK_CONFIG_FILE" "$work/traefik.yml" 0640 "root:$TRAEFIK_USER"; then
  restart_reasons+=("static configuration")
fi

# Access log rotation; Traefik reopens its log files on SIGUSR1.
cat >"$work/logrotate" <<EOF
# Managed by mynodeone.
$LOG_DIR/*.log {
  su $TRAEFIK_USER $TRAEFIK_USER
  daily
  rotate 14
  missingok
  notifempty
  compress
  delaycompress
  postrotate
    systemctl kill --signal=USR1 traefik.service >/dev/null 2>&1 || true
  endscript
}
EOF
write_if_changed "$LOGROTATE_FILE" "$work/logrotate" 0644 root:root || true

if [[ "$(cat "$APPLIED_FILE" 2>/dev/null || true)" != "$(applied_state)" ]]; then
  restart_reasons+=("files not yet applied by a restart")
fi
systemctl is-enabled --quiet traefik.service || systemctl enable --quiet traefik.service
if ! systemctl is-active --quiet traefik.service; then
  echo "starting traefik"
  restart_or_die start
elif ((${#restart_reasons[@]} > 0)); then
  echo "restarting traefik: changed ${restart_reasons[*]}"
  restart_or_die restart
else
  echo "traefik $TRAEFIK_VERSION unchanged: not restarted"
fi
wait_until_healthy
install -d -m 0700 "$(dirname "$APPLIED_FILE")"
applied_state >"$APPLIED_FILE.tmp"
mv -f "$APPLIED_FILE.tmp" "$APPLIED_FILE"
echo "traefik $TRAEFIK_VERSION is healthy (static config $TRAEFIK_CONFIG_FILE, routes $ROUTES_DIR)"
