#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Installs the Debian packages the project needs (scripts/apt-packages.txt;
# with --test also scripts/apt-packages-test.txt and the Python package the
# parity tests use) and checks for a recent enough Rust toolchain. Safe to
# run again: it skips apt when every package is already installed.
#
#   scripts/install-deps.sh          to build and run the plugin and examples
#   scripts/install-deps.sh --test   to run every test as well
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
lists=("$here/apt-packages.txt")
if [ "${1:-}" = "--test" ]; then
  lists+=("$here/apt-packages-test.txt")
fi
mapfile -t packages < <(cat "${lists[@]}" | grep -v '^\s*#' | grep -v '^\s*$')

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "Installing: ${missing[*]}"
  $sudo apt-get update
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

# cargo and a rustc at least Cargo.toml's rust-version, or a message with
# the rustup line (rather than a compile error later on).
source "$here/lib/require-rust.sh"
require_rust || exit 1

# The parity-aware Python peer of the tests uses RaptorQ from PyPI.
if [ "${1:-}" = "--test" ] && ! python3 -c 'import raptorq' >/dev/null 2>&1; then
  echo "Installing the Python package raptorq (for the parity tests)"
  python3 -m pip install --quiet 'raptorq==2.0.0' ||
    python3 -m pip install --quiet --break-system-packages 'raptorq==2.0.0'
fi
