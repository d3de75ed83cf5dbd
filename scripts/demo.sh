#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Demo of udpjpegpay / udpjpegdepay over 127.0.0.1 with the `sender` and
# `receiver` examples.
#
# - Installs the packages in scripts/apt-packages.txt (scripts/install-deps.sh:
#   apt, skipped when all are installed; checks that rustc is recent
#   enough, else prints the rustup line), builds the
#   examples in release mode.
# - Starts the receiver, then the sender for DEMO_SECONDS (default 10) from
#   /dev/video0 when it exists, else from a test pattern.
# - The receiver shows a window when a display exists, else writes the frames
#   to DEMO_OUTPUT_DIR (default target/demo-frames) and prints a statistics
#   line each second.
# - Stops by itself after DEMO_SECONDS, or on Ctrl+C.
#
# Environment: DEMO_SECONDS (10), DEMO_PORT (first free UDP port from 5000),
# DEMO_OUTPUT_DIR (target/demo-frames).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

say() { printf 'demo: %s\n' "$*"; }
die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }

seconds=${DEMO_SECONDS:-10}
[[ $seconds =~ ^[0-9]+$ ]] && ((seconds > 0)) ||
    die "DEMO_SECONDS must be a whole number of seconds above 0, not '$seconds'"
if [[ -n ${DEMO_PORT:-} ]] && ! { [[ $DEMO_PORT =~ ^[0-9]+$ ]] && ((10#$DEMO_PORT >= 1 && 10#$DEMO_PORT <= 65535)); }; then
    die "DEMO_PORT must be a UDP port from 1 to 65535, not '$DEMO_PORT'"
fi

# --- packages and Rust -----------------------------------------------------

# The project's installer: apt-get (through sudo when not root) for the
# packages of scripts/apt-packages.txt that dpkg-query does not list as
# installed, then a check that cargo exists and rustc is at least
# Cargo.toml's rust-version, which says how to get it with rustup.
bash scripts/install-deps.sh

# --- build ------------------------------------------------------------------

say "building the examples (release)"
cargo build --release --example sender --example receiver
bin="${CARGO_TARGET_DIR:-$root/target}/release/examples"

# --- settings ---------------------------------------------------------------


free_udp_port() {
    python3 - "$1" <<'EOF'
import socket, sys
start = int(sys.argv[1])
for port in range(start, min(start + 200, 65536)):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("0.0.0.0", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    sys.exit(0)
sys.exit(1)
EOF
}
if [[ -n ${DEMO_PORT:-} ]]; then
    port=$DEMO_PORT
else
    port=$(free_udp_port 5000) || die "no free UDP port from 5000 on; set DEMO_PORT"
fi

if [[ -e /dev/video0 ]]; then
    source_args=(--device /dev/video0)
    say "source: camera /dev/video0"
else
    source_args=(--test-pattern)
    say "source: test pattern (no /dev/video0)"
fi

output_dir=
if [[ -n ${DISPLAY:-} || -n ${WAYLAND_DISPLAY:-} ]]; then
    receiver_args=()
    say "display found: the receiver opens a window"
else
    output_dir=${DEMO_OUTPUT_DIR:-$root/target/demo-frames}
    mkdir -p "$output_dir"
    rm -f "$output_dir"/frame-[0-9]*.jpg
    receiver_args=(--output-dir "$output_dir")
    say "no display: the receiver writes frames to $output_dir"
fi

# --- run --------------------------------------------------------------------

# Children in their own process groups: a Ctrl+C at the terminal reaches only
# this script, whose trap forwards one SIGINT at a time (a first one stops a
# program cleanly, a second makes it quit at once).
set -m
receiver=
sender=
receiver_signalled=0
interrupted=0
on_signal() {
    interrupted=$((interrupted + 1))
    if ((interrupted == 1)); then
        echo
        say "Ctrl+C: stopping cleanly (Ctrl+C again quits at once)"
        # The sender first, so that the receiver gets every frame sent.
        if [[ -n $sender ]]; then
            kill -INT "$sender" 2>/dev/null || true
            return 0 # (a bare return would give the interrupted wait's status)
        fi
    fi
    kill -INT $sender $receiver 2>/dev/null || true
    receiver_signalled=1
}
trap on_signal INT TERM

# Waits for a child even when a trapped signal interrupts `wait`; its exit
# status goes to $rc.
wait_for() {
    while :; do
        rc=0
        wait "$1" || rc=$?
        if ((rc > 128)) && kill -0 "$1" 2>/dev/null; then
            continue # interrupted by our trap; the child runs on
        fi
        return 0
    done
}

# A sleep that Ctrl+C interrupts (an external command in the foreground would
# get the Ctrl+C itself under set -m).
pause() {
    sleep "$1" &
    wait $! || true
}

say "receiving and sending on 127.0.0.1:$port for $seconds s (Ctrl+C stops early)"
# --duration is a safety net should this script be killed without its trap.
"$bin/receiver" --port "$port" --address 127.0.0.1 --duration $((seconds + 30)) \
    "${receiver_args[@]}" &
receiver=$!
pause 1
if ! kill -0 "$receiver" 2>/dev/null; then
    wait_for "$receiver"
    die "the receiver stopped at once (exit $rc); see its message above"
fi

sender_rc=0
if ((interrupted == 0)); then
    "$bin/sender" --host 127.0.0.1 --port "$port" --duration "$seconds" "${source_args[@]}" &
    sender=$!
    wait_for "$sender"
    sender_rc=$rc
    sender=
    pause 0.5 # let the last datagrams land
fi
if ((receiver_signalled == 0)); then
    receiver_signalled=1
    kill -INT "$receiver" 2>/dev/null || true
fi
wait_for "$receiver"
receiver_rc=$rc
receiver=
trap - INT TERM

if ((interrupted >= 2)); then
    say "quit at once"
    exit 130
fi

((sender_rc == 0)) || die "the sender failed (exit $sender_rc)"
((receiver_rc == 0)) || die "the receiver failed (exit $receiver_rc)"

if [[ -n $output_dir ]]; then
    shopt -s nullglob
    frames=("$output_dir"/frame-*.jpg)
    if ((${#frames[@]} == 0)); then
        ((interrupted == 0)) || { say "stopped before any frame arrived"; exit 0; }
        die "no frames arrived in $output_dir"
    fi
    if command -v djpeg >/dev/null 2>&1; then
        djpeg "${frames[0]}" >/dev/null || die "${frames[0]} is not a valid JPEG"
    fi
    say "${#frames[@]} frames written to $output_dir (first: ${frames[0]##*/})"
fi
say "done"
