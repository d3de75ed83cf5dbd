// SPDX-License-Identifier: MPL-2.0
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
//!   match `take_abandoned`, cause by cause; no internal error), abandoned
//!   frames hold >= 1 chunk and >= 1 byte per chunk, and held bytes change
//!   by exactly what was accepted (the datagram's charge, and a frame's
//!   when it starts one), emitted and abandoned;
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
    Abandoned, Cause, Datagram, Frame, Invalid, LATE_WINDOW, Limits, Outcome, Reassembler, Stats,
    heap_block,
};
use gstudpjpeg::wire::{self, Kind, Plan, SceHeader, WireFormat};
use libfuzzer_sys::fuzz_target;

mod oracle;

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

    /// Pushes one datagram to both reassemblers and checks everything the
    /// push may have changed; returns the frame it completed, if any.
    fn push(&mut self, sender: u8, bytes: Vec<u8>, known: Option<usize>) -> Option<Vec<u8>> {
        if self.format == WireFormat::Sce && bytes.first() == Some(&b'F') {
            // Parity (`F`) chunks rebuild data the sender never sent as
            // such: outside this oracle (they need one of their own).
            return None;
        }
        let (seq, dg, two) = self.record(sender, bytes, known);
        let valid = self.log[seq].valid;
        let evicted = if valid { self.model_hear(sender) } else { None };
        let before = self.r.stats().clone();
        let held_before = self.r.held_bytes();
        let charge = R::chunk_charge(&dg);

        let outcome = self.r.push(sender, dg, self.now, Some(seq as u64));
        let twin = self.twin.push(sender, two, self.now, Some(seq as u64));
        assert_eq!(summary(&outcome), summary(&twin), "split at {}", self.split);
        assert_eq!(self.r.stats(), self.twin.stats(), "split at {}", self.split);
        assert_eq!(self.r.held_bytes(), self.twin.held_bytes());
        let _ = self.twin.take_abandoned();

        let step = Step {
            format: self.format,
            sender,
            seq,
            valid,
            charge,
            evicted,
            before,
            after: self.r.stats().clone(),
            held_before,
            held: self.r.held_bytes(),
            abandoned: self.r.take_abandoned(),
        };
        self.check_limits(&step);
        let verdict = check_counters(&step, &outcome, self.bytes_received);
        let abandoned_bytes = self.check_abandoned(&step);
        self.check_held(&step, &outcome, &verdict, abandoned_bytes);
        match outcome {
            Outcome::Frame(f) => Some(self.check_frame(f, sender, seq)),
            _ => None,
        }
    }

    /// Logs a datagram about to be pushed (by the address of its bytes,
    /// for provenance) and moves the clock on: its number, and the
    /// datagram in one piece and in two.
    fn record(&mut self, sender: u8, bytes: Vec<u8>, known: Option<usize>) -> (usize, Dg, Two) {
        self.now += 1;
        let seq = self.log.len();
        let valid = self.is_valid(&bytes);
        let at = self.split.min(bytes.len());
        let two = Two(Rc::new(bytes[..at].to_vec()), Rc::new(bytes[at..].to_vec()));
        let dg: Dg = Rc::from(bytes);
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
        (seq, dg, two)
    }

    /// Held bytes, senders and pending frames within the limits; the
    /// reassemblers' own audits; the sender table as the model has it.
    fn check_limits(&self, step: &Step) {
        assert!(
            step.held <= self.limits.max_held_bytes,
            "held {} > max_held_bytes {}",
            step.held,
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
    }

    /// Frames abandoned by the push: each holds a chunk and a byte per
    /// chunk, has an id in `sce` only, and is of the pushing sender for
    /// the causes a sender's own datagram brings. Returns the bytes they held.
    fn check_abandoned(&self, step: &Step) -> usize {
        let mut bytes = 0usize;
        for a in &step.abandoned {
            assert!(a.chunks >= 1 && a.bytes >= a.chunks, "{a:?}");
            assert_eq!(a.image_id.is_some(), self.format == WireFormat::Sce);
            match a.cause {
                Cause::Superseded | Cause::PendingLimit | Cause::Resync => {
                    assert_eq!(a.sender, step.sender)
                }
                Cause::SenderEvicted => assert_eq!(Some(a.sender), step.evicted),
                Cause::Timeout | Cause::MemoryLimit => {}
                Cause::Drained => panic!("drained on push"),
            }
            bytes += a.bytes;
        }
        bytes
    }

    /// Held bytes move by exactly what was accepted (and a frame's charge
    /// if the datagram started one), emitted, abandoned. What a frame
    /// dropped as not JPEG held is not known here.
    fn check_held(&self, step: &Step, outcome: &Outcome<u8, Dg>, v: &Verdict, abandoned: usize) {
        let slot = R::frame_charge() as i128;
        let out_held = match outcome {
            Outcome::Frame(f) => self.held_by(f) as i128,
            _ => 0,
        };
        let accepted = if v.accepted { step.charge as i128 } else { 0 };
        let expect = step.held_before as i128 + accepted - out_held - abandoned as i128;
        let held = step.held as i128;
        if v.not_jpeg || (v.extra_invalid == 1 && !v.invalid) {
            assert!(
                held < expect + slot,
                "held {held}, expected < {expect} + {slot}"
            );
        } else if v.accepted {
            assert!(
                held == expect || held == expect + slot,
                "held {held}, expected {expect} (+ {slot})"
            );
        } else {
            assert_eq!(held, expect, "held bytes accounting");
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

    /// Checks an emitted frame, completed by datagram `seq` of `sender`:
    /// where its bytes came from, its bytes, pts and timing, and what its
    /// wire format asks. Returns its bytes.
    fn check_frame(&mut self, f: Frame<u8, Dg>, sender: u8, seq: usize) -> Vec<u8> {
        assert_eq!(f.sender, sender);
        let seqs = self.provenance(&f, sender, seq);
        let v = self.check_bytes(&f, &seqs);
        let pts = self.check_timing(&f, &seqs, sender, seq);
        match self.format {
            WireFormat::Sce => self.check_sce_frame(&f, &seqs, &v, pts),
            WireFormat::Countdown => self.check_countdown_frame(&f, &seqs, &v, pts, seq),
        }
        v
    }

    /// The datagrams frame `f` is made of, in order: each a distinct
    /// datagram of `sender` (never reused by another frame), whose whole
    /// payload is the chunk, the completing datagram `seq` among them.
    fn provenance(&mut self, f: &Frame<u8, Dg>, sender: u8, seq: usize) -> Vec<usize> {
        let hl = header_len(self.format);
        let mut seqs = Vec::new();
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
        }
        assert!(
            seqs.contains(&seq),
            "the completing datagram is not in the frame"
        );
        seqs
    }

    /// `len`, `to_vec` and `copy_to` agree with the chunks `seqs`; the
    /// frame starts with SOI and fits `max_frame_size`. Returns its bytes.
    fn check_bytes(&self, f: &Frame<u8, Dg>, seqs: &[usize]) -> Vec<u8> {
        let hl = header_len(self.format);
        let joined: Vec<u8> = seqs
            .iter()
            .flat_map(|&s| self.log[s].bytes[hl..].iter().copied())
            .collect();
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
        v
    }

    /// The pts is the tag of a datagram of `sender` no later than the
    /// frame's first, and the frame completed before that one's timeout.
    /// Returns the pts (a datagram number).
    fn check_timing(&self, f: &Frame<u8, Dg>, seqs: &[usize], sender: u8, seq: usize) -> usize {
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
        pts
    }

    /// `sce`: one image id (the pts datagram's too), chunk ids 0..n with
    /// the kinds they must have, no id in the late window of the last one
    /// emitted; strict mode: known frames whole and only of their own
    /// datagrams.
    fn check_sce_frame(&mut self, f: &Frame<u8, Dg>, seqs: &[usize], v: &[u8], pts: usize) {
        let id = f.image_id.expect("sce frames have ids");
        let hp = SceHeader::parse(&self.log[pts].bytes).expect("pts datagram parses");
        assert_eq!(hp.0.image_id, id);
        self.check_sce_chunks(seqs, id);
        if let Some(last) = self.last_emitted.get(&f.sender) {
            let behind = wire::ids_behind(id, *last);
            assert!(
                behind > LATE_WINDOW,
                "emitted id {id} {behind} behind the last emitted {last}"
            );
        }
        self.last_emitted.insert(f.sender, id);
        if self.strict {
            match self.known_ids.get(&(f.sender, id)) {
                Some(&k) => {
                    assert_eq!(v, self.known[k].frame, "known frame altered");
                    assert!(seqs.iter().all(|&s| self.log[s].known == Some(k)));
                }
                None => assert!(seqs.iter().all(|&s| self.log[s].known.is_none())),
            }
        }
    }

    /// The chunks of `sce` frame `id`: chunk ids 0..n in order, kinds S, C
    /// and E as they must be, every chunk but the last P bytes and the
    /// last at most P.
    fn check_sce_chunks(&self, seqs: &[usize], id: u16) {
        let n = seqs.len();
        let mut p_len = None;
        for (i, &s) in seqs.iter().enumerate() {
            let (h, p) = SceHeader::parse(&self.log[s].bytes).expect("chunk parses");
            assert_eq!(h.image_id, id);
            assert_eq!(usize::from(h.chunk_id), i, "chunk ids not 0..n in order");
            assert_eq!(h.kind, oracle::chunk_kind(i, n));
            if i + 1 < n {
                assert_eq!(*p_len.get_or_insert(p.len()), p.len(), "unequal P");
            } else if let Some(pl) = p_len {
                assert!(p.len() <= pl, "last chunk longer than P");
            }
        }
    }

    /// Countdown: no id, pts of its first chunk, SOI..EOI of 4 bytes at
    /// least, countdowns n..1 in arrival order and no valid datagram of
    /// its sender skipped between its first chunk and `seq`, its last.
    fn check_countdown_frame(
        &self,
        f: &Frame<u8, Dg>,
        seqs: &[usize],
        v: &[u8],
        pts: usize,
        seq: usize,
    ) {
        assert_eq!(f.image_id, None);
        let first = *seqs.iter().min().expect("a frame has chunks");
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
            if p.sender == f.sender && p.valid {
                assert!(
                    inside.contains(&s),
                    "valid datagram {s} skipped inside a frame"
                );
            }
        }
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
        for op in ops {
            self.apply(op);
        }
        self.drain();
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Chunk { frame, index } => self.push_known_chunk(frame, index),
            Op::Whole {
                frame,
                rotate,
                reverse,
            } => self.push_known_whole(frame, rotate, reverse),
            Op::Forged {
                sender,
                kind,
                id,
                chunk,
                soi,
                payload,
            } => self.push_forged(sender, forged_sce(kind, id, chunk, soi, &payload)),
            Op::Countdown {
                sender,
                count,
                soi,
                eoi,
                payload,
            } => self.push_forged(sender, forged_countdown(count, soi, eoi, &payload)),
            Op::Raw { sender, bytes } => {
                let hl = header_len(self.format);
                self.push_forged(sender, bytes[..bytes.len().min(300 + hl)].to_vec());
            }
            Op::Advance { ns } => self.now += u64::from(ns),
            Op::Drain => self.drain(),
        }
    }

    /// One datagram of a known frame.
    fn push_known_chunk(&mut self, frame: u8, index: u8) {
        if self.known.is_empty() {
            return;
        }
        let k = usize::from(frame) % self.known.len();
        let n = self.known[k].datagrams.len();
        let d = self.known[k].datagrams[usize::from(index) % n].clone();
        self.push(self.known[k].sender, d, Some(k));
    }

    /// All datagrams of a known frame, rotated, maybe reversed; it must
    /// come out on its last datagram (and not before) when `must_emit`.
    fn push_known_whole(&mut self, frame: u8, rotate: u8, reverse: bool) {
        if self.known.is_empty() {
            return;
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

    /// A forged datagram from one of the senders, unless strict mode keeps
    /// it away from the known frames.
    fn push_forged(&mut self, sender: u8, d: Vec<u8>) {
        let sender = sender % SENDERS;
        if !self.collides(sender, &d) {
            self.push(sender, d, None);
        }
    }
}

/// What one push did, for the checks.
struct Step {
    format: WireFormat,
    sender: u8,
    seq: usize,
    valid: bool,
    /// What holding the datagram is charged.
    charge: usize,
    /// The sender the model forgot to make room for this one.
    evicted: Option<u8>,
    before: Stats,
    after: Stats,
    held_before: usize,
    held: usize,
    abandoned: Vec<Abandoned<u8>>,
}

/// What became of a pushed datagram, as the counters should show it.
struct Verdict {
    /// It completed a frame that is not a JPEG frame.
    not_jpeg: bool,
    /// It was dropped as invalid.
    invalid: bool,
    /// It was held (or completed a frame).
    accepted: bool,
    /// `chunks_invalid` moved by this much.
    extra_invalid: u64,
}

/// The counters move as the outcome says: one datagram each, invalid,
/// duplicate, late, unknown kind, frames received and invalid, lost frames
/// as `take_abandoned` lists them cause by cause, no internal error.
fn check_counters(step: &Step, outcome: &Outcome<u8, Dg>, bytes_received: u64) -> Verdict {
    let (before, after) = (&step.before, &step.after);
    let d = |a: u64, b: u64| b.checked_sub(a).expect("counter went down");
    let is = |c: bool| u64::from(c);
    assert_eq!(after.chunks_received, step.seq as u64 + 1);
    assert_eq!(after.bytes_received, bytes_received);
    assert_eq!(after.internal_errors, 0, "internal errors");
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
    assert_eq!(
        d(before.senders_evicted, after.senders_evicted),
        is(step.evicted.is_some())
    );
    check_lost(step);
    check_invalid(step, outcome)
}

/// Lost frames counted as `take_abandoned` lists them, cause by cause.
fn check_lost(step: &Step) {
    let (before, after) = (&step.before, &step.after);
    let d = |a: u64, b: u64| b.checked_sub(a).expect("counter went down");
    let count = |c: Cause| step.abandoned.iter().filter(|a| a.cause == c).count() as u64;
    assert_eq!(
        d(before.frames_lost, after.frames_lost),
        step.abandoned.len() as u64
    );
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
}

/// Invalid datagrams and frames counted as the outcome says; exactly the
/// datagrams that do not parse (or are of an unknown kind) are refused
/// before reaching a sender.
fn check_invalid(step: &Step, outcome: &Outcome<u8, Dg>) -> Verdict {
    let (before, after) = (&step.before, &step.after);
    let d = |a: u64, b: u64| b.checked_sub(a).expect("counter went down");
    let not_jpeg = matches!(outcome, Outcome::Invalid(Invalid::NotJpeg { .. }));
    assert_eq!(
        d(before.frames_invalid, after.frames_invalid),
        u64::from(not_jpeg)
    );
    let invalid = matches!(outcome, Outcome::Invalid(_)) && !not_jpeg;
    let accepted = matches!(outcome, Outcome::Pending | Outcome::Frame(_)) || not_jpeg;
    let extra_invalid = d(before.chunks_invalid, after.chunks_invalid);
    if invalid {
        assert_eq!(extra_invalid, 1);
    } else {
        // An `E` held before P was known, found invalid now (`sce` only).
        assert!(extra_invalid <= 1);
        assert!(extra_invalid == 0 || (accepted && step.format == WireFormat::Sce));
    }
    assert_eq!(
        !step.valid,
        matches!(
            outcome,
            Outcome::Invalid(Invalid::Wire(_)) | Outcome::UnknownKind(_)
        ),
        "valid {}, outcome {outcome:?}",
        step.valid
    );
    Verdict {
        not_jpeg,
        invalid,
        accepted,
        extra_invalid,
    }
}

/// A forged `sce` datagram: mostly S, C or E, chunk ids at the edges or
/// anywhere, a payload that may start with SOI.
fn forged_sce(kind: u8, id: u16, chunk: ChunkId, soi: bool, payload: &[u8]) -> Vec<u8> {
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
    d
}

/// A forged countdown datagram: countdown 0..=7, a payload that may start
/// with SOI and end with EOI.
fn forged_countdown(count: u8, soi: bool, eoi: bool, payload: &[u8]) -> Vec<u8> {
    let mut d = vec![count % 8];
    if soi {
        d.extend_from_slice(&[0xFF, 0xD8]);
    }
    d.extend_from_slice(&payload[..payload.len().min(300)]);
    if eoi {
        d.extend_from_slice(&[0xFF, 0xD9]);
    }
    d
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
