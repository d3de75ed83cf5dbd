#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Receives frames the way the widely copied OpenCV UDP tutorial does: it
first drains datagrams until one whose first byte is 1 (the end of a frame),
then appends segments until the one numbered 1 and writes the frame to
--out-dir as frame-00000.jpg, ... (the tutorial decodes and shows it).
Standard library only.

Prints "port N" once bound (useful with --port 0), then exits after --count
frames or --timeout seconds.
"""

import argparse
import pathlib
import socket
import struct
import time

MAX_DGRAM = 2**16


def dump_buffer(s):
    """Emptying buffer frame"""
    while True:
        seg, addr = s.recvfrom(MAX_DGRAM)
        if struct.unpack("B", seg[0:1])[0] == 1:
            break


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=12345, help="0 picks a free port")
    p.add_argument("--out-dir", type=pathlib.Path, required=True)
    p.add_argument("--count", type=int, default=0, help="stop after this many frames (0 = no limit)")
    p.add_argument("--timeout", type=float, default=10.0, help="stop after this many seconds")
    a = p.parse_args()

    a.out_dir.mkdir(parents=True, exist_ok=True)
    family = socket.AF_INET6 if ":" in a.host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((a.host, a.port))
    print(f"port {s.getsockname()[1]}", flush=True)
    s.settimeout(a.timeout)
    deadline = time.monotonic() + a.timeout

    dat = b""
    written = 0
    try:
        dump_buffer(s)  # as the tutorial does: the first frame heard is dropped
        while (written < a.count or a.count == 0) and time.monotonic() < deadline:
            s.settimeout(max(0.001, deadline - time.monotonic()))
            seg, addr = s.recvfrom(MAX_DGRAM)
            if struct.unpack("B", seg[0:1])[0] > 1:
                dat += seg[1:]
            else:
                dat += seg[1:]
                (a.out_dir / f"frame-{written:05d}.jpg").write_bytes(dat)
                written += 1
                dat = b""
    except socket.timeout:
        pass
    print(f"frames {written}", flush=True)


if __name__ == "__main__":
    main()
