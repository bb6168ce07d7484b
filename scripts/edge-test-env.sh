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
readonly DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
readonly HOST_PACKAGES=systemd,systemd-sysv,dbus,openssh-server,nftables,curl,ca-certificates,sudo,iproute2,logrotate
readonly BOOT_TIMEOUT_SECONDS=120

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
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
  sed -n 's/^export const DEFAULT_TRAEFIK_VERSION = "\(v[0-9.]*\)";$/\1/p' "$ROOT/components/config/defaults.ts"
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
  # Pebble's own test configuration ships in its module; `start` writes its config from it.
  go mod download -json "github.com/letsencrypt/pebble/v2@$PEBBLE_VERSION" >/dev/null
}

cmd_build() {
  ((EUID == 0)) || die "build needs root (debootstrap)"
  mkdir -p "$CACHE" "$BIN"
  local version label
  version=$(traefik_version)
  [[ -n "$version" ]] || die "could not read DEFAULT_TRAEFIK_VERSION from components/config/defaults.ts"
  label=$(upgrade_label "$version")
  timed "root filesystem" build_rootfs
  go_env
  timed "traefik $version" build_traefik "$version" "$version"
  # Only the version stamp differs (a re-link, seconds): the upgrade test needs a second release.
  timed "traefik $label (relabelled $version)" build_traefik "$version" "$label"
  timed "pebble" build_pebble
}
