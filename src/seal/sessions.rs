// SPDX-License-Identifier: MPL-2.0
//! The sessions a receiver has authenticated: each one's key, replay window
//! and last hearing, at most a fixed number, least recently heard first out.
//!
//! Two rules keep a replay of recorded sessions from pushing out the live
//! one and then replaying it: a session heard within [`IDLE_NS`] is never
//! forgotten (a new session finds no room instead), and once a session is
//! forgotten, no unknown session that started at or before it is taken
//! (its datagrams could be replays whose window is gone).

use std::hash::RandomState;
use std::num::NonZeroUsize;

use lru::LruCache;
use ring::aead::LessSafeKey;

use super::window::ReplayWindow;
use super::{Cipher, SessionId};

/// A session heard within this long is live and is never forgotten: 5 s,
/// longer than the gap between frames of any camera worth watching.
pub const IDLE_NS: u64 = 5_000_000_000;

/// Bytes a remembered session takes, its table entry included, at most
/// (checked by a test against the types' sizes).
pub const SESSION_BYTES: usize = 1536;

pub(super) struct Session {
    pub(super) key: LessSafeKey,
    pub(super) cipher: Cipher,
    pub(super) start: u64,
    pub(super) window: ReplayWindow,
    pub(super) last_heard: u64,
}

/// An authenticated session for which there is no room: every session
/// remembered was heard within [`IDLE_NS`].
#[derive(Debug)]
pub(super) struct NoRoom;

pub(super) struct Sessions {
    table: LruCache<SessionId, Session, RandomState>,
    /// The latest start time of a session forgotten.
    floor: Option<u64>,
}

impl Sessions {
    pub(super) fn new(capacity: NonZeroUsize) -> Sessions {
        Sessions {
            table: LruCache::with_hasher(capacity, RandomState::new()),
            floor: None,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.table.len()
    }

    /// The session `id`, left where it is in the order of hearing.
    pub(super) fn peek_mut(&mut self, id: &SessionId) -> Option<&mut Session> {
        self.table.peek_mut(id)
    }

    /// Makes `id` the most recently heard, once a datagram of it
    /// authenticated.
    pub(super) fn heard(&mut self, id: &SessionId) {
        self.table.promote(id);
    }

    /// Whether an unknown session that started at `start` may be a replay
    /// of one forgotten.
    pub(super) fn forgotten(&self, start: u64) -> bool {
        self.floor.is_some_and(|floor| start <= floor)
    }

    /// Remembers a session that has just authenticated, forgetting the
    /// least recently heard if the table is full and that one is idle.
    pub(super) fn admit(
        &mut self,
        id: SessionId,
        session: Session,
        now: u64,
    ) -> Result<(), NoRoom> {
        if self.table.len() == self.table.cap().get() {
            match self.table.peek_lru() {
                Some((_, lru)) if now.saturating_sub(lru.last_heard) < IDLE_NS => {
                    return Err(NoRoom);
                }
                _ => self.forget_lru(),
            }
        }
        self.table.put(id, session);
        Ok(())
    }

    /// A new capacity; the least recently heard sessions beyond it are
    /// forgotten, live or not.
    pub(super) fn resize(&mut self, capacity: NonZeroUsize) {
        while self.table.len() > capacity.get() {
            self.forget_lru();
        }
        self.table.resize(capacity);
    }

    fn forget_lru(&mut self) {
        if let Some((_, gone)) = self.table.pop_lru() {
            self.floor = Some(self.floor.map_or(gone.start, |f| f.max(gone.start)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_fits_its_stated_size() {
        // The table's entry: the key and session, and the list node's two
        // links and the hash slot (a pointer and a control byte), rounded.
        let entry = std::mem::size_of::<SessionId>()
            + std::mem::size_of::<Session>()
            + 4 * std::mem::size_of::<usize>()
            + 16;
        assert!(entry <= SESSION_BYTES, "{entry}");
    }
}
