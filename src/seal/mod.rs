// SPDX-License-Identifier: MPL-2.0
//! Sealed datagrams (docs/PROTOCOL.md, "Sealed datagrams"): each datagram
//! of the `sce` format, parity chunks included, encrypted and authenticated
//! on its own with an AEAD under a per-session key, so that a datagram that
//! authenticates is an ordinary chunk and reassembly does not change.
//!
//! Only standard constructions, composed: HKDF-SHA256 derives the session
//! key from the shared key, AES-256-GCM or ChaCha20-Poly1305 (from `ring`)
//! seals each datagram with the clear header as associated data and a
//! nonce made of the datagram counter, and a sliding bitmap (RFC 6479)
//! refuses replays.
//!
//! ```text
//! udpjpegpay key-file=cam.key ! udpsink host=192.0.2.10 port=5000
//! udpsrc port=5000 ! udpjpegdepay key-file=cam.key ! queue ! jpegdec ! autovideosink
//! ```

mod header;
mod key;
mod opener;
mod sealer;
mod sessions;
mod window;

#[cfg(test)]
mod tests_open;

pub use header::{HEADER_LEN, Header, Malformed, SessionId};
pub use key::{Key, KeyError, KeyFile};
pub use opener::{Opened, Opener, Rejected, TRIAL_BURST, TRIALS_PER_SECOND};
pub use sealer::{Exhausted, Sealer};
pub use sessions::{IDLE_NS, SESSION_BYTES};
pub use window::{Seen, WINDOW};

use ring::aead::{self, LessSafeKey, Nonce, UnboundKey};
use ring::hkdf;

/// The kind byte of a sealed datagram, outside the `sce` kinds (S, C, E, F).
pub const KIND: u8 = b'K';
/// The AEAD tag at the end of every sealed datagram.
pub const TAG_LEN: usize = 16;
/// Bytes a seal adds to a datagram: the clear header and the tag.
pub const OVERHEAD: usize = HEADER_LEN + TAG_LEN;
/// The largest sealed datagram opened (the largest UDP payload is 65,507).
pub const MAX_DATAGRAM: usize = 65_535;
/// HKDF's info: this version string, then the cipher id.
pub const INFO: &[u8] = b"udpjpeg seal v1";

/// The AEAD a sender seals with; the id is on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cipher {
    Aes256Gcm,
    ChaCha20Poly1305,
}

impl Cipher {
    pub fn id(self) -> u8 {
        match self {
            Cipher::Aes256Gcm => 1,
            Cipher::ChaCha20Poly1305 => 2,
        }
    }

    pub fn from_id(id: u8) -> Option<Cipher> {
        match id {
            1 => Some(Cipher::Aes256Gcm),
            2 => Some(Cipher::ChaCha20Poly1305),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Cipher::Aes256Gcm => "aes-256-gcm",
            Cipher::ChaCha20Poly1305 => "chacha20-poly1305",
        }
    }

    fn algorithm(self) -> &'static aead::Algorithm {
        match self {
            Cipher::Aes256Gcm => &aead::AES_256_GCM,
            Cipher::ChaCha20Poly1305 => &aead::CHACHA20_POLY1305,
        }
    }

    /// AES-256-GCM where the CPU has AES and carry-less multiply
    /// instructions (x86 with AES-NI, ARMv8 with the crypto extensions, as
    /// a Raspberry Pi 5), else ChaCha20-Poly1305 (a Raspberry Pi 3 or 4).
    pub fn auto() -> Cipher {
        if has_aes_instructions() {
            Cipher::Aes256Gcm
        } else {
            Cipher::ChaCha20Poly1305
        }
    }
}

#[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
fn has_aes_instructions() -> bool {
    std::is_x86_feature_detected!("aes") && std::is_x86_feature_detected!("pclmulqdq")
}

#[cfg(target_arch = "aarch64")]
fn has_aes_instructions() -> bool {
    std::arch::is_aarch64_feature_detected!("aes")
        && std::arch::is_aarch64_feature_detected!("pmull")
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "x86", target_arch = "aarch64")))]
fn has_aes_instructions() -> bool {
    false
}

/// The wall clock in seconds since 1970 (0 before it): a session's start
/// time, and what `max-session-age` compares it with.
pub fn wall_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The key of one session: HKDF-SHA256 with the shared key as input key
/// material, the session id as salt and [`INFO`] followed by the cipher id
/// as info, 32 bytes long.
pub fn session_key(key: &Key, cipher: Cipher, session: &SessionId) -> LessSafeKey {
    let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, &session.0);
    let prk = salt.extract(key.bytes());
    let info = [INFO, &[cipher.id()]];
    let okm = prk
        .expand(&info, cipher.algorithm())
        .expect("32 bytes is within HKDF-SHA256's output limit");
    LessSafeKey::new(UnboundKey::from(okm))
}

/// The nonce of datagram `counter`: four zero bytes, then the counter
/// big-endian. Counters never repeat within a session, nor do nonces.
fn nonce(counter: u64) -> Nonce {
    let mut n = [0u8; aead::NONCE_LEN];
    n[4..].copy_from_slice(&counter.to_be_bytes());
    Nonce::assume_unique_for_key(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cipher_ids_round_trip_and_others_are_unknown() {
        for c in [Cipher::Aes256Gcm, Cipher::ChaCha20Poly1305] {
            assert_eq!(Cipher::from_id(c.id()), Some(c));
        }
        for id in [0u8, 3, 0x53, 255] {
            assert_eq!(Cipher::from_id(id), None);
        }
    }

    #[test]
    fn session_keys_differ_by_session_and_cipher() {
        // Seal one plaintext under the derived keys: equal keys would give
        // equal ciphertexts.
        let key = Key::from_hex(&"11".repeat(32)).unwrap();
        let seal = |c: Cipher, s: u8| {
            let k = session_key(&key, c, &SessionId([s; 16]));
            let mut b = *b"same plaintext";
            let tag = k
                .seal_in_place_separate_tag(nonce(0), aead::Aad::empty(), &mut b)
                .unwrap();
            (b, tag.as_ref().to_vec())
        };
        assert_ne!(seal(Cipher::Aes256Gcm, 1), seal(Cipher::Aes256Gcm, 2));
        assert_ne!(
            seal(Cipher::Aes256Gcm, 1).1,
            seal(Cipher::ChaCha20Poly1305, 1).1
        );
        assert_eq!(seal(Cipher::Aes256Gcm, 1), seal(Cipher::Aes256Gcm, 1));
    }
}
