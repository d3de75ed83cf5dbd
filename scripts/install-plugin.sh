#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Builds the plugin in release mode and installs a stripped copy where
# GStreamer looks for plugins, so gst-launch-1.0 and gst-inspect-1.0 find it
# without GST_PLUGIN_PATH; or removes that copy.
#
#   scripts/install-plugin.sh                      for this user (~/.local/share/gstreamer-1.0/plugins)
#   scripts/install-plugin.sh --system             for everyone (pkg-config's pluginsdir; sudo when not root)
#   scripts/install-plugin.sh --uninstall          removes this user's copy
#   scripts/install-plugin.sh --system --uninstall removes the system copy
#
# The release profile keeps line-level debug info (`debug = 1`) for the
# benchmark's profiling (BENCH_PROFILE), which makes target/release's file
# about 15 times larger than the code; the installed copy has it stripped.
set -euo pipefail
cd "$(dirname "$0")/.."
here=$PWD

scope=user
action=install
for arg in "$@"; do
    case $arg in
    --system) scope=system ;;
    --uninstall) action=uninstall ;;
    -h | --help) sed -n '3,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install-plugin: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
    esac
done

sudo=""
if [ $scope = system ]; then
    dest=$(pkg-config --variable=pluginsdir gstreamer-1.0) || {
        echo "install-plugin: pkg-config does not know gstreamer-1.0; run scripts/install-deps.sh" >&2
        exit 1
    }
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
else
    dest="${XDG_DATA_HOME:-$HOME/.local/share}/gstreamer-1.0/plugins"
fi
file="$dest/libgstudpjpeg.so"

if [ $action = uninstall ]; then
    if [ -e "$file" ]; then
        $sudo rm -f "$file"
        echo "Removed $file"
    else
        echo "Nothing to remove: $file does not exist"
    fi
    other="${XDG_DATA_HOME:-$HOME/.local/share}/gstreamer-1.0/plugins/libgstudpjpeg.so"
    [ $scope = user ] && other="$(pkg-config --variable=pluginsdir gstreamer-1.0 2>/dev/null)/libgstudpjpeg.so"
    if [ -e "$other" ]; then
        echo "Note: another copy remains at $other (remove it with$([ $scope = user ] && echo ' --system') --uninstall)"
    fi
    exit 0
fi

source "$here/scripts/lib/require-rust.sh"
require_rust || exit 1
cargo build --release --locked
built="${CARGO_TARGET_DIR:-$here/target}/release/libgstudpjpeg.so"
$sudo mkdir -p "$dest"
$sudo install -m 644 "$built" "$file"
$sudo strip --strip-unneeded "$file"
echo "Installed $file ($(du -k "$file" | cut -f1) KiB, stripped; the build was $(du -k "$built" | cut -f1) KiB)"
if gst-inspect-1.0 udpjpeg >/dev/null 2>&1; then
    echo "gst-inspect-1.0 udpjpeg finds it."
else
    echo "install-plugin: warning: gst-inspect-1.0 udpjpeg does not find it" >&2
fi
