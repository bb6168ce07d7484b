#!/usr/bin/env bash
# Real Debian test hosts for the edge end-to-end test (test/e2e/edge.e2e.test.ts). Needs root.
#
#   edge-test-env.sh build             debootstrap a Debian bookworm root filesystem with systemd and sshd, and
#                                      build Traefik, Pebble and pebble-challtestsrv from their Go modules, into
#                                      ${XDG_CACHE_HOME:-~/.cache}/mynodeone/edge-hosts/ (skipped when present)
#   edge-test-env.sh start <dir> [N]   boot N (default 2, at least 2) hosts with systemd-nspawn, each in its own
#                                      network namespace on the private test subnet 10.213.0.0/24, plus the
#                                      host-side stand-ins: a release mirror, Pebble (ACME CA) with
#                                      challtestsrv (DNS) and a backend; writes <dir>/env.json for the test
#   edge-test-env.sh stop <dir>        shut everything started by `start <dir>` down and remove its network
#   edge-test-env.sh reboot <dir> <i>  shut host i down and boot it again (same root filesystem)
#
# Nothing here reaches beyond loopback and the test subnet: the hosts get no default route, and every
# stand-in listens on the bridge address 10.213.0.1 or on 127.0.0.1. Only `build` downloads (Debian
# packages and Go modules, from the configured mirrors).
#
# Test setup that a real VPS would not have, on purpose: the hosts trust a CA made by `start` (it signs
# Pebble's and the mirror's TLS certificates), and /etc/hosts maps `pebble` and `mirror` to 10.213.0.1.
set -euo pipefail

readonly SUBNET_PREFIX=10.213.0
readonly BRIDGE=mnedge0
readonly BRIDGE_ADDRESS=$SUBNET_PREFIX.1
readonly PROBE_NETNS=mnedge-probe
readonly PROBE_ADDRESS=$SUBNET_PREFIX.250
readonly ADMIN_USER=admin
readonly MIRROR_PORT=8443
readonly PEBBLE_PORT=14000
readonly PEBBLE_MANAGEMENT_PORT=15000
readonly CHALLTESTSRV_DNS_PORT=8053
readonly CHALLTESTSRV_MANAGEMENT_PORT=8055
readonly BACKEND_PORT=18080
readonly PEBBLE_VERSION=v2.10.1
readonly DEBIAN_SUITE=bookworm
# The Debian mirror this machine's apt already uses (first URI of a deb822 source, else of sources.list);
# DEBIAN_MIRROR overrides it.
apt_mirror() {
  local uri
  uri=$(awk '$1 == "URIs:" { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  if [[ -z "$uri" ]]; then
    uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; exit } }' \
      /etc/apt/sources.list 2>/dev/null || true)
  fi
  printf '%s' "$uri"
}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-$(apt_mirror)}
readonly DEBIAN_MIRROR
readonly HOST_PACKAGES=systemd,systemd-sysv,dbus,openssh-server,nftables,curl,ca-certificates,sudo,iproute2,logrotate
readonly BOOT_TIMEOUT_SECONDS=120

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
readonly ROOT
readonly CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/mynodeone/edge-hosts
readonly GO_CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/mynodeone/go
readonly ROOTFS=$CACHE/rootfs-$DEBIAN_SUITE
readonly BIN=$CACHE/bin

die() {
  printf 'edge-test-env: %s\n' "$*" >&2
  exit 1
}
log() { printf 'edge-test-env: %s\n' "$*" >&2; }

# The pinned Traefik release, read from the program's defaults so a bump there is followed here.
traefik_version() {
  sed -n 's/^export const DEFAULT_TRAEFIK_VERSION = "\(v[0-9.]*\)";$/\1/p' "$ROOT/components/edge/config.ts"
}

# The version the upgrade test bumps to: the pinned release's source, relabelled (see build_traefik).
upgrade_label() {
  local version=$1 patch
  patch=${version##*.}
  ((patch > 0)) || die "cannot derive an upgrade label from $version"
  printf '%s.%s' "${version%.*}" "$((patch - 1))"
}

timed() {
  local label=$1 start=$SECONDS
  shift
  "$@"
  log "$label: $((SECONDS - start))s"
}

# ---------------------------------------------------------------------------------------------------- build

build_rootfs() {
  local stamp=$ROOTFS/.mynodeone-rootfs
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$DEBIAN_SUITE $HOST_PACKAGES" ]]; then
    log "root filesystem $ROOTFS: cached"
    return 0
  fi
  command -v debootstrap >/dev/null || die "debootstrap is missing (apt-get install debootstrap)"
  [[ -n "$DEBIAN_MIRROR" ]] || die "no Debian mirror found in /etc/apt/sources.list(.d): set DEBIAN_MIRROR"
  rm -rf -- "$ROOTFS" "$ROOTFS.partial"
  log "debootstrap $DEBIAN_SUITE into $ROOTFS (log: $CACHE/debootstrap.log)"
  nice -n 10 debootstrap --include="$HOST_PACKAGES" "$DEBIAN_SUITE" "$ROOTFS.partial" "$DEBIAN_MIRROR" \
    >"$CACHE/debootstrap.log" 2>&1 || die "debootstrap failed: see $CACHE/debootstrap.log"
  # Every host gets its own host keys and machine id at `start`; none may come from the shared image.
  rm -f "$ROOTFS.partial"/etc/ssh/ssh_host_*
  : >"$ROOTFS.partial/etc/machine-id"
  rm -f "$ROOTFS.partial/var/lib/dbus/machine-id"
  # No network configuration inside: `start` configures each host's interface from outside.
  chroot "$ROOTFS.partial" systemctl disable --quiet networking.service 2>/dev/null || true
  chroot "$ROOTFS.partial" apt-get clean
  printf '%s' "$DEBIAN_SUITE $HOST_PACKAGES" >"$ROOTFS.partial/.mynodeone-rootfs"
  mv "$ROOTFS.partial" "$ROOTFS"
}

go_env() {
  export PATH=/usr/local/go/bin:$PATH
  export GOMODCACHE=$GO_CACHE/mod GOCACHE=$GO_CACHE/build GOFLAGS=-mod=mod GOTOOLCHAIN=local
  export CGO_ENABLED=0 GOVCS='*:off'
  # Modules only from the proxy: never a direct clone.
  GOPROXY=$(go env GOPROXY | tr ',' '\n' | grep -v '^direct$' | paste -sd, -)
  export GOPROXY
}

module_dir() {
  go mod download -json "$1" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p'
}

# lego DNS providers whose SDK modules this machine's Go proxy refuses ("403 This module version is not
# available"). The test uses the HTTP-01 challenge, so the build drops them from lego's provider registry.
readonly LEGO_DROPPED_DNS_PROVIDERS="alidns aliesa azion dnsimple edgedns edgeone huaweicloud oraclecloud regfish sakuracloud tencentcloud ucloud yandexcloud"
# Likewise the go-http-auth fork commit Traefik pins; the fork's previous commit (used by earlier Traefik
# releases) is served and has the same API (basic and digest auth middlewares only).
readonly GO_HTTP_AUTH_FALLBACK=v0.4.1-0.20200324110947-a37a7636d23e

# A copy of lego with the providers above removed from providers/dns/zz_gen_dns_providers.go (their import
# lines and `case` branches; a config naming one gets lego's "unrecognized DNS provider" error).
patched_lego() {
  local src=$1 dest=$2 provider pattern=""
  cp -r "$src" "$dest"
  chmod -R u+w "$dest"
  for provider in $LEGO_DROPPED_DNS_PROVIDERS; do
    rm -rf -- "${dest:?}/providers/dns/$provider"
    pattern+="${pattern:+|}$provider"
  done
  awk -v dropped="^($pattern)$" '
    /^\t"github.com\/go-acme\/lego\/v5\/providers\/dns\/[a-z0-9]+"$/ {
      name = $0; sub(/.*\//, "", name); sub(/"$/, "", name)
      if (name ~ dropped) next
    }
    /^\tcase / { held = $0; next }
    held != "" {
      line = $0; name = line; sub(/^\t\treturn /, "", name); sub(/\..*/, "", name)
      if (!(line ~ /^\t\treturn / && name ~ dropped)) { print held; print line }
      held = ""; next
    }
    { print }' "$src/providers/dns/zz_gen_dns_providers.go" >"$dest/providers/dns/zz_gen_dns_providers.go"
}

# Traefik's go.mod replaces a nested module (dynamic/ext, two empty extension types in the open-source
# build) with a directory the module zip does not contain, and `go install` refuses replace directives.
# So it is built from a wrapper module that repeats the replacements and recreates that nested module.
traefik_wrapper() {
  local version=$1 wrapper=$GO_CACHE/wrappers/traefik-$1 src lego_version
  src=$(module_dir "github.com/traefik/traefik/v3@$version")
  [[ -d "$src" ]] || die "could not download github.com/traefik/traefik/v3@$version"
  lego_version=$(awk '$1 == "github.com/go-acme/lego/v5" { print $2; exit }' "$src/go.mod")
  rm -rf -- "$wrapper"
  mkdir -p "$wrapper/ext"
  patched_lego "$(module_dir "github.com/go-acme/lego/v5@$lego_version")" "$wrapper/lego"
  printf 'module github.com/traefik/traefik/dynamic/ext\n\ngo 1.24.0\n' >"$wrapper/ext/go.mod"
  cat >"$wrapper/ext/ext.go" <<'EOF'
package ext

// HTTP is a dynamic.HTTP extension.
type HTTP struct{}

// Router is a dynamic.Router extension.
type Router struct{}

// RouterIng is a RouterIng extension for ingress provider annotations.
type RouterIng struct{}

// ToRouter converts RouterIng to a Router.
func (r RouterIng) ToRouter() Router {
	return Router{}
}
EOF
  {
    printf 'module mynodeone.test/traefik-build\n\n'
    sed -n 's/^go \(.*\)$/go \1/p' "$src/go.mod"
    printf 'require github.com/traefik/traefik/v3 %s\n' "$version"
    printf 'replace github.com/traefik/traefik/dynamic/ext => ./ext\n'
    printf 'replace github.com/go-acme/lego/v5 => ./lego\n'
    printf 'replace github.com/abbot/go-http-auth => github.com/containous/go-http-auth %s\n' "$GO_HTTP_AUTH_FALLBACK"
    # The module's other replace and exclude directives, verbatim.
    awk '/^replace \(/ { block = 1; next } block && /^\)/ { block = 0; next }
         block { $1 = $1; print "replace " $0; next }
         /^replace / { print }
         /^exclude / { print }' "$src/go.mod" |
      grep -v -e '^replace github.com/traefik/traefik/dynamic/ext ' -e '^replace github.com/abbot/go-http-auth '
  } >"$wrapper/go.mod"
  printf '%s\n' "$wrapper"
}

build_traefik() {
  local version=$1 label=$2 out=$BIN/traefik-$2 wrapper
  if [[ -x "$out" ]] && "$out" version 2>/dev/null | grep -qx "Version: *${label#v}"; then
    log "traefik $label: cached"
    return 0
  fi
  wrapper=$(traefik_wrapper "$version")
  log "building traefik $version as $label (log: $CACHE/build-traefik.log)"
  (
    cd "$wrapper"
    go get "github.com/traefik/traefik/v3/cmd/traefik@$version"
    # The release's ldflags (.goreleaser.yml.tmpl): the version without its "v", as `traefik version` prints.
    nice -n 10 go build -p=2 -trimpath -o "$out.partial" -ldflags "-s -w \
      -X github.com/traefik/traefik/v3/pkg/version.Version=${label#v} \
      -X github.com/traefik/traefik/v3/pkg/version.BuildDate=1970-01-01T00:00:00Z" \
      github.com/traefik/traefik/v3/cmd/traefik
  ) >"$CACHE/build-traefik.log" 2>&1 || die "traefik build failed: see $CACHE/build-traefik.log"
  mv "$out.partial" "$out"
}

build_pebble() {
  local tool
  for tool in pebble pebble-challtestsrv; do
    if [[ -x "$BIN/$tool-$PEBBLE_VERSION" ]]; then
      log "$tool $PEBBLE_VERSION: cached"
      continue
    fi
    log "building $tool $PEBBLE_VERSION"
    GOBIN=$BIN/gobin nice -n 10 go install -p=2 -trimpath \
      "github.com/letsencrypt/pebble/v2/cmd/$tool@$PEBBLE_VERSION" >"$CACHE/build-$tool.log" 2>&1 ||
      die "$tool build failed: see $CACHE/build-$tool.log"
    mv "$BIN/gobin/$tool" "$BIN/$tool-$PEBBLE_VERSION"
  done
}

# The release layout of github.com/traefik/traefik/releases/download: <base>/<version>/traefik_<version>_
# linux_amd64.tar.gz and traefik_<version>_checksums.txt (sha256sum format). Built once into the cache
# (reproducible: fixed owner and mtime, gzip -n); `start` copies it, so a test may tamper with its copy.
build_mirror_release() {
  local version=$1 binary=$BIN/traefik-$1 out=$CACHE/mirror/$1 stage
  if [[ -f "$out/traefik_${version}_checksums.txt" && "$out/.built-from" -nt "$binary" ]]; then
    log "mirror release $version: cached"
    return 0
  fi
  stage=$(mktemp -d)
  install -m 0755 "$binary" "$stage/traefik"
  cp "$(module_dir "github.com/traefik/traefik/v3@$(traefik_version)")/LICENSE.md" "$stage/LICENSE.md"
  rm -rf -- "$out"
  mkdir -p "$out"
  tar -C "$stage" --owner=0 --group=0 --numeric-owner --mtime=@0 -cf - traefik LICENSE.md |
    gzip -n >"$out/traefik_${version}_linux_amd64.tar.gz"
  rm -rf -- "$stage"
  (cd "$out" && sha256sum "traefik_${version}_linux_amd64.tar.gz" >"traefik_${version}_checksums.txt")
  touch "$out/.built-from"
}

cmd_build() {
  ((EUID == 0)) || die "build needs root (debootstrap)"
  mkdir -p "$CACHE" "$BIN"
  local version label
  version=$(traefik_version)
  [[ -n "$version" ]] || die "could not read DEFAULT_TRAEFIK_VERSION from components/edge/config.ts"
  label=$(upgrade_label "$version")
  timed "root filesystem" build_rootfs
  go_env
  timed "traefik $version" build_traefik "$version" "$version"
  # Only the version stamp differs (a re-link, seconds): the upgrade test needs a second release.
  timed "traefik $label (relabelled $version)" build_traefik "$version" "$label"
  timed "pebble" build_pebble
  timed "mirror releases" build_mirror_release "$version"
  build_mirror_release "$label"
}

# ---------------------------------------------------------------------------------------------------- start

require_built() {
  [[ -f "$ROOTFS/.mynodeone-rootfs" ]] || die "no root filesystem in $ROOTFS: run '$0 build' first"
  local file
  for file in "traefik-$(traefik_version)" "traefik-$(upgrade_label "$(traefik_version)")" \
    "pebble-$PEBBLE_VERSION" "pebble-challtestsrv-$PEBBLE_VERSION"; do
    [[ -x "$BIN/$file" ]] || die "$BIN/$file is missing: run '$0 build' first"
  done
  for file in "$(traefik_version)" "$(upgrade_label "$(traefik_version)")"; do
    [[ -d "$CACHE/mirror/$file" ]] || die "$CACHE/mirror/$file is missing: run '$0 build' first"
  done
  command -v systemd-nspawn >/dev/null || die "systemd-nspawn is missing (apt-get install systemd-container)"
}

# A CA of this environment only. It signs the TLS certificates of Pebble's ACME API and of the mirror, and the
# test hosts trust it: the one piece of trust a real VPS does not have (it reaches Let's Encrypt and GitHub
# with the public roots).
make_ca() {
  local ca=$1 name
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
    -keyout "$ca/ca.key" -out "$ca/ca.pem" -subj "/CN=mynodeone edge e2e test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  for name in pebble mirror; do
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -keyout "$ca/$name.key" -out "$ca/$name.csr" -subj "/CN=$name" 2>/dev/null
    openssl x509 -req -in "$ca/$name.csr" -CA "$ca/ca.pem" -CAkey "$ca/ca.key" -CAcreateserial -days 30 \
      -out "$ca/$name.pem" -extfile <(printf 'subjectAltName=DNS:%s,IP:%s\nextendedKeyUsage=serverAuth\n' \
        "$name" "$BRIDGE_ADDRESS") 2>/dev/null
  done
}

start_background() {
  local dir=$1 name=$2
  shift 2
  setsid "$@" </dev/null >"$dir/logs/$name.log" 2>&1 &
  echo "$!" >"$dir/run/$name.pid"
}

wait_for_port() {
  local address=$1 port=$2 what=$3 deadline=$((SECONDS + 30))
  until (exec 3<>"/dev/tcp/$address/$port") 2>/dev/null; do
    ((SECONDS < deadline)) || die "$what did not listen on $address:$port within 30s"
    sleep 0.2
  done
}

start_services() {
  local dir=$1 version label
  version=$(traefik_version)
  label=$(upgrade_label "$version")
  mkdir -p "$dir/mirror"
  cp -r "$CACHE/mirror/$version" "$CACHE/mirror/$label" "$dir/mirror/"
  rm -f "$dir/mirror"/*/.built-from
  cat >"$dir/run/mirror.py" <<'PY'
# HTTPS file server for the release mirror; logs every request on stderr.
import functools, http.server, ssl, sys
root, cert, key, address, port = sys.argv[1:6]
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)

class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    # TLS per connection, its handshake in the connection's own thread: one slow client never holds up accept().
    def get_request(self):
        sock, client = self.socket.accept()
        return context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), client

handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
Server((address, int(port)), handler).serve_forever()
PY
  start_background "$dir" mirror python3 -u "$dir/run/mirror.py" "$dir/mirror" "$dir/ca/mirror.pem" \
    "$dir/ca/mirror.key" "$BRIDGE_ADDRESS" "$MIRROR_PORT"

  mkdir -p "$dir/backend"
  printf 'hello from the mynodeone e2e backend\n' >"$dir/backend/index.html"
  start_background "$dir" backend python3 -u -m http.server --bind "$BRIDGE_ADDRESS" --directory "$dir/backend" \
    "$BACKEND_PORT"

  # DNS for Pebble's validation only (the test names -> the test hosts); no default answers.
  start_background "$dir" challtestsrv "$BIN/pebble-challtestsrv-$PEBBLE_VERSION" \
    -dnsserver "$BRIDGE_ADDRESS:$CHALLTESTSRV_DNS_PORT" -management "127.0.0.1:$CHALLTESTSRV_MANAGEMENT_PORT" \
    -http01 "" -https01 "" -doh "" -tlsalpn01 "" -defaultIPv4 "" -defaultIPv6 ""

  # Pebble's test config (test/config/pebble-config.json) with our listeners, our TLS certificate and the
  # real challenge ports: HTTP-01 goes to port 80 of the test host, as Let's Encrypt's would.
  cat >"$dir/run/pebble-config.json" <<JSON
{
  "pebble": {
    "listenAddress": "$BRIDGE_ADDRESS:$PEBBLE_PORT",
    "managementListenAddress": "127.0.0.1:$PEBBLE_MANAGEMENT_PORT",
    "certificate": "$dir/ca/pebble.pem",
    "privateKey": "$dir/ca/pebble.key",
    "httpPort": 80,
    "tlsPort": 443,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": false,
    "retryAfter": { "authz": 1, "order": 1 },
    "keyAlgorithm": "ecdsa",
    "profiles": { "default": { "description": "e2e", "validityPeriod": 7776000 } }
  }
}
JSON
  # No random sleeps and no random nonce rejections: the test measures the edge, not Pebble's chaos.
  PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 start_background "$dir" pebble \
    "$BIN/pebble-$PEBBLE_VERSION" -config "$dir/run/pebble-config.json" \
    -dnsserver "$BRIDGE_ADDRESS:$CHALLTESTSRV_DNS_PORT"

  wait_for_port "$BRIDGE_ADDRESS" "$MIRROR_PORT" mirror
  wait_for_port "$BRIDGE_ADDRESS" "$BACKEND_PORT" backend
  wait_for_port 127.0.0.1 "$CHALLTESTSRV_MANAGEMENT_PORT" challtestsrv
  wait_for_port "$BRIDGE_ADDRESS" "$PEBBLE_PORT" pebble
}

add_dns_record() {
  curl --fail --silent --show-error --max-time 5 -o /dev/null \
    --data "{\"host\":\"$1\",\"addresses\":[\"$2\"]}" "http://127.0.0.1:$CHALLTESTSRV_MANAGEMENT_PORT/add-a"
}

start_network() {
  ip link add "$BRIDGE" type bridge
  ip address add "$BRIDGE_ADDRESS/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  add_netns "$PROBE_NETNS" "$PROBE_ADDRESS"
}

# A network namespace with one interface, eth0, on the test bridge. No default route: the namespace reaches the
# test subnet and nothing else.
add_netns() {
  local netns=$1 address=$2
  ip netns add "$netns"
  ip -n "$netns" link set lo up
  ip link add "$netns-h" type veth peer name eth0 netns "$netns"
  ip link set "$netns-h" master "$BRIDGE" up
  ip -n "$netns" address add "$address/24" dev eth0
  ip -n "$netns" link set eth0 up
}

# Host i: an overlay of the cached root filesystem (changes go to <dir>/hosts/edge-i/upper, the image stays
# pristine), its own machine id, SSH host key, admin user and network namespace.
prepare_host() {
  local dir=$1 i=$2 name=edge-$2 host root
  host=$dir/hosts/$name
  root=$host/root
  mkdir -p "$host/upper" "$host/work" "$root"
  mount -t overlay overlay -o "lowerdir=$ROOTFS,upperdir=$host/upper,workdir=$host/work" "$root"
  printf '%s\n' "$name" >"$root/etc/hostname"
  printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n%s\tpebble mirror\n' "$name" "$BRIDGE_ADDRESS" >"$root/etc/hosts"
  printf '# edge e2e test host: no DNS server; pebble and mirror come from /etc/hosts\n' >"$root/etc/resolv.conf"
  od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >"$root/etc/machine-id"
  ssh-keygen -q -t ed25519 -N '' -C "root@$name" -f "$root/etc/ssh/ssh_host_ed25519_key"
  printf 'HostKey /etc/ssh/ssh_host_ed25519_key\n' >"$root/etc/ssh/sshd_config.d/edge-e2e.conf"
  cut -d ' ' -f 1,2 "$root/etc/ssh/ssh_host_ed25519_key.pub" >"$host/host_key.pub"

  # The deployment's login: a sudoer with passwordless sudo, as on a cloud image.
  chroot "$root" useradd --create-home --shell /bin/bash --groups sudo "$ADMIN_USER"
  chroot "$root" usermod --password '*' "$ADMIN_USER"
  printf '%s ALL=(ALL) NOPASSWD:ALL\n' "$ADMIN_USER" >"$root/etc/sudoers.d/$ADMIN_USER"
  chmod 0440 "$root/etc/sudoers.d/$ADMIN_USER"
  install -d -m 0700 "$root/home/$ADMIN_USER/.ssh"
  install -m 0600 "$dir/keys/admin.pub" "$root/home/$ADMIN_USER/.ssh/authorized_keys"
  chroot "$root" chown -R "$ADMIN_USER:$ADMIN_USER" "/home/$ADMIN_USER/.ssh"

  install -m 0644 "$dir/ca/ca.pem" "$root/usr/local/share/ca-certificates/mynodeone-edge-e2e-test-ca.crt"
  chroot "$root" update-ca-certificates >/dev/null 2>&1 || die "update-ca-certificates failed in $name"

  add_netns "mnedge-$i" "$SUBNET_PREFIX.$((10 + i))"
}

prepare_hosts() {
  local dir=$1 n=$2 i
  for ((i = 1; i <= n; i++)); do prepare_host "$dir" "$i"; done
}

# Host i's own cgroup in every hierarchy systemd-nspawn uses. Without a systemd on this machine, nspawn runs
# with --keep-unit, which puts the container in the cgroup nspawn itself runs in: each host needs its own, or
# the hosts' systemd instances share one tree (and kill each other's services). `stop` also finds every
# process of a host there.
host_cgroups() {
  local i=$1 hierarchy
  for hierarchy in /sys/fs/cgroup/unified /sys/fs/cgroup/systemd; do
    if [[ -f "$hierarchy/cgroup.procs" ]]; then printf '%s\n' "$hierarchy/mnedge/edge-$i"; fi
  done
  if [[ "$(stat -fc %T /sys/fs/cgroup)" == cgroup2fs ]]; then printf '%s\n' "/sys/fs/cgroup/mnedge/edge-$i"; fi
}

# Kill whatever of host i survived its nspawn (the container's init, when nspawn had to be killed) and remove
# its cgroups.
reap_host() {
  local i=$1 cgroup pids deadline=$((SECONDS + 10))
  while read -r cgroup; do
    [[ -d "$cgroup" ]] || continue
    while pids=$(find "$cgroup" -name cgroup.procs -exec cat {} + 2>/dev/null) && [[ -n "$pids" ]]; do
      # shellcheck disable=SC2086 # one pid per word
      kill -KILL $pids 2>/dev/null || true
      ((SECONDS < deadline)) || die "processes of edge-$i survive SIGKILL: $pids"
      sleep 0.2
    done
    find "$cgroup" -depth -type d -exec rmdir {} + 2>/dev/null || true
    rmdir "$(dirname "$cgroup")" 2>/dev/null || true
  done < <(host_cgroups "$i")
}

# The container runs systemd as PID 1, pure cgroup v2 (like a current Debian VPS) whatever this machine mounts,
# in host i's network namespace and cgroups. CAP_NET_ADMIN (which a VPS's root has) is for the firewall:
# nspawn grants it with --private-network, not with --network-namespace-path; the namespace is the host's own.
boot_host() {
  local dir=$1 i=$2 cgroup cgroups=()
  mapfile -t cgroups < <(host_cgroups "$i")
  for cgroup in "${cgroups[@]}"; do mkdir -p "$cgroup"; done
  # shellcheck disable=SC2016 # expanded by the inner shell, which moves itself into the cgroups, then execs
  SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 start_background "$dir" "edge-$i" bash -c \
    'for cgroup in "${@:2:$1}"; do echo "$$" >"$cgroup/cgroup.procs"; done; shift "$(($1 + 1))"; exec "$@"' \
    enter-cgroups "${#cgroups[@]}" "${cgroups[@]}" \
    systemd-nspawn --boot --keep-unit --register=no --directory="$dir/hosts/edge-$i/root" --machine="mnedge-$i" \
    --network-namespace-path="/run/netns/mnedge-$i" --resolv-conf=off --timezone=off --link-journal=no \
    --capability=CAP_NET_ADMIN --console=passive
}

# Ready: sshd answers with the host's own key and systemd reports the boot finished.
wait_for_host() {
  local dir=$1 i=$2 address=$SUBNET_PREFIX.$((10 + $2)) deadline=$((SECONDS + BOOT_TIMEOUT_SECONDS)) state
  local known_hosts=$dir/hosts/edge-$2/known_hosts
  printf '%s %s\n' "$address" "$(cat "$dir/hosts/edge-$i/host_key.pub")" >"$known_hosts"
  until state=$(ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$known_hosts" \
    -o GlobalKnownHostsFile=/dev/null -o ConnectTimeout=2 -i "$dir/keys/admin" "$ADMIN_USER@$address" \
    timeout 60 systemctl is-system-running --wait 2>/dev/null); do
    if [[ -n "$state" ]]; then
      die "edge-$i booted $state: see 'systemctl --failed' on the host (console log $dir/logs/edge-$i.log)"
    fi
    ((SECONDS < deadline)) || die "edge-$i not reachable over SSH within ${BOOT_TIMEOUT_SECONDS}s (console log $dir/logs/edge-$i.log)"
    sleep 0.5
  done
}

write_env_json() {
  local dir=$1 n=$2 i sep=""
  {
    printf '{\n  "dir": "%s",\n  "bridgeAddress": "%s",\n  "subnet": "%s.0/24",\n' "$dir" "$BRIDGE_ADDRESS" "$SUBNET_PREFIX"
    printf '  "adminUser": "%s",\n  "adminKey": "%s/keys/admin",\n' "$ADMIN_USER" "$dir"
    printf '  "syncKey": "%s/keys/sync",\n  "syncPublicKey": "%s",\n' "$dir" "$(cut -d ' ' -f 1,2 "$dir/keys/sync.pub")"
    printf '  "caCert": "%s/ca/ca.pem",\n' "$dir"
    printf '  "traefikVersion": "%s",\n  "upgradeVersion": "%s",\n' "$(traefik_version)" "$(upgrade_label "$(traefik_version)")"
    printf '  "mirrorBaseUrl": "https://mirror:%s",\n  "mirrorDir": "%s/mirror",\n' "$MIRROR_PORT" "$dir"
    printf '  "mirrorLog": "%s/logs/mirror.log",\n' "$dir"
    printf '  "acmeDirectoryUrl": "https://pebble:%s/dir",\n' "$PEBBLE_PORT"
    printf '  "pebbleManagementUrl": "https://pebble:%s",\n  "pebbleLog": "%s/logs/pebble.log",\n' \
      "$PEBBLE_MANAGEMENT_PORT" "$dir"
    printf '  "challtestsrvManagementUrl": "http://127.0.0.1:%s",\n' "$CHALLTESTSRV_MANAGEMENT_PORT"
    printf '  "backendUrl": "http://%s:%s",\n' "$BRIDGE_ADDRESS" "$BACKEND_PORT"
    printf '  "probeNetns": "%s",\n  "hosts": [' "$PROBE_NETNS"
    for ((i = 1; i <= n; i++)); do
      printf '%s\n    {"name": "edge-%s", "address": "%s", "netns": "mnedge-%s", "domain": "demo.edge-%s.mynodeone.test", "hostKey": "%s"}' \
        "$sep" "$i" "$SUBNET_PREFIX.$((10 + i))" "$i" "$i" "$(cat "$dir/hosts/edge-$i/host_key.pub")"
      sep=,
    done
    printf '\n  ]\n}\n'
  } >"$dir/env.json"
}

cmd_start() {
  (($# >= 1 && $# <= 2)) || die "usage: $0 start <dir> [N]"
  local n=${2:-2} dir i host start=$SECONDS
  if ! [[ "$n" =~ ^[0-9]+$ ]] || ((n < 2 || n > 20)); then die "N must be 2..20, got '$n'"; fi
  ((EUID == 0)) || die "start needs root (network namespaces, mounts, systemd-nspawn)"
  require_built
  mkdir -p "$1"
  dir=$(cd "$1" && pwd)
  [[ ! -e "$dir/env.json" && ! -e "$dir/run" ]] || die "$dir is in use: run '$0 stop $dir' first"
  ! ip link show "$BRIDGE" >/dev/null 2>&1 || die "bridge $BRIDGE exists: another environment runs (stop it first)"
  # A stopped environment's directory may be started again: only its logs are kept.
  for host in "$dir"/hosts/edge-*; do
    if mountpoint -q "$host/root"; then die "$host/root is still mounted: run '$0 stop $dir' first"; fi
  done
  rm -rf -- "${dir:?}/keys" "$dir/ca" "$dir/mirror" "$dir/backend" "$dir/hosts"
  mkdir -p "$dir/keys" "$dir/ca" "$dir/mirror" "$dir/logs" "$dir/run" "$dir/hosts"
  # From here on, a failure leaves a half-started environment: `stop` removes whatever exists.
  # shellcheck disable=SC2064 # $dir is fixed now
  trap "log 'start failed: cleaning up'; cmd_stop '$dir' >/dev/null 2>&1 || true" EXIT

  ssh-keygen -q -t ed25519 -N '' -C "edge-e2e admin" -f "$dir/keys/admin"
  ssh-keygen -q -t ed25519 -N '' -C "edge-e2e route-sync" -f "$dir/keys/sync"
  make_ca "$dir/ca"
  go_env
  start_network
  timed "host-side services (mirror, pebble, challtestsrv, backend)" start_services "$dir"
  for ((i = 1; i <= n; i++)); do
    add_dns_record "edge-$i.mynodeone.test" "$SUBNET_PREFIX.$((10 + i))"
    add_dns_record "demo.edge-$i.mynodeone.test" "$SUBNET_PREFIX.$((10 + i))"
  done
  timed "prepare $n hosts" prepare_hosts "$dir" "$n"
  local boot=$SECONDS
  for ((i = 1; i <= n; i++)); do boot_host "$dir" "$i"; done
  for ((i = 1; i <= n; i++)); do wait_for_host "$dir" "$i"; done
  log "boot $n hosts (in parallel, until systemd reports running): $((SECONDS - boot))s"
  write_env_json "$dir" "$n"
  trap - EXIT
  log "started $n hosts in $((SECONDS - start))s; environment: $dir/env.json"
}

# ----------------------------------------------------------------------------------------------------- stop

stop_pid_file() {
  local file=$1 pid deadline=$((SECONDS + 30))
  pid=$(cat "$file" 2>/dev/null) || return 0
  rm -f -- "$file"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 0
  # systemd-nspawn turns SIGTERM into an orderly shutdown of the container (SIGRTMIN+3 to its systemd).
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      log "pid $pid ($(basename "$file" .pid)) ignored SIGTERM for 30s: killing it"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
}

cmd_stop() {
  (($# == 1)) || die "usage: $0 stop <dir>"
  ((EUID == 0)) || die "stop needs root"
  local dir=$1 file host netns stopping=()
  [[ -d "$dir" ]] || die "no such directory: $dir"
  # The hosts shut down in parallel (each an orderly systemd shutdown), then the services.
  for file in "$dir"/run/edge-*.pid; do
    if [[ -e "$file" ]]; then
      stop_pid_file "$file" &
      stopping+=("$!")
    fi
  done
  if ((${#stopping[@]} > 0)); then wait "${stopping[@]}"; fi
  for file in "$dir"/run/*.pid; do
    if [[ -e "$file" ]]; then stop_pid_file "$file"; fi
  done
  for host in "$dir"/hosts/edge-*; do
    [[ -d "$host" ]] || continue
    reap_host "${host##*/edge-}"
    if mountpoint -q "$host/root"; then umount "$host/root"; fi
    netns=mnedge-${host##*/edge-}
    if ip netns list | grep -qw "$netns"; then ip netns delete "$netns"; fi
    rm -rf -- "${host:?}/upper" "${host:?}/work"
  done
  if ip netns list | grep -qw "$PROBE_NETNS"; then ip netns delete "$PROBE_NETNS"; fi
  if ip link show "$BRIDGE" >/dev/null 2>&1; then ip link delete "$BRIDGE"; fi
  rm -rf -- "${dir:?}/run" "$dir/env.json" "$dir/mirror" "$dir/backend"
  log "stopped $dir (logs kept in $dir/logs)"
}

# Power host i off (an orderly systemd shutdown) and boot it again from the same root filesystem.
cmd_reboot() {
  (($# == 2)) || die "usage: $0 reboot <dir> <i>"
  ((EUID == 0)) || die "reboot needs root"
  local dir=$1 i=$2 start=$SECONDS
  [[ -f "$dir/run/edge-$i.pid" ]] || die "edge-$i of $dir is not running"
  stop_pid_file "$dir/run/edge-$i.pid"
  reap_host "$i"
  boot_host "$dir" "$i"
  wait_for_host "$dir" "$i"
  log "rebooted edge-$i in $((SECONDS - start))s"
}

main() {
  case "${1:-}" in
    build) cmd_build ;;
    start) shift && cmd_start "$@" ;;
    stop) shift && cmd_stop "$@" ;;
    reboot) shift && cmd_reboot "$@" ;;
    *) die "usage: $0 build | start <dir> [N] | stop <dir> | reboot <dir> <i>" ;;
  esac
}

main "$@"
