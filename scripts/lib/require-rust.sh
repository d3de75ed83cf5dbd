#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Checks that cargo and rustc exist and that rustc is at least the
# `rust-version` of Cargo.toml, and says how to get a current toolchain
# with rustup when not (Debian 12's own rustc is 1.63, far too old; its
# compile errors would not say so). Sourced by every script that compiles;
# run on its own it checks and exits 0 or 1.
#
#   source scripts/lib/require-rust.sh && require_rust

require_rust() {
    local root rustup_line need have
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    rustup_line="curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh"
    need=$(sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' "$root/Cargo.toml")
    if ! command -v cargo >/dev/null 2>&1 || ! command -v rustc >/dev/null 2>&1; then
        printf '%s\n' "error: Rust (cargo and rustc) is not installed; this project needs Rust $need or newer." \
            "Install a current toolchain with rustup:" "  $rustup_line" \
            "then open a new shell (or run \`source ~/.cargo/env\`) and run this again." >&2
        return 1
    fi
    have=$(rustc --version | sed -n 's/^rustc \([0-9][0-9.]*\).*/\1/p')
    if [ -z "$have" ] || ! rust_version_at_least "$have" "$need"; then
        printf '%s\n' "error: rustc ${have:-(unknown version)} is older than $need, the oldest Rust this project builds with." \
            "(Distribution packages lag behind: Debian 12 ships 1.63.) Install a current toolchain with rustup:" \
            "  $rustup_line" \
            "or, if rustup is installed already: rustup update stable" \
            "then make sure ~/.cargo/bin comes first on PATH (\`source ~/.cargo/env\`) and run this again." >&2
        return 1
    fi
}

# True when version $1 (x.y or x.y.z) is at least $2.
rust_version_at_least() {
    local a b i
    IFS=. read -r -a a <<<"$1"
    IFS=. read -r -a b <<<"$2"
    for i in 0 1 2; do
        if ((10#${a[i]:-0} != 10#${b[i]:-0})); then
            ((10#${a[i]:-0} > 10#${b[i]:-0}))
            return
        fi
    done
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    require_rust
fi
