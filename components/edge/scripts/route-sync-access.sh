#!/usr/bin/env bash
# SSH access of the runtime's route pusher (run as root).
#
#   ACTION=grant   install the forced command (ROUTE_SYNC_SCRIPT with the routes directory baked in) and
#                  the sync user's authorized_keys (stdin; every line already carries `restrict,command=...`)
#   ACTION=revoke  remove both (destroy); the user and the routes directory stay
#
# authorized_keys and its directories are root-owned: the sync user cannot add keys or options for itself.
# env: ACTION, SYNC_USER, SYNC_HOME, ROUTE_SYNC_COMMAND (install path), ROUTE_SYNC_SCRIPT, ROUTES_DIR, PING_URL
set -euo pipefail

: "${ACTION:?}" "${SYNC_USER:?}" "${SYNC_HOME:?}" "${ROUTE_SYNC_COMMAND:?}"

die() {
  printf 'route-sync-access: %s\n' "$*" >&2
  exit 1
}

((EUID == 0)) || die "must run as root"
authorized_keys="$SYNC_HOME/.ssh/authorized_keys"

# Write stdin to $1 atomically (temp file in the same directory, then rename) with mode $2, owned by root.
write_atomically() {
  local target=$1 mode=$2 staged
  staged=$(mktemp "$(dirname "$target")/.$(basename "$target").XXXXXX")
  cat >"$staged"
  chmod "$mode" "$staged"
  chown root:root "$staged"
  mv -f -- "$staged" "$target"
}

case "$ACTION" in
  grant)
    : "${ROUTE_SYNC_SCRIPT:?}" "${ROUTES_DIR:?}" "${PING_URL:?}"
    id -u "$SYNC_USER" >/dev/null 2>&1 || die "user $SYNC_USER does not exist (the Traefik install step creates it)"
    [[ -d "$ROUTES_DIR" ]] || die "routes directory $ROUTES_DIR does not exist (the Traefik install step creates it)"

    keys=$(cat)
    while IFS= read -r line; do
      [[ -z "$line" || "$line" == "restrict,command=\"$ROUTE_SYNC_COMMAND\" "* ]] ||
        die "refusing an authorized_keys line without the route-sync restrictions"
    done <<<"$keys"

    install -d -m 0755 -o root -g root "$(dirname "$ROUTE_SYNC_COMMAND")" "$SYNC_HOME" "$SYNC_HOME/.ssh"
    # printf %q quotes the values for bash whatever they contain.
    {
      printf '#!/usr/bin/env bash\n# Managed by mynodeone (components/edge/scripts/route-sync.sh).\n'
      printf 'ROUTES_DIR=%q\nPING_URL=%q\n' "$ROUTES_DIR" "$PING_URL"
      printf '%s\n' "$ROUTE_SYNC_SCRIPT"
    } | write_atomically "$ROUTE_SYNC_COMMAND" 0755
    if [[ -n "$keys" ]]; then printf '%s\n' "$keys"; fi | write_atomically "$authorized_keys" 0644

    # sshd only lets the user in when AllowUsers/AllowGroups (if used) name it: say so instead of failing later.
    if sshd_config=$(sshd -T 2>/dev/null) && grep -qiE '^(allowusers|allowgroups) ' <<<"$sshd_config"; then
      echo "warning: sshd restricts logins with AllowUsers/AllowGroups; make sure $SYNC_USER is allowed" >&2
    fi
    echo "route-sync access for $SYNC_USER: $(grep -c . "$authorized_keys" || true) key(s)"
    ;;
  revoke)
    rm -f -- "$authorized_keys" "$ROUTE_SYNC_COMMAND"
    echo "route-sync access for $SYNC_USER revoked (user and routes kept)"
    ;;
  *)
    die "ACTION must be grant or revoke, got '$ACTION'"
    ;;
esac
