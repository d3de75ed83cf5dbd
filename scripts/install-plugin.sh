#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Builds the plugin in release mode and copies it where GStreamer looks for
# a user's plugins, so gst-launch-1.0 and gst-inspect-1.0 find it without
# GST_PLUGIN_PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
dest="${XDG_DATA_HOME:-$HOME/.local/share}/gstreamer-1.0/plugins"
mkdir -p "$dest"
cp target/release/libgstudpjpeg.so "$dest/"
echo "Installed $dest/libgstudpjpeg.so"
gst-inspect-1.0 udpjpeg >/dev/null && echo "gst-inspect-1.0 udpjpeg finds it."
