#!/usr/bin/env bash
# Installs what the project needs, builds it and runs every test.
# Tests run with G_DEBUG=fatal_warnings, so a GLib warning or critical
# anywhere fails the test that caused it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --test
export G_DEBUG=fatal_warnings
# The plugin file itself (target/debug/libgstudpjpeg.so): tests that run
# gst-launch-1.0 load it with GST_PLUGIN_PATH; `cargo test` alone builds
# only the rlib.
cargo build --locked
cargo test --locked
