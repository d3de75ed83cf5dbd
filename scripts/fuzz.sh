#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Runs every cargo-fuzz target in fuzz/ for a bounded time.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Default: 60 seconds for each of wire, reassembly, parity, scanner, dimensions,
# seal, rtp_fit.
# Needs the nightly toolchain (rustup toolchain install nightly); installs
# cargo-fuzz if it is missing. Each target starts from the seeds in
# fuzz/seeds/<target>/, copied into the scratch corpus fuzz/corpus/<target>/
# (gitignored, kept between runs). A crash leaves its input in
# fuzz/artifacts/<target>/ and makes this script fail; replay it with
#   cargo +nightly fuzz run <target> fuzz/artifacts/<target>/<file>
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

secs="${1:-60}"
shift || true
if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    targets=(wire reassembly parity scanner dimensions seal rtp_fit)
fi
case "$secs" in
    '' | *[!0-9]*)
        echo "usage: $0 [SECONDS_PER_TARGET] [TARGET...]" >&2
        exit 2
        ;;
esac

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install --locked cargo-fuzz
fi

for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    cp -n "seeds/$t/"* "corpus/$t/" 2>/dev/null || true
    echo "== fuzz target $t: ${secs}s"
    cargo +nightly fuzz run "$t" "corpus/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1
done
