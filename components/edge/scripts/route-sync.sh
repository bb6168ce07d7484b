#!/usr/bin/env bash
# Forced command of the route-sync SSH identity (every key in its authorized_keys runs this, whatever the
# client asked for; the request is in SSH_ORIGINAL_COMMAND). Installed by route-sync-access.sh, which prepends
# the ROUTES_DIR and PING_URL assignments. The contract is documented in docs/edge-contract.md:
#
#   put <service>.yml      stdin -> <routes dir>/<service>.yml, atomically (temp name + rename), mode 0640
#   delete <service>.yml   remove the route file (no error when absent)
#   list                   the route files, one per line
#   health                 Traefik's ping ("OK"), non-zero exit when Traefik is unhealthy
#
# Anything else is refused: an interactive login, arbitrary commands, scp and SFTP (which would let the key
# read the whole file system and write to /tmp). So the key can write nothing but route files.
set -euo pipefail
umask 027

: "${ROUTES_DIR:?ROUTES_DIR is set by the installer}" "${PING_URL:?PING_URL is set by the installer}"
readonly MAX_ROUTE_BYTES=1048576
readonly USAGE="commands: put <service>.yml (content on stdin), delete <service>.yml, list, health"

die() {
  printf 'route-sync: %s\n' "$*" >&2
  exit 1
}

# <service>.yml: a plain file name, so a request can never leave the routes directory or write a file
# Traefik would not read (only .yml is the contract).
route_file() {
  [[ "${1:-}" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,200}\.yml$ ]] ||
    die "invalid route file name '${1:-}': expected <service>.yml (letters, digits, . _ -)"
  printf '%s/%s' "$ROUTES_DIR" "$1"
}

read -r -a request <<<"${SSH_ORIGINAL_COMMAND:-}"
case "${request[0]:-}" in
  put)
    ((${#request[@]} == 2)) || die "usage: put <service>.yml (file content on stdin)"
    target=$(route_file "${request[1]}")
    # Not .yml while incomplete: Traefik reads only .yml/.yaml/.toml, and one half-written file would stop
    # every file-provider update.
    staged="$ROUTES_DIR/.${request[1]}.$$.tmp"
    trap 'rm -f -- "$staged"' EXIT
    head -c "$((MAX_ROUTE_BYTES + 1))" >"$staged"
    size=$(stat -c %s "$staged")
    ((size > 0)) || die "refusing an empty route file ${request[1]}"
    ((size <= MAX_ROUTE_BYTES)) || die "route file ${request[1]} is larger than $MAX_ROUTE_BYTES bytes"
    chmod 0640 "$staged"
    mv -f -- "$staged" "$target"
    echo "wrote ${request[1]}"
    ;;
  delete)
    ((${#request[@]} == 2)) || die "usage: delete <service>.yml"
    target=$(route_file "${request[1]}")
    rm -f -- "$target"
    echo "deleted ${request[1]}"
    ;;
  list)
    find "$ROUTES_DIR" -mindepth 1 -maxdepth 1 -type f -name '*.yml' ! -name '.*' -printf '%f\n' | sort
    ;;
  health)
    if command -v curl >/dev/null 2>&1; then
      curl --fail --silent --show-error --max-time 10 "$PING_URL"
    else
      wget --quiet --timeout=10 --output-document=- "$PING_URL"
    fi
    echo
    ;;
  "")
    die "interactive logins are not allowed; $USAGE"
    ;;
  *)
    die "command not allowed: '${request[0]}'; $USAGE"
    ;;
esac
