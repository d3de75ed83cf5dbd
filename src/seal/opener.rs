// SPDX-License-Identifier: MPL-2.0
//! The receiving side: checks a sealed datagram's header, its session's age
//! and replay window, then authenticates and decrypts it. Only a datagram
//! that authenticates changes anything (a session remembered, a counter
//! marked); one that does not costs one derivation at most, allocates
//! nothing and leaves no trace but the caller's counters. Datagrams are
//! decrypted where they are, so nothing is copied either.

use std::fmt;
use std::num::NonZeroUsize;

use ring::aead::{Aad, LessSafeKey};

use super::sessions::{Session, Sessions};
use super::window::{ReplayWindow, Seen};
use super::{HEADER_LEN, Header, Key, Malformed, nonce, session_key};

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
    /// A session not remembered, while such datagrams come faster than
    /// [`TRIALS_PER_SECOND`]: not tried (a flood of forgeries).
    Throttled,
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
            Rejected::Throttled => write!(
                f,
                "a new session, while new sessions come faster than {TRIALS_PER_SECOND} a \
                 second (forgeries?): not tried"
            ),
            Rejected::NoRoom => write!(
                f,
                "a new session, but every session remembered is live: raise max-senders"
            ),
        }
    }
}

/// A datagram that authenticated: its plain datagram (a part of the sealed
/// one, decrypted where it was), and its session.
#[derive(Debug)]
pub struct Opened<'a> {
    pub plaintext: &'a [u8],
    pub header: Header,
    /// This datagram started the session's life in the table.
    pub new_session: bool,
}

/// Unknown sessions tried (a key derived, a datagram opened) per second at
/// most, after a burst of [`TRIAL_BURST`]: a flood of forged sessions then
/// costs the receiver about 1 ms of CPU a second in derivations, and a
/// real new session is still tried within a few of its datagrams.
pub const TRIALS_PER_SECOND: u64 = 2000;
pub const TRIAL_BURST: u64 = 64;

/// The budget of trials: a token bucket (one number and a time, whatever
/// arrives).
#[derive(Debug)]
struct Trials {
    tokens: u64,
    refilled: u64,
}

impl Trials {
    const NS_PER_TOKEN: u64 = 1_000_000_000 / TRIALS_PER_SECOND;

    fn take(&mut self, now: u64) -> bool {
        let earned = now.saturating_sub(self.refilled) / Self::NS_PER_TOKEN;
        if earned > 0 {
            self.tokens = (self.tokens + earned).min(TRIAL_BURST);
            self.refilled += earned * Self::NS_PER_TOKEN;
        }
        let granted = self.tokens > 0;
        self.tokens -= u64::from(granted);
        granted
    }
}

pub struct Opener {
    key: Key,
    sessions: Sessions,
    /// `max-session-age` in seconds, if set.
    max_age: Option<u64>,
    trials: Trials,
}

impl Opener {
    /// Remembers at most `max_sessions` sessions; refuses sessions older
    /// than `max_age` seconds if set.
    pub fn new(key: Key, max_sessions: NonZeroUsize, max_age: Option<u64>) -> Opener {
        Opener {
            key,
            sessions: Sessions::new(max_sessions),
            max_age,
            trials: Trials {
                tokens: TRIAL_BURST,
                refilled: 0,
            },
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

    /// Opens `datagram` where it is (its bytes after the header are
    /// overwritten, whether it opens or not), received when the wall clock
    /// read `wall_s` seconds since 1970 and the monotonic clock `now` ns.
    pub fn open<'d>(
        &mut self,
        datagram: &'d mut [u8],
        wall_s: u64,
        now: u64,
    ) -> Result<Opened<'d>, Rejected> {
        let header = Header::parse(datagram).map_err(Rejected::Malformed)?;
        if let Some(max) = self.max_age {
            let age = wall_s.saturating_sub(header.start);
            if age > max {
                return Err(Rejected::TooOld { age });
            }
        }
        let (new_session, len) = match self.sessions.peek_mut(&header.session) {
            Some(session) => {
                let len = open_known(session, &header, datagram)?;
                session.last_heard = now;
                self.sessions.heard(&header.session);
                (false, len)
            }
            None => (true, self.open_new(&header, datagram, now)?),
        };
        Ok(Opened {
            plaintext: &datagram[HEADER_LEN..HEADER_LEN + len],
            header,
            new_session,
        })
    }

    /// A datagram of a session not remembered: derives its key, and
    /// remembers the session only once the datagram authenticates.
    /// Returns the plain datagram's length.
    fn open_new(
        &mut self,
        header: &Header,
        datagram: &mut [u8],
        now: u64,
    ) -> Result<usize, Rejected> {
        if self.sessions.forgotten(header.start) {
            return Err(Rejected::Forgotten);
        }
        if !self.trials.take(now) {
            return Err(Rejected::Throttled);
        }
        let key = session_key(&self.key, header.cipher, &header.session);
        let len = decrypt(&key, header, datagram)?;
        let session = Session {
            key,
            cipher: header.cipher,
            start: header.start,
            window: ReplayWindow::starting_at(header.counter),
            last_heard: now,
        };
        self.sessions
            .admit(header.session, session, now)
            .map_err(|_| Rejected::NoRoom)?;
        Ok(len)
    }
}

/// A datagram of a remembered session: refused before decrypting if its
/// header cannot be the session's or its counter was seen; returns the
/// plain datagram's length.
fn open_known(
    session: &mut Session,
    header: &Header,
    datagram: &mut [u8],
) -> Result<usize, Rejected> {
    if header.cipher != session.cipher || header.start != session.start {
        return Err(Rejected::Unauthenticated);
    }
    match session.window.check(header.counter) {
        Seen::Fresh => {}
        Seen::Replayed | Seen::TooOld => return Err(Rejected::Replayed),
    }
    let len = decrypt(&session.key, header, datagram)?;
    session.window.mark(header.counter);
    Ok(len)
}

/// Decrypts `datagram` after its header, where it is; returns the plain
/// datagram's length.
fn decrypt(key: &LessSafeKey, header: &Header, datagram: &mut [u8]) -> Result<usize, Rejected> {
    let (head, body) = datagram.split_at_mut(HEADER_LEN);
    key.open_in_place(nonce(header.counter), Aad::from(&*head), body)
        .map(|plain| plain.len())
        .map_err(|_| Rejected::Unauthenticated)
}
