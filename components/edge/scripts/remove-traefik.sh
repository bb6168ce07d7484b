#!/usr/bin/env bash
# Destroy of an edge host's Traefik (run as root): stop and disable the service, remove the unit, binary,
# static configuration and logrotate entry. Safe to run when some or all of it is already gone.
#
# KEPT on purpose: the ACME storage (account key and certificates: Let's Encrypt rate limits make them
# expensive to lose; a reinstall picks them up), the routes directory (owned by the runtime's route pusher),
# the access logs, and the traefik / traefik-sync users (they own the kept files).
#
# env: TRAEFIK_BIN_DIR, TRAEFIK_CONFIG_FILE, ACME_STORAGE, ROUTES_DIR, LOG_DIR
set -euo pipefail

: "${TRAEFIK_BIN_DIR:?}" "${TRAEFIK_CONFIG_FILE:?}" "${ACME_STORAGE:?}" "${ROUTES_DIR:?}" "${LOG_DIR:?}"

readonly UNIT_FILE=/etc/systemd/system/traefik.service
readonly LOGROTATE_FILE=/etc/logrotate.d/traefik
readonly APPLIED_FILE=/var/lib/mynodeone/traefik.applied

((EUID == 0)) || {
  echo "remove-traefik: must run as root" >&2
  exit 1
}

if [[ -f "$UNIT_FILE" ]]; then
  systemctl disable --now --quiet traefik.service || true
fi
rm -f -- "$UNIT_FILE" "$LOGROTATE_FILE" "$TRAEFIK_BIN_DIR/traefik" "$TRAEFIK_CONFIG_FILE" "$APPLIED_FILE"
rmdir --ignore-fail-on-non-empty "$(dirname "$APPLIED_FILE")" 2>/dev/null || true
systemctl daemon-reload
systemctl reset-failed traefik.service >/dev/null 2>&1 || true

echo "traefik removed; kept: $ACME_STORAGE, $ROUTES_DIR, $LOG_DIR, users traefik and traefik-sync"
