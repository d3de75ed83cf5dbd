#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Checks both ways of installing the plugin for real, then removes it again
# so that the tests that follow load the build under test, not an installed
# copy. Needs root (or sudo); CI runs it before the tests.
#
# 1. The Debian package (scripts/build-deb.sh): `dpkg -i`, then plain
#    gst-inspect-1.0 (no GST_PLUGIN_PATH, a fresh registry, no per-user
#    plugins) finds all three elements in the system plugin folder;
#    `apt-get remove` removes it and gst-inspect-1.0 no longer finds them.
# 2. scripts/install-plugin.sh --system, then --system --uninstall, and the
#    per-user install and --uninstall, each checked the same way; the
#    installed files must carry no debug info.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'check-install: %s\n' "$*"; }
die() { printf 'check-install: error: %s\n' "$*" >&2; exit 1; }

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
elements=(udpjpegpay udpjpegdepay mjpegsplit)
system_dir=$(pkg-config --variable=pluginsdir gstreamer-1.0)
scratch=$(mktemp -d)
user_data="$scratch/data" # an empty per-user data folder (XDG_DATA_HOME)
mkdir -p "$user_data"
trap 'rm -rf "$scratch"' EXIT

# gst-inspect-1.0 as a fresh user would run it: no GST_PLUGIN_PATH, a new
# registry file (no cached scan), and per-user plugins from $user_data.
inspect() {
    env -u GST_PLUGIN_PATH -u GST_PLUGIN_SYSTEM_PATH \
        GST_REGISTRY="$(mktemp -d -p "$scratch")/registry.bin" \
        XDG_DATA_HOME="$user_data" gst-inspect-1.0 "$@"
}

# The plugin file gst-inspect-1.0 loads udpjpeg from, resolved (the
# registry may name /lib/... where /lib links to /usr/lib).
loaded_from() {
    inspect udpjpeg | sed -n 's/^ *Filename *//p' | xargs -r readlink -f
}

# Each element is found, from the plugin file $1. (Plain gst-inspect-1.0
# rather than --exists, which also demands a plugin version of at least
# GStreamer's own, 1.22, unless given --atleast-version.)
expect_found() {
    local e
    for e in "${elements[@]}"; do
        inspect "$e" >/dev/null || die "gst-inspect-1.0 does not find $e"
    done
    [ "$(loaded_from)" = "$(readlink -f "$1")" ] ||
        die "udpjpeg is loaded from '$(loaded_from)', not $1"
    inspect udpjpeg | grep -E '^ +(Filename|Version) ' || true
    say "gst-inspect-1.0 finds ${elements[*]} in $1"
}

expect_gone() {
    local e
    for e in "${elements[@]}"; do
        if inspect "$e" >/dev/null 2>&1; then die "gst-inspect-1.0 still finds $e"; fi
    done
    say "gst-inspect-1.0 no longer finds ${elements[*]}"
}

expect_stripped() {
    if readelf -S "$1" | grep -q '\.debug_'; then die "$1 carries debug info"; fi
    say "$1: $(du -k "$1" | cut -f1) KiB, no .debug_* sections"
}

check_deb() {
    local deb
    deb=$(bash scripts/build-deb.sh | tail -n 1)
    [ -f "$deb" ] || die "scripts/build-deb.sh did not print a .deb path (got '$deb')"
    say "package $deb: $(du -k "$deb" | cut -f1) KiB"
    dpkg-deb --info "$deb" | grep -E '^ (Package|Version|Architecture|Depends|Installed-Size):'
    dpkg-deb --contents "$deb"
    # Should this script stop half-way, the package must not stay installed.
    trap '$sudo env DEBIAN_FRONTEND=noninteractive apt-get remove -y gst-plugin-udpjpeg >/dev/null 2>&1; rm -rf "$scratch"' EXIT
    $sudo dpkg -i "$deb"
    expect_found "$system_dir/libgstudpjpeg.so"
    expect_stripped "$system_dir/libgstudpjpeg.so"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get remove -y gst-plugin-udpjpeg
    trap 'rm -rf "$scratch"' EXIT
    [ ! -e "$system_dir/libgstudpjpeg.so" ] || die "apt-get remove left $system_dir/libgstudpjpeg.so"
    expect_gone
}

check_install_plugin() {
    local user_file="$user_data/gstreamer-1.0/plugins/libgstudpjpeg.so"
    trap 'bash scripts/install-plugin.sh --system --uninstall >/dev/null 2>&1; rm -rf "$scratch"' EXIT
    bash scripts/install-plugin.sh --system
    expect_found "$system_dir/libgstudpjpeg.so"
    expect_stripped "$system_dir/libgstudpjpeg.so"
    bash scripts/install-plugin.sh --system --uninstall
    trap 'rm -rf "$scratch"' EXIT
    expect_gone
    XDG_DATA_HOME="$user_data" bash scripts/install-plugin.sh
    expect_found "$user_file"
    expect_stripped "$user_file"
    XDG_DATA_HOME="$user_data" bash scripts/install-plugin.sh --uninstall
    expect_gone
}

if inspect udpjpegpay >/dev/null 2>&1; then
    die "udpjpegpay is found before anything is installed (remove the installed copy first: $(loaded_from))"
fi
say "--- the Debian package"
check_deb
say "--- scripts/install-plugin.sh"
check_install_plugin
say "all checks passed; nothing of the plugin stays installed"
