// SPDX-License-Identifier: MPL-2.0
//! The sending side of a session: seals each datagram under the session
//! key with the next counter.

use ring::aead::{Aad, LessSafeKey};

use super::{Cipher, HEADER_LEN, Header, Key, SessionId, TAG_LEN, nonce, session_key};

/// The session has used every counter (2^64 - 1 datagrams): start a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exhausted;

pub struct Sealer {
    key: LessSafeKey,
    /// The header of the next datagram.
    pub(super) next: Header,
}

impl Sealer {
    /// A session `session` of `cipher`, started at `start` (seconds since
    /// 1970 on the sender's clock).
    pub fn new(key: &Key, cipher: Cipher, session: SessionId, start: u64) -> Sealer {
        Sealer {
            key: session_key(key, cipher, &session),
            next: Header {
                cipher,
                session,
                start,
                counter: 0,
            },
        }
    }

    /// The header the next datagram gets.
    pub fn next_header(&self) -> Header {
        self.next
    }

    /// One sealed datagram: the clear header, then `parts` (the plain
    /// datagram, in pieces) encrypted, then the tag. `parts` together are
    /// at most [`super::MAX_DATAGRAM`] bytes.
    pub fn seal(&mut self, parts: &[&[u8]]) -> Result<Vec<u8>, Exhausted> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let mut out = Vec::with_capacity(HEADER_LEN + len + TAG_LEN);
        out.resize(HEADER_LEN, 0);
        parts.iter().for_each(|p| out.extend_from_slice(p));
        self.seal_in_place(&mut out)?;
        Ok(out)
    }

    /// Seals `datagram` where it is: its first [`HEADER_LEN`] bytes are
    /// room for the clear header, the rest is the plain datagram (at most
    /// [`super::MAX_DATAGRAM`] bytes); the tag is appended (give it room
    /// for [`TAG_LEN`] more bytes to spare an allocation).
    pub fn seal_in_place(&mut self, datagram: &mut Vec<u8>) -> Result<(), Exhausted> {
        let header = self.next;
        self.next.counter = header.counter.checked_add(1).ok_or(Exhausted)?;
        let (head, body) = datagram.split_at_mut(HEADER_LEN);
        head.copy_from_slice(&header.write());
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce(header.counter), Aad::from(&*head), body)
            .expect("ring seals any input shorter than 64 GiB");
        datagram.extend_from_slice(tag.as_ref());
        Ok(())
    }
}
