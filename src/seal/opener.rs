// SPDX-License-Identifier: MPL-2.0
//! The receiving side: checks a sealed datagram's header, its session's age
//! and replay window, then authenticates and decrypts it. Only a datagram
//! that authenticates changes anything (a session remembered, a counter
//! marked); one that does not costs one derivation at most, allocates
//! nothing and leaves no trace but the caller's counters.

use std::fmt;
use std::num::NonZeroUsize;

use ring::aead::{Aad, LessSafeKey};

use super::sessions::{Session, Sessions};
use super::window::{ReplayWindow, Seen};
use super::{HEADER_LEN, Header, Key, MAX_DATAGRAM, Malformed, nonce, session_key};

/// Why a sealed datagram is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// Not a well-formed sealed datagram.
    Malformed(Malformed),
    /// Its session started longer ago than `max-session-age` (seconds).
    TooOld { age: u64 },
    /// Its counter was taken already, or is too far behind the window.
    Replayed,
    /// An unknown session that started no later than a session forgotten
    /// for room: perhaps a replay whose window is gone.
    Forgotten,
    /// The tag does not match: another key, or a forgery.
    Unauthenticated,
    /// It authenticated, but every session remembered is live.
    NoRoom,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejected::Malformed(m) => write!(f, "malformed: {m}"),
            Rejected::TooOld { age } => write!(
                f,
                "its session started {age} s ago, longer than max-session-age (check both clocks)"
            ),
            Rejected::Replayed => write!(f, "replayed (its counter was seen already)"),
            Rejected::Forgotten => write!(
                f,
                "a session started before one forgotten for room (a replay, or a sender whose \
                 clock is behind: raise max-senders)"
            ),
            Rejected::Unauthenticated => write!(
                f,
                "it does not authenticate: check that the sender uses the same key"
            ),
            Rejected::NoRoom => write!(
                f,
                "a new session, but every session remembered is live: raise max-senders"
            ),
        }
    }
}

/// A datagram that authenticated: its plain datagram, and its session.
#[derive(Debug)]
pub struct Opened<'a> {
    pub plaintext: &'a [u8],
    pub header: Header,
    /// This datagram started the session's life in the table.
    pub new_session: bool,
}

pub struct Opener {
    key: Key,
    sessions: Sessions,
    /// `max-session-age` in seconds, if set.
    max_age: Option<u64>,
    /// Where datagrams are decrypted, allocated once.
    scratch: Vec<u8>,
}

impl Opener {
    /// Remembers at most `max_sessions` sessions; refuses sessions older
    /// than `max_age` seconds if set.
    pub fn new(key: Key, max_sessions: NonZeroUsize, max_age: Option<u64>) -> Opener {
        Opener {
            key,
            sessions: Sessions::new(max_sessions),
            max_age,
            scratch: Vec::with_capacity(MAX_DATAGRAM),
        }
    }

    pub fn set_limits(&mut self, max_sessions: NonZeroUsize, max_age: Option<u64>) {
        self.sessions.resize(max_sessions);
        self.max_age = max_age;
    }

    /// Sessions remembered.
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Opens `datagram`, received when the wall clock read `wall_s` seconds
    /// since 1970 and the monotonic clock `now` ns.
    pub fn open(&mut self, datagram: &[u8], wall_s: u64, now: u64) -> Result<Opened<'_>, Rejected> {
        let header = Header::parse(datagram).map_err(Rejected::Malformed)?;
        if let Some(max) = self.max_age {
            let age = wall_s.saturating_sub(header.start);
            if age > max {
                return Err(Rejected::TooOld { age });
            }
        }
        let new_session = match self.sessions.peek_mut(&header.session) {
            Some(session) => {
                open_known(session, &header, datagram, &mut self.scratch)?;
                session.last_heard = now;
                self.sessions.heard(&header.session);
                false
            }
            None => {
                self.open_new(&header, datagram, now)?;
                true
            }
        };
        Ok(Opened {
            plaintext: &self.scratch,
            header,
            new_session,
        })
    }

    /// A datagram of a session not remembered: derives its key, and
    /// remembers the session only once the datagram authenticates.
    fn open_new(&mut self, header: &Header, datagram: &[u8], now: u64) -> Result<(), Rejected> {
        if self.sessions.forgotten(header.start) {
            return Err(Rejected::Forgotten);
        }
        let key = session_key(&self.key, header.cipher, &header.session);
        decrypt(&key, header, datagram, &mut self.scratch)?;
        let session = Session {
            key,
            cipher: header.cipher,
            start: header.start,
            window: ReplayWindow::starting_at(header.counter),
            last_heard: now,
        };
        self.sessions
            .admit(header.session, session, now)
            .map_err(|_| Rejected::NoRoom)
    }
}

/// A datagram of a remembered session: refused before decrypting if its
/// header cannot be the session's or its counter was seen.
fn open_known(
    session: &mut Session,
    header: &Header,
    datagram: &[u8],
    scratch: &mut Vec<u8>,
) -> Result<(), Rejected> {
    if header.cipher != session.cipher || header.start != session.start {
        return Err(Rejected::Unauthenticated);
    }
    match session.window.check(header.counter) {
        Seen::Fresh => {}
        Seen::Replayed | Seen::TooOld => return Err(Rejected::Replayed),
    }
    decrypt(&session.key, header, datagram, scratch)?;
    session.window.mark(header.counter);
    Ok(())
}

/// Decrypts `datagram` into `scratch` (which keeps its capacity), leaving
/// the plain datagram there.
fn decrypt(
    key: &LessSafeKey,
    header: &Header,
    datagram: &[u8],
    scratch: &mut Vec<u8>,
) -> Result<(), Rejected> {
    scratch.clear();
    scratch.extend_from_slice(&datagram[HEADER_LEN..]);
    let aad = Aad::from(&datagram[..HEADER_LEN]);
    match key.open_in_place(nonce(header.counter), aad, scratch) {
        Ok(plain) => {
            let n = plain.len();
            scratch.truncate(n);
            Ok(())
        }
        Err(_) => {
            scratch.clear();
            Err(Rejected::Unauthenticated)
        }
    }
}
