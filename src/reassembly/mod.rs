// SPDX-License-Identifier: MPL-2.0
//! Reassembly of datagrams into JPEG frames, for both wire formats.
//!
//! Pure: no GStreamer types, no logging, no panics on any input. Push one
//! datagram at a time with [`Reassembler::push`]; each push returns what
//! became of it ([`Outcome`]). Frames abandoned along the way are counted in
//! [`Stats`] and listed for the caller's log by [`Reassembler::take_abandoned`].
//!
//! Datagrams are kept as they arrive (type `B`, any [`Datagram`]: bytes in
//! one piece, or a header part and a payload part), without copying. A
//! finished [`Frame`] hands its chunks back in order, so the caller copies
//! each byte once into the output.
//!
//! Memory: every held datagram is charged what it keeps alive
//! ([`Datagram::pinned_len`], which is more than its bytes: a 1-byte payload
//! received by udpsrc pins a 1.5 KB memory) plus its share of the tables
//! that hold it ([`Reassembler::chunk_charge`], [`Reassembler::frame_charge`]),
//! never a size that a header claims. The total, [`Reassembler::held_bytes`],
//! never passes [`Limits::max_held_bytes`]: the oldest incomplete frames, of
//! any sender, are abandoned to make room.
//!
//! The files: this one holds the public types and the core (`push`
//! dispatch, limits, expiry, draining); `sce`, `countdown` and `parity` the
//! three kinds of datagram; `senders` the sender table, which lends a
//! datagram's sender to the code that handles it (looked up once);
//! `budget` the charges, `held_bytes`, making room and `audit`; `frame`
//! the complete frame and its emission; `datagram` the held datagram;
//! `stats` the counters.

mod budget;
mod countdown;
mod datagram;
mod frame;
mod parity;
mod sce;
mod senders;
mod stats;
#[cfg(test)]
mod testutil;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::Hash;

use crate::wire::{self, WireError, WireFormat};
use budget::Born;
use datagram::total_len;
use senders::{Filed, Sender, SenderHashState};

pub use datagram::{Datagram, heap_block};
pub use frame::{CopyError, Frame};
pub use stats::Stats;

/// A frame whose id lies 1 to `LATE_WINDOW` ids behind the last frame emitted
/// from its sender is late.
pub const LATE_WINDOW: u16 = 64;

/// Bounds on what the reassembler holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest frame, in bytes: a chunk that would place bytes past it is invalid.
    pub max_frame_size: usize,
    /// Incomplete frames held per sender; the oldest is abandoned beyond it.
    pub max_pending_frames: usize,
    /// Nanoseconds after its first datagram at which an incomplete frame is abandoned.
    pub timeout_ns: u64,
    /// Senders remembered; the least recently heard is forgotten beyond it.
    pub max_senders: usize,
    /// Most bytes held in incomplete frames, over all senders, as
    /// [`Reassembler::held_bytes`] counts them (what their datagrams pin and
    /// the tables that hold them); the oldest frames are abandoned beyond it.
    pub max_held_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_size: 16 * 1024 * 1024,
            max_pending_frames: 4,
            timeout_ns: 500_000_000,
            max_senders: 64,
            max_held_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Why a datagram or a complete frame was dropped as invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    /// The datagram cannot be read (too short, bad chunk id for its kind, countdown 0).
    Wire(WireError),
    /// An `E` for a frame that already has an `E` with another chunk id.
    SecondEnd { end: u16, chunk_id: u16 },
    /// A chunk id beyond the frame's `E` (or an `E` before chunks already held).
    PastEnd { end: u16, chunk_id: u16 },
    /// A payload length that disagrees with the frame's P.
    Length { payload: usize, expected: usize },
    /// The chunk would place bytes past the maximum frame size.
    TooLarge { end: usize, max: usize },
    /// A complete frame that is not a JPEG frame (no FF D8 start, or for
    /// countdown no FF D9 end).
    NotJpeg { len: usize },
    /// A parity chunk that cannot be read.
    Parity(wire::ParityError),
    /// A parity chunk whose frame description (chunk count, length, CRC,
    /// chunk size, parity count) disagrees with the frame's other chunks.
    ParityMismatch,
    /// Holding the chunk would take `need` bytes (with a new frame's own
    /// if it starts one), which do not fit within `max_held_bytes` beside
    /// the frame it joins even with every other frame abandoned.
    Memory { need: usize, max: usize },
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Invalid::Wire(e) => write!(f, "{e}"),
            Invalid::SecondEnd { end, chunk_id } => {
                write!(f, "second E chunk {chunk_id}, frame already ends at {end}")
            }
            Invalid::PastEnd { end, chunk_id } => {
                write!(f, "chunk {chunk_id} lies beyond the E chunk {end}")
            }
            Invalid::Length { payload, expected } => {
                write!(
                    f,
                    "payload of {payload} bytes, frame's chunks carry {expected}"
                )
            }
            Invalid::TooLarge { end, max } => {
                write!(
                    f,
                    "chunk would end at byte {end}, past max-frame-size {max}"
                )
            }
            Invalid::NotJpeg { len } => {
                write!(f, "complete frame of {len} bytes is not a JPEG frame")
            }
            Invalid::Parity(e) => write!(f, "{e}"),
            Invalid::ParityMismatch => {
                write!(f, "parity chunk disagrees with the frame's other chunks")
            }
            Invalid::Memory { need, max } => {
                write!(
                    f,
                    "holding the chunk takes {need} bytes, more than max-held-bytes {max} \
                     has room for beside its frame"
                )
            }
        }
    }
}

/// The end of `chunks` chunks of `size` bytes followed by `extra` bytes;
/// `None` past `usize::MAX`, which a 32-bit target reaches with sizes a
/// sender controls (65,536 chunks of 65,536 bytes are 4 GiB).
fn span(chunks: usize, size: usize, extra: usize) -> Option<usize> {
    chunks.checked_mul(size)?.checked_add(extra)
}

/// A frame that would end at byte `end` (`None`: past `usize::MAX`) must
/// fit `max`, the maximum frame size.
fn within(end: Option<usize>, max: usize) -> Result<(), Invalid> {
    match end {
        Some(end) if end <= max => Ok(()),
        end => Err(Invalid::TooLarge {
            end: end.unwrap_or(usize::MAX),
            max,
        }),
    }
}

/// Why an incomplete frame was abandoned (counted as lost).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cause {
    /// A newer frame of the same sender was emitted.
    Superseded,
    /// The sender had more incomplete frames than `max_pending_frames`.
    PendingLimit,
    /// Its first datagram arrived longer ago than the timeout.
    Timeout,
    /// Its sender was forgotten to make room for another one.
    SenderEvicted,
    /// It was the oldest frame held when a datagram would have passed
    /// `max_held_bytes`.
    MemoryLimit,
    /// Countdown: a datagram broke the countdown.
    Resync,
    /// The stream ended or was flushed.
    Drained,
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Cause::Superseded => "superseded by a newer frame",
            Cause::PendingLimit => "too many pending frames",
            Cause::Timeout => "timed out",
            Cause::SenderEvicted => "sender forgotten",
            Cause::MemoryLimit => "oldest frame over max-held-bytes",
            Cause::Resync => "countdown broken",
            Cause::Drained => "stream ended",
        })
    }
}

/// An incomplete frame that was given up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Abandoned<K> {
    pub sender: K,
    /// `None` for the countdown format, which has no ids.
    pub image_id: Option<u16>,
    pub cause: Cause,
    pub chunks: usize,
    /// Bytes it held, as [`Reassembler::held_bytes`] counts them.
    pub bytes: usize,
}

/// What became of one datagram.
#[derive(Debug)]
pub enum Outcome<K, B> {
    /// Accepted; its frame is not complete yet.
    Pending,
    /// Accepted, and it completed this frame.
    Frame(Frame<K, B>),
    /// A chunk already held (or of the frame just emitted): ignored.
    Duplicate,
    /// A chunk of a frame older than the last one emitted: dropped.
    Late,
    /// Dropped as invalid.
    Invalid(Invalid),
    /// A kind this receiver does not know (an extension): ignored.
    UnknownKind(u8),
    /// A parity chunk of a frame already emitted whole: not needed.
    ParityUnneeded,
}

/// Reassembles datagrams of one wire format, from any number of senders
/// (keyed by `K`, e.g. the source address).
pub struct Reassembler<K, B> {
    format: WireFormat,
    limits: Limits,
    /// Boxed, so that lending one out (`with_sender`) moves a pointer.
    senders: HashMap<K, Box<Sender<B>>, SenderHashState>,
    /// Every sender once, by `Sender::filed`: least recently heard first,
    /// but for senders heard since they were filed (refiled when met).
    heard: BTreeMap<Filed, K>,
    /// Every incomplete frame, oldest first, with its sender.
    ages: BTreeMap<Born, K>,
    /// Numbers for `Born` and `Filed`.
    tick: u64,
    stats: Stats,
    held_bytes: usize,
    /// A frame was lost since the last frame emitted (from any sender).
    discont: bool,
    abandoned: Vec<Abandoned<K>>,
    /// What stands in the table for the sender lent out by `with_sender`
    /// (an empty state, kept between datagrams).
    stand_in: Option<Box<Sender<B>>>,
}

/// At most this many abandoned frames are kept for the caller's log between
/// two calls of `take_abandoned` (the counters always count them all).
const ABANDONED_LOG_CAP: usize = 256;

impl<K: Clone + Eq + Hash, B: Datagram> Reassembler<K, B> {
    pub fn new(format: WireFormat, limits: Limits) -> Self {
        Reassembler {
            format,
            limits,
            senders: HashMap::with_hasher(SenderHashState::new()),
            heard: BTreeMap::new(),
            ages: BTreeMap::new(),
            tick: 0,
            stats: Stats::default(),
            held_bytes: 0,
            discont: true,
            abandoned: Vec::new(),
            stand_in: None,
        }
    }

    pub fn format(&self) -> WireFormat {
        self.format
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Changes the limits; they apply from the next datagram on, but for
    /// `max_held_bytes`, which the oldest frames are abandoned to meet at once.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
        self.make_room(0, None, None);
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Frames abandoned since the last call, for logging (at most a few
    /// hundred are kept between calls; the counters count them all).
    pub fn take_abandoned(&mut self) -> Vec<Abandoned<K>> {
        std::mem::take(&mut self.abandoned)
    }

    /// Abandons every incomplete frame (end of stream) and forgets all senders.
    pub fn drain(&mut self) {
        let senders: Vec<K> = self.senders.keys().cloned().collect();
        for key in senders {
            self.forget_sender(&key, Cause::Drained);
        }
    }

    /// Handles one datagram from `sender`, arrived at `now` (nanoseconds on a
    /// monotonic clock) with tag `pts`.
    pub fn push(&mut self, sender: K, datagram: B, now: u64, pts: Option<u64>) -> Outcome<K, B> {
        self.stats.chunks_received += 1;
        self.stats.bytes_received += total_len(&datagram) as u64;
        self.expire(now);
        let outcome = match self.format {
            WireFormat::Sce => self.push_sce(sender, datagram, now, pts),
            WireFormat::Countdown => self.push_countdown(sender, datagram, now, pts),
        };
        self.stats.count_dropped(&outcome);
        outcome
    }

    /// When `expire` next has work: the first pending frame's timeout;
    /// `None` means nothing is held. For a caller that expires on a timer
    /// when no datagram comes.
    pub fn next_deadline(&self) -> Option<u64> {
        self.ages
            .first_key_value()
            .map(|(born, _)| born.at.saturating_add(self.limits.timeout_ns))
    }

    /// Abandons the frames that have timed out by `now`: the first ones of
    /// the age order, so each costs O(log frames) and the others nothing.
    pub fn expire(&mut self, now: u64) {
        let timeout = self.limits.timeout_ns;
        while let Some((&born, key)) = self.ages.first_key_value()
            && now >= born.at.saturating_add(timeout)
        {
            let key = key.clone();
            self.abandon_frame(born, &key, None, Cause::Timeout);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::reassembly::testutil::*;

    #[test]
    fn invalid_datagrams_are_counted() {
        let mut r = sce();
        let cases: Vec<(Vec<u8>, Invalid)> = vec![
            (
                vec![b'S', 0, 1, 0],
                Invalid::Wire(WireError::TooShort { len: 4, min: 6 }),
            ),
            (
                vec![b'S', 0, 1, 0, 0],
                Invalid::Wire(WireError::TooShort { len: 5, min: 6 }),
            ),
            (dg(b'C', 1, 0, b"x"), Invalid::Wire(WireError::CentreAtZero)),
            (
                dg(b'S', 1, 2, b"x"),
                Invalid::Wire(WireError::StartNotAtZero { chunk_id: 2 }),
            ),
        ];
        for (d, want) in cases {
            match r.push(1, d, 0, None) {
                Outcome::Invalid(got) => assert_eq!(got, want),
                o => panic!("{o:?}"),
            }
        }
        assert_eq!(r.stats().chunks_invalid, 4);
        assert_eq!(r.pending_frames(), 0);
    }

    #[test]
    fn unknown_kinds_are_ignored_apart() {
        let mut r = sce();
        assert!(matches!(
            r.push(1, dg(b'X', 1, 0, &[1, 2]), 0, None),
            Outcome::UnknownKind(b'X')
        ));
        assert_eq!(r.stats().chunks_unknown_kind, 1);
        assert_eq!(r.stats().chunks_invalid, 0);
        assert_eq!(r.pending_frames(), 0);
    }

    #[test]
    fn drain_abandons_everything() {
        let mut r = sce();
        assert_pending(r.push(1, dg(b'S', 1, 0, &[0xFF, 0xD8]), 0, None));
        assert_pending(r.push(2, dg(b'S', 1, 0, &[0xFF, 0xD8]), 0, None));
        r.drain();
        assert_eq!((r.pending_frames(), r.held_bytes(), r.senders()), (0, 0, 0));
        assert_eq!(r.stats().frames_lost, 2);
    }

    #[test]
    fn next_deadline_tells_when_to_expire_without_a_datagram() {
        let limits = Limits {
            timeout_ns: 100,
            ..Limits::default()
        };
        let mut r = R::new(WireFormat::Sce, limits);
        assert_eq!(r.next_deadline(), None);
        assert_pending(r.push(1, dg(b'S', 1, 0, &[0xFF, 0xD8]), 10, None));
        assert_pending(r.push(2, dg(b'S', 1, 0, &[0xFF, 0xD8]), 30, None));
        assert_eq!(r.next_deadline(), Some(110));
        r.expire(109);
        assert_eq!(r.pending_frames(), 2);
        r.expire(110);
        assert_eq!(r.pending_frames(), 1);
        assert_eq!(r.next_deadline(), Some(130));
        r.expire(130);
        assert_eq!((r.pending_frames(), r.held_bytes()), (0, 0));
        assert_eq!(r.stats().frames_timeout, 2);
        assert_eq!(r.next_deadline(), None);
    }

    #[test]
    fn spans_past_usize_max_are_none_and_too_large() {
        // 65,536 chunks of 65,536 bytes: past u32::MAX, where a 32-bit
        // usize would wrap to 0.
        assert_eq!(65_536u32.checked_mul(65_536), None);
        assert_eq!(span(65_536, 65_536, 0), usize::try_from(1u64 << 32).ok());
        assert_eq!(span(65_535, 65_536, 65_535), Some(u32::MAX as usize));
        // Past usize::MAX on this target too.
        assert_eq!(span(usize::MAX / 2, 3, 0), None);
        assert_eq!(span(1, usize::MAX, 1), None);
        let max = usize::MAX;
        let end = usize::MAX;
        assert_eq!(within(None, max), Err(Invalid::TooLarge { end, max }));
        assert_eq!(within(Some(max), max), Ok(()));
        assert_eq!(
            within(Some(11), 10),
            Err(Invalid::TooLarge { end: 11, max: 10 })
        );
    }
}
