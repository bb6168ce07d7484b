#!/usr/bin/env bash
# Download a pinned Traefik release, verify its sha256 against the release's checksums file, and only then
# install the binary with an atomic rename. On any failure the install directory is left exactly as it was.
#
#   fetch-traefik.sh <base-url> <version> [<arch>]   install <install-dir>/traefik (arch: detected if omitted)
#   fetch-traefik.sh --detect-arch                   print this machine's Traefik architecture name
#
# TRAEFIK_INSTALL_DIR (default /usr/local/bin) is where the binary goes; the tests point it at a temp dir.
# TRAEFIK_SHA256_PINS ("amd64=<hex>,arm64=<hex>", optional) pins the tarball's sha256 independently of the
# mirror: with a pin for this architecture, the release's checksums file must agree with it, so a mirror
# that swaps both the tarball and its checksums file is still caught.
# Work files live in a private temp dir under ${TMPDIR:-/var/tmp} (disk-backed: the release is ~200 MB
# unpacked, more than a small VPS's tmpfs /tmp may hold), removed on exit.
set -euo pipefail

die() {
  printf 'fetch-traefik: %s\n' "$*" >&2
  exit 1
}

# `uname -m` -> the architecture suffix of Traefik's linux release assets.
detect_arch() {
  local machine
  machine=$(uname -m)
  case "$machine" in
    x86_64 | amd64) echo amd64 ;;
    aarch64 | arm64) echo arm64 ;;
    armv7*) echo armv7 ;;
    armv6*) echo armv6 ;;
    i386 | i686) echo 386 ;;
    ppc64le | s390x | riscv64) echo "$machine" ;;
    *) die "unsupported CPU architecture '$machine' (Traefik's linux builds: amd64, arm64, armv7, armv6, 386, ppc64le, s390x, riscv64)" ;;
  esac
}

# Plain http is accepted only from a loopback mirror (the tests): from anywhere else the checksums file could
# be swapped in transit together with the tarball, which would make the verification worthless.
check_base_url() {
  case "$1" in
    https://*) ;;
    http://127.0.0.1:* | http://127.0.0.1/* | http://localhost:* | http://localhost/* | http://\[::1\]:*) ;;
    *) die "download base URL must be https:// (got '$1')" ;;
  esac
}

# Fails (with the downloader's own message) on any HTTP error status, so an error page is never mistaken for
# a file. Bounded: connect timeout, overall timeout, a few retries for transient errors.
download() {
  local url=$1 dest=$2
  if command -v curl >/dev/null 2>&1; then
    curl --fail --silent --show-error --location --proto-redir '=https' \
      --connect-timeout 20 --max-time 900 --retry 3 --output "$dest" "$url" ||
      die "download failed (curl exit $?): $url"
  elif command -v wget >/dev/null 2>&1; then
    wget --quiet --tries=3 --timeout=30 --output-document="$dest" "$url" ||
      die "download failed (wget exit $?): $url"
  else
    die "neither curl nor wget is installed"
  fi
}

if [[ "${1:-}" == "--detect-arch" ]]; then
  detect_arch
  exit 0
fi
(($# == 2 || $# == 3)) || die "usage: fetch-traefik.sh <base-url> <version> [<arch>] | --detect-arch"

base_url=${1%/}
version=$2
arch=${3:-$(detect_arch)}
install_dir=${TRAEFIK_INSTALL_DIR:-/usr/local/bin}

check_base_url "$base_url"
[[ "$version" =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?$ ]] || die "invalid Traefik version '$version' (expected vX.Y.Z)"
[[ "$arch" =~ ^[a-z0-9]+$ ]] || die "invalid architecture '$arch'"
[[ -d "$install_dir" ]] || die "install directory $install_dir does not exist"

tarball="traefik_${version}_linux_${arch}.tar.gz"
checksums="traefik_${version}_checksums.txt"

work=$(mktemp -d "${TMPDIR:-/var/tmp}/fetch-traefik.XXXXXX")
staged=""
cleanup() {
  rm -rf -- "$work"
  if [[ -n "$staged" ]]; then rm -f -- "$staged"; fi
}
trap cleanup EXIT

download "$base_url/$version/$checksums" "$work/$checksums"
download "$base_url/$version/$tarball" "$work/$tarball"

# sha256sum format: "<hex>  <name>" (or "<hex> *<name>" in binary mode).
mapfile -t expected < <(awk -v name="$tarball" '$2 == name || $2 == "*" name { print $1 }' "$work/$checksums" | sort -u)
((${#expected[@]} > 0)) || die "$checksums has no entry for $tarball: refusing to install an unverified binary; nothing was installed"
((${#expected[@]} == 1)) || die "$checksums lists conflicting checksums for $tarball; nothing was installed"
[[ "${expected[0]}" =~ ^[0-9a-f]{64}$ ]] || die "$checksums has a malformed sha256 for $tarball; nothing was installed"
pinned=""
IFS=',' read -r -a pins <<<"${TRAEFIK_SHA256_PINS:-}"
for pin in "${pins[@]}"; do
  if [[ "${pin%%=*}" == "$arch" ]]; then pinned=${pin#*=}; fi
done
[[ -z "$pinned" || "$pinned" == "${expected[0]}" ]] ||
  die "$checksums says ${expected[0]} for $tarball but the pinned sha256 is $pinned (edge.traefikSha256): refusing; nothing was installed"
actual=$(sha256sum "$work/$tarball" | cut -d ' ' -f 1)
[[ "$actual" == "${expected[0]}" ]] ||
  die "sha256 mismatch for $tarball: expected ${expected[0]}, got $actual; nothing was installed"

mkdir "$work/unpacked"
tar -xzf "$work/$tarball" -C "$work/unpacked" --no-same-owner traefik 2>"$work/tar.err" ||
  die "cannot unpack 'traefik' from $tarball ($(head -c 300 "$work/tar.err")); nothing was installed"
[[ -f "$work/unpacked/traefik" && ! -L "$work/unpacked/traefik" ]] ||
  die "'traefik' in $tarball is not a regular file; nothing was installed"

# Stage beside the target (same filesystem), then rename: the switch is atomic and a running Traefik keeps
# its old binary until it is restarted.
staged="$install_dir/.traefik.new.$$"
install -m 0755 "$work/unpacked/traefik" "$staged"
mv -f -- "$staged" "$install_dir/traefik"
staged=""
echo "installed traefik $version (linux/$arch) as $install_dir/traefik"
