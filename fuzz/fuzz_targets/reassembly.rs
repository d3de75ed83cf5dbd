//! `reassembly`: a fuzzer-chosen sequence of datagrams from a few senders.
//!
//! The input picks the wire format, small limits, a few known JPEG frames
//! (FF D8 + bytes + FF D9, each with a sender and an image id, cut with
//! `Plan`), then a list of operations: single datagrams of known frames
//! (repeats are duplicates, omissions are drops), whole known frames in a
//! rotated or reversed order, forged `sce` datagrams (any kind, ids, chunk
//! ids including 65535, payloads that may start with FF D8), forged
//! countdown datagrams, raw bytes, clock steps and drains. The clock is fake
//! and moves forward by at least 1 ns per datagram, so no two datagrams
//! share a time (the least recently heard sender is then unambiguous).
//!
//! Datagrams are handed over as `Rc<[u8]>` and kept alive here, so every
//! payload slice of an emitted frame points into exactly one datagram this
//! target pushed: the oracle knows where every byte of a frame came from.
//!
//! Asserted after every push:
//! - held bytes <= `limits.max_held_bytes` (from none to a few frames' worth,
//!   or unlimited), the reassembler's own `audit` of its bookkeeping,
//!   pending frames <= senders x pending limit, senders <= `max_senders` and
//!   equal to a model of the sender table (least recently heard evicted
//!   first);
//! - counters move as the outcome says (one datagram each; invalid,
//!   duplicate, late, unknown kind; frames received/invalid; lost frames
//!   match `take_abandoned`, cause by cause), abandoned frames hold >= 1
//!   chunk and >= 1 byte per chunk, and held bytes change by exactly what
//!   was accepted (the datagram's charge, and a frame's when it starts one),
//!   emitted and abandoned;
//! - provenance of every emitted frame: each chunk is a distinct datagram
//!   pushed by the frame's sender (never reused by another frame), the
//!   datagram being pushed is one of them, `len`, `to_vec` and `copy_to`
//!   agree with the chunks, the frame is a JPEG frame (FF D8, and FF D9 for
//!   countdown) of at most `max_frame_size` bytes; `sce`: same image id,
//!   chunk ids 0..n in order with kinds S/C/E as they must be, every chunk
//!   but the last P bytes and the last at most P; countdown: countdowns n..1
//!   in arrival order and no valid datagram of that sender skipped between
//!   its first and last chunk; pts is the tag of a datagram of the same
//!   sender (and image id) no later than the frame's first, and the frame
//!   completed before that datagram's timeout;
//! - `sce` never emits an id 0..=64 behind the sender's last emitted one;
//! - strict mode (`sce`, forged or raw datagrams that would parse into the
//!   (sender, image id) of a known frame are not sent): a frame with a known
//!   (sender, id) equals that known frame byte for byte and is made only of
//!   its datagrams, any other frame only of forged ones; and liveness: a
//!   known frame pushed whole, never seen before, that fits the limits and
//!   is not late or a duplicate, and whose datagrams fit `max_held_bytes`
//!   together, comes out on its last datagram;
//! - after a drain: nothing held, no pending frame, no sender, and every
//!   held byte was reported as abandoned with cause `Drained`;
//! - a twin reassembler fed the same datagrams each in two parts (split at
//!   a fuzzer-chosen offset, as a header memory and a payload memory are,
//!   and charged as the datagram in one piece is) gives the same outcome,
//!   frame bytes, counters and held bytes.
#![no_main]

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use arbitrary::{Arbitrary, Result, Unstructured};
use gstudpjpeg::reassembly::{
    Cause, Datagram, Frame, Invalid, LATE_WINDOW, Limits, Outcome, Reassembler, heap_block,
};
use gstudpjpeg::wire::{self, Kind, Plan, SceHeader, WireFormat};
use libfuzzer_sys::fuzz_target;

type Dg = Rc<[u8]>;
type R = Reassembler<u8, Dg>;

/// A datagram in two parts, for the twin reassembler. It is the size of a
/// `Dg` and says it pins what the same datagram as a `Dg` does, so that the
/// twin charges the same and so abandons the same frames.
struct Two(Rc<Vec<u8>>, Rc<Vec<u8>>);

const _: () = assert!(std::mem::size_of::<Two>() == std::mem::size_of::<Dg>());

impl Datagram for Two {
    fn parts(&self) -> (&[u8], &[u8]) {
        (&self.0, &self.1)
    }
    fn pinned_len(&self) -> usize {
        heap_block(self.0.len() + self.1.len() + 2 * std::mem::size_of::<usize>())
    }
}

/// An outcome in a form that compares across datagram types.
fn summary<B: Datagram>(o: &Outcome<u8, B>) -> String {
    match o {
        Outcome::Frame(f) => format!(
            "frame {} {:?} {} {:?} {} {:?}",
            f.sender,
            f.image_id,
            f.len,
            f.pts,
            f.discont,
            f.to_vec()
        ),
        Outcome::Pending => "pending".into(),
        Outcome::Duplicate => "duplicate".into(),
        Outcome::Late => "late".into(),
        Outcome::Invalid(i) => format!("invalid {i:?}"),
        Outcome::UnknownKind(k) => format!("unknown {k}"),
        Outcome::ParityUnneeded => "parity unneeded".into(),
    }
}

const SENDERS: u8 = 6;

#[derive(Debug)]
struct Known {
    sender: u8,
    id: u16,
    frame: Vec<u8>,
    datagrams: Vec<Vec<u8>>,
}

#[derive(Debug, Arbitrary)]
enum ChunkId {
    Zero,
    One,
    Max,
    Small(u8),
    Any(u16),
}

#[derive(Debug, Arbitrary)]
enum Op {
    /// One datagram of a known frame.
    Chunk { frame: u8, index: u8 },
    /// All datagrams of a known frame, rotated, maybe reversed.
    Whole {
        frame: u8,
        rotate: u8,
        reverse: bool,
    },
    /// A forged `sce` datagram.
    Forged {
        sender: u8,
        kind: u8,
        id: u16,
        chunk: ChunkId,
        soi: bool,
        payload: Vec<u8>,
    },
    /// A forged countdown datagram.
    Countdown {
        sender: u8,
        count: u8,
        soi: bool,
        eoi: bool,
        payload: Vec<u8>,
    },
    /// Anything.
    Raw { sender: u8, bytes: Vec<u8> },
    /// Moves the clock on.
    Advance { ns: u16 },
    /// End of stream.
    Drain,
}

struct Pushed {
    sender: u8,
    bytes: Dg,
    time: u64,
    /// Index of the known frame it belongs to.
    known: Option<usize>,
    /// Parses as a datagram the reassembler files under its sender.
    valid: bool,
}

struct Harness {
    format: WireFormat,
    limits: Limits,
    strict: bool,
    r: R,
    /// Fed every datagram `r` is, in two parts split at `split`.
    twin: Reassembler<u8, Two>,
    split: usize,
    known: Vec<Known>,
    /// Known (sender, image id) -> index into `known` (`sce` only).
    known_ids: HashMap<(u8, u16), usize>,
    /// Known frames of which a datagram has been pushed.
    known_touched: HashSet<usize>,
    log: Vec<Pushed>,
    by_addr: HashMap<usize, usize>,
    used: HashSet<usize>,
    now: u64,
    /// Model of the sender table: sender -> last heard.
    senders: HashMap<u8, u64>,
    /// Model: last image id emitted per sender.
    last_emitted: HashMap<u8, u16>,
    bytes_received: u64,
}

fn header_len(format: WireFormat) -> usize {
    format.header_len()
}

impl Harness {
    fn is_valid(&self, d: &[u8]) -> bool {
        match self.format {
            WireFormat::Sce => {
                matches!(SceHeader::parse(d), Ok((h, _)) if !matches!(h.kind, Kind::Other(_)))
            }
            WireFormat::Countdown => wire::parse_countdown(d).is_ok(),
        }
    }

    /// Strict mode: would this datagram be filed under a known frame?
    fn collides(&self, sender: u8, d: &[u8]) -> bool {
        if !self.strict {
            return false;
        }
        match SceHeader::parse(d) {
            Ok((h, _)) if !matches!(h.kind, Kind::Other(_)) => {
                self.known_ids.contains_key(&(sender, h.image_id))
            }
            _ => false,
        }
    }

    fn model_hear(&mut self, sender: u8) -> Option<u8> {
        let mut evicted = None;
        if !self.senders.contains_key(&sender)
            && self.senders.len() >= self.limits.max_senders.max(1)
        {
            let (&oldest, _) = self
                .senders
                .iter()
                .min_by_key(|(_, t)| **t)
                .expect("table is not empty");
            self.senders.remove(&oldest);
            self.last_emitted.remove(&oldest);
            evicted = Some(oldest);
        }
        self.senders.insert(sender, self.now);
        evicted
    }

    fn push(&mut self, sender: u8, bytes: Vec<u8>, known: Option<usize>) -> Option<Vec<u8>> {
        if self.format == WireFormat::Sce && bytes.first() == Some(&b'F') {
            // Parity (`F`) chunks rebuild data the sender never sent as
            // such: outside this oracle (they need one of their own).
            return None;
        }
        self.now += 1;
        let seq = self.log.len();
        let valid = self.is_valid(&bytes);
        let at = self.split.min(bytes.len());
        let two = Two(Rc::new(bytes[..at].to_vec()), Rc::new(bytes[at..].to_vec()));
        let dg: Dg = Rc::from(bytes);
        let charge = R::chunk_charge(&dg);
        if !dg.is_empty() {
            self.by_addr.insert(dg.as_ptr() as usize, seq);
        }
        if let Some(k) = known {
            self.known_touched.insert(k);
        }
        self.log.push(Pushed {
            sender,
            bytes: dg.clone(),
            time: self.now,
            known,
            valid,
        });
        self.bytes_received += dg.len() as u64;

        let evicted = if valid { self.model_hear(sender) } else { None };
        let before = self.r.stats().clone();
        let held_before = self.r.held_bytes();

        let outcome = self.r.push(sender, dg, self.now, Some(seq as u64));
        let twin = self.twin.push(sender, two, self.now, Some(seq as u64));
        assert_eq!(summary(&outcome), summary(&twin), "split at {at}");
        assert_eq!(self.r.stats(), self.twin.stats(), "split at {at}");
        assert_eq!(self.r.held_bytes(), self.twin.held_bytes());
        let _ = self.twin.take_abandoned();

        let after = self.r.stats().clone();
        let abandoned = self.r.take_abandoned();
        let held = self.r.held_bytes();

        // Limits.
        assert!(
            held <= self.limits.max_held_bytes,
            "held {held} > max_held_bytes {}",
            self.limits.max_held_bytes
        );
        assert_eq!(self.r.audit(), Ok(()));
        assert_eq!(self.twin.audit(), Ok(()));
        assert!(self.r.senders() <= self.limits.max_senders.max(1));
        assert_eq!(self.r.senders(), self.senders.len(), "sender table");
        assert!(
            self.r.pending_frames() <= self.r.senders() * self.limits.max_pending_frames.max(1),
            "{} pending frames",
            self.r.pending_frames()
        );

        // Counters.
        let d = |a: u64, b: u64| b.checked_sub(a).expect("counter went down");
        assert_eq!(after.chunks_received, seq as u64 + 1);
        assert_eq!(after.bytes_received, self.bytes_received);
        let is = |c: bool| u64::from(c);
        assert_eq!(
            d(before.chunks_duplicate, after.chunks_duplicate),
            is(matches!(outcome, Outcome::Duplicate))
        );
        assert_eq!(
            d(before.chunks_late, after.chunks_late),
            is(matches!(outcome, Outcome::Late))
        );
        assert_eq!(
            d(before.chunks_unknown_kind, after.chunks_unknown_kind),
            is(matches!(outcome, Outcome::UnknownKind(_)))
        );
        assert_eq!(
            d(before.frames_received, after.frames_received),
            is(matches!(outcome, Outcome::Frame(_)))
        );
        let not_jpeg = matches!(outcome, Outcome::Invalid(Invalid::NotJpeg { .. }));
        assert_eq!(d(before.frames_invalid, after.frames_invalid), is(not_jpeg));
        let invalid = matches!(outcome, Outcome::Invalid(_)) && !not_jpeg;
        let accepted = matches!(outcome, Outcome::Pending | Outcome::Frame(_)) || not_jpeg;
        let extra_invalid = d(before.chunks_invalid, after.chunks_invalid);
        if invalid {
            assert_eq!(extra_invalid, 1);
        } else {
            // An `E` held before P was known, found invalid now.
            assert!(extra_invalid <= 1);
            assert!(extra_invalid == 0 || (accepted && self.format == WireFormat::Sce));
        }
        // Exactly the datagrams that do not parse (or are of an unknown
        // kind) are refused before reaching a sender.
        assert_eq!(
            !valid,
            matches!(
                outcome,
                Outcome::Invalid(Invalid::Wire(_)) | Outcome::UnknownKind(_)
            ),
            "valid {valid}, outcome {outcome:?}"
        );
        assert_eq!(
            d(before.frames_lost, after.frames_lost),
            abandoned.len() as u64
        );
        let count = |c: Cause| abandoned.iter().filter(|a| a.cause == c).count() as u64;
        assert_eq!(
            d(before.frames_superseded, after.frames_superseded),
            count(Cause::Superseded)
        );
        assert_eq!(
            d(before.frames_pending_limit, after.frames_pending_limit),
            count(Cause::PendingLimit)
        );
        assert_eq!(
            d(before.frames_timeout, after.frames_timeout),
            count(Cause::Timeout)
        );
        assert_eq!(
            d(before.frames_memory_limit, after.frames_memory_limit),
            count(Cause::MemoryLimit)
        );
        assert_eq!(
            d(before.senders_evicted, after.senders_evicted),
            is(evicted.is_some())
        );
        let mut abandoned_bytes = 0usize;
        for a in &abandoned {
            assert!(a.chunks >= 1 && a.bytes >= a.chunks, "{a:?}");
            assert_eq!(a.image_id.is_some(), self.format == WireFormat::Sce);
            match a.cause {
                Cause::Superseded | Cause::PendingLimit | Cause::Resync => {
                    assert_eq!(a.sender, sender)
                }
                Cause::SenderEvicted => assert_eq!(Some(a.sender), evicted),
                Cause::Timeout | Cause::MemoryLimit => {}
                Cause::Drained => panic!("drained on push"),
            }
            abandoned_bytes += a.bytes;
        }

        // Held bytes move by exactly what was accepted (and a frame's charge
        // if the datagram started one), emitted, abandoned. What a frame
        // dropped as not JPEG held is not known here.
        let slot = R::frame_charge() as i128;
        let out_held = match &outcome {
            Outcome::Frame(f) => self.held_by(f) as i128,
            _ => 0,
        };
        let expect = held_before as i128 + if accepted { charge as i128 } else { 0 }
            - out_held
            - abandoned_bytes as i128;
        let held = held as i128;
        if not_jpeg || (extra_invalid == 1 && !invalid) {
            assert!(held < expect + slot, "held {held}, expected < {expect} + {slot}");
        } else if accepted {
            assert!(
                held == expect || held == expect + slot,
                "held {held}, expected {expect} (+ {slot})"
            );
        } else {
            assert_eq!(held, expect, "held bytes accounting");
        }

        match outcome {
            Outcome::Frame(f) => Some(self.check_frame(f, sender, seq)),
            _ => None,
        }
    }

    /// What frame `f` was charged while it was held: its datagrams' charges
    /// and a frame's.
    fn held_by(&self, f: &Frame<u8, Dg>) -> usize {
        let hl = header_len(self.format);
        let chunks: usize = f
            .payloads()
            .filter_map(|p| self.by_addr.get(&(p.as_ptr() as usize).wrapping_sub(hl)))
            .map(|&s| R::chunk_charge(&self.log[s].bytes))
            .sum();
        R::frame_charge() + chunks
    }

    /// What the datagrams of known frame `k` are charged together, held as
    /// one frame.
    fn known_charge(&self, k: usize) -> usize {
        let chunks: usize = self.known[k]
            .datagrams
            .iter()
            .map(|d| R::chunk_charge(&Rc::from(d.as_slice())))
            .sum();
        R::frame_charge() + chunks
    }

    fn check_frame(&mut self, f: Frame<u8, Dg>, sender: u8, seq: usize) -> Vec<u8> {
        let hl = header_len(self.format);
        assert_eq!(f.sender, sender);
        let mut seqs = Vec::new();
        let mut joined = Vec::new();
        for p in f.payloads() {
            let addr = (p.as_ptr() as usize).wrapping_sub(hl);
            let &s = self
                .by_addr
                .get(&addr)
                .expect("payload does not point into a pushed datagram");
            let pushed = &self.log[s];
            assert_eq!(pushed.sender, sender, "chunk from another sender");
            assert_eq!(p, &pushed.bytes[hl..], "chunk is not a whole payload");
            assert!(self.used.insert(s), "datagram {s} used in two frames");
            seqs.push(s);
            joined.extend_from_slice(p);
        }
        assert!(
            seqs.contains(&seq),
            "the completing datagram is not in the frame"
        );
        assert_eq!(f.len, joined.len());
        let v = f.to_vec();
        assert_eq!(v, joined);
        let mut buf = vec![0u8; f.len];
        assert_eq!(f.copy_to(&mut buf), Ok(()));
        assert_eq!(buf, v);
        assert!(f.copy_to(&mut vec![0u8; f.len + 1]).is_err());
        assert!(v.starts_with(&[0xFF, 0xD8]), "frame without SOI");
        assert!(
            v.len() <= self.limits.max_frame_size,
            "frame over max_frame_size"
        );

        let first = *seqs.iter().min().expect("a frame has chunks");
        let pts = f.pts.expect("every datagram has a pts") as usize;
        assert!(
            pts <= first,
            "pts {pts} after the frame's first datagram {first}"
        );
        assert_eq!(self.log[pts].sender, sender);
        let timeout = self.limits.timeout_ns;
        assert!(
            self.log[seq].time < self.log[pts].time.saturating_add(timeout),
            "frame completed after its timeout"
        );

        match self.format {
            WireFormat::Sce => {
                let id = f.image_id.expect("sce frames have ids");
                let hp = SceHeader::parse(&self.log[pts].bytes).expect("pts datagram parses");
                assert_eq!(hp.0.image_id, id);
                let n = seqs.len();
                let mut p_len = None;
                for (i, &s) in seqs.iter().enumerate() {
                    let (h, p) = SceHeader::parse(&self.log[s].bytes).expect("chunk parses");
                    assert_eq!(h.image_id, id);
                    assert_eq!(usize::from(h.chunk_id), i, "chunk ids not 0..n in order");
                    let kind = if i + 1 == n {
                        Kind::End
                    } else if i == 0 {
                        Kind::Start
                    } else {
                        Kind::Centre
                    };
                    assert_eq!(h.kind, kind);
                    if i + 1 < n {
                        assert_eq!(*p_len.get_or_insert(p.len()), p.len(), "unequal P");
                    } else if let Some(pl) = p_len {
                        assert!(p.len() <= pl, "last chunk longer than P");
                    }
                }
                if let Some(last) = self.last_emitted.get(&sender) {
                    let behind = wire::ids_behind(id, *last);
                    assert!(
                        behind > LATE_WINDOW,
                        "emitted id {id} {behind} behind the last emitted {last}"
                    );
                }
                self.last_emitted.insert(sender, id);

                if self.strict {
                    match self.known_ids.get(&(sender, id)) {
                        Some(&k) => {
                            assert_eq!(v, self.known[k].frame, "known frame altered");
                            assert!(seqs.iter().all(|&s| self.log[s].known == Some(k)));
                        }
                        None => assert!(seqs.iter().all(|&s| self.log[s].known.is_none())),
                    }
                }
            }
            WireFormat::Countdown => {
                assert_eq!(f.image_id, None);
                assert_eq!(pts, first, "countdown pts is its first chunk's");
                assert!(
                    v.ends_with(&[0xFF, 0xD9]) && v.len() >= 4,
                    "not a JPEG frame"
                );
                let n = seqs.len();
                for (i, &s) in seqs.iter().enumerate() {
                    let (c, _) = wire::parse_countdown(&self.log[s].bytes).expect("chunk parses");
                    assert_eq!(usize::from(c), n - i, "countdown out of order");
                    if i > 0 {
                        assert!(s > seqs[i - 1], "chunks out of arrival order");
                    }
                }
                let inside: HashSet<usize> = seqs.iter().copied().collect();
                for s in first..=seq {
                    let p = &self.log[s];
                    if p.sender == sender && p.valid {
                        assert!(
                            inside.contains(&s),
                            "valid datagram {s} skipped inside a frame"
                        );
                    }
                }
            }
        }
        v
    }

    fn drain(&mut self) {
        let held = self.r.held_bytes();
        let lost = self.r.stats().frames_lost;
        self.r.drain();
        self.twin.drain();
        let _ = self.twin.take_abandoned();
        assert_eq!(self.r.stats(), self.twin.stats());
        let abandoned = self.r.take_abandoned();
        assert!(abandoned.iter().all(|a| a.cause == Cause::Drained));
        assert_eq!(self.r.stats().frames_lost - lost, abandoned.len() as u64);
        assert_eq!(abandoned.iter().map(|a| a.bytes).sum::<usize>(), held);
        assert_eq!(self.r.held_bytes(), 0);
        assert_eq!(self.r.pending_frames(), 0);
        assert_eq!(self.r.senders(), 0);
        self.senders.clear();
        self.last_emitted.clear();
    }

    /// Liveness (strict `sce`): would this known frame, pushed whole now,
    /// have to come out?
    fn must_emit(&self, k: usize) -> bool {
        let known = &self.known[k];
        self.strict
            && self.format == WireFormat::Sce
            && !self.known_touched.contains(&k)
            && known.frame.len() <= self.limits.max_frame_size
            && known.datagrams.len() as u64 <= self.limits.timeout_ns
            && self.known_charge(k) <= self.limits.max_held_bytes
            && self
                .last_emitted
                .get(&known.sender)
                .is_none_or(|&l| wire::ids_behind(known.id, l) > LATE_WINDOW)
    }

    fn run(&mut self, ops: Vec<Op>) {
        let hl = header_len(self.format);
        for op in ops {
            match op {
                Op::Chunk { frame, index } => {
                    if self.known.is_empty() {
                        continue;
                    }
                    let k = usize::from(frame) % self.known.len();
                    let n = self.known[k].datagrams.len();
                    let d = self.known[k].datagrams[usize::from(index) % n].clone();
                    self.push(self.known[k].sender, d, Some(k));
                }
                Op::Whole {
                    frame,
                    rotate,
                    reverse,
                } => {
                    if self.known.is_empty() {
                        continue;
                    }
                    let k = usize::from(frame) % self.known.len();
                    let must = self.must_emit(k);
                    let mut ds = self.known[k].datagrams.clone();
                    let n = ds.len();
                    ds.rotate_left(usize::from(rotate) % n);
                    if reverse {
                        ds.reverse();
                    }
                    let sender = self.known[k].sender;
                    let mut out = None;
                    for (i, d) in ds.into_iter().enumerate() {
                        let o = self.push(sender, d, Some(k));
                        if must && i + 1 < n {
                            assert!(o.is_none(), "known frame {k} emitted early");
                        }
                        out = o;
                    }
                    if must {
                        assert_eq!(
                            out.as_deref(),
                            Some(&self.known[k].frame[..]),
                            "known frame {k} pushed whole did not come out"
                        );
                    }
                }
                Op::Forged {
                    sender,
                    kind,
                    id,
                    chunk,
                    soi,
                    payload,
                } => {
                    let sender = sender % SENDERS;
                    let kind = match kind % 8 {
                        0..=1 => b'S',
                        2..=3 => b'C',
                        4..=6 => b'E',
                        _ => kind,
                    };
                    let chunk = match chunk {
                        ChunkId::Zero => 0,
                        ChunkId::One => 1,
                        ChunkId::Max => u16::MAX,
                        ChunkId::Small(c) => u16::from(c % 16),
                        ChunkId::Any(c) => c,
                    };
                    let mut d = vec![kind];
                    d.extend_from_slice(&id.to_be_bytes());
                    d.extend_from_slice(&chunk.to_be_bytes());
                    if soi {
                        d.extend_from_slice(&[0xFF, 0xD8]);
                    }
                    d.extend_from_slice(&payload[..payload.len().min(300)]);
                    if !self.collides(sender, &d) {
                        self.push(sender, d, None);
                    }
                }
                Op::Countdown {
                    sender,
                    count,
                    soi,
                    eoi,
                    payload,
                } => {
                    let sender = sender % SENDERS;
                    let mut d = vec![count % 8];
                    if soi {
                        d.extend_from_slice(&[0xFF, 0xD8]);
                    }
                    d.extend_from_slice(&payload[..payload.len().min(300)]);
                    if eoi {
                        d.extend_from_slice(&[0xFF, 0xD9]);
                    }
                    if !self.collides(sender, &d) {
                        self.push(sender, d, None);
                    }
                }
                Op::Raw { sender, bytes } => {
                    let sender = sender % SENDERS;
                    let d = bytes[..bytes.len().min(300 + hl)].to_vec();
                    if !self.collides(sender, &d) {
                        self.push(sender, d, None);
                    }
                }
                Op::Advance { ns } => self.now += u64::from(ns),
                Op::Drain => self.drain(),
            }
        }
        self.drain();
    }
}

fn known_frames(u: &mut Unstructured, format: WireFormat, strict: bool) -> Result<Vec<Known>> {
    let n = u.int_in_range(0..=4)?;
    let mut known: Vec<Known> = Vec::new();
    for _ in 0..n {
        let sender = u.int_in_range(0..=SENDERS - 1)?;
        let mut id: u16 = u.arbitrary()?;
        if strict {
            while known.iter().any(|k| (k.sender, k.id) == (sender, id)) {
                id = id.wrapping_add(1);
            }
        }
        let body_len = u.int_in_range(0..=300)?;
        let mut frame = vec![0xFF, 0xD8];
        frame.extend_from_slice(u.bytes(body_len)?);
        frame.extend_from_slice(&[0xFF, 0xD9]);
        let header = format.header_len();
        // At most 32 datagrams a frame.
        let min_mtu = header + frame.len().div_ceil(32);
        let mtu = u.int_in_range(min_mtu..=header + frame.len() + 4)?;
        let plan = Plan::new(format, frame.len(), mtu).expect("a plan for a small frame");
        let datagrams = plan.datagrams(id, &frame);
        known.push(Known {
            sender,
            id,
            frame,
            datagrams,
        });
    }
    Ok(known)
}

fn build(data: &[u8]) -> Result<(Harness, Vec<Op>)> {
    let mut u = Unstructured::new(data);
    let format = if u.arbitrary()? {
        WireFormat::Countdown
    } else {
        WireFormat::Sce
    };
    let strict = format == WireFormat::Sce && u.arbitrary()?;
    let limits = Limits {
        max_frame_size: u.int_in_range(16..=4096)?,
        max_pending_frames: u.int_in_range(0..=3)?,
        timeout_ns: u.int_in_range(1..=4096)?,
        max_senders: u.int_in_range(1..=4)?,
        // From the length, as `split` below: none to a few frames' worth
        // (a 1-chunk frame is charged about 1.2 KB), or unlimited.
        max_held_bytes: match data.len() % 4 {
            0 => usize::MAX,
            _ => data.len().wrapping_mul(7919) % 16_000,
        },
    };
    // Where the twin splits each datagram (taken from the length, so the
    // bytes of existing seeds keep their meaning).
    let split = data.len() % 25;
    let known = known_frames(&mut u, format, strict)?;
    let known_ids = if format == WireFormat::Sce {
        known
            .iter()
            .enumerate()
            .map(|(i, k)| ((k.sender, k.id), i))
            .collect()
    } else {
        HashMap::new()
    };
    let mut ops = Vec::new();
    while !u.is_empty() && ops.len() < 256 {
        ops.push(u.arbitrary()?);
    }
    let h = Harness {
        format,
        limits,
        strict,
        r: R::new(format, limits),
        twin: Reassembler::new(format, limits),
        split,
        known,
        known_ids,
        known_touched: HashSet::new(),
        log: Vec::new(),
        by_addr: HashMap::new(),
        used: HashSet::new(),
        now: 1_000,
        senders: HashMap::new(),
        last_emitted: HashMap::new(),
        bytes_received: 0,
    };
    Ok((h, ops))
}

fuzz_target!(|data: &[u8]| {
    if let Ok((mut h, ops)) = build(data) {
        assert_eq!(h.r.limits(), h.limits);
        h.run(ops);
    }
});
