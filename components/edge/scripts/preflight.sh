#!/usr/bin/env bash
# Edge host preflight: checks everything the Traefik install needs and reports every problem at once, before
# anything is changed. Runs as the SSH login user (not through sudo), so it can itself say that passwordless
# sudo is missing; the checks that need root use `sudo -n`.
#
# env: TRAEFIK_VERSION (to be installed; an upgrade re-runs the preflight), MIN_FREE_DISK_MB, TRAEFIK_BIN_DIR,
#      FETCH_TRAEFIK_SCRIPT (its --detect-arch maps the CPU architecture)
set -euo pipefail

: "${TRAEFIK_VERSION:?}" "${MIN_FREE_DISK_MB:?}" "${TRAEFIK_BIN_DIR:?}" "${FETCH_TRAEFIK_SCRIPT:?}"

problems=()
problem() { problems+=("$*"); }

as_root() {
  if ((EUID == 0)); then "$@"; else sudo -n "$@"; fi
}

# Operating system: Debian or Ubuntu (apt, nftables, systemd), booted with systemd.
if [[ -r /etc/os-release ]]; then
  # shellcheck disable=SC1091 # the host's file, not ours
  os_id=$(. /etc/os-release && printf '%s %s' "${ID:-}" "${ID_LIKE:-}")
  case " $os_id " in
    *" debian "* | *" ubuntu "*) ;;
    *) problem "unsupported OS '$os_id' (/etc/os-release): Debian or Ubuntu required" ;;
  esac
else
  problem "/etc/os-release is missing: Debian or Ubuntu required"
fi
# sd_booted(3): this directory exists only when systemd is PID 1.
[[ -d /run/systemd/system ]] || problem "systemd is not PID 1 (no /run/systemd/system): Traefik runs as a systemd service"

# Privileges: every later step runs as `sudo -n` (non-interactive: it fails instead of prompting).
have_root=true
if ((EUID != 0)); then
  if ! command -v sudo >/dev/null 2>&1; then
    problem "user $(id -un) is not root and sudo is not installed"
    have_root=false
  elif ! sudo -n true 2>/dev/null; then
    problem "user $(id -un) cannot run 'sudo -n' (passwordless sudo): the install runs every step as 'sudo -n ...'; allow NOPASSWD sudo for this user or connect as root"
    have_root=false
  fi
fi

# Tools the install uses.
if ! command -v curl >/dev/null 2>&1 && ! command -v wget >/dev/null 2>&1; then
  problem "neither curl nor wget is installed (apt-get install curl)"
fi
# The install runs them as root (sudo's secure_path); a login user's PATH has no sbin directories on Debian.
for tool in tar gzip sha256sum ss systemctl useradd; do
  PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin" command -v "$tool" >/dev/null 2>&1 || problem "required command '$tool' not found"
done

# Architecture: one mapping, in fetch-traefik.sh.
if arch=$(bash -c "$FETCH_TRAEFIK_SCRIPT" fetch-traefik.sh --detect-arch 2>&1); then
  echo "arch=$arch"
else
  problem "$arch"
fi

# Disk: the download is unpacked under /var/tmp and staged beside the installed binary.
declare -A checked_mounts=()
for dir in "$TRAEFIK_BIN_DIR" /var/tmp /var/lib; do
  [[ -d "$dir" ]] || continue
  read -r free_mb mount < <(df -Pm "$dir" | awk 'NR == 2 { print $4, $6 }')
  [[ -z "${checked_mounts[$mount]:-}" ]] || continue
  checked_mounts[$mount]=1
  if ((free_mb < MIN_FREE_DISK_MB)); then
    problem "only ${free_mb} MiB free on $mount (for $dir), need ${MIN_FREE_DISK_MB} MiB (edge.minFreeDiskMb)"
  fi
done

# Ports 80/443 must be free, or held by Traefik itself (a re-run). Process names need root.
if $have_root && command -v ss >/dev/null 2>&1; then
  while read -r line; do
    [[ -n "$line" ]] || continue
    local_address=$(awk '{ print $4 }' <<<"$line")
    port=${local_address##*:}
    holders=$(grep -o '"[^"]*",pid=[0-9]*' <<<"$line" | sed 's/"\([^"]*\)",pid=\([0-9]*\)/\1 (pid \2)/' | sort -u | paste -sd ',' - || true)
    if [[ -z "$holders" ]]; then
      problem "port $port is already in use (listener $local_address, process unknown)"
    elif grep -qv '^traefik (' < <(tr ',' '\n' <<<"$holders"); then
      problem "port $port is already in use by $holders: stop and disable it first (e.g. systemctl disable --now <service>)"
    fi
  done < <(as_root ss -Hltnp '( sport = :80 or sport = :443 )')
fi

if ((${#problems[@]} > 0)); then
  printf 'edge preflight failed on %s:\n' "$(uname -n)" >&2
  printf '  - %s\n' "${problems[@]}" >&2
  exit 1
fi
echo "preflight for traefik $TRAEFIK_VERSION ok"
