#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Floods a UDP port with hostile udpjpeg datagrams from spoofed sources.

Only for a network namespace of the test's own: it sends raw IPv4 packets
to 127.0.0.1 with source addresses spread over 127.0.0.0/8 (loopback inside
that namespace). Needs root (a raw socket). Standard library only.

Prints one line: "sent N datagrams from M sources in S s".
"""

import argparse
import random
import socket
import struct
import time


def forged(rng):
    kind = rng.choice(b"SCE")
    image_id = rng.randrange(65536)
    r = rng.randrange(6)
    if r == 0:  # too short
        return rng.randbytes(rng.randrange(6))
    if r == 1:  # unknown kind
        return bytes([rng.randrange(97, 123)]) + rng.randbytes(4 + rng.randrange(100))
    if r == 2:  # E at chunk 65535
        return struct.pack("!cHH", b"E", image_id, 65535) + rng.randbytes(1 + rng.randrange(1395))
    if r == 3:  # well-formed middle chunks of a few frames: they fill memory
        return struct.pack("!cHH", b"C", rng.randrange(8), 1 + rng.randrange(760)) + rng.randbytes(1395)
    if r == 4:  # large
        return struct.pack("!cHH", bytes([kind]), image_id, rng.randrange(65536)) + rng.randbytes(8000)
    chunk = 0 if kind == ord("S") else rng.randrange(1, 300)
    return struct.pack("!cHH", bytes([kind]), rng.randrange(8), chunk) + rng.randbytes(1 + rng.randrange(1400))


def sealed(rng):
    """A sealed datagram (PROTOCOL.md section 3) of an attacker without the
    key: a valid clear header (kind K, a known cipher, a random session,
    start time now, a counter) and random ciphertext and tag."""
    header = b"K" + bytes([1 + rng.randrange(2)]) + rng.randbytes(16)
    header += struct.pack("!QQ", int(time.time()), rng.randrange(1 << 20))
    return header + rng.randbytes(17 + rng.randrange(1350))


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def packet(src, sport, dst, dport, payload, ident):
    udp_len = 8 + len(payload)
    udp = struct.pack("!HHHH", sport, dport, udp_len, 0) + payload
    total = 20 + udp_len
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, ident & 0xFFFF, 0, 64,
                     socket.IPPROTO_UDP, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return ip + udp


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--count", type=int, default=2_000_000)
    ap.add_argument("--sources", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sealed", action="store_true",
                    help="send forged sealed datagrams instead of forged plain ones")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    sources = [(bytes([127, 1 + i // 62500 % 254, i // 250 % 250, 1 + i % 250]), 1024 + i % 60000)
               for i in range(args.sources)]
    dst = socket.inet_aton("127.0.0.1")
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    start = time.monotonic()
    sent = 0
    while sent < args.count and time.monotonic() - start < args.seconds:
        src, sport = sources[rng.randrange(len(sources))]
        payload = sealed(rng) if args.sealed else forged(rng)
        p = packet(src, sport, dst, args.port, payload, sent)
        try:
            s.sendto(p, ("127.0.0.1", 0))
        except OSError:
            time.sleep(0.001)
            continue
        sent += 1
    print(f"sent {sent} datagrams from {len(sources)} sources in {time.monotonic() - start:.1f} s")


if __name__ == "__main__":
    main()
