#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Installs what the project needs, builds it and runs every test, the
# ignored ones included: those need root (network namespaces, raw sockets),
# Chromium, Xvfb and xdotool, curl, ffmpeg (with ffprobe; the viewer,
# player and RTSP client tests), python3 with python3-cryptography and the
# PyPI package raptorq, or python3-opencv and python3-gi, and a plain
# `cargo test` skips them. Here a missing tool fails the test that needs
# it, with a message naming the package to install. Run as root for the
# namespace tests.
#
# Tests run with G_DEBUG=fatal_warnings, so a GLib warning or critical
# anywhere fails the test that caused it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --test
export G_DEBUG=fatal_warnings
# The build first, so that a compile error shows on its own before any
# test runs. (Tests that run gst-launch-1.0 load the plugin file that
# `cargo test` builds, in target/debug/deps.)
cargo build --locked
cargo test --locked -- --include-ignored
