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

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, hash_map};
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::mem::size_of;
use std::rc::Rc;

use crate::fec;
use crate::jpeg;
use crate::wire::{self, Kind, SceHeader, WireError, WireFormat};

/// A datagram as the reassembler holds it: its bytes in one slice, or in two
/// (a header part, then the payload, as a buffer of a header memory and a
/// payload memory has them), so that holding it copies nothing.
pub trait Datagram {
    /// The datagram's bytes as `(head, tail)`: the datagram is `head`
    /// followed by `tail`. One in one piece is all head.
    fn parts(&self) -> (&[u8], &[u8]);

    /// Bytes of memory that holding this datagram keeps alive, beyond the
    /// value itself (the reassembler counts that as its own bookkeeping):
    /// its bytes, the unused room of their allocation, and the overhead of
    /// the allocator and of any header structure. It is charged against
    /// [`Limits::max_held_bytes`], so it must not undercount.
    fn pinned_len(&self) -> usize;
}

/// Bytes that a heap allocation of `n` bytes takes with glibc's malloc: an
/// 8-byte header, rounded up to 16 bytes, 32 at least (measured resident:
/// 6 bytes take 32, 100 take 112, 112 take 128).
pub const fn heap_block(n: usize) -> usize {
    let b = n.saturating_add(8 + 15) & !15;
    if b < 32 { 32 } else { b }
}

impl Datagram for Vec<u8> {
    fn parts(&self) -> (&[u8], &[u8]) {
        (self, &[])
    }
    fn pinned_len(&self) -> usize {
        heap_block(self.capacity())
    }
}

impl Datagram for Rc<[u8]> {
    fn parts(&self) -> (&[u8], &[u8]) {
        (self, &[])
    }
    fn pinned_len(&self) -> usize {
        // The bytes follow the two reference counts in one allocation.
        heap_block(self.len().saturating_add(2 * size_of::<usize>()))
    }
}

/// Length of a datagram in bytes.
fn total_len<B: Datagram>(d: &B) -> usize {
    let (h, t) = d.parts();
    h.len() + t.len()
}

/// The bytes after the first `skip` of a datagram, in up to two pieces.
fn after<B: Datagram>(d: &B, skip: usize) -> (&[u8], &[u8]) {
    let (h, t) = d.parts();
    match h.get(skip..) {
        Some(rest) => (rest, t),
        None => (&[], t.get(skip - h.len()..).unwrap_or(&[])),
    }
}

/// The bytes after the first `skip` in one slice: borrowed unless they lie
/// in both parts (then copied; only parity recovery asks for this).
fn after_joined<B: Datagram>(d: &B, skip: usize) -> Cow<'_, [u8]> {
    match after(d, skip) {
        (a, []) => Cow::Borrowed(a),
        ([], b) => Cow::Borrowed(b),
        (a, b) => Cow::Owned([a, b].concat()),
    }
}

/// Length of [`ParseView::Short`]: a header and the first payload byte.
const SHORT_VIEW: usize = wire::SCE_HEADER_LEN + 1;

/// The bytes a header parser sees (see [`parse_view`]).
enum ParseView<'a> {
    Whole(&'a [u8]),
    /// The first bytes (at most [`SHORT_VIEW`]) of a datagram in two parts.
    Short([u8; SHORT_VIEW], usize),
}

impl std::ops::Deref for ParseView<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            ParseView::Whole(b) => b,
            ParseView::Short(a, n) => &a[..*n],
        }
    }
}

/// The bytes an `sce` or countdown header parser needs to see. A datagram
/// in one piece is passed whole; one in two parts, a copy of its first
/// `SCE_HEADER_LEN + 1` bytes (enough for the header and its "payload not
/// empty" check; callers take the payload length from [`total_len`]). The
/// parity parser checks the symbol length, so it is given the whole
/// datagram ([`after_joined`] from 0) instead.
fn parse_view<B: Datagram>(d: &B) -> ParseView<'_> {
    let (h, t) = d.parts();
    if t.is_empty() {
        return ParseView::Whole(h);
    }
    let mut v = [0u8; SHORT_VIEW];
    let n = h.len().min(SHORT_VIEW);
    v[..n].copy_from_slice(&h[..n]);
    let m = t.len().min(SHORT_VIEW - n);
    v[n..n + m].copy_from_slice(&t[..m]);
    ParseView::Short(v, n + m)
}

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
}

impl Stats {
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
        }
    }
}

/// A complete frame: its chunks in order.
#[derive(Debug)]
pub struct Frame<K, B> {
    pub sender: K,
    /// `None` for the countdown format.
    pub image_id: Option<u16>,
    /// The tag (arrival time) of the first of its datagrams to arrive.
    pub pts: Option<u64>,
    /// Set on the first frame after a loss, a gap in ids, or a new sender.
    pub discont: bool,
    /// Frame length in bytes.
    pub len: usize,
    /// Set when parity rebuilt chunks of the frame.
    pub recovered: bool,
    header_len: usize,
    /// The datagrams, in chunk order; or empty when `rebuilt` holds the frame.
    chunks: Vec<B>,
    rebuilt: Option<Vec<u8>>,
}

impl<K, B: Datagram> Frame<K, B> {
    /// The frame's bytes, chunk by chunk (a chunk in two parts gives two
    /// slices), in order.
    pub fn payloads(&self) -> impl Iterator<Item = &[u8]> {
        self.chunks
            .iter()
            .flat_map(|c| {
                let (a, b) = after(c, self.header_len);
                [a, b]
            })
            .filter(|p| !p.is_empty())
            .chain(self.rebuilt.as_deref())
    }

    /// Copies the frame into `dst`, which must be `self.len` bytes long.
    /// Returns false (copying nothing) when it is not.
    pub fn copy_to(&self, dst: &mut [u8]) -> bool {
        if dst.len() != self.len {
            return false;
        }
        let mut at = 0;
        for p in self.payloads() {
            dst[at..at + p.len()].copy_from_slice(p);
            at += p.len();
        }
        true
    }

    /// The frame's bytes in one vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len);
        for p in self.payloads() {
            v.extend_from_slice(p);
        }
        v
    }
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

/// When a frame was started (its first datagram's arrival) and a number
/// that no other frame has: the frame's place in the reassembler's age order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Born {
    at: u64,
    seq: u64,
}

/// What is left to count of a frame that was given up.
struct Gone {
    id: Option<u16>,
    born: Born,
    chunks: usize,
    held: usize,
}

struct Pending<B> {
    id: u16,
    born: Born,
    pts: Option<u64>,
    /// Payload length of the non-final chunks, once one has arrived.
    p: Option<usize>,
    /// Chunk id of the `E` chunk, once it has arrived.
    end: Option<u16>,
    chunks: BTreeMap<u16, B>,
    /// Bytes charged for the frame (see `Reassembler::held_bytes`).
    held: usize,
    highest: u16,
    /// The frame as its parity chunks describe it.
    fec: Option<FecInfo>,
    /// Parity chunks by index.
    parity: BTreeMap<u16, B>,
    /// Decodes tried.
    attempts: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FecInfo {
    k: u16,
    len: u32,
    crc: u32,
    t: usize,
    m: u16,
}

impl<B> Pending<B> {
    fn new(id: u16, born: Born, pts: Option<u64>, held: usize) -> Self {
        Pending {
            id,
            born,
            pts,
            p: None,
            end: None,
            chunks: BTreeMap::new(),
            held,
            highest: 0,
            fec: None,
            parity: BTreeMap::new(),
            attempts: 0,
        }
    }

    fn held_chunks(&self) -> usize {
        self.chunks.len() + self.parity.len()
    }

    fn gone(self) -> Gone {
        Gone {
            id: Some(self.id),
            born: self.born,
            chunks: self.held_chunks(),
            held: self.held,
        }
    }
}

struct Countdown<B> {
    prev: u8,
    born: Born,
    pts: Option<u64>,
    chunks: Vec<B>,
    /// Payload bytes.
    bytes: usize,
    /// Bytes charged for the frame (see `Reassembler::held_bytes`).
    held: usize,
}

impl<B> Countdown<B> {
    fn gone(self) -> Gone {
        Gone {
            id: None,
            born: self.born,
            chunks: self.chunks.len(),
            held: self.held,
        }
    }
}

struct Sender<B> {
    last_emitted: Option<u16>,
    /// Ids of the frames started since the last emission (at most
    /// `LATE_WINDOW`), to tell skipped ids from lost frames.
    started: Vec<u16>,
    last_late: Option<u16>,
    last_heard: u64,
    /// Its key in the reassembler's hearing order.
    filed: Filed,
    /// Incomplete `sce` frames, oldest first.
    pending: Vec<Pending<B>>,
    /// The `countdown` frame in progress.
    countdown: Option<Countdown<B>>,
    /// The next frame emitted for this sender starts a new run.
    discont: bool,
}

/// Where a sender is filed in the order of hearing: the time it was last
/// heard when it was filed, and a number no other entry has.
type Filed = (u64, u64);

/// Room for this many pending frames is kept per sender whatever it holds
/// (a vector's first allocation); beyond it, at most twice the frames held.
const PENDING_SPARE: usize = 4;

impl<B> Sender<B> {
    fn new(now: u64, filed: Filed) -> Self {
        Sender {
            last_emitted: None,
            started: Vec::new(),
            last_late: None,
            last_heard: now,
            filed,
            pending: Vec::new(),
            countdown: None,
            discont: true,
        }
    }

    /// Removes pending frame `i` (which exists), giving back the room of
    /// the list beyond `PENDING_SPARE` and twice the frames it still holds.
    fn take_pending(&mut self, i: usize) -> Pending<B> {
        let f = self.pending.remove(i);
        let len = self.pending.len();
        if self.pending.capacity() > PENDING_SPARE.max(2 * len) {
            self.pending.shrink_to(PENDING_SPARE.max(len));
        }
        f
    }

    /// Bytes its incomplete frames hold.
    fn held(&self) -> usize {
        let pending: usize = self.pending.iter().map(|f| f.held).sum();
        pending + self.countdown.as_ref().map_or(0, |c| c.held)
    }

    /// Its oldest incomplete frame but the one born `keep`.
    fn oldest_but(&self, keep: Option<Born>) -> Option<&Born> {
        let pending = self.pending.iter().map(|f| &f.born);
        let countdown = self.countdown.iter().map(|c| &c.born);
        pending.chain(countdown).filter(|b| Some(**b) != keep).min()
    }

    /// Removes the incomplete frame born `born`, if this sender holds it.
    fn take_frame(&mut self, born: Born) -> Option<Gone> {
        if self.countdown.as_ref().is_some_and(|c| c.born == born) {
            return self.countdown.take().map(Countdown::gone);
        }
        let i = self.pending.iter().position(|f| f.born == born)?;
        Some(self.take_pending(i).gone())
    }
}

/// Hashes the keys of the sender table, which is looked up several times
/// per datagram: a multiply-rotate mix per word of the key, keyed by a
/// random seed per reassembler, and a final avalanche. Several times faster
/// than the default SipHash on a socket address. Its weaker resistance to
/// chosen collisions costs little here: the table never holds more than
/// `max_senders` keys.
#[derive(Clone)]
struct SenderHasher(u64);

impl SenderHasher {
    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(23) ^ word).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

impl Hasher for SenderHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(w));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.mix(u64::from(i));
    }
    fn write_u16(&mut self, i: u16) {
        self.mix(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.mix(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.mix(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.mix(i as u64);
    }
    fn finish(&self) -> u64 {
        // murmur3's 64-bit finalizer: every output bit depends on every input bit.
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        x ^= x >> 33;
        x = x.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
        x ^ (x >> 33)
    }
}

#[derive(Clone)]
struct SenderHashState(u64);

impl SenderHashState {
    fn new() -> Self {
        SenderHashState(RandomState::new().hash_one(0x5EED_u64))
    }
}

impl BuildHasher for SenderHashState {
    type Hasher = SenderHasher;
    fn build_hasher(&self) -> SenderHasher {
        SenderHasher(self.0)
    }
}

/// Reassembles datagrams of one wire format, from any number of senders
/// (keyed by `K`, e.g. the source address).
pub struct Reassembler<K, B> {
    format: WireFormat,
    limits: Limits,
    senders: HashMap<K, Sender<B>, SenderHashState>,
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

    /// Bytes held in incomplete frames: for each frame, what its datagrams
    /// pin and the tables that hold them (the sum of its chunks'
    /// [`chunk_charge`](Self::chunk_charge) and its
    /// [`frame_charge`](Self::frame_charge)). At most `max_held_bytes`.
    pub fn held_bytes(&self) -> usize {
        self.held_bytes
    }

    /// What holding datagram `d` as a chunk costs: what it pins, and at most
    /// its share of a B-tree node of the frame's chunk table (every node
    /// but the root is at least 5/11 full).
    pub fn chunk_charge(d: &B) -> usize {
        d.pinned_len()
            .saturating_add(btree_node::<u16, B>().div_ceil(5))
    }

    /// What an incomplete frame costs besides its chunks: room for it in its
    /// sender's list (which keeps at most twice its frames), the first node
    /// of each of its two chunk tables (data and parity; countdown frames'
    /// chunk lists take less), and its share of the age order.
    pub fn frame_charge() -> usize {
        2 * size_of::<Pending<B>>()
            + 2 * btree_node::<u16, B>()
            + btree_node::<Born, K>().div_ceil(5)
    }

    /// Bytes that a remembered sender takes besides its frames, at most: its
    /// slot in the hash table (which keeps under 3 slots per sender), its
    /// share of the order of hearing, its list of started ids, and room for
    /// `PENDING_SPARE` pending frames. With `frame_charge` this accounts for
    /// a sender's list of pending frames (see `Sender::take_pending`).
    pub fn sender_bytes() -> usize {
        3 * (size_of::<(K, Sender<B>)>() + 1)
            + btree_node::<Filed, K>().div_ceil(5)
            + heap_block(usize::from(LATE_WINDOW) * size_of::<u16>())
            + heap_block(PENDING_SPARE * size_of::<Pending<B>>())
    }

    /// The most memory the reassembler keeps alive with limits `limits`:
    /// `max_held_bytes` in frames, `sender_bytes` per sender remembered, and
    /// fixed tables (the abandoned-frame log, the first nodes of the two
    /// orders).
    pub fn memory_bound(limits: &Limits) -> usize {
        let fixed = ABANDONED_LOG_CAP * size_of::<Abandoned<K>>()
            + btree_node::<Filed, K>()
            + btree_node::<Born, K>()
            + size_of::<Self>();
        limits
            .max_held_bytes
            .saturating_add(
                limits
                    .max_senders
                    .max(1)
                    .saturating_mul(Self::sender_bytes()),
            )
            .saturating_add(fixed)
    }

    /// Incomplete frames held, over all senders.
    pub fn pending_frames(&self) -> usize {
        self.senders
            .values()
            .map(|s| s.pending.len() + usize::from(s.countdown.is_some()))
            .sum()
    }

    /// Senders remembered.
    pub fn senders(&self) -> usize {
        self.senders.len()
    }

    /// Senders heard within the last timeout before `now`.
    pub fn active_senders(&self, now: u64) -> usize {
        let since = now.saturating_sub(self.limits.timeout_ns);
        self.senders
            .values()
            .filter(|s| s.last_heard >= since)
            .count()
    }

    /// Frames abandoned since the last call, for logging (at most a few
    /// hundred are kept between calls; the counters count them all).
    pub fn take_abandoned(&mut self) -> Vec<Abandoned<K>> {
        std::mem::take(&mut self.abandoned)
    }

    /// Checks the bookkeeping against what is held (for tests and fuzzing;
    /// it visits everything held): `held_bytes` is the sum of the frames'
    /// charges and within `max_held_bytes`, each frame's charge is that of
    /// its chunks plus `frame_charge`, the age order lists exactly the
    /// frames, the order of hearing each sender once, and no sender keeps
    /// more room for pending frames than it is charged for.
    pub fn audit(&self) -> Result<(), String> {
        let mut held = 0usize;
        let mut ages = BTreeMap::new();
        for (key, s) in &self.senders {
            if self.heard.get(&s.filed) != Some(key) {
                return Err("a sender is not filed in the order of hearing".into());
            }
            if s.pending.capacity() > PENDING_SPARE.max(2 * s.pending.len()) {
                return Err(format!(
                    "room for {} pending frames kept for {}",
                    s.pending.capacity(),
                    s.pending.len()
                ));
            }
            let frames = s.pending.iter().map(|f| {
                let chunks = f.chunks.values().chain(f.parity.values());
                (
                    f.born,
                    f.held,
                    chunks.map(Self::chunk_charge).sum::<usize>(),
                )
            });
            let countdown = s.countdown.iter().map(|c| {
                let chunks = c.chunks.iter().map(Self::chunk_charge).sum::<usize>();
                (c.born, c.held, chunks)
            });
            for (born, charged, chunks) in frames.chain(countdown) {
                if charged != chunks + Self::frame_charge() {
                    return Err(format!("a frame charged {charged} for {chunks} of chunks"));
                }
                held += charged;
                ages.insert(born, key);
            }
        }
        if self.heard.len() != self.senders.len() {
            return Err(format!(
                "{} filed for {} senders",
                self.heard.len(),
                self.senders.len()
            ));
        }
        if held != self.held_bytes || held > self.limits.max_held_bytes {
            return Err(format!(
                "frames hold {held}, held_bytes says {}, max {}",
                self.held_bytes, self.limits.max_held_bytes
            ));
        }
        if !ages.into_iter().eq(self.ages.iter().map(|(b, k)| (*b, k))) {
            return Err("the age order does not list exactly the frames".into());
        }
        Ok(())
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
        match &outcome {
            // A complete frame that is not JPEG counts in frames_invalid.
            Outcome::Invalid(Invalid::NotJpeg { .. }) => {}
            Outcome::Invalid(_) => self.stats.chunks_invalid += 1,
            Outcome::Duplicate => self.stats.chunks_duplicate += 1,
            Outcome::Late => self.stats.chunks_late += 1,
            Outcome::UnknownKind(_) => self.stats.chunks_unknown_kind += 1,
            Outcome::Pending | Outcome::Frame(_) | Outcome::ParityUnneeded => {}
        }
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
            self.abandon_frame(born, &key, Cause::Timeout);
        }
    }

    /// Forgets a frame that has left its sender's state: its place in the
    /// age order and the bytes it held.
    fn release(&mut self, born: Born, held: usize) {
        self.ages.remove(&born);
        self.held_bytes = self.held_bytes.saturating_sub(held);
    }

    fn record_abandoned(&mut self, sender: K, gone: Gone, cause: Cause) {
        self.release(gone.born, gone.held);
        self.stats.frames_lost += 1;
        match cause {
            Cause::Superseded => self.stats.frames_superseded += 1,
            Cause::PendingLimit => self.stats.frames_pending_limit += 1,
            Cause::Timeout => self.stats.frames_timeout += 1,
            Cause::MemoryLimit => self.stats.frames_memory_limit += 1,
            Cause::SenderEvicted | Cause::Resync | Cause::Drained => {}
        }
        self.discont = true;
        if let Some(s) = self.senders.get_mut(&sender) {
            s.discont = true;
        }
        if self.abandoned.len() < ABANDONED_LOG_CAP {
            self.abandoned.push(Abandoned {
                sender,
                image_id: gone.id,
                cause,
                chunks: gone.chunks,
                bytes: gone.held,
            });
        }
    }

    fn forget_sender(&mut self, key: &K, cause: Cause) {
        let Some(s) = self.senders.remove(key) else {
            return;
        };
        self.heard.remove(&s.filed);
        for f in s.pending {
            self.record_abandoned(key.clone(), f.gone(), cause);
        }
        if let Some(c) = s.countdown {
            self.record_abandoned(key.clone(), c.gone(), cause);
        }
    }

    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    /// The sender's state, made (and room made for it) if it is new.
    fn sender_mut(&mut self, key: &K, now: u64) -> &mut Sender<B> {
        if !self.senders.contains_key(key) {
            self.make_room_for_sender();
        }
        let s = match self.senders.entry(key.clone()) {
            hash_map::Entry::Occupied(e) => e.into_mut(),
            hash_map::Entry::Vacant(e) => {
                self.tick += 1;
                let filed = (now, self.tick);
                self.heard.insert(filed, key.clone());
                e.insert(Sender::new(now, filed))
            }
        };
        s.last_heard = now;
        s
    }

    /// Forgets the least recently heard senders until there is room for one
    /// more. A sender is not refiled each time it is heard (that would cost
    /// every datagram); the first of the order of hearing that was heard
    /// since it was filed is filed again by when it was last heard, so each
    /// datagram costs at most one refiling, and each sender forgotten one
    /// step of the order: O(log senders), amortised.
    fn make_room_for_sender(&mut self) {
        while self.senders.len() >= self.limits.max_senders.max(1) {
            let Some((filed, key)) = self.heard.pop_first() else {
                return;
            };
            let tick = self.next_tick();
            let Some(s) = self.senders.get_mut(&key) else {
                continue;
            };
            if s.last_heard != filed.0 {
                s.filed = (s.last_heard, tick);
                self.heard.insert(s.filed, key);
            } else {
                self.forget_sender(&key, Cause::SenderEvicted);
                self.stats.senders_evicted += 1;
            }
        }
    }

    /// Abandons incomplete frames until `need` more bytes for sender `key`
    /// fit within `max_held_bytes`, never the frame born `keep`: first that
    /// sender's own, oldest first, while it holds more than its share
    /// (`max_held_bytes / max_senders`), so that one address flooding the
    /// budget pushes out only its own frames; then the oldest of any
    /// sender. False when they cannot fit even so.
    fn make_room(&mut self, need: usize, keep: Option<Born>, key: Option<&K>) -> bool {
        let share = self.limits.max_held_bytes / self.limits.max_senders.max(1);
        while self.held_bytes.saturating_add(need) > self.limits.max_held_bytes {
            let sender = key.and_then(|k| Some((k, self.senders.get(k)?)));
            let own = sender
                .filter(|(_, s)| s.held().saturating_add(need) > share)
                .and_then(|(k, s)| Some((s.oldest_but(keep)?, k)));
            let oldest = || self.ages.iter().find(|(b, _)| Some(**b) != keep);
            let Some((born, key)) = own.or_else(oldest).map(|(b, k)| (*b, k.clone())) else {
                return false;
            };
            self.abandon_frame(born, &key, Cause::MemoryLimit);
        }
        true
    }

    /// Abandons the incomplete frame born `born` of sender `key`.
    fn abandon_frame(&mut self, born: Born, key: &K, cause: Cause) {
        match self.senders.get_mut(key).and_then(|s| s.take_frame(born)) {
            Some(gone) => self.record_abandoned(key.clone(), gone, cause),
            // Every entry of the age order is a frame (`audit` checks it);
            // were one not, dropping it still lets `make_room` go on.
            None => {
                self.ages.remove(&born);
            }
        }
    }

    /// Makes room within `max_held_bytes` for a chunk charged `charge`
    /// joining `joined` of `key` (a frame's birth and the bytes it holds),
    /// or a new frame. A chunk that cannot fit beside that frame alone is
    /// refused, with no other frame touched, and the frame abandoned: it
    /// could never complete.
    fn room_for(
        &mut self,
        key: &K,
        joined: Option<(Born, usize)>,
        charge: usize,
    ) -> Result<(), Invalid> {
        let (keep, kept, need) = match joined {
            Some((born, held)) => (Some(born), held, charge),
            None => (None, 0, charge.saturating_add(Self::frame_charge())),
        };
        let max = self.limits.max_held_bytes;
        if kept.saturating_add(need) <= max && self.make_room(need, keep, Some(key)) {
            return Ok(());
        }
        if let Some(born) = keep {
            self.abandon_frame(born, key, Cause::MemoryLimit);
        }
        Err(Invalid::Memory { need, max })
    }

    /// Makes room for a chunk charged `charge` of frame `id` of `key` (the
    /// pending frame at `idx`, if any; see `room_for`) and returns the
    /// frame's index, started if need be.
    fn place(
        &mut self,
        key: &K,
        id: u16,
        idx: Option<usize>,
        charge: usize,
        now: u64,
        pts: Option<u64>,
    ) -> Result<usize, Invalid> {
        let frame = idx.and_then(|i| self.senders.get(key)?.pending.get(i));
        let joined = frame.map(|f| (f.born, f.held));
        self.room_for(key, joined, charge)?;
        // Room may have been made by abandoning earlier frames of this
        // sender, which moves this one in the list.
        let found = self
            .senders
            .get(key)
            .and_then(|s| s.pending.iter().position(|f| f.id == id));
        Ok(match found {
            Some(i) => i,
            None => self.new_frame(key, id, now, pts),
        })
    }

    fn push_sce(&mut self, key: K, datagram: B, now: u64, pts: Option<u64>) -> Outcome<K, B> {
        let header = match SceHeader::parse(&parse_view(&datagram)) {
            Ok((h, _)) => h,
            Err(e) => return Outcome::Invalid(Invalid::Wire(e)),
        };
        let payload_len = total_len(&datagram) - wire::SCE_HEADER_LEN;
        match header.kind {
            Kind::Other(wire::PARITY_KIND) => {
                self.stats.chunks_parity += 1;
                return self.push_parity(key, datagram, now, pts);
            }
            Kind::Other(k) => return Outcome::UnknownKind(k),
            _ => {}
        }
        let max = self.limits.max_frame_size;
        let id = header.image_id;
        let cid = header.chunk_id;
        let idx = match self.find_frame(&key, id, now) {
            Ok(idx) => idx,
            Err(outcome) => return outcome,
        };

        // Check the chunk against its frame (or an empty one), and learn P.
        let mut view = FrameView::default();
        if let Some(i) = idx {
            let f = &self.senders[&key].pending[i];
            if f.chunks.contains_key(&cid) {
                return Outcome::Duplicate;
            }
            view = FrameView::of(f);
        }
        if let Err(e) = check_chunk(view, header.kind, cid, payload_len, max) {
            return Outcome::Invalid(e);
        }
        let charge = Self::chunk_charge(&datagram);
        let i = match self.place(&key, id, idx, charge, now, pts) {
            Ok(i) => i,
            Err(e) => return Outcome::Invalid(e),
        };
        if header.kind != Kind::End {
            self.learn_p(&key, i, payload_len);
        }

        let Some(f) = self
            .senders
            .get_mut(&key)
            .and_then(|s| s.pending.get_mut(i))
        else {
            return Outcome::Pending;
        };
        if cid < f.highest {
            self.stats.max_reorder = self.stats.max_reorder.max(u64::from(f.highest - cid));
        }
        f.highest = f.highest.max(cid);
        if header.kind == Kind::End {
            f.end = Some(cid);
        }
        f.chunks.insert(cid, datagram);
        f.held += charge;
        self.held_bytes += charge;
        self.complete_or_recover(key, i)
    }

    /// A parity (`F`) chunk: checked against its frame, held, and used to
    /// rebuild the frame once enough chunks are in.
    fn push_parity(&mut self, key: K, datagram: B, now: u64, pts: Option<u64>) -> Outcome<K, B> {
        let (h, t) = match wire::ParityHeader::parse(&after_joined(&datagram, 0)) {
            Ok((h, symbol)) => (h, symbol.len()),
            Err(e) => return Outcome::Invalid(Invalid::Parity(e)),
        };
        let max = self.limits.max_frame_size;
        let info = FecInfo {
            k: h.data_chunks,
            len: h.frame_len,
            crc: h.crc,
            t,
            m: h.count,
        };
        if !fec::valid_layout(h.frame_len as usize, t, usize::from(h.data_chunks))
            || usize::from(h.count) > fec::MAX_REPAIR_SYMBOLS
        {
            return Outcome::Invalid(Invalid::ParityMismatch);
        }
        if h.frame_len as usize > max {
            return Outcome::Invalid(Invalid::TooLarge {
                end: h.frame_len as usize,
                max,
            });
        }
        let idx = match self.find_frame(&key, h.image_id, now) {
            Ok(idx) => idx,
            // Parity of a frame already emitted whole is simply not needed.
            Err(Outcome::Duplicate) => return Outcome::ParityUnneeded,
            Err(outcome) => return outcome,
        };
        if let Some(i) = idx {
            let f = &self.senders[&key].pending[i];
            if f.parity.contains_key(&h.index) {
                return Outcome::Duplicate;
            }
            if !parity_fits(f, info) {
                return Outcome::Invalid(Invalid::ParityMismatch);
            }
            // Parity bytes held per frame stay within max-frame-size.
            let end = f.parity.len().saturating_add(1).saturating_mul(t);
            if end > max || f.parity.len() >= usize::from(info.k).max(1) * 2 {
                return Outcome::Invalid(Invalid::TooLarge { end, max });
            }
        }
        let charge = Self::chunk_charge(&datagram);
        let i = match self.place(&key, h.image_id, idx, charge, now, pts) {
            Ok(i) => i,
            Err(e) => return Outcome::Invalid(e),
        };
        self.learn_p(&key, i, t);
        let Some(f) = self
            .senders
            .get_mut(&key)
            .and_then(|s| s.pending.get_mut(i))
        else {
            return Outcome::Pending;
        };
        f.fec = Some(info);
        f.parity.insert(h.index, datagram);
        f.held += charge;
        self.held_bytes += charge;
        self.complete_or_recover(key, i)
    }

    /// The pending frame `id` of `key` (index), `None` if there is none yet,
    /// or the outcome for a chunk of a frame already emitted or late.
    fn find_frame(&mut self, key: &K, id: u16, now: u64) -> Result<Option<usize>, Outcome<K, B>> {
        let s = self.sender_mut(key, now);
        if let Some(last) = s.last_emitted {
            match wire::ids_behind(id, last) {
                0 => return Err(Outcome::Duplicate),
                d if d <= LATE_WINDOW => {
                    if s.last_late != Some(id) {
                        s.last_late = Some(id);
                        self.stats.frames_late += 1;
                    }
                    return Err(Outcome::Late);
                }
                _ => {}
            }
        }
        Ok(s.pending.iter().position(|f| f.id == id))
    }

    /// Starts frame `id` of `key`, making room under the pending limit
    /// (oldest first); returns its index.
    fn new_frame(&mut self, key: &K, id: u16, now: u64, pts: Option<u64>) -> usize {
        let limits = self.limits;
        let born = Born {
            at: now,
            seq: self.next_tick(),
        };
        let Some(s) = self.senders.get_mut(key) else {
            return 0;
        };
        let mut dropped = Vec::new();
        while s.pending.len() >= limits.max_pending_frames.max(1) {
            dropped.push(s.take_pending(0).gone());
        }
        let charge = Self::frame_charge();
        s.pending.push(Pending::new(id, born, pts, charge));
        if s.started.len() < usize::from(LATE_WINDOW) && !s.started.contains(&id) {
            s.started.push(id);
        }
        let i = s.pending.len() - 1;
        self.ages.insert(born, key.clone());
        self.held_bytes += charge;
        for gone in dropped {
            self.record_abandoned(key.clone(), gone, Cause::PendingLimit);
        }
        i
    }

    /// Fixes the frame's P on its first non-final chunk (or parity chunk);
    /// an `E` held before that must fit it, or is dropped as invalid.
    fn learn_p(&mut self, key: &K, i: usize, p: usize) {
        let max = self.limits.max_frame_size;
        let Some(f) = self.senders.get_mut(key).and_then(|s| s.pending.get_mut(i)) else {
            return;
        };
        if f.p.is_some() {
            return;
        }
        f.p = Some(p);
        let Some(e) = f.end else {
            return;
        };
        let e_len = f
            .chunks
            .get(&e)
            .map_or(0, |c| total_len(c) - wire::SCE_HEADER_LEN);
        if e_len > p || usize::from(e).saturating_mul(p).saturating_add(e_len) > max {
            if let Some(c) = f.chunks.remove(&e) {
                let charge = Self::chunk_charge(&c);
                f.held -= charge;
                self.held_bytes -= charge;
            }
            f.end = None;
            self.stats.chunks_invalid += 1;
        }
    }

    /// Emits frame `i` of `key` if its data chunks are all in, or rebuilds it
    /// from parity once enough chunks are in.
    fn complete_or_recover(&mut self, key: K, i: usize) -> Outcome<K, B> {
        let Some(s) = self.senders.get_mut(&key) else {
            return Outcome::Pending;
        };
        let Some(f) = s.pending.get_mut(i) else {
            return Outcome::Pending;
        };
        let whole = f.end.is_some_and(|e| f.chunks.len() == usize::from(e) + 1);
        if whole {
            let f = s.take_pending(i);
            self.release(f.born, f.held);
            let data_bytes = f
                .chunks
                .values()
                .map(|c| total_len(c) - wire::SCE_HEADER_LEN)
                .sum();
            let chunks: Vec<B> = f.chunks.into_values().collect();
            return self.finish(key, Some(f.id), f.pts, data_bytes, chunks, None);
        }
        let Some(info) = f.fec else {
            return Outcome::Pending;
        };
        if f.held_chunks() < usize::from(info.k) || f.attempts >= fec::MAX_DECODE_ATTEMPTS {
            return Outcome::Pending;
        }
        f.attempts += 1;
        let data: Vec<(usize, Cow<[u8]>)> = f
            .chunks
            .iter()
            .map(|(&cid, c)| (usize::from(cid), after_joined(c, wire::SCE_HEADER_LEN)))
            .collect();
        let parity: Vec<([u8; 4], Cow<[u8]>)> = f
            .parity
            .values()
            .map(|c| {
                // Parsed when it was pushed: longer than its header.
                let whole = after_joined(c, 0);
                let mut id = [0u8; 4];
                if let Some(b) = whole.get(wire::PARITY_HEADER_LEN - 4..wire::PARITY_HEADER_LEN) {
                    id.copy_from_slice(b);
                }
                (id, whole)
            })
            .collect();
        let rebuilt = fec::decode(
            info.len as usize,
            info.t,
            usize::from(info.k),
            info.crc,
            data.iter().map(|(cid, d)| (*cid, d.as_ref())),
            parity
                .iter()
                .map(|(id, d)| (*id, d.get(wire::PARITY_HEADER_LEN..).unwrap_or(&[]))),
        );
        let Some(frame) = rebuilt else {
            return Outcome::Pending;
        };
        let f = s.take_pending(i);
        self.release(f.born, f.held);
        self.stats.frames_recovered += 1;
        self.stats.chunks_recovered += u64::from(info.k).saturating_sub(f.chunks.len() as u64);
        let len = frame.len();
        self.finish(key, Some(f.id), f.pts, len, Vec::new(), Some(frame))
    }

    /// Emits a complete frame if it is a JPEG frame, and updates the sender's order.
    fn finish(
        &mut self,
        key: K,
        id: Option<u16>,
        pts: Option<u64>,
        len: usize,
        chunks: Vec<B>,
        rebuilt: Option<Vec<u8>>,
    ) -> Outcome<K, B> {
        let header_len = self.format.header_len();
        let frame = Frame {
            sender: key.clone(),
            image_id: id,
            pts,
            discont: false,
            len,
            recovered: rebuilt.is_some(),
            header_len,
            chunks,
            rebuilt,
        };
        if !is_jpeg(&frame, self.format) {
            self.stats.frames_invalid += 1;
            self.discont = true;
            if let Some(s) = self.senders.get_mut(&key) {
                s.discont = true;
            }
            return Outcome::Invalid(Invalid::NotJpeg { len });
        }

        let Some(s) = self.senders.get_mut(&key) else {
            return Outcome::Invalid(Invalid::NotJpeg { len });
        };
        let mut gap = false;
        let mut superseded = Vec::new();
        if let Some(id) = id {
            if let Some(last) = s.last_emitted {
                let ahead = id.wrapping_sub(last);
                gap = ahead != 1;
                if (2..=LATE_WINDOW).contains(&ahead) {
                    // Ids between the last frame and this one that never showed up.
                    let seen = s
                        .started
                        .iter()
                        .filter(|&&f| (1..ahead).contains(&f.wrapping_sub(last)))
                        .count() as u64;
                    self.stats.ids_skipped += u64::from(ahead - 1).saturating_sub(seen);
                }
            }
            s.last_emitted = Some(id);
            s.started.clear();
            // Frames now in the late window can never be emitted.
            let mut i = 0;
            while i < s.pending.len() {
                if (1..=LATE_WINDOW).contains(&wire::ids_behind(s.pending[i].id, id)) {
                    superseded.push(s.take_pending(i).gone());
                } else {
                    i += 1;
                }
            }
        }
        for gone in superseded {
            self.record_abandoned(key.clone(), gone, Cause::Superseded);
        }
        let sender_discont = self
            .senders
            .get_mut(&key)
            .is_some_and(|s| std::mem::replace(&mut s.discont, false));
        let discont = gap || sender_discont || self.discont;
        self.discont = false;
        self.stats.frames_received += 1;
        Outcome::Frame(Frame { discont, ..frame })
    }

    fn push_countdown(&mut self, key: K, datagram: B, now: u64, pts: Option<u64>) -> Outcome<K, B> {
        let c = match wire::parse_countdown(&parse_view(&datagram)) {
            Ok((c, _)) => c,
            Err(e) => return Outcome::Invalid(Invalid::Wire(e)),
        };
        let payload_len = total_len(&datagram) - wire::COUNTDOWN_HEADER_LEN;
        let max = self.limits.max_frame_size;
        let s = self.sender_mut(&key, now);
        let continues = s
            .countdown
            .as_ref()
            .is_some_and(|f| f.prev.checked_sub(1) == Some(c));
        if !continues && let Some(f) = s.countdown.take() {
            self.record_abandoned(key.clone(), f.gone(), Cause::Resync);
        }
        let Some(s) = self.senders.get_mut(&key) else {
            // Not reached: sender_mut has just made the sender.
            return Outcome::Pending;
        };
        let held = s.countdown.as_ref().map_or(0, |f| f.bytes);
        if held + payload_len > max {
            if let Some(f) = s.countdown.take() {
                self.record_abandoned(key.clone(), f.gone(), Cause::Resync);
            }
            return Outcome::Invalid(Invalid::TooLarge {
                end: held + payload_len,
                max,
            });
        }
        let charge = Self::chunk_charge(&datagram);
        if let Err(e) = self.countdown_room(&key, charge, now, pts) {
            return Outcome::Invalid(e);
        }
        let Some(s) = self.senders.get_mut(&key) else {
            // Not reached: sender_mut has just made the sender.
            return Outcome::Pending;
        };
        let Some(f) = s.countdown.as_mut() else {
            // Not reached: countdown_room has made the frame.
            return Outcome::Pending;
        };
        f.prev = c;
        f.chunks.push(datagram);
        f.bytes += payload_len;
        f.held += charge;
        self.held_bytes += charge;
        if c != 1 {
            return Outcome::Pending;
        }
        let Some(f) = s.countdown.take() else {
            return Outcome::Pending;
        };
        self.release(f.born, f.held);
        self.finish(key, None, f.pts, f.bytes, f.chunks, None)
    }

    /// Makes room for a countdown chunk charged `charge` (see `room_for`),
    /// and starts a frame for it if `key` has none in progress.
    fn countdown_room(
        &mut self,
        key: &K,
        charge: usize,
        now: u64,
        pts: Option<u64>,
    ) -> Result<(), Invalid> {
        let current = self.senders.get(key).and_then(|s| s.countdown.as_ref());
        let joined = current.map(|f| (f.born, f.held));
        self.room_for(key, joined, charge)?;
        if joined.is_some() {
            return Ok(());
        }
        let born = Born {
            at: now,
            seq: self.next_tick(),
        };
        let held = Self::frame_charge();
        if let Some(s) = self.senders.get_mut(key) {
            s.countdown = Some(Countdown {
                prev: 0,
                born,
                pts,
                chunks: Vec::new(),
                bytes: 0,
                held,
            });
            self.ages.insert(born, key.clone());
            self.held_bytes += held;
        }
        Ok(())
    }
}

/// Bytes of one node of a standard-library B-tree map with keys `Key` and
/// values `V`, at most: 11 keys and 11 values, 12 child pointers (in an
/// inner node), the node's header and the allocator's.
fn btree_node<Key, V>() -> usize {
    heap_block(11 * (size_of::<Key>() + size_of::<V>()) + 12 * size_of::<usize>() + 32)
}

/// What `check_chunk` needs to know of a pending frame.
#[derive(Default, Clone, Copy)]
struct FrameView {
    p: Option<usize>,
    end: Option<u16>,
    last_chunk: Option<u16>,
    fec: Option<FecInfo>,
}

impl FrameView {
    fn of<B>(f: &Pending<B>) -> Self {
        FrameView {
            p: f.p,
            end: f.end,
            last_chunk: f.chunks.last_key_value().map(|(&k, _)| k),
            fec: f.fec,
        }
    }
}

/// Whether a parity chunk describing the frame as `info` agrees with what
/// the frame already holds.
fn parity_fits<B: Datagram>(f: &Pending<B>, info: FecInfo) -> bool {
    if f.fec.is_some_and(|known| known != info) || f.p.is_some_and(|p| p != info.t) {
        return false;
    }
    if f.chunks
        .last_key_value()
        .is_some_and(|(&last, _)| last >= info.k)
    {
        return false;
    }
    match f.end {
        Some(e) => {
            let e_len = f
                .chunks
                .get(&e)
                .map_or(0, |c| total_len(c) - wire::SCE_HEADER_LEN);
            e + 1 == info.k && usize::from(e) * info.t + e_len == info.len as usize
        }
        None => true,
    }
}

/// Checks a chunk against the frame it would join (not yet holding this chunk id).
fn check_chunk(f: FrameView, kind: Kind, cid: u16, len: usize, max: usize) -> Result<(), Invalid> {
    let at = usize::from(cid);
    if let Some(info) = f.fec {
        // The frame as its parity describes it: K chunks of T bytes.
        let last = info.k - 1;
        let last_len = info.len as usize - usize::from(last) * info.t;
        let fits = match kind {
            Kind::End => cid == last && len == last_len,
            _ => cid < last && len == info.t,
        };
        if !fits {
            return Err(Invalid::ParityMismatch);
        }
    }
    if kind == Kind::End {
        if let Some(end) = f.end {
            return Err(Invalid::SecondEnd { end, chunk_id: cid });
        }
        if let Some(last) = f.last_chunk
            && last > cid
        {
            return Err(Invalid::PastEnd {
                end: cid,
                chunk_id: last,
            });
        }
        return match f.p {
            Some(p) if len > p => Err(Invalid::Length {
                payload: len,
                expected: p,
            }),
            Some(p) if at * p + len > max => Err(Invalid::TooLarge {
                end: at * p + len,
                max,
            }),
            // P unknown: every chunk before this one holds at least `len` bytes.
            None if (at + 1) * len > max => Err(Invalid::TooLarge {
                end: (at + 1) * len,
                max,
            }),
            _ => Ok(()),
        };
    }
    if let Some(end) = f.end
        && cid > end
    {
        return Err(Invalid::PastEnd { end, chunk_id: cid });
    }
    let p = match f.p {
        Some(p) if p != len => {
            return Err(Invalid::Length {
                payload: len,
                expected: p,
            });
        }
        Some(p) => p,
        None => len,
    };
    if (at + 1) * p > max {
        return Err(Invalid::TooLarge {
            end: (at + 1) * p,
            max,
        });
    }
    Ok(())
}

/// A complete frame must start with FF D8 (and for countdown end with FF D9).
fn is_jpeg<K, B: Datagram>(frame: &Frame<K, B>, format: WireFormat) -> bool {
    let mut head = [0u8; 2];
    let mut n = 0;
    'outer: for p in frame.payloads() {
        for &b in p {
            if n == 2 {
                break 'outer;
            }
            head[n] = b;
            n += 1;
        }
    }
    if n < 2 || head != jpeg::SOI {
        return false;
    }
    if format == WireFormat::Countdown {
        let mut tail = [0u8; 2];
        let mut n = 0;
        let payloads: Vec<&[u8]> = frame.payloads().collect();
        'outer: for p in payloads.into_iter().rev() {
            for &b in p.iter().rev() {
                if n == 2 {
                    break 'outer;
                }
                tail[1 - n] = b;
                n += 1;
            }
        }
        // A two-byte frame's SOI is not also its EOI.
        return n == 2 && tail == jpeg::EOI && frame.len >= 4;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Plan;

    type R = Reassembler<u32, Vec<u8>>;

    fn dg(kind: u8, id: u16, cid: u16, payload: &[u8]) -> Vec<u8> {
        let mut d = vec![kind];
        d.extend_from_slice(&id.to_be_bytes());
        d.extend_from_slice(&cid.to_be_bytes());
        d.extend_from_slice(payload);
        d
    }

    /// A JPEG-shaped frame of `len` bytes (FF D8 .. FF D9) seeded by `seed`.
    fn jpeg(len: usize, seed: u8) -> Vec<u8> {
        let mut v: Vec<u8> = (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect();
        v[0] = 0xFF;
        v[1] = 0xD8;
        v[len - 2] = 0xFF;
        v[len - 1] = 0xD9;
        v
    }

    fn sce() -> R {
        R::new(WireFormat::Sce, Limits::default())
    }

    fn frame_of(o: Outcome<u32, Vec<u8>>) -> Frame<u32, Vec<u8>> {
        match o {
            Outcome::Frame(f) => f,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    fn assert_pending<B: fmt::Debug>(o: Outcome<u32, B>) {
        assert!(matches!(o, Outcome::Pending), "expected pending, got {o:?}");
    }

    /// What one frame holding (copies of) datagrams `ds` is charged.
    fn frame_held(ds: &[&Vec<u8>]) -> usize {
        let chunks: usize = ds.iter().map(|d| R::chunk_charge(&d.to_vec())).sum();
        R::frame_charge() + chunks
    }

    #[test]
    fn in_order_frame_is_emitted_on_last_chunk() {
        let mut r = sce();
        let f = jpeg(23, 1);
        let d = Plan::new(WireFormat::Sce, f.len(), 15)
            .unwrap()
            .datagrams(100, &f);
        assert_eq!(d.len(), 3);
        assert_pending(r.push(1, d[0].clone(), 10, Some(1000)));
        assert_pending(r.push(1, d[1].clone(), 20, Some(2000)));
        let out = frame_of(r.push(1, d[2].clone(), 30, Some(3000)));
        assert_eq!(out.to_vec(), f);
        assert_eq!(out.pts, Some(1000));
        assert_eq!(out.image_id, Some(100));
        assert!(out.discont, "first frame of a sender is a discontinuity");
        let mut buf = vec![0; f.len()];
        assert!(out.copy_to(&mut buf));
        assert_eq!(buf, f);
        assert!(!out.copy_to(&mut [0; 3]));
        assert_eq!(r.held_bytes(), 0);
        assert_eq!(r.pending_frames(), 0);
        let s = r.stats();
        assert_eq!(
            (s.frames_received, s.chunks_received, s.bytes_received),
            (1, 3, 23 + 15)
        );
    }

    #[test]
    fn any_order_within_a_frame() {
        let f = jpeg(100, 2);
        let d = Plan::new(WireFormat::Sce, f.len(), 15)
            .unwrap()
            .datagrams(7, &f);
        let n = d.len();
        // Reversed: E first (P unknown), then the rest.
        let mut r = sce();
        for (i, x) in d.iter().rev().enumerate() {
            let o = r.push(1, x.clone(), i as u64, Some(i as u64));
            if i + 1 < n {
                assert_pending(o);
            } else {
                let out = frame_of(o);
                assert_eq!(out.to_vec(), f);
                assert_eq!(out.pts, Some(0), "pts of the first datagram to arrive");
            }
        }
        assert_eq!(r.stats().max_reorder, (n - 1) as u64);
    }

    #[test]
    fn interleaved_consecutive_frames_both_complete() {
        let (a, b) = (jpeg(40, 3), jpeg(50, 4));
        let da = Plan::new(WireFormat::Sce, a.len(), 15)
            .unwrap()
            .datagrams(9, &a);
        let db = Plan::new(WireFormat::Sce, b.len(), 15)
            .unwrap()
            .datagrams(10, &b);
        let mut r = sce();
        let mut out = Vec::new();
        for i in 0..db.len() {
            for d in [da.get(i), db.get(i)].into_iter().flatten() {
                if let Outcome::Frame(f) = r.push(1, d.clone(), 0, None) {
                    out.push((f.image_id, f.to_vec(), f.discont));
                }
            }
        }
        assert_eq!(out, vec![(Some(9), a, true), (Some(10), b, false)]);
        assert_eq!(r.stats().frames_lost, 0);
    }

    #[test]
    fn duplicates_are_ignored_and_counted() {
        let f = jpeg(40, 5);
        let d = Plan::new(WireFormat::Sce, f.len(), 19)
            .unwrap()
            .datagrams(1, &f);
        assert_eq!(d.len(), 3);
        let mut r = sce();
        assert_pending(r.push(1, d[0].clone(), 0, None));
        assert!(matches!(
            r.push(1, d[0].clone(), 0, None),
            Outcome::Duplicate
        ));
        assert_pending(r.push(1, d[1].clone(), 0, None));
        assert_eq!(frame_of(r.push(1, d[2].clone(), 0, None)).to_vec(), f);
        // Chunks of the frame just emitted are duplicates too, not a new frame.
        assert!(matches!(
            r.push(1, d[2].clone(), 0, None),
            Outcome::Duplicate
        ));
        assert!(matches!(
            r.push(1, d[0].clone(), 0, None),
            Outcome::Duplicate
        ));
        assert_eq!(r.pending_frames(), 0);
        assert_eq!(r.stats().chunks_duplicate, 3);
    }

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
    fn second_e_and_chunks_past_e() {
        let mut r = sce();
        assert_pending(r.push(1, dg(b'S', 5, 0, &[0xFF, 0xD8, 1]), 0, None));
        assert_pending(r.push(1, dg(b'E', 5, 3, &[9]), 0, None));
        assert!(matches!(
            r.push(1, dg(b'E', 5, 4, &[9]), 0, None),
            Outcome::Invalid(Invalid::SecondEnd {
                end: 3,
                chunk_id: 4
            })
        ));
        assert!(matches!(
            r.push(1, dg(b'C', 5, 4, &[1, 2, 3]), 0, None),
            Outcome::Invalid(Invalid::PastEnd {
                end: 3,
                chunk_id: 4
            })
        ));
        // An E that would leave chunks already held beyond it.
        assert_pending(r.push(1, dg(b'C', 6, 5, &[1, 2, 3]), 0, None));
        assert!(matches!(
            r.push(1, dg(b'E', 6, 2, &[1]), 0, None),
            Outcome::Invalid(Invalid::PastEnd {
                end: 2,
                chunk_id: 5
            })
        ));
        assert_eq!(r.stats().chunks_invalid, 3);
    }

    #[test]
    fn lengths_that_disagree() {
        let mut r = sce();
        assert_pending(r.push(1, dg(b'S', 5, 0, &[0xFF, 0xD8, 1, 2]), 0, None));
        assert!(matches!(
            r.push(1, dg(b'C', 5, 1, &[1, 2, 3]), 0, None),
            Outcome::Invalid(Invalid::Length {
                payload: 3,
                expected: 4
            })
        ));
        assert!(matches!(
            r.push(1, dg(b'E', 5, 1, &[1, 2, 3, 4, 5]), 0, None),
            Outcome::Invalid(Invalid::Length {
                payload: 5,
                expected: 4
            })
        ));
        // A full-length E is fine.
        let out = frame_of(r.push(1, dg(b'E', 5, 1, &[1, 2, 3, 4]), 0, None));
        assert_eq!(out.to_vec(), [0xFF, 0xD8, 1, 2, 1, 2, 3, 4]);
    }

    #[test]
    fn e_before_p_is_known_is_held_then_checked() {
        // E arrives first and is held; the S then fixes P = 2 and the E (3 bytes) is invalid.
        let mut r = sce();
        let (e, s) = (dg(b'E', 8, 1, &[7, 7, 7]), dg(b'S', 8, 0, &[0xFF, 0xD8]));
        assert_pending(r.push(1, e.to_vec(), 0, None));
        assert_eq!(r.held_bytes(), frame_held(&[&e]));
        assert_pending(r.push(1, s.to_vec(), 0, None));
        assert_eq!(r.stats().chunks_invalid, 1);
        assert_eq!(r.held_bytes(), frame_held(&[&s]), "the E is no longer held");
        // A correct E then completes the frame.
        let out = frame_of(r.push(1, dg(b'E', 8, 1, &[7]), 0, None));
        assert_eq!(out.to_vec(), [0xFF, 0xD8, 7]);

        // E first that fits P: kept.
        let mut r = sce();
        assert_pending(r.push(1, dg(b'E', 8, 1, &[7]), 0, None));
        let out = frame_of(r.push(1, dg(b'S', 8, 0, &[0xFF, 0xD8]), 0, None));
        assert_eq!(out.to_vec(), [0xFF, 0xD8, 7]);
    }

    #[test]
    fn lone_e_at_65535_holds_only_what_arrived() {
        let limits = Limits {
            timeout_ns: 100,
            ..Limits::default()
        };
        let mut r = R::new(WireFormat::Sce, limits);
        let e1 = dg(b'E', 3, 65535, &[1]);
        assert_pending(r.push(1, e1.to_vec(), 0, None));
        assert_eq!(r.held_bytes(), frame_held(&[&e1]));
        assert_eq!(r.pending_frames(), 1);
        // Its payload claims nothing: a 100-byte E at 65535 would need 6.5 MB
        // before it, which still fits 16 MiB, and is held as what it pins.
        let e2 = dg(b'E', 4, 65535, &[1; 100]);
        assert_pending(r.push(1, e2.to_vec(), 0, None));
        assert_eq!(r.held_bytes(), frame_held(&[&e1]) + frame_held(&[&e2]));
        assert!(r.held_bytes() < 20_000, "{}", r.held_bytes());
        // A 300-byte E at 65535 implies at least 19.6 MB: past the limit.
        assert!(matches!(
            r.push(1, dg(b'E', 5, 65535, &[1; 300]), 0, None),
            Outcome::Invalid(Invalid::TooLarge { .. })
        ));
        // They time out and are counted as lost.
        assert!(matches!(
            r.push(1, dg(b'x', 0, 0, &[]), 1000, None),
            Outcome::UnknownKind(b'x')
        ));
        assert_eq!(r.pending_frames(), 0);
        assert_eq!(r.held_bytes(), 0);
        assert_eq!(r.stats().frames_timeout, 2);
        assert_eq!(r.stats().frames_lost, 2);
        let ab = r.take_abandoned();
        assert_eq!(ab.len(), 2);
        assert!(
            ab.iter()
                .all(|a| a.cause == Cause::Timeout && a.sender == 1)
        );
    }

    #[test]
    fn max_frame_size_bounds_placement() {
        let limits = Limits {
            max_frame_size: 10,
            ..Limits::default()
        };
        let mut r = R::new(WireFormat::Sce, limits);
        assert_pending(r.push(1, dg(b'S', 1, 0, &[0xFF, 0xD8, 0, 0]), 0, None));
        assert_pending(r.push(1, dg(b'C', 1, 1, &[0; 4]), 0, None));
        assert!(matches!(
            r.push(1, dg(b'C', 1, 2, &[0; 4]), 0, None),
            Outcome::Invalid(Invalid::TooLarge { end: 12, max: 10 })
        ));
        assert!(matches!(
            r.push(1, dg(b'E', 1, 2, &[0; 3]), 0, None),
            Outcome::Invalid(Invalid::TooLarge { end: 11, max: 10 })
        ));
        assert_eq!(
            frame_of(r.push(1, dg(b'E', 1, 2, &[0xFF, 0xD9]), 0, None)).len,
            10
        );
        // A single datagram larger than the limit.
        assert!(matches!(
            r.push(1, dg(b'E', 2, 0, &[0; 11]), 0, None),
            Outcome::Invalid(Invalid::TooLarge { end: 11, max: 10 })
        ));
    }

    #[test]
    fn single_chunk_frame_and_not_jpeg() {
        let mut r = sce();
        let out = frame_of(r.push(1, dg(b'E', 1, 0, &[0xFF, 0xD8, 0xFF, 0xD9]), 0, Some(5)));
        assert_eq!(out.to_vec(), [0xFF, 0xD8, 0xFF, 0xD9]);
        assert!(matches!(
            r.push(1, dg(b'E', 2, 0, &[0xFF, 0xD9]), 0, None),
            Outcome::Invalid(Invalid::NotJpeg { len: 2 })
        ));
        assert_eq!(r.stats().frames_invalid, 1);
        // SOI split over two one-byte chunks still counts as SOI.
        assert_pending(r.push(1, dg(b'S', 3, 0, &[0xFF]), 0, None));
        let out = frame_of(r.push(1, dg(b'E', 3, 1, &[0xD8]), 0, None));
        assert_eq!(out.to_vec(), [0xFF, 0xD8]);
        assert!(
            out.discont,
            "the frame after an invalid one is a discontinuity"
        );
    }

    #[test]
    fn ids_wrap_around_without_discont() {
        let mut r = sce();
        let mut ids = Vec::new();
        for id in [65534u16, 65535, 0, 1] {
            let out = frame_of(r.push(1, dg(b'E', id, 0, &[0xFF, 0xD8, 1]), 0, None));
            ids.push((out.image_id.unwrap(), out.discont));
        }
        assert_eq!(
            ids,
            vec![(65534, true), (65535, false), (0, false), (1, false)]
        );
        assert_eq!(r.stats().ids_skipped, 0);
    }

    #[test]
    fn late_window_and_restart() {
        let mut r = sce();
        frame_of(r.push(1, dg(b'E', 100, 0, &[0xFF, 0xD8]), 0, None));
        // 1 and 64 behind: late.
        assert!(matches!(
            r.push(1, dg(b'E', 99, 0, &[0xFF, 0xD8]), 0, None),
            Outcome::Late
        ));
        assert!(matches!(
            r.push(1, dg(b'S', 99, 0, &[0xFF, 0xD8]), 0, None),
            Outcome::Late
        ));
        assert!(matches!(
            r.push(1, dg(b'E', 36, 0, &[0xFF, 0xD8]), 0, None),
            Outcome::Late
        ));
        assert_eq!(r.stats().frames_late, 2);
        assert_eq!(r.stats().chunks_late, 3);
        // 65 behind: a new frame (a restart).
        let out = frame_of(r.push(1, dg(b'E', 35, 0, &[0xFF, 0xD8]), 0, None));
        assert!(out.discont);
        // A restart at a random far id is picked up at once.
        let out = frame_of(r.push(1, dg(b'E', 40_000, 0, &[0xFF, 0xD8]), 0, None));
        assert_eq!(out.image_id, Some(40_000));
        assert!(out.discont);
        // Late window across the wrap.
        frame_of(r.push(1, dg(b'E', 10, 0, &[0xFF, 0xD8]), 0, None));
        assert!(matches!(
            r.push(1, dg(b'E', 65_500, 0, &[0xFF, 0xD8]), 0, None),
            Outcome::Late
        ));
    }

    #[test]
    fn gap_in_ids_sets_discont_and_counts_skipped() {
        let mut r = sce();
        frame_of(r.push(1, dg(b'E', 1, 0, &[0xFF, 0xD8]), 0, None));
        // Frame 2 partly seen, frame 3 never seen, frame 4 complete.
        let s2 = dg(b'S', 2, 0, &[0xFF, 0xD8]);
        assert_pending(r.push(1, s2.to_vec(), 0, None));
        let out = frame_of(r.push(1, dg(b'E', 4, 0, &[0xFF, 0xD8]), 0, None));
        assert!(out.discont);
        let s = r.stats();
        assert_eq!(
            (s.frames_lost, s.frames_superseded, s.ids_skipped),
            (1, 1, 1)
        );
        assert_eq!(r.pending_frames(), 0);
        assert_eq!(r.held_bytes(), 0);
        let ab = r.take_abandoned();
        assert_eq!(
            ab,
            vec![Abandoned {
                sender: 1,
                image_id: Some(2),
                cause: Cause::Superseded,
                chunks: 1,
                bytes: frame_held(&[&s2]),
            }]
        );
        // The next frame in sequence is not a discontinuity.
        assert!(!frame_of(r.push(1, dg(b'E', 5, 0, &[0xFF, 0xD8]), 0, None)).discont);
    }

    #[test]
    fn frames_abandoned_before_a_gap_are_not_counted_as_skipped() {
        let limits = Limits {
            max_pending_frames: 2,
            ..Limits::default()
        };
        let mut r = R::new(WireFormat::Sce, limits);
        frame_of(r.push(1, dg(b'E', 1, 0, &[0xFF, 0xD8]), 0, None));
        // 2..=5 seen but incomplete (2 and 3 pushed out by the limit), 6 never seen.
        for id in 2..=5 {
            assert_pending(r.push(1, dg(b'S', id, 0, &[0xFF, 0xD8]), 0, None));
        }
        frame_of(r.push(1, dg(b'E', 7, 0, &[0xFF, 0xD8]), 0, None));
        let s = r.stats();
        assert_eq!((s.frames_lost, s.ids_skipped), (4, 1));
        assert_eq!(s.frames_received + s.frames_lost + s.ids_skipped, 7);
    }

    #[test]
    fn pending_limit_abandons_oldest() {
        let limits = Limits {
            max_pending_frames: 2,
            ..Limits::default()
        };
        let mut r = R::new(WireFormat::Sce, limits);
        for id in 1..=3 {
            assert_pending(r.push(1, dg(b'S', id, 0, &[0xFF, 0xD8]), 0, None));
        }
        assert_eq!(r.pending_frames(), 2);
        assert_eq!(r.stats().frames_pending_limit, 1);
        assert_eq!(r.take_abandoned()[0].image_id, Some(1));
        // Frame 1 is gone; 2 and 3 can still complete.
        assert_eq!(
            frame_of(r.push(1, dg(b'E', 2, 1, &[0]), 0, None)).image_id,
            Some(2)
        );
        assert_eq!(
            frame_of(r.push(1, dg(b'E', 3, 1, &[0]), 0, None)).image_id,
            Some(3)
        );
        // Another sender's frames are not affected by sender 1's limit.
        assert_pending(r.push(2, dg(b'S', 1, 0, &[0xFF, 0xD8]), 0, None));
        for id in 10..20 {
            assert_pending(r.push(1, dg(b'S', id, 0, &[0xFF, 0xD8]), 0, None));
        }
        assert_eq!(frame_of(r.push(2, dg(b'E', 1, 1, &[0]), 0, None)).sender, 2);
    }

    #[test]
    fn senders_never_share_a_frame() {
        let mut r = sce();
        let (a, b) = (jpeg(30, 1), jpeg(30, 2));
        let da = Plan::new(WireFormat::Sce, 30, 20).unwrap().datagrams(5, &a);
        let db = Plan::new(WireFormat::Sce, 30, 20).unwrap().datagrams(5, &b);
        assert_pending(r.push(1, da[0].clone(), 0, None));
        assert_pending(r.push(2, db[0].clone(), 0, None));
        let fa = frame_of(r.push(1, da[1].clone(), 0, None));
        let fb = frame_of(r.push(2, db[1].clone(), 0, None));
        assert_eq!((fa.sender, fa.to_vec()), (1, a));
        assert_eq!((fb.sender, fb.to_vec()), (2, b));
    }

    #[test]
    fn least_recently_heard_sender_is_forgotten() {
        let limits = Limits {
            max_senders: 2,
            ..Limits::default()
        };
        let mut r = R::new(WireFormat::Sce, limits);
        assert_pending(r.push(1, dg(b'S', 1, 0, &[0xFF, 0xD8]), 0, None));
        assert_pending(r.push(2, dg(b'S', 1, 0, &[0xFF, 0xD8]), 1, None));
        assert_pending(r.push(1, dg(b'C', 1, 1, &[0, 0]), 2, None));
        assert_pending(r.push(3, dg(b'S', 1, 0, &[0xFF, 0xD8]), 3, None));
        assert_eq!(r.senders(), 2);
        assert_eq!(r.stats().senders_evicted, 1);
        let ab = r.take_abandoned();
        assert_eq!((ab[0].sender, ab[0].cause), (2, Cause::SenderEvicted));
        assert_eq!(frame_of(r.push(1, dg(b'E', 1, 2, &[0]), 4, None)).len, 5);
    }

    #[test]
    fn many_senders_are_forgotten_least_recently_heard_first() {
        // 300 senders heard in a scrambled order, 100 remembered: after every
        // datagram the table holds exactly the 100 heard last, and each
        // sender forgotten is counted (the model: last time heard per sender).
        let limits = Limits {
            max_senders: 100,
            ..Limits::default()
        };
        let mut r = R::new(WireFormat::Sce, limits);
        let mut last_heard = HashMap::new();
        let mut evicted = 0;
        let mut x = 12345u32;
        for now in 1..=6000u64 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            // Some senders far more often than others, so that the first of
            // the order of hearing was often heard again since it was filed.
            let key = if x.is_multiple_of(3) { x % 20 } else { x % 300 };
            if !last_heard.contains_key(&key) && last_heard.len() == 100 {
                let (&oldest, _) = last_heard.iter().min_by_key(|(_, t)| **t).unwrap();
                last_heard.remove(&oldest);
                evicted += 1;
            }
            last_heard.insert(key, now);
            assert_pending(r.push(key, dg(b'S', now as u16, 0, &[0xFF, 0xD8]), now, None));
            let mut kept: Vec<u32> = r.senders.keys().copied().collect();
            let mut want: Vec<u32> = last_heard.keys().copied().collect();
            kept.sort_unstable();
            want.sort_unstable();
            assert_eq!(kept, want, "after datagram {now}");
        }
        assert_eq!(r.stats().senders_evicted, evicted);
        assert!(evicted > 1000, "{evicted} senders forgotten");
        assert_eq!(r.audit(), Ok(()));
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

    /// Data and parity datagrams of `frame` with chunks of `t` bytes.
    fn with_parity(frame: &[u8], id: u16, t: usize, m: usize) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let data = Plan::with_payload(frame.len(), t)
            .unwrap()
            .datagrams(id, frame);
        let parity = fec::parity_datagrams(id, frame, t, m).unwrap();
        (data, parity)
    }

    #[test]
    fn parity_rebuilds_any_lost_data_chunk_including_s_and_e() {
        let f = jpeg(1000, 4);
        let (data, parity) = with_parity(&f, 20, 64, 2);
        assert_eq!(data.len(), 16);
        for lost in [0, 7, 15] {
            let mut r = sce();
            for (i, d) in data.iter().enumerate() {
                if i != lost {
                    assert_pending(r.push(1, d.clone(), i as u64, Some(i as u64)));
                }
            }
            let out = frame_of(r.push(1, parity[0].clone(), 99, Some(99)));
            assert_eq!(out.to_vec(), f, "lost chunk {lost}");
            assert!(out.recovered);
            assert_eq!(out.pts, Some(if lost == 0 { 1 } else { 0 }));
            assert!(matches!(
                r.push(1, parity[1].clone(), 0, None),
                Outcome::ParityUnneeded
            ));
            let s = r.stats();
            assert_eq!(
                (s.frames_recovered, s.chunks_recovered, s.chunks_parity),
                (1, 1, 2)
            );
            assert_eq!(r.held_bytes(), 0);
        }
    }

    #[test]
    fn whole_frames_come_out_on_their_last_data_chunk_before_parity() {
        let f = jpeg(1000, 5);
        let (data, parity) = with_parity(&f, 21, 64, 3);
        let mut r = sce();
        for d in &data[..15] {
            assert_pending(r.push(1, d.clone(), 0, None));
        }
        let out = frame_of(r.push(1, data[15].clone(), 0, None));
        assert!(!out.recovered);
        assert_eq!(out.to_vec(), f);
        for p in &parity {
            assert!(matches!(
                r.push(1, p.clone(), 0, None),
                Outcome::ParityUnneeded
            ));
        }
        assert_eq!(r.stats().chunks_duplicate, 0);
        assert_eq!(r.stats().frames_recovered, 0);
    }

    #[test]
    fn parity_first_then_data() {
        let f = jpeg(200, 6);
        let (data, parity) = with_parity(&f, 22, 16, 4);
        let mut r = sce();
        for p in &parity {
            assert_pending(r.push(1, p.clone(), 0, None));
        }
        // 13 data chunks, 4 parity: any 9 data chunks rebuild the frame (or
        // a few more if the first solve fails).
        let mut out = None;
        for d in data.iter().skip(4) {
            if let Outcome::Frame(fr) = r.push(1, d.clone(), 0, None) {
                out = Some(fr);
                break;
            }
        }
        assert_eq!(out.map(|f| f.to_vec()), Some(f));
    }

    #[test]
    fn too_many_losses_are_not_rebuilt() {
        let f = jpeg(1000, 7);
        let (data, parity) = with_parity(&f, 23, 64, 2);
        let mut r = sce();
        for d in &data[4..] {
            assert_pending(r.push(1, d.clone(), 0, None));
        }
        for p in &parity {
            assert_pending(r.push(1, p.clone(), 0, None));
        }
        assert_eq!(r.pending_frames(), 1);
        let held: Vec<&Vec<u8>> = data[4..].iter().chain(&parity).collect();
        assert_eq!(r.held_bytes(), frame_held(&held));
        r.drain();
        assert_eq!(r.stats().frames_lost, 1);
    }

    #[test]
    fn parity_that_disagrees_is_invalid() {
        let f = jpeg(1000, 8);
        let (data, parity) = with_parity(&f, 24, 64, 2);
        let other = jpeg(900, 8);
        let (_, other_parity) = with_parity(&other, 24, 64, 2);
        let mut r = sce();
        assert_pending(r.push(1, data[0].clone(), 0, None));
        assert_pending(r.push(1, parity[0].clone(), 0, None));
        // Same id, another length: disagrees with the first parity chunk.
        assert!(matches!(
            r.push(1, other_parity[1].clone(), 0, None),
            Outcome::Invalid(Invalid::ParityMismatch)
        ));
        // A data chunk of another size than the parity's T.
        assert!(matches!(
            r.push(1, dg(b'C', 24, 1, &[0; 60]), 0, None),
            Outcome::Invalid(Invalid::ParityMismatch)
        ));
        // A data chunk past the parity's K.
        assert!(matches!(
            r.push(1, dg(b'C', 24, 16, &[0; 64]), 0, None),
            Outcome::Invalid(Invalid::ParityMismatch)
        ));
        // Parity whose T disagrees with the data chunks' P.
        let mut r = sce();
        assert_pending(r.push(1, data[0].clone(), 0, None));
        let (_, p32) = with_parity(&f, 24, 32, 1);
        assert!(matches!(
            r.push(1, p32[0].clone(), 0, None),
            Outcome::Invalid(Invalid::ParityMismatch)
        ));
        assert_eq!(r.stats().chunks_invalid, 1);
    }

    #[test]
    fn forged_parity_never_yields_a_frame() {
        let f = jpeg(1000, 9);
        let (data, parity) = with_parity(&f, 25, 64, 2);
        let mut r = sce();
        for d in &data[1..] {
            assert_pending(r.push(1, d.clone(), 0, None));
        }
        // Right header, wrong symbols: the rebuilt frame fails its CRC.
        for p in &parity {
            let mut forged = p.clone();
            for b in &mut forged[wire::PARITY_HEADER_LEN..] {
                *b ^= 0x5A;
            }
            assert_pending(r.push(1, forged, 0, None));
        }
        assert_eq!(r.stats().frames_recovered, 0);
        assert_eq!(r.stats().frames_received, 0);
    }

    #[test]
    fn short_or_bad_parity_is_invalid() {
        let mut r = sce();
        assert!(matches!(
            r.push(1, vec![b'F', 0, 1, 0, 0, 9], 0, None),
            Outcome::Invalid(Invalid::Parity(wire::ParityError::TooShort { len: 6 }))
        ));
        let f = jpeg(100, 1);
        let (_, parity) = with_parity(&f, 1, 16, 1);
        let mut bad = parity[0].clone();
        bad.pop(); // T no longer a multiple of 8 and no longer fits K
        assert!(matches!(r.push(1, bad, 0, None), Outcome::Invalid(_)));
        assert_eq!(r.stats().chunks_parity, 2);
        assert_eq!(r.stats().chunks_invalid, 2);
        assert_eq!(r.pending_frames(), 0);
    }

    #[test]
    fn sender_hash_spreads_addresses_and_depends_on_the_seed() {
        use std::collections::HashSet;
        use std::net::SocketAddr;
        let a = SenderHashState::new();
        let b = SenderHashState::new();
        let keys: Vec<Option<SocketAddr>> = (0..2000u32)
            .map(|i| {
                Some(SocketAddr::from((
                    [10, 0, (i >> 8) as u8, i as u8],
                    5000 + (i % 3) as u16,
                )))
            })
            .chain([None])
            .collect();
        let ha: HashSet<u64> = keys.iter().map(|k| a.hash_one(k)).collect();
        assert_eq!(
            ha.len(),
            keys.len(),
            "no collision among {} keys",
            keys.len()
        );
        // hashbrown picks buckets with the low bits and tags with the top 7.
        let low: HashSet<u64> = keys.iter().map(|k| a.hash_one(k) & 1023).collect();
        let top: HashSet<u64> = keys.iter().map(|k| a.hash_one(k) >> 57).collect();
        assert!(low.len() > 800, "{} of 1024 low values", low.len());
        assert_eq!(top.len(), 128, "every top-7-bit value");
        let same = keys
            .iter()
            .filter(|k| a.hash_one(k) == b.hash_one(k))
            .count();
        assert_eq!(same, 0, "two reassemblers hash with different seeds");
    }

    /// A datagram held in two parts, as a header memory and a payload
    /// memory of a GStreamer buffer are.
    #[derive(Debug, Clone)]
    struct Two(Vec<u8>, Vec<u8>);

    impl Datagram for Two {
        fn parts(&self) -> (&[u8], &[u8]) {
            (&self.0, &self.1)
        }
        fn pinned_len(&self) -> usize {
            self.0.pinned_len() + self.1.pinned_len()
        }
    }

    /// What became of a datagram, comparable across datagram types.
    fn summary<B: Datagram + fmt::Debug>(o: &Outcome<u32, B>) -> String {
        match o {
            Outcome::Frame(f) => format!(
                "frame {:?} {} {:?} {} {}",
                f.image_id,
                f.len,
                f.pts,
                f.recovered,
                f.to_vec()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            ),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn datagrams_in_two_parts_behave_as_in_one() {
        // Frames whole and with a lost chunk rebuilt from parity, duplicates,
        // invalid datagrams (too short, C at 0), a parity chunk for a frame
        // already whole, an unknown kind; then the same in countdown.
        let f1 = jpeg(1000, 1);
        let f2 = jpeg(700, 2);
        let (d1, p1) = with_parity(&f1, 1, 64, 2);
        let (d2, p2) = with_parity(&f2, 2, 64, 2);
        let mut sce_input: Vec<Vec<u8>> = d1.clone();
        sce_input.extend(p1.iter().cloned());
        sce_input.extend(d2.iter().skip(1).cloned());
        sce_input.push(d2[3].clone());
        sce_input.extend(p2.iter().cloned());
        sce_input.extend([
            vec![b'S', 0, 3, 0],
            dg(b'C', 3, 0, b"x"),
            dg(b'S', 4, 0, b""),
            dg(b'Z', 4, 0, b""),
            p2[0][..wire::PARITY_HEADER_LEN].to_vec(),
        ]);
        let f3 = jpeg(40, 3);
        let cd_input: Vec<Vec<u8>> = Plan::new(WireFormat::Countdown, 40, 9)
            .unwrap()
            .datagrams(0, &f3);
        for (format, input) in [
            (WireFormat::Sce, &sce_input),
            (WireFormat::Countdown, &cd_input),
        ] {
            let longest = input.iter().map(Vec::len).max().unwrap();
            for split in 0..=longest {
                let mut one = R::new(format, Limits::default());
                let mut two = Reassembler::<u32, Two>::new(format, Limits::default());
                let mut frames = 0;
                for (i, d) in input.iter().enumerate() {
                    let at = split.min(d.len());
                    let parts = Two(d[..at].to_vec(), d[at..].to_vec());
                    let a = summary(&one.push(1, d.clone(), i as u64, Some(i as u64)));
                    let b = summary(&two.push(1, parts, i as u64, Some(i as u64)));
                    assert_eq!(a, b, "{format:?}, datagram {i} split at {at}");
                    frames += usize::from(a.starts_with("frame"));
                }
                assert_eq!(one.stats(), two.stats(), "{format:?}, split at {split}");
                assert_eq!(one.held_bytes(), two.held_bytes());
                let want = if format == WireFormat::Sce { 2 } else { 1 };
                assert_eq!(frames, want, "{format:?}, split at {split}");
            }
        }
        assert_eq!(one_rebuilt(&sce_input), 1, "the second frame is rebuilt");
    }

    fn one_rebuilt(input: &[Vec<u8>]) -> u64 {
        let mut r = sce();
        for d in input {
            r.push(1, d.clone(), 0, None);
        }
        r.stats().frames_recovered
    }

    fn cd(c: u8, payload: &[u8]) -> Vec<u8> {
        let mut d = vec![c];
        d.extend_from_slice(payload);
        d
    }

    #[test]
    fn countdown_frame() {
        let mut r = R::new(WireFormat::Countdown, Limits::default());
        let f = jpeg(10, 9);
        let d = Plan::new(WireFormat::Countdown, 10, 5)
            .unwrap()
            .datagrams(0, &f);
        assert_eq!(d[0][0], 3);
        assert_pending(r.push(1, d[0].clone(), 0, Some(7)));
        assert_pending(r.push(1, d[1].clone(), 0, Some(8)));
        let out = frame_of(r.push(1, d[2].clone(), 0, Some(9)));
        assert_eq!(out.to_vec(), f);
        assert_eq!((out.pts, out.image_id), (Some(7), None));
    }

    #[test]
    fn countdown_resync_after_loss() {
        let mut r = R::new(WireFormat::Countdown, Limits::default());
        // Segment 2 of frame A lost: A's 3 then 1 breaks the countdown; the
        // 1 starts a frame on its own that fails the SOI check.
        assert_pending(r.push(1, cd(3, &[0xFF, 0xD8]), 0, None));
        assert!(matches!(
            r.push(1, cd(1, &[0xFF, 0xD9]), 0, None),
            Outcome::Invalid(Invalid::NotJpeg { len: 2 })
        ));
        assert_eq!(r.stats().frames_lost, 1);
        // The next whole frame comes out, marked as a discontinuity.
        assert_pending(r.push(1, cd(2, &[0xFF, 0xD8]), 0, None));
        let out = frame_of(r.push(1, cd(1, &[0xFF, 0xD9]), 0, None));
        assert_eq!(out.to_vec(), [0xFF, 0xD8, 0xFF, 0xD9]);
        assert!(out.discont);
        // A repeated countdown restarts the frame.
        assert_pending(r.push(1, cd(2, &[0xFF, 0xD8]), 0, None));
        assert_pending(r.push(1, cd(2, &[0xFF, 0xD8]), 0, None));
        let out = frame_of(r.push(1, cd(1, &[0xFF, 0xD9]), 0, None));
        assert_eq!(out.len, 4);
        assert_eq!(r.stats().frames_lost, 2);
    }

    #[test]
    fn countdown_invalid_cases() {
        let mut r = R::new(WireFormat::Countdown, Limits::default());
        assert!(matches!(
            r.push(1, cd(0, &[1]), 0, None),
            Outcome::Invalid(Invalid::Wire(WireError::ZeroCountdown))
        ));
        assert!(matches!(
            r.push(1, vec![2], 0, None),
            Outcome::Invalid(Invalid::Wire(WireError::TooShort { .. }))
        ));
        // No EOI at the end.
        assert!(matches!(
            r.push(1, cd(1, &[0xFF, 0xD8, 0, 0]), 0, None),
            Outcome::Invalid(Invalid::NotJpeg { len: 4 })
        ));
        // SOI and EOI must be four bytes at least: FF D8 D9 is not a frame.
        assert!(matches!(
            r.push(1, cd(1, &[0xFF, 0xD8, 0xD9]), 0, None),
            Outcome::Invalid(Invalid::NotJpeg { len: 3 })
        ));
        assert_eq!(r.stats().chunks_invalid, 2);
        assert_eq!(r.stats().frames_invalid, 2);
    }

    #[test]
    fn countdown_max_frame_size() {
        let limits = Limits {
            max_frame_size: 4,
            ..Limits::default()
        };
        let mut r = R::new(WireFormat::Countdown, limits);
        assert_pending(r.push(1, cd(3, &[0xFF, 0xD8, 0]), 0, None));
        assert!(matches!(
            r.push(1, cd(2, &[0, 0]), 0, None),
            Outcome::Invalid(Invalid::TooLarge { end: 5, max: 4 })
        ));
        assert_eq!(r.pending_frames(), 0);
        assert_eq!(r.held_bytes(), 0);
        assert_eq!(r.stats().frames_lost, 1);
    }

    /// A datagram as udpsrc hands over a small one: a few bytes in a
    /// 1,499-byte memory.
    #[derive(Debug)]
    struct Pinned(Vec<u8>);

    impl Datagram for Pinned {
        fn parts(&self) -> (&[u8], &[u8]) {
            (&self.0, &[])
        }
        fn pinned_len(&self) -> usize {
            1499
        }
    }

    #[test]
    fn one_byte_chunks_are_charged_what_they_pin() {
        // The flood that once held 2.4 GB: 1-byte middle chunks of 4 frames
        // from each of 4 senders, with a long timeout. Charged what they
        // pin, they stop at the budget.
        let limits = Limits {
            timeout_ns: 60_000_000_000,
            max_frame_size: 1 << 20,
            max_held_bytes: 8 << 20,
            ..Limits::default()
        };
        let mut r = Reassembler::<u32, Pinned>::new(WireFormat::Sce, limits);
        let charge = Reassembler::<u32, Pinned>::chunk_charge(&Pinned(Vec::new()));
        assert!(charge > 1499, "{charge}");
        let mut most = 0;
        for i in 0..40_000u32 {
            let (sender, id, cid) = (i % 4, (i / 4 % 4) as u16, (1 + i / 16) as u16);
            let d = Pinned(dg(b'C', id, cid, &[0]));
            assert_pending(r.push(sender, d, u64::from(i), None));
            most = most.max(r.held_bytes());
        }
        assert!(most <= 8 << 20, "held {most}");
        assert!(
            most > (8 << 20) - charge - Reassembler::<u32, Pinned>::frame_charge(),
            "the budget is what stops the flood: {most} held at most"
        );
        let s = r.stats();
        assert!(s.frames_memory_limit > 0);
        assert_eq!(s.frames_lost, s.frames_memory_limit);
        assert_eq!(r.audit(), Ok(()));
        let ab = r.take_abandoned();
        assert!(ab.iter().all(|a| a.cause == Cause::MemoryLimit));
        // Each sender holds more than its share: each loses its own frames.
        for sender in 0..4 {
            let lost = ab.iter().filter(|a| a.sender == sender).count();
            assert!(lost >= 4, "sender {sender} lost {lost} frames");
        }
    }

    #[test]
    fn the_memory_limit_abandons_the_oldest_frame_of_any_sender_but_the_one_joined() {
        let one = frame_held(&[&dg(b'S', 0, 0, &[0xFF, 0xD8])]);
        let limits = Limits {
            max_held_bytes: 3 * one,
            ..Limits::default()
        };
        let mut r = R::new(WireFormat::Sce, limits);
        // Frames 1 (sender 1), 2 (sender 2), 3 (sender 1): the budget is full.
        for (now, (sender, id)) in [(1, 1), (2, 2), (1, 3)].into_iter().enumerate() {
            assert_pending(r.push(sender, dg(b'S', id, 0, &[0xFF, 0xD8]), now as u64, None));
        }
        assert_eq!(r.held_bytes(), 3 * one);
        // A fourth frame, from a third sender: the oldest (sender 1's frame 1) goes.
        assert_pending(r.push(3, dg(b'S', 4, 0, &[0xFF, 0xD8]), 3, None));
        // A chunk joining frame 2, now the oldest: frame 3 goes instead.
        assert_pending(r.push(2, dg(b'C', 2, 1, &[0, 0]), 4, None));
        let gone: Vec<(u32, Option<u16>, Cause)> = r
            .take_abandoned()
            .iter()
            .map(|a| (a.sender, a.image_id, a.cause))
            .collect();
        assert_eq!(
            gone,
            [
                (1, Some(1), Cause::MemoryLimit),
                (1, Some(3), Cause::MemoryLimit)
            ]
        );
        assert!(r.held_bytes() <= 3 * one);
        assert_eq!(r.stats().frames_memory_limit, 2);
        assert_eq!(r.audit(), Ok(()));
        // Frame 2 still completes.
        assert_eq!(frame_of(r.push(2, dg(b'E', 2, 2, &[0xD9]), 5, None)).len, 5);
    }

    #[test]
    fn one_address_flooding_the_memory_limit_pushes_out_only_its_own_frames() {
        // Sender 1 has a frame in progress; sender 2 starts frame after frame
        // until the budget is full, and on. Holding far more than its share
        // (a quarter of the budget with 4 senders), sender 2 only ever loses
        // its own frames.
        let one = frame_held(&[&dg(b'S', 0, 0, &[0xFF, 0xD8])]);
        let limits = Limits {
            max_held_bytes: 8 * one,
            max_senders: 4,
            max_pending_frames: 64,
            ..Limits::default()
        };
        let mut r = R::new(WireFormat::Sce, limits);
        assert_pending(r.push(1, dg(b'S', 1, 0, &[0xFF, 0xD8]), 0, None));
        for id in 100..200 {
            assert_pending(r.push(2, dg(b'S', id, 0, &[0xFF, 0xD8]), u64::from(id), None));
        }
        let ab = r.take_abandoned();
        assert_eq!(ab.len(), 100 - 7);
        assert!(
            ab.iter()
                .all(|a| a.sender == 2 && a.cause == Cause::MemoryLimit)
        );
        assert_eq!(
            frame_of(r.push(1, dg(b'E', 1, 1, &[0xD9]), 200, None)).len,
            3
        );
        assert_eq!(r.audit(), Ok(()));
    }

    #[test]
    fn a_chunk_that_cannot_fit_is_refused_and_its_frame_abandoned() {
        let small = frame_held(&[&dg(b'S', 0, 0, &[0xFF, 0xD8])]);
        let limits = Limits {
            max_held_bytes: small + 100,
            ..Limits::default()
        };
        let mut r = R::new(WireFormat::Sce, limits);
        assert_pending(r.push(1, dg(b'S', 1, 0, &[0xFF, 0xD8]), 0, None));
        assert_pending(r.push(2, dg(b'S', 1, 0, &[0xFF; 50]), 1, None));
        assert_eq!(r.take_abandoned()[0].sender, 1, "made room for sender 2");
        // A chunk of sender 2's frame that cannot fit beside it: refused, and
        // the frame (which could never complete) abandoned.
        assert!(matches!(
            r.push(2, dg(b'C', 1, 1, &[0; 50]), 2, None),
            Outcome::Invalid(Invalid::Memory { .. })
        ));
        let ab = r.take_abandoned();
        assert_eq!((ab.len(), ab[0].sender), (1, 2));
        assert_eq!((r.pending_frames(), r.held_bytes()), (0, 0));
        // A chunk larger than the budget on its own: refused, and the frames
        // held stay.
        assert_pending(r.push(1, dg(b'S', 2, 0, &[0xFF, 0xD8]), 3, None));
        assert!(matches!(
            r.push(3, dg(b'S', 1, 0, &[0xFF; 1000]), 4, None),
            Outcome::Invalid(Invalid::Memory { .. })
        ));
        assert!(r.take_abandoned().is_empty());
        assert_eq!(r.pending_frames(), 1);
        let s = r.stats();
        assert_eq!((s.chunks_invalid, s.frames_memory_limit), (2, 2));
        assert_eq!(r.audit(), Ok(()));
    }

    #[test]
    fn a_smaller_memory_limit_applies_at_once() {
        let mut r = sce();
        for id in 0..10 {
            assert_pending(r.push(1, dg(b'S', id, 0, &[0xFF, 0xD8]), u64::from(id), None));
        }
        let one = r.held_bytes() / 4;
        assert_eq!(r.pending_frames(), 4);
        r.set_limits(Limits {
            max_held_bytes: 2 * one,
            ..Limits::default()
        });
        assert_eq!((r.pending_frames(), r.held_bytes()), (2, 2 * one));
        let ids: Vec<Option<u16>> = r
            .take_abandoned()
            .iter()
            .filter(|a| a.cause == Cause::MemoryLimit)
            .map(|a| a.image_id)
            .collect();
        assert_eq!(ids, [Some(6), Some(7)]);
        assert_eq!(r.audit(), Ok(()));
    }

    #[test]
    fn countdown_frames_are_held_within_the_memory_limit() {
        let one = frame_held(&[&cd(3, &[0xFF, 0xD8])]);
        let limits = Limits {
            max_held_bytes: 2 * one,
            ..Limits::default()
        };
        let mut r = R::new(WireFormat::Countdown, limits);
        assert_pending(r.push(1, cd(3, &[0xFF, 0xD8]), 0, None));
        assert_pending(r.push(2, cd(3, &[0xFF, 0xD8]), 1, None));
        // Sender 1's next segment does not fit beside both: sender 2's
        // frame, the oldest but for the one it joins, goes.
        assert_pending(r.push(1, cd(2, &[0, 0]), 2, None));
        let ab = r.take_abandoned();
        assert_eq!(
            (ab.len(), ab[0].sender, ab[0].cause),
            (1, 2, Cause::MemoryLimit)
        );
        assert_eq!(frame_of(r.push(1, cd(1, &[0xFF, 0xD9]), 3, None)).len, 6);
        assert_eq!((r.pending_frames(), r.held_bytes()), (0, 0));
        assert_eq!(r.audit(), Ok(()));
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
    fn countdown_timeout() {
        let limits = Limits {
            timeout_ns: 10,
            ..Limits::default()
        };
        let mut r = R::new(WireFormat::Countdown, limits);
        assert_pending(r.push(1, cd(2, &[0xFF, 0xD8]), 0, None));
        assert!(matches!(
            r.push(1, cd(1, &[0xFF, 0xD9]), 50, None),
            Outcome::Invalid(Invalid::NotJpeg { .. })
        ));
        assert_eq!(r.stats().frames_timeout, 1);
    }
}
