# SPDX-License-Identifier: MPL-2.0
"""Sealed datagrams (`K`), as docs/PROTOCOL.md section 3 specifies them,
for the sce peers' --key-file: a Sealer for a sender, an Opener for a
receiver. Uses the PyPI package `cryptography` (Debian: python3-cryptography)
for HKDF-SHA256, AES-256-GCM and ChaCha20-Poly1305.

    sealer = Sealer(read_key(path), CIPHERS["chacha20-poly1305"])
    sock.sendto(sealer.seal(plain), addr)

    opener = Opener(read_key(path))
    plain = opener.open(datagram)   # None: dropped, counted in opener.counts
"""

import os
import struct
import time

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

CIPHERS = {"aes-256-gcm": 1, "chacha20-poly1305": 2}
HEADER = 34    # kind, cipher id, session id, start, counter (3.2)
OVERHEAD = 50  # the clear header and the 16-byte tag
WINDOW = 4032  # counters in use in the replay window (3.5)
QUIET = 5.0    # seconds: a session heard within it is never forgotten (3.5)
HEX = set(b"0123456789abcdefABCDEF")


def read_key(path):
    """The 32-byte key of a key file: 64 hex digits and at most one
    trailing newline, nothing else (3.1)."""
    text = path.read_bytes()
    if text.endswith(b"\n"):
        text = text[:-1]
    if len(text) != 64 or not set(text) <= HEX:
        raise SystemExit(f"{path}: a key file holds 64 hex digits and an optional newline")
    return bytes.fromhex(text.decode())


def session_aead(key, session_id, cipher_id):
    """The AEAD under the session key: HKDF-SHA256 of the key, salt the
    session id, info "udpjpeg seal v1" and the cipher id (3.3)."""
    info = b"udpjpeg seal v1" + bytes([cipher_id])
    session_key = HKDF(hashes.SHA256(), 32, salt=session_id, info=info).derive(key)
    return (AESGCM if cipher_id == 1 else ChaCha20Poly1305)(session_key)


def nonce(counter):
    return bytes(4) + struct.pack("!Q", counter)


class Sealer:
    """One session: a new id and start time per Sealer, counter from 0."""

    def __init__(self, key, cipher_id):
        self.cipher_id = cipher_id
        self.session_id = os.urandom(16)
        self.start = int(time.time())
        self.aead = session_aead(key, self.session_id, cipher_id)
        self.counter = 0

    def seal(self, plain):
        header = (b"K" + bytes([self.cipher_id]) + self.session_id
                  + struct.pack("!QQ", self.start, self.counter))
        sealed = header + self.aead.encrypt(nonce(self.counter), plain, header)
        self.counter += 1
        return sealed


class ReplayWindow:
    """RFC 6479: 64 blocks of 64 bits, one bit per counter; a counter
    WINDOW or more behind the highest seen is refused (3.5)."""

    def __init__(self, counter):
        self.blocks = [0] * 64
        self.top = counter
        self.mark(counter)

    def seen(self, counter):
        """True when the counter was seen already or is behind the window."""
        if counter > self.top:
            return False
        if self.top - counter >= WINDOW:
            return True
        return bool(self.blocks[(counter >> 6) & 63] >> (counter & 63) & 1)

    def mark(self, counter):
        if counter > self.top:
            # The blocks the window slides over are cleared (at most all 64).
            first, last = (self.top >> 6) + 1, counter >> 6
            for block in range(first, min(last, first + 63) + 1):
                self.blocks[block & 63] = 0
            self.top = counter
        self.blocks[(counter >> 6) & 63] |= 1 << (counter & 63)


class Session:
    def __init__(self, cipher_id, start, aead, counter, now):
        self.cipher_id, self.start, self.aead = cipher_id, start, aead
        self.window = ReplayWindow(counter)
        self.heard = now


class Opener:
    """The receiver's steps of section 3.5 (without a maximum session age):
    only a datagram that authenticates changes any state."""

    def __init__(self, key, max_sessions=64):
        self.key = key
        self.max_sessions = max_sessions
        self.sessions = {}          # session id -> Session
        self.forgotten_start = -1   # the latest start of a forgotten session
        self.counts = {"unauthenticated": 0, "replayed": 0, "no-room": 0}

    def drop(self, why):
        self.counts[why] += 1
        return None

    def open(self, data):
        """The plain datagram, or None when it is dropped (and counted)."""
        if len(data) <= OVERHEAD or len(data) > 65535 or data[0] != ord("K") \
                or data[1] not in (1, 2):
            return self.drop("unauthenticated")
        header, cipher_id, session_id = data[:HEADER], data[1], data[2:18]
        start, counter = struct.unpack("!QQ", data[18:HEADER])
        session = self.sessions.get(session_id)
        if session is not None:
            if (session.cipher_id, session.start) != (cipher_id, start):
                return self.drop("unauthenticated")
            if session.window.seen(counter):
                return self.drop("replayed")
            aead = session.aead
        elif start <= self.forgotten_start:
            return self.drop("replayed")
        else:
            aead = session_aead(self.key, session_id, cipher_id)
        try:
            plain = aead.decrypt(nonce(counter), data[HEADER:], header)
        except InvalidTag:
            return self.drop("unauthenticated")
        return plain if self.authenticated(session, session_id, cipher_id, start, aead,
                                           counter) else self.drop("no-room")

    def authenticated(self, session, session_id, cipher_id, start, aead, counter):
        """Step 6: marks the counter and the time heard; a new session is
        remembered if there is room. False: no room."""
        now = time.monotonic()
        if session is None:
            if len(self.sessions) >= self.max_sessions and not self.forget_one(now):
                return False
            self.sessions[session_id] = Session(cipher_id, start, aead, counter, now)
            return True
        session.window.mark(counter)
        session.heard = now
        return True

    def forget_one(self, now):
        """Forgets the least recently heard session if it has been quiet
        for QUIET seconds; False when every session is live."""
        session_id = min(self.sessions, key=lambda s: self.sessions[s].heard)
        oldest = self.sessions[session_id]
        if now - oldest.heard < QUIET:
            return False
        del self.sessions[session_id]
        self.forgotten_start = max(self.forgotten_start, oldest.start)
        return True
