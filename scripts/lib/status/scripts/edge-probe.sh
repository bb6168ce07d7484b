#!/usr/bin/env bash
# Read-only health probe of one edge host for `npm run status` (scripts/lib/status/edge.ts parses its output).
# Runs as root (sudo -n) with ROUTES_DIR, PING_URL and TRAEFIK_BINARY set by the caller; changes nothing, so
# it can run any number of times. One fact per line, `<key> <value>`:
#
#   unit <state>         `systemctl is-active traefik.service` (active, inactive, failed, ...)
#   ping <answer>        Traefik's /ping answer (OK), or `error <message>`
#   version <x.y.z>      version of the running Traefik process (of the installed binary when none runs)
#   routes <state>       ok, missing or unreadable: the routes directory
#   route <file>         a route file Traefik reads (*.yml, *.yaml, *.toml)
#   rejected <file>      a route file Traefik logged an error for since the file last changed
#   domain <name>        a name in a Host(`...`) rule of a route file
set -uo pipefail

: "${ROUTES_DIR:?}" "${PING_URL:?}" "${TRAEFIK_BINARY:?}"

echo "unit $(systemctl is-active traefik.service 2>/dev/null || true)"

if answer=$(curl --silent --show-error --max-time 5 --noproxy '*' "$PING_URL" 2>&1); then
  echo "ping $answer"
else
  echo "ping error ${answer//$'\n'/ }"
fi

pid=$(systemctl show --property=MainPID --value traefik.service 2>/dev/null || echo 0)
binary=$TRAEFIK_BINARY
if [[ "$pid" =~ ^[0-9]+$ ]] && ((pid > 0)) && [[ -e "/proc/$pid/exe" ]]; then
  binary=/proc/$pid/exe
fi
if [[ -x "$binary" ]]; then
  echo "version $("$binary" version 2>/dev/null | awk '$1 == "Version:" { print $2; exit }')"
else
  echo "version"
fi

if [[ ! -d "$ROUTES_DIR" ]]; then
  echo "routes missing"
  exit 0
fi
if [[ ! -r "$ROUTES_DIR" || ! -x "$ROUTES_DIR" ]]; then
  echo "routes unreadable"
  exit 0
fi
echo "routes ok"

# Traefik reads only these extensions; dot files are the route pusher's temporary files.
mapfile -t files < <(find "$ROUTES_DIR" -mindepth 1 -maxdepth 1 -type f \
  \( -name '*.yml' -o -name '*.yaml' -o -name '*.toml' \) ! -name '.*' -printf '%f\n' | sort)

# Traefik keeps its last good configuration and only logs the file that broke it. One read of its log since it
# started (a restart reads every file again), colours stripped, only error lines that name a route file.
started=$(systemctl show --property=ActiveEnterTimestamp --value traefik.service 2>/dev/null || true)
started_at=0
if [[ -n "$started" ]]; then
  started_at=$(date -d "$started" +%s 2>/dev/null || echo 0)
fi
errors=$(journalctl --unit=traefik.service --since="@$started_at" --no-pager --output=short-unix 2>/dev/null |
  sed 's/\x1b\[[0-9;]*m//g' | grep -F -- "$ROUTES_DIR/" | grep -i -E '(^| )(ERR|error)' || true)

for file in "${files[@]}"; do
  echo "route $file"
  path=$ROUTES_DIR/$file
  # Rejected: an error naming the file logged after its last change (ctime: the route pusher renames a new
  # version into place; microseconds, as the journal's timestamps).
  changed=$(stat -c %.6Z -- "$path")
  if awk -v since="$changed" -v path="$path" \
    'index($0, path) && $1 + 0 > since + 0 { found = 1 } END { exit !found }' <<<"$errors"; then
    echo "rejected $file"
  fi
  # The names routed to this host, from its Host(`...`) rules (commented lines left out).
  # shellcheck disable=SC2016 # the backquotes are Traefik's rule syntax, not command substitution
  grep -v -E '^[[:space:]]*#' -- "$path" 2>/dev/null | grep -o -E 'Host\(`[^`]+`\)' |
    sed -E 's/^Host\(`(.*)`\)$/domain \1/'
done | awk '!seen[$0]++'
