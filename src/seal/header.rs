// SPDX-License-Identifier: MPL-2.0
//! The clear header of a sealed datagram: kind, cipher id, session id,
//! session start time and datagram counter, 34 bytes, all of it the AEAD's
//! associated data.

use std::fmt;

use super::{Cipher, KIND, MAX_DATAGRAM, TAG_LEN};

/// Bytes of the clear header.
pub const HEADER_LEN: usize = 34;

/// A session: 16 bytes from the operating system's random source, new each
/// time a sender starts.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(pub [u8; 16]);

impl SessionId {
    pub fn random() -> Result<SessionId, getrandom::Error> {
        let mut id = [0u8; 16];
        getrandom::fill(&mut id)?;
        Ok(SessionId(id))
    }
}

/// Logs show the first 8 bytes, enough to tell sessions apart.
impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0[..8].iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({self})")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub cipher: Cipher,
    pub session: SessionId,
    /// The sender's wall clock when the session started, in seconds since
    /// 1970-01-01 UTC.
    pub start: u64,
    /// The datagram's number in its session, from 0.
    pub counter: u64,
}

/// Why a datagram is not a well-formed sealed datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    NotSealed,
    Length(usize),
    UnknownCipher(u8),
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::NotSealed => write!(f, "not sealed"),
            Malformed::Length(n) => write!(f, "a sealed datagram of {n} bytes"),
            Malformed::UnknownCipher(id) => write!(f, "unknown cipher id {id}"),
        }
    }
}

impl Header {
    pub fn write(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0] = KIND;
        h[1] = self.cipher.id();
        h[2..18].copy_from_slice(&self.session.0);
        h[18..26].copy_from_slice(&self.start.to_be_bytes());
        h[26..34].copy_from_slice(&self.counter.to_be_bytes());
        h
    }

    /// The header of `datagram`, which must be long enough to hold it, a
    /// tag and at least one byte of ciphertext, and no longer than
    /// [`MAX_DATAGRAM`].
    pub fn parse(datagram: &[u8]) -> Result<Header, Malformed> {
        if datagram.first() != Some(&KIND) {
            return Err(Malformed::NotSealed);
        }
        let n = datagram.len();
        if !(HEADER_LEN + TAG_LEN < n && n <= MAX_DATAGRAM) {
            return Err(Malformed::Length(n));
        }
        let cipher = Cipher::from_id(datagram[1]).ok_or(Malformed::UnknownCipher(datagram[1]))?;
        let u64_at = |i: usize| u64::from_be_bytes(datagram[i..i + 8].try_into().expect("8 bytes"));
        Ok(Header {
            cipher,
            session: SessionId(datagram[2..18].try_into().expect("16 bytes")),
            start: u64_at(18),
            counter: u64_at(26),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            cipher: Cipher::ChaCha20Poly1305,
            session: SessionId(*b"0123456789abcdef"),
            start: 1_796_000_000,
            counter: 0x0102_0304_0506_0708,
        }
    }

    #[test]
    fn the_layout_is_the_specified_one() {
        let h = header().write();
        assert_eq!(h[0], b'K');
        assert_eq!(h[1], 2);
        assert_eq!(&h[2..18], b"0123456789abcdef");
        assert_eq!(&h[18..26], &1_796_000_000u64.to_be_bytes());
        assert_eq!(&h[26..34], &[1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn parse_reads_what_write_wrote() {
        let mut d = header().write().to_vec();
        d.extend_from_slice(&[0; TAG_LEN + 1]);
        assert_eq!(Header::parse(&d), Ok(header()));
    }

    #[test]
    fn short_long_foreign_and_unknown_cipher_datagrams_are_malformed() {
        let mut d = header().write().to_vec();
        d.extend_from_slice(&[0; TAG_LEN]);
        assert_eq!(Header::parse(&d), Err(Malformed::Length(50)));
        d.resize(MAX_DATAGRAM + 1, 0);
        assert_eq!(Header::parse(&d), Err(Malformed::Length(MAX_DATAGRAM + 1)));
        d.truncate(100);
        d[1] = 3;
        assert_eq!(Header::parse(&d), Err(Malformed::UnknownCipher(3)));
        d[0] = b'S';
        assert_eq!(Header::parse(&d), Err(Malformed::NotSealed));
        assert_eq!(Header::parse(&[]), Err(Malformed::NotSealed));
    }
}
