#!/usr/bin/env bash
# Installs the Pulumi CLI release this project pins (package-lock.json, @pulumi/pulumi's version) from Pulumi's
# download site, verified against the release's published sha256 checksums, into the layout the Automation
# API's PulumiCommand.install uses:
#   $PULUMI_HOME/versions/<version>/bin/*   the release's binaries (CLI, language hosts)
#   $PULUMI_HOME/bin/*                      links to them, where no other CLI is (put this directory on PATH)
# Re-running with the version installed does nothing. Machines without access to Pulumi's downloads build the
# CLI from Go modules instead: scripts/pulumi-toolchain.sh (docs/toolchain.md).
#
# Usage: install-pulumi.sh
#   PULUMI_HOME                     default ~/.pulumi
#   MYNODEONE_PULUMI_DOWNLOAD_BASE  default https://get.pulumi.com/releases/sdk (a mirror with the same layout)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/pulumi.sh
source scripts/lib/pulumi.sh

die() {
  echo "install-pulumi: $*" >&2
  exit 1
}

version=$(pulumi_pinned_version) || die "could not read the pinned version from package-lock.json"
home="${PULUMI_HOME:-$HOME/.pulumi}"
base="${MYNODEONE_PULUMI_DOWNLOAD_BASE:-https://get.pulumi.com/releases/sdk}"
# The checksums come from the same site as the tarball: only TLS makes them worth checking (plain HTTP only on
# loopback, for a local mirror).
[[ "$base" == https://* || "$base" =~ ^http://(127\.[0-9.]+|localhost|\[::1\])(:[0-9]+)?(/|$) ]] ||
  die "MYNODEONE_PULUMI_DOWNLOAD_BASE must be an https:// URL (got '$base')"
case "$(uname -s)/$(uname -m)" in
  Linux/x86_64) platform=linux-x64 ;;
  Linux/aarch64) platform=linux-arm64 ;;
  Darwin/x86_64) platform=darwin-x64 ;;
  Darwin/arm64) platform=darwin-arm64 ;;
  *) die "no Pulumi release for $(uname -s)/$(uname -m)" ;;
esac
target="$home/versions/$version"
if [[ -x "$target/bin/pulumi" ]] && [[ "$("$target/bin/pulumi" version 2>/dev/null)" == "v$version" ]]; then
  echo "install-pulumi: Pulumi v$version is installed in $target/bin"
else
  tarball="pulumi-v$version-$platform.tar.gz"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  echo "--- downloading $base/$tarball"
  curl -fsSL --proto '=https,http' --retry 3 -o "$work/$tarball" "$base/$tarball" ||
    die "could not download $base/$tarball"
  curl -fsSL --proto '=https,http' --retry 3 -o "$work/checksums.txt" "$base/pulumi-$version-checksums.txt" ||
    die "could not download $base/pulumi-$version-checksums.txt"
  expected=$(awk -v f="$tarball" '$2 == f || $2 == "*" f { print $1 }' "$work/checksums.txt")
  [[ "$expected" =~ ^[0-9a-f]{64}$ ]] || die "pulumi-$version-checksums.txt lists no sha256 for $tarball"
  actual=$(sha256sum "$work/$tarball" | cut -d' ' -f1)
  [[ "$actual" == "$expected" ]] ||
    die "sha256 mismatch for $tarball (expected $expected, got $actual): nothing was installed"
  mkdir -p "$work/unpacked"
  tar -xzf "$work/$tarball" -C "$work/unpacked"
  [[ -x "$work/unpacked/pulumi/pulumi" ]] || die "$tarball holds no pulumi/pulumi"
  unpacked_version=$("$work/unpacked/pulumi/pulumi" version 2>/dev/null || true)
  [[ "$unpacked_version" == "v$version" ]] || die "$tarball holds Pulumi '$unpacked_version', not v$version"
  mkdir -p "$home/versions"
  rm -rf "$target.partial"
  mkdir -p "$target.partial"
  mv "$work/unpacked/pulumi" "$target.partial/bin"
  rm -rf "$target"
  mv "$target.partial" "$target"
  echo "install-pulumi: installed Pulumi v$version (sha256 $actual) into $target/bin"
fi
# $PULUMI_HOME/bin is also where Pulumi's own installer puts its binaries: a file that is not one of our links
# is someone's CLI of another version, left alone (the project's scripts use versions/<version>/bin directly).
mkdir -p "$home/bin"
kept=()
for binary in "$target"/bin/*; do
  [[ -x "$binary" ]] || continue
  link="$home/bin/$(basename "$binary")"
  if [[ -e "$link" && ! -L "$link" ]]; then
    kept+=("$link")
  else
    ln -sfn "$binary" "$link"
  fi
done
if ((${#kept[@]})); then
  echo "install-pulumi: left your own ${kept[*]} in place; this project's scripts use $target/bin"
else
  echo "install-pulumi: add $home/bin to PATH"
fi
