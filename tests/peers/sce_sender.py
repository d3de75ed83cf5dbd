#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Sends JPEG files as udpjpeg `sce` datagrams (S/C/E chunks), like the
Python UDP webcam server scripts do. Standard library only, but for
parity and the seal (below).

Every datagram is struct.pack("!cHH", kind, image_id, chunk_id) + payload,
with exactly --packet-size payload bytes in every chunk but the last (so the
GStreamer side uses mtu = packet size + 5). Chunk 0 is S, the middle ones C,
the last E; a frame that fits in one chunk is a single E with chunk id 0.
The image id starts at a random value and goes up by one per frame.

With --fec-percent above 0 it also sends parity (F) chunks after each frame's
data chunks, as docs/PROTOCOL.md specifies: RaptorQ repair symbols from the
PyPI package `raptorq` (imported only then). --packet-size must then be a multiple of 8, and --drop-chunks
leaves out data chunks of every frame so that a receiver must rebuild them.

With --key-file it seals every datagram, parity included (section 3 of
docs/PROTOCOL.md, with the PyPI package `cryptography`, in seal.py beside
this script): one session per run, with --cipher. --mtu instead of
--packet-size sizes the chunks as the spec's senders do: P = mtu - 5, less
the seal's 50 bytes, and with parity floor((mtu - 21 [- 50]) / 8) * 8.

    sce_sender.py --host 127.0.0.1 --port 5000 --packet-size 1395 --dir frames/
    sce_sender.py --port 5000 --packet-size 1376 --fec-percent 20 --dir frames/
    sce_sender.py --port 5000 --mtu 1400 --key-file key --cipher chacha20-poly1305 --dir frames/
"""

import argparse
import math
import pathlib
import random
import socket
import struct
import time


def datagrams(frame, image_id, packet_size):
    chunks = [frame[i:i + packet_size] for i in range(0, len(frame), packet_size)]
    for chunk_id, payload in enumerate(chunks):
        if chunk_id == len(chunks) - 1:
            kind = b"E"
        elif chunk_id == 0:
            kind = b"S"
        else:
            kind = b"C"
        yield struct.pack("!cHH", kind, image_id, chunk_id) + payload


def parity_datagrams(frame, image_id, packet_size, percent, minimum):
    """F chunks: header (kind, image id, index, count, K, frame length,
    CRC-32) then a RaptorQ packet (4-byte payload id + repair symbol)."""
    import zlib
    import raptorq

    k = math.ceil(len(frame) / packet_size)
    m = max(math.ceil(k * percent / 100), minimum)
    packets = raptorq.Encoder.with_defaults(frame, packet_size).get_encoded_packets(m)
    repair = packets[k:]  # the first k are the source symbols (the data chunks)
    crc = zlib.crc32(frame)
    for j, packet in enumerate(repair):
        yield struct.pack("!cHHHHII", b"F", image_id, j, m, k, len(frame), crc) + bytes(packet)


def arguments():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5000)
    size = p.add_mutually_exclusive_group()
    size.add_argument("--packet-size", type=int,
                      help="payload bytes per data chunk (default 1395: mtu 1400 unsealed)")
    size.add_argument("--mtu", type=int, help="whole datagram size, as the spec's senders use it")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--fec-percent", type=int, default=0,
                   help="parity chunks as a percentage of data chunks (0 = none)")
    p.add_argument("--fec-min-parity", type=int, default=1)
    p.add_argument("--drop-chunks", default="",
                   help="comma-separated data chunk indices not to send, in every frame")
    p.add_argument("--key-file", type=pathlib.Path, help="seal every datagram with this key")
    p.add_argument("--cipher", choices=["aes-256-gcm", "chacha20-poly1305"],
                   default="aes-256-gcm", help="the AEAD that seals (with --key-file)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--files", nargs="+", type=pathlib.Path)
    src.add_argument("--dir", type=pathlib.Path, help="send every *.jpg in it, sorted by name")
    a = p.parse_args()
    a.packet_size = a.packet_size or packet_size(a)
    if not 1 <= a.packet_size <= 65507 - 5:
        p.error("--packet-size must be 1 to 65502")
    if a.fec_percent and (a.packet_size % 8 or a.packet_size > 65507 - 21):
        p.error("with --fec-percent, --packet-size must be a multiple of 8, at most 65486")
    return p, a


def packet_size(a):
    """P for --mtu (default 1400), as docs/PROTOCOL.md sections 1, 2 and 3.4 say."""
    room = (a.mtu or 1400) - (50 if a.key_file else 0)
    return (room - 21) // 8 * 8 if a.fec_percent else room - 5


class SealingSocket:
    """A UDP socket whose sendto seals each datagram first (one session)."""

    def __init__(self, sock, sealer):
        self.sock, self.sealer = sock, sealer

    def sendto(self, datagram, address):
        return self.sock.sendto(self.sealer.seal(datagram), address)


def open_socket(a):
    """The UDP socket to send with, sealing with --key-file."""
    family = socket.AF_INET6 if ":" in a.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    if a.key_file is None:
        return sock
    import seal

    return SealingSocket(sock, seal.Sealer(seal.read_key(a.key_file), seal.CIPHERS[a.cipher]))


def main():
    p, a = arguments()
    files = a.files if a.files else sorted(a.dir.glob("*.jpg"))
    if not files:
        p.error("no JPEG files to send")
    drop = {int(x) for x in a.drop_chunks.split(",") if x}

    sock = open_socket(a)
    image_id = random.randrange(65536)
    for path in files:
        frame = path.read_bytes()
        if frame[:2] != b"\xff\xd8":
            raise SystemExit(f"{path} is not a JPEG (no FF D8 at the start)")
        if len(frame) > 65536 * a.packet_size:
            raise SystemExit(f"{path} needs more than 65536 chunks")
        for i, d in enumerate(datagrams(frame, image_id, a.packet_size)):
            if i not in drop:
                sock.sendto(d, (a.host, a.port))
        if a.fec_percent:
            for d in parity_datagrams(frame, image_id, a.packet_size, a.fec_percent,
                                      a.fec_min_parity):
                sock.sendto(d, (a.host, a.port))
        image_id = (image_id + 1) % 65536
        time.sleep(1.0 / a.fps)
    print(f"sent {len(files)} frames")


if __name__ == "__main__":
    main()
