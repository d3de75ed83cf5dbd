#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Receives udpjpeg `sce` datagrams (S/C/E chunks) and writes each complete
frame to --out-dir as frame-00000.jpg, frame-00001.jpg, ... Standard
library only but for parity and the seal (below); a simple version of the
receiver rules of docs/PROTOCOL.md.

Frames are kept apart by sender address and image id. A frame is complete
when it holds its E chunk (chunk id k) and every chunk 0..k; chunk i starts
at byte i * P, P being the length of the non-final chunks. Complete frames
that start with FF D8 are written at once. Frames 1 to 64 ids behind the
last one written from the same sender are late and dropped; incomplete
frames older than a written one are given up.

Parity (F) chunks, when they come, rebuild frames that lost data chunks:
once a frame holds as many data and parity chunks as it has data chunks,
the RaptorQ decoder of the PyPI package `raptorq` (imported only then)
rebuilds it, and the frame is written if its CRC-32 matches.

With --key-file it takes only sealed datagrams that open under that key
(section 3 of docs/PROTOCOL.md, with the PyPI package `cryptography`, in
seal.py beside this script): every other datagram, a replay among them, is
dropped and counted before reassembly sees it.

Prints "port N" once bound (useful with --port 0), then exits after --count
frames or --timeout seconds, printing what it counted and the largest
datagram it received.
"""

import argparse
import pathlib
import zlib
import socket
import struct
import time


def rebuild(frame):
    """The frame from its data chunks and parity packets, or None."""
    import raptorq

    k, length, crc, t = frame["fec"]
    decoder = raptorq.Decoder.with_defaults(length, t)
    for i, payload in frame["chunks"].items():
        if i < k:
            packet = bytes([0]) + i.to_bytes(3, "big") + payload.ljust(t, b"\0")
            out = decoder.decode(packet)
            if out is not None:
                break
    else:
        out = None
        for packet in frame["parity"].values():
            out = decoder.decode(packet)
            if out is not None:
                break
    if out is None:
        return None
    out = bytes(out)[:length]
    return out if zlib.crc32(out) == crc else None


def receiver(a, counts):
    """A function returning the next (datagram, sender), or None at
    --timeout; it opens sealed datagrams with --key-file, and counts the
    largest datagram and what the seal drops."""
    opener = None
    if a.key_file is not None:
        import seal

        opener = seal.Opener(seal.read_key(a.key_file))
        counts.update(opener.counts)
    family = socket.AF_INET6 if ":" in a.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind((a.host, a.port))
    print(f"port {sock.getsockname()[1]}", flush=True)
    deadline = time.monotonic() + a.timeout

    def next_datagram():
        while (remaining := deadline - time.monotonic()) > 0:
            sock.settimeout(remaining)
            try:
                data, sender = sock.recvfrom(65535)
            except socket.timeout:
                return None
            counts["largest-datagram"] = max(counts["largest-datagram"], len(data))
            if opener is not None:
                data = opener.open(data)
                counts.update(opener.counts)
            if data is not None:
                return data, sender
        return None

    return next_datagram


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5000, help="0 picks a free port")
    p.add_argument("--out-dir", type=pathlib.Path, required=True)
    p.add_argument("--count", type=int, default=0, help="stop after this many frames (0 = no limit)")
    p.add_argument("--timeout", type=float, default=10.0, help="stop after this many seconds")
    p.add_argument("--key-file", type=pathlib.Path, help="take only datagrams sealed with this key")
    a = p.parse_args()

    a.out_dir.mkdir(parents=True, exist_ok=True)
    counts = {"largest-datagram": 0}
    pending = {}  # (sender, image id) -> {"chunks": {id: payload}, "end": k or None}
    last = {}     # sender -> id of the last frame written
    written = invalid = late = lost = 0
    next_datagram = receiver(a, counts)
    while (written < a.count or a.count == 0) and (got := next_datagram()):
        data, sender = got
        if len(data) < 6 or data[:1] not in (b"S", b"C", b"E", b"F"):
            invalid += 1
            continue
        kind, image_id, chunk_id = struct.unpack("!cHH", data[:5])
        if kind == b"F":
            if len(data) < 22:
                invalid += 1
                continue
            _, image_id, index, _count, k, length, crc = struct.unpack("!cHHHHII", data[:17])
            chunk_id = None
        if (kind == b"S") != (chunk_id == 0) and kind != b"E":
            invalid += 1
            continue
        if sender in last and 0 <= (last[sender] - image_id) % 65536 <= 64:
            late += 1  # late (or a chunk of the frame already written)
            continue
        frame = pending.setdefault((sender, image_id),
                                   {"chunks": {}, "end": None, "parity": {}, "fec": None})
        if kind == b"F":
            frame["fec"] = (k, length, crc, len(data) - 21)
            frame["parity"].setdefault(index, data[17:])
            if len(frame["chunks"]) + len(frame["parity"]) >= k:
                jpeg = rebuild(frame)
                if jpeg is not None:
                    del pending[(sender, image_id)]
                    (a.out_dir / f"frame-{written:05d}.jpg").write_bytes(jpeg)
                    written += 1
                    last[sender] = image_id
            continue
        if kind == b"E":
            if frame["end"] not in (None, chunk_id):
                invalid += 1
                continue
            frame["end"] = chunk_id
        frame["chunks"].setdefault(chunk_id, data[5:])

        k = frame["end"]
        if k is None or len(frame["chunks"]) != k + 1 or any(i not in frame["chunks"] for i in range(k + 1)):
            continue
        p_len = len(frame["chunks"][0]) if k > 0 else None
        parts = [frame["chunks"][i] for i in range(k + 1)]
        del pending[(sender, image_id)]
        if any(len(x) != p_len for x in parts[:-1]) or (p_len and len(parts[-1]) > p_len):
            invalid += 1
            continue
        jpeg = b"".join(parts)
        if jpeg[:2] != b"\xff\xd8":
            invalid += 1
            continue
        (a.out_dir / f"frame-{written:05d}.jpg").write_bytes(jpeg)
        written += 1
        last[sender] = image_id
        # Incomplete frames of this sender that are now late are given up.
        for key in [k for k in pending if k[0] == sender and (image_id - k[1]) % 65536 <= 64]:
            del pending[key]
            lost += 1
    extra = "".join(f" {k} {v}" for k, v in counts.items())
    print(f"frames {written} lost {lost + len(pending)} late-chunks {late} invalid {invalid}{extra}",
          flush=True)


if __name__ == "__main__":
    main()
