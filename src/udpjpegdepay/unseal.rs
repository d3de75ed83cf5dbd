// SPDX-License-Identifier: MPL-2.0
//! Opening sealed datagrams in `udpjpegdepay`, before anything else looks
//! at them: only a datagram that authenticates goes on to the `source`
//! filter and the reassembler, as the plain datagram it carries.
//!
//! ```text
//! gst-launch-1.0 udpsrc port=5000 ! udpjpegdepay key-file=cam.key max-session-age=900 \
//!     ! queue ! jpegdec ! videoconvert ! autovideosink
//! ```

use crate::seal::{self, Malformed, Opener, Rejected};

/// What the seal dropped, by cause, for the stats.
#[derive(Debug, Default, Clone, Copy)]
pub struct SealStats {
    /// Datagrams that do not authenticate: forged, damaged, sealed with
    /// another key, malformed, or plain while a key is set (and datagrams
    /// of new sessions not tried during a flood of them).
    pub unauthenticated: u64,
    /// Datagrams whose counter was seen already or is behind the window,
    /// and datagrams of unknown sessions older than one forgotten.
    pub replayed: u64,
    /// Datagrams of sessions older than `max-session-age`.
    pub too_old: u64,
    /// Datagrams of a new session that found every remembered one live.
    pub no_room: u64,
    /// Sealed datagrams received without a key.
    pub sealed_without_key: u64,
    /// Sessions that authenticated and were remembered.
    pub sessions_started: u64,
}

impl SealStats {
    pub fn count(&mut self, rejected: Rejected) {
        match rejected {
            Rejected::Malformed(_) | Rejected::Unauthenticated | Rejected::Throttled => {
                self.unauthenticated += 1
            }
            Rejected::Replayed | Rejected::Forgotten => self.replayed += 1,
            Rejected::TooOld { .. } => self.too_old += 1,
            Rejected::NoRoom => self.no_room += 1,
        }
    }
}

/// What to tell the user about a dropped datagram.
pub fn explain(rejected: Rejected) -> String {
    match rejected {
        Rejected::Malformed(Malformed::NotSealed) => {
            "it is not sealed, and this receiver has a key: set the same key-file on the \
             sender"
                .to_string()
        }
        other => other.to_string(),
    }
}

/// Whether `buffer` starts like a sealed datagram.
pub fn looks_sealed(buffer: &gst::BufferRef) -> bool {
    // copy_to_slice asserts that the bytes exist: an empty datagram has none.
    let mut first = [0u8; 1];
    buffer.size() >= 1 && buffer.copy_to_slice(0, &mut first).is_ok() && first[0] == seal::KIND
}

/// An opened datagram: the plain datagram (the sealed buffer itself,
/// decrypted where it was and trimmed to it), and whether its session is
/// new.
pub struct Unsealed {
    pub buffer: gst::Buffer,
    pub new_session: Option<seal::Header>,
}

/// Why a buffer did not open.
pub enum NotOpened {
    /// It could not be mapped writable, or trimmed to the plain datagram.
    Buffer,
    Rejected(Rejected),
}

/// Opens `buffer` where it is: a buffer that is ours alone (as udpsrc's
/// are) is neither copied nor reallocated, so a datagram that does not
/// open allocates nothing here.
pub fn open(
    opener: &mut Opener,
    buffer: gst::Buffer,
    (wall_s, now): (u64, u64),
) -> Result<Unsealed, NotOpened> {
    let mut buffer = buffer;
    let b = buffer.make_mut();
    let (new_session, len) = {
        let mut map = b.map_writable().map_err(|_| NotOpened::Buffer)?;
        let opened = opener
            .open(&mut map, wall_s, now)
            .map_err(NotOpened::Rejected)?;
        (
            opened.new_session.then_some(opened.header),
            opened.plaintext.len(),
        )
    };
    // The plain datagram follows the clear header.
    let start = seal::HEADER_LEN;
    b.resize(start..start + len)
        .map_err(|_| NotOpened::Buffer)?;
    Ok(Unsealed {
        buffer,
        new_session,
    })
}
