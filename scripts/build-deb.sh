#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Builds the Debian package of the plugin with cargo-deb (installing
# cargo-deb first when missing: it compiles for a few minutes, once) and
# prints its path: target/debian/gst-plugin-udpjpeg_<version>_<arch>.deb.
# The package puts the stripped plugin in GStreamer's plugin folder,
# /usr/lib/<debian tuple>/gstreamer-1.0 (see [package.metadata.deb] in
# Cargo.toml). Install it with `sudo dpkg -i <that path>` (or
# `sudo apt-get install ./<that path>`, which fetches missing dependencies),
# remove it with `sudo apt-get remove gst-plugin-udpjpeg`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/require-rust.sh
require_rust || exit 1
if ! cargo deb --version >/dev/null 2>&1; then
    echo "build-deb: installing cargo-deb (cargo install --locked cargo-deb)"
    cargo install --locked cargo-deb
fi
# --strip: the release profile keeps line tables (debug = 1) for profiling,
# which cargo-deb would otherwise keep in the package.
# --multiarch=same: usr/lib/... becomes usr/lib/<debian tuple>/...
deb=$(cargo deb --locked --strip --multiarch=same | tail -n 1)
echo "$deb"
