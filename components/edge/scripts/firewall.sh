#!/usr/bin/env bash
# Edge host firewall (run as root): inbound traffic is dropped except SSH, HTTP and HTTPS.
#
# nftables, in an own table `inet mynodeone_edge` that is replaced atomically (`nft -f` applies the whole
# file in one transaction), so a re-run never leaves a half-applied rule set and other tables (Tailscale,
# Docker, a distribution default) are left alone. A small oneshot unit reloads the same file at boot.
#
#   FIREWALL_ENABLED=true   install/replace the table; SSH_PORT is always allowed (plus the port this very
#                           session reached sshd on, which differs behind a port-forwarding NAT), only from
#                           SSH_ALLOW_FROM when that is set
#   FIREWALL_ENABLED=false  remove the table, rules file and unit (also the destroy action)
#
# Never locks out the install: established connections stay accepted, and with SSH_ALLOW_FROM the script
# refuses to run when this session's client address is outside that range (the next step would be cut off).
set -euo pipefail

: "${FIREWALL_ENABLED:?}"

readonly TABLE=mynodeone_edge
readonly RULES_FILE=/etc/mynodeone/edge-firewall.nft
readonly UNIT_NAME=mynodeone-edge-firewall.service
readonly UNIT_FILE=/etc/systemd/system/$UNIT_NAME

die() {
  printf 'firewall: %s\n' "$*" >&2
  exit 1
}

((EUID == 0)) || die "must run as root"

# SSH_CONNECTION ("client-ip client-port server-ip server-port") of the SSH session running this script.
# sudo drops it from the environment, so look at the ancestors (root may read their environment).
session_ssh_connection() {
  local pid=$$ value
  if [[ -n "${SSH_CONNECTION:-}" ]]; then
    printf '%s\n' "$SSH_CONNECTION"
    return 0
  fi
  for _ in 1 2 3 4 5 6 7 8; do
    pid=$(awk '$1 == "PPid:" { print $2 }' "/proc/$pid/status" 2>/dev/null) || return 1
    if [[ -z "$pid" ]] || ((pid <= 1)); then return 1; fi
    value=$(tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | sed -n 's/^SSH_CONNECTION=//p' | head -n 1)
    if [[ -n "$value" ]]; then
      printf '%s\n' "$value"
      return 0
    fi
  done
  return 1
}

# An address as hex digits: 8 for IPv4, 32 for IPv6 (IPv4-mapped IPv6 becomes IPv4). Fails when malformed.
address_hex() {
  local address=${1%%%*} octet group head tail groups=() tail_groups=() i
  if [[ "$address" =~ ^::[fF]{4}:([0-9.]+)$ ]]; then
    address=${BASH_REMATCH[1]}
  fi
  if [[ "$address" =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]]; then
    for octet in "${BASH_REMATCH[@]:1}"; do
      ((10#$octet <= 255)) || return 1
      printf '%02x' "$((10#$octet))"
    done
    return 0
  fi
  [[ "$address" =~ ^[0-9a-fA-F:]+$ && "$address" == *:* ]] || return 1
  if [[ "$address" == *::* ]]; then
    head=${address%%::*}
    tail=${address#*::}
    [[ "$tail" != *::* ]] || return 1
    [[ -z "$head" ]] || IFS=: read -r -a groups <<<"$head"
    [[ -z "$tail" ]] || IFS=: read -r -a tail_groups <<<"$tail"
    ((${#groups[@]} + ${#tail_groups[@]} < 8)) || return 1
    for ((i = ${#groups[@]} + ${#tail_groups[@]}; i < 8; i++)); do groups+=(0); done
    groups+=("${tail_groups[@]}")
  else
    IFS=: read -r -a groups <<<"$address"
  fi
  ((${#groups[@]} == 8)) || return 1
  for group in "${groups[@]}"; do
    [[ "$group" =~ ^[0-9a-fA-F]{1,4}$ ]] || return 1
    printf '%04x' "$((16#$group))"
  done
}

# True when address $1 lies inside CIDR $2 (same family).
address_in_cidr() {
  local address_bits network_bits prefix full rest mask
  address_bits=$(address_hex "$1") || return 1
  network_bits=$(address_hex "${2%/*}") || return 1
  prefix=${2#*/}
  ((${#address_bits} == ${#network_bits} && prefix <= ${#address_bits} * 4)) || return 1
  full=$((prefix / 4))
  rest=$((prefix % 4))
  [[ "${address_bits:0:full}" == "${network_bits:0:full}" ]] || return 1
  ((rest == 0)) && return 0
  mask=$(((0xf << (4 - rest)) & 0xf))
  (((16#${address_bits:full:1} & mask) == (16#${network_bits:full:1} & mask)))
}

remove_firewall() {
  if command -v nft >/dev/null 2>&1 && nft list table inet "$TABLE" >/dev/null 2>&1; then
    nft delete table inet "$TABLE"
  fi
  if [[ -f "$UNIT_FILE" ]]; then
    systemctl disable --quiet "$UNIT_NAME" || true
    rm -f -- "$UNIT_FILE"
    systemctl daemon-reload
  fi
  rm -f -- "$RULES_FILE"
  rmdir --ignore-fail-on-non-empty "$(dirname "$RULES_FILE")" 2>/dev/null || true
  echo "firewall table inet $TABLE removed"
}

if [[ "$FIREWALL_ENABLED" != "true" ]]; then
  remove_firewall
  exit 0
fi

: "${SSH_PORT:?}"
if ! [[ "$SSH_PORT" =~ ^[0-9]+$ ]] || ((SSH_PORT < 1 || SSH_PORT > 65535)); then
  die "invalid SSH_PORT '$SSH_PORT'"
fi
allow_from=${SSH_ALLOW_FROM:-}

ssh_ports=("$SSH_PORT")
client_address=""
if connection=$(session_ssh_connection); then
  read -r client_address _ _ session_port <<<"$connection"
  if [[ "$session_port" =~ ^[0-9]+$ && "$session_port" != "$SSH_PORT" ]]; then
    ssh_ports+=("$session_port")
  fi
fi

ssh_rule="tcp dport { $(IFS=,; echo "${ssh_ports[*]}") } accept"
if [[ -n "$allow_from" ]]; then
  [[ "$allow_from" =~ ^[0-9a-fA-F.:]+/[0-9]{1,3}$ ]] || die "invalid SSH_ALLOW_FROM '$allow_from' (expected a CIDR)"
  family=ip
  [[ "$allow_from" != *:* ]] || family=ip6
  ssh_rule="$family saddr $allow_from $ssh_rule"
  if [[ -z "$client_address" ]]; then
    echo "warning: could not determine this session's SSH client address; make sure it lies in $allow_from" >&2
  elif ! address_in_cidr "$client_address" "$allow_from"; then
    die "this SSH session comes from $client_address, outside edge.sshAllowFrom $allow_from: the firewall would block every later connection of this deployment; connect through an address inside $allow_from (e.g. the host's overlay IP) or change sshAllowFrom"
  fi
fi

if ! command -v nft >/dev/null 2>&1; then
  echo "installing nftables"
  # Fresh cloud images may have empty package lists, and unattended-upgrades may hold the dpkg lock a while.
  apt_install=(apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends nftables)
  DEBIAN_FRONTEND=noninteractive "${apt_install[@]}" >/dev/null ||
    { apt-get -o DPkg::Lock::Timeout=300 update -qq && DEBIAN_FRONTEND=noninteractive "${apt_install[@]}" >/dev/null; } ||
    die "nft is missing and 'apt-get install nftables' failed"
fi

mkdir -p "$(dirname "$RULES_FILE")"
staged=$(mktemp "$RULES_FILE.XXXXXX")
trap 'rm -f -- "$staged"' EXIT
# "table; delete table; table {...}": replaces the table whether or not it exists, in one transaction.
cat >"$staged" <<EOF
# Managed by mynodeone (components/edge/scripts/firewall.sh): inbound SSH, HTTP and HTTPS only.
table inet $TABLE
delete table inet $TABLE
table inet $TABLE {
  chain input {
    type filter hook input priority filter; policy drop;
    ct state established,related accept
    ct state invalid drop
    iifname "lo" accept
    meta l4proto { icmp, ipv6-icmp } accept
    udp sport 67 udp dport 68 accept
    ip6 saddr fe80::/10 udp sport 547 udp dport 546 accept
    $ssh_rule
    tcp dport { 80, 443 } accept
  }
}
EOF
nft --check --file "$staged" || die "generated rule set is invalid (see above); nothing was changed"
chmod 0644 "$staged"
mv -f -- "$staged" "$RULES_FILE"

unit_content="# Managed by mynodeone: loads the edge firewall table at boot.
[Unit]
Description=mynodeone edge firewall (nftables table inet $TABLE)
DefaultDependencies=no
Before=network-pre.target
Wants=network-pre.target
# Debian's nftables.service starts with \"flush ruleset\": load this table again after it (re)starts.
After=nftables.service
PartOf=nftables.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=$(command -v nft) -f $RULES_FILE

[Install]
WantedBy=multi-user.target nftables.service
"
if ! printf '%s' "$unit_content" | cmp -s - "$UNIT_FILE"; then
  printf '%s' "$unit_content" >"$UNIT_FILE"
  systemctl daemon-reload
fi
systemctl is-enabled --quiet "$UNIT_NAME" || systemctl enable --quiet "$UNIT_NAME"

nft --file "$RULES_FILE"
echo "firewall table inet $TABLE applied: inbound ssh (${ssh_ports[*]}${allow_from:+ from $allow_from}), 80, 443"
