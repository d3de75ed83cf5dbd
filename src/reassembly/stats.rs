// SPDX-License-Identifier: MPL-2.0
//! The reassembler's counters.

use super::{Cause, Invalid, Outcome};

/// Counters. Every datagram is counted in `chunks_received` and at most one
/// of `chunks_duplicate`, `chunks_late`, `chunks_invalid`,
/// `chunks_unknown_kind`; the others joined a frame.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames emitted.
    pub frames_received: u64,
    /// Incomplete frames abandoned, whatever the cause.
    pub frames_lost: u64,
    /// Frames whose chunks arrived after a newer frame was emitted.
    pub frames_late: u64,
    /// Complete frames dropped because they are not JPEG frames.
    pub frames_invalid: u64,
    /// Abandoned because a newer frame was emitted.
    pub frames_superseded: u64,
    /// Abandoned over the pending-frame limit.
    pub frames_pending_limit: u64,
    /// Abandoned on timeout.
    pub frames_timeout: u64,
    /// Abandoned as the oldest frame held when the memory held would have
    /// passed `max_held_bytes`.
    pub frames_memory_limit: u64,
    /// Ids a sender skipped: frames never seen at all.
    pub ids_skipped: u64,
    /// Datagrams handed to the reassembler.
    pub chunks_received: u64,
    pub chunks_duplicate: u64,
    pub chunks_late: u64,
    pub chunks_invalid: u64,
    pub chunks_unknown_kind: u64,
    /// Bytes of all datagrams handed to the reassembler.
    pub bytes_received: u64,
    /// Deepest reordering seen inside a frame, in chunks.
    pub max_reorder: u64,
    /// Senders forgotten to make room for others.
    pub senders_evicted: u64,
    /// Parity (`F`) chunks received.
    pub chunks_parity: u64,
    /// Frames rebuilt with parity.
    pub frames_recovered: u64,
    /// Data chunks rebuilt with parity.
    pub chunks_recovered: u64,
    /// Bookkeeping found inconsistent and mended: a bug, or a [`Datagram`]
    /// whose bytes or pinned length changed while it was held. 0 unless
    /// something is wrong (debug builds stop at the first one instead).
    ///
    /// [`Datagram`]: super::Datagram
    pub internal_errors: u64,
}

impl Stats {
    /// Counts a datagram dropped as its outcome says (those that joined a
    /// frame are counted where they did).
    pub(super) fn count_dropped<K, B>(&mut self, outcome: &Outcome<K, B>) {
        match outcome {
            // A complete frame that is not JPEG counts in frames_invalid.
            Outcome::Invalid(Invalid::NotJpeg { .. }) => {}
            Outcome::Invalid(_) => self.chunks_invalid += 1,
            Outcome::Duplicate => self.chunks_duplicate += 1,
            Outcome::Late => self.chunks_late += 1,
            Outcome::UnknownKind(_) => self.chunks_unknown_kind += 1,
            Outcome::Pending | Outcome::Frame(_) | Outcome::ParityUnneeded => {}
        }
    }

    /// Counts a frame abandoned for `cause`.
    pub(super) fn count_lost(&mut self, cause: Cause) {
        self.frames_lost += 1;
        match cause {
            Cause::Superseded => self.frames_superseded += 1,
            Cause::PendingLimit => self.frames_pending_limit += 1,
            Cause::Timeout => self.frames_timeout += 1,
            Cause::MemoryLimit => self.frames_memory_limit += 1,
            Cause::SenderEvicted | Cause::Resync | Cause::Drained => {}
        }
    }

    /// These counters plus `other`'s (`max_reorder` is the larger of the two).
    pub fn merged(&self, other: &Stats) -> Stats {
        Stats {
            frames_received: self.frames_received + other.frames_received,
            frames_lost: self.frames_lost + other.frames_lost,
            frames_late: self.frames_late + other.frames_late,
            frames_invalid: self.frames_invalid + other.frames_invalid,
            frames_superseded: self.frames_superseded + other.frames_superseded,
            frames_pending_limit: self.frames_pending_limit + other.frames_pending_limit,
            frames_timeout: self.frames_timeout + other.frames_timeout,
            frames_memory_limit: self.frames_memory_limit + other.frames_memory_limit,
            ids_skipped: self.ids_skipped + other.ids_skipped,
            chunks_received: self.chunks_received + other.chunks_received,
            chunks_duplicate: self.chunks_duplicate + other.chunks_duplicate,
            chunks_late: self.chunks_late + other.chunks_late,
            chunks_invalid: self.chunks_invalid + other.chunks_invalid,
            chunks_unknown_kind: self.chunks_unknown_kind + other.chunks_unknown_kind,
            bytes_received: self.bytes_received + other.bytes_received,
            max_reorder: self.max_reorder.max(other.max_reorder),
            senders_evicted: self.senders_evicted + other.senders_evicted,
            chunks_parity: self.chunks_parity + other.chunks_parity,
            frames_recovered: self.frames_recovered + other.frames_recovered,
            chunks_recovered: self.chunks_recovered + other.chunks_recovered,
            internal_errors: self.internal_errors + other.internal_errors,
        }
    }
}
