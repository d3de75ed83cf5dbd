#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Sends JPEG files the way the widely copied OpenCV UDP tutorial does: each
frame is cut into datagrams of at most --max-datagram bytes, and the first
byte of each counts down from the number of segments to 1. Standard library
only (the tutorial encodes camera frames with OpenCV; here they are files).

The GStreamer side uses udpjpegpay wire-format=countdown mtu=<max-datagram>.
"""

import argparse
import math
import pathlib
import socket
import struct
import time

MAX_DGRAM = 2**16
MAX_IMAGE_DGRAM = MAX_DGRAM - 64  # the tutorial's 65472 payload bytes


class FrameSegment:
    def __init__(self, sock, port, addr, max_image_dgram):
        self.s = sock
        self.port = port
        self.addr = addr
        self.max_image_dgram = max_image_dgram

    def udp_frame(self, dat):
        size = len(dat)
        count = math.ceil(size / self.max_image_dgram)
        if count > 255:
            raise SystemExit(f"a frame of {size} bytes needs {count} segments; at most 255")
        array_pos_start = 0
        while count:
            array_pos_end = min(size, array_pos_start + self.max_image_dgram)
            self.s.sendto(struct.pack("B", count) + dat[array_pos_start:array_pos_end],
                          (self.addr, self.port))
            array_pos_start = array_pos_end
            count -= 1


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=12345)
    p.add_argument("--max-datagram", type=int, default=MAX_IMAGE_DGRAM + 1,
                   help="whole datagram size, countdown byte included (default 65473)")
    p.add_argument("--fps", type=float, default=30.0)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--files", nargs="+", type=pathlib.Path)
    src.add_argument("--dir", type=pathlib.Path, help="send every *.jpg in it, sorted by name")
    a = p.parse_args()

    files = a.files if a.files else sorted(a.dir.glob("*.jpg"))
    if not files:
        p.error("no JPEG files to send")
    family = socket.AF_INET6 if ":" in a.host else socket.AF_INET
    fs = FrameSegment(socket.socket(family, socket.SOCK_DGRAM), a.port, a.host, a.max_datagram - 1)
    for path in files:
        fs.udp_frame(path.read_bytes())
        time.sleep(1.0 / a.fps)
    print(f"sent {len(files)} frames")


if __name__ == "__main__":
    main()
