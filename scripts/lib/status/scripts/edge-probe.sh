#!/usr/bin/env bash
# Health probe of one edge host for `npm run status` (scripts/lib/status/edge.ts parses its output). Runs as
# root (sudo -n) with ROUTES_DIR, PING_URL, TRAEFIK_BINARY and RELOAD_WAIT_SECONDS (how long Traefik gets to
# re-read its route files and journald to record what it said) set by the caller. It changes nothing: its one
# action is Traefik's re-read signal (below), after which Traefik serves exactly what it served. It can run any
# number of times. One fact per line, `<key> <value>`:
#
#   unit <state>         `systemctl is-active traefik.service` (active, inactive, failed, ...)
#   ping <answer>        Traefik's /ping answer (OK), or `error <message>`
#   version <x.y.z>      version of the running Traefik process (of the installed binary when none runs)
#   routes <state>       ok, missing or unreadable: the routes directory
#   route <file>         a route file Traefik reads (*.yml, *.yaml, *.toml)
#   rejected <file>      a route file Traefik rejects: its error on a re-read asked for now (SIGHUP)
#   verdict <why>        why Traefik's verdict on the files could not be had (journal unreadable, not running)
#   domain <name>        a name in a Host(`...`) rule of a route file
set -uo pipefail

: "${ROUTES_DIR:?}" "${PING_URL:?}" "${TRAEFIK_BINARY:?}" "${RELOAD_WAIT_SECONDS:?}"

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

# Traefik keeps its last good configuration and only logs the file that broke it, so a file is judged by what
# Traefik says of it now: SIGHUP is its file provider's re-read signal (an unchanged configuration is skipped, so
# good files change nothing), and an error naming a route file logged after it is the verdict on the current
# content. (The log from earlier writes cannot tell: a route pusher's write triggers reloads that read the old
# version while the new one is being renamed into place.)
errors=""
if ((${#files[@]} == 0)); then
  :
elif [[ "$pid" =~ ^[0-9]+$ ]] && ((pid > 0)); then
  mark=$(date +%s.%6N)
  kill -HUP "$pid"
  sleep "$RELOAD_WAIT_SECONDS"
  # Read on its own, so that a journal that cannot be read is said, not taken for "no errors".
  if journal=$(journalctl --unit=traefik.service --since="@${mark%.*}" --no-pager --output=short-unix 2>&1); then
    errors=$(printf '%s\n' "$journal" | sed 's/\x1b\[[0-9;]*m//g' | grep -F -- "$ROUTES_DIR/" |
      grep -i -E '(^| )(ERR|error)' | awk -v mark="$mark" '$1 + 0 >= mark + 0' || true)
  else
    echo "verdict unreadable: journalctl: ${journal//$'\n'/ }"
  fi
else
  echo "verdict unavailable: Traefik is not running"
fi

for file in "${files[@]}"; do
  echo "route $file"
  path=$ROUTES_DIR/$file
  if [[ "$errors" == *"$path:"* ]]; then
    echo "rejected $file"
  fi
  # The names routed to this host, from its Host(`...`) rules (commented lines left out).
  # shellcheck disable=SC2016 # the backquotes are Traefik's rule syntax, not command substitution
  # A file without one (middlewares, TLS options) is no failure of the probe.
  grep -v -E '^[[:space:]]*#' -- "$path" 2>/dev/null | grep -o -E 'Host\(`[^`]+`\)' |
    sed -E 's/^Host\(`(.*)`\)$/domain \1/' || true
done | awk '!seen[$0]++'
exit 0
