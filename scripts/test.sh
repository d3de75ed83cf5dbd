#!/usr/bin/env bash
# Installs what the project needs, builds it and runs every test.
# Tests run with G_DEBUG=fatal_warnings, so a GLib warning or critical
# anywhere fails the test that caused it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
export G_DEBUG=fatal_warnings
cargo test --locked
