// SPDX-License-Identifier: MPL-2.0
//! The `sce` wire format: S/C/E chunks with image and chunk ids, placed in
//! their frame by chunk id and checked against the frame's P and `E`.
//!
//! A chunk is checked against its frame while the frame stays in its
//! sender's list (so the memory budget sees it); it is then taken out,
//! given the chunk, and either emitted or put back.

use std::collections::BTreeMap;
use std::hash::Hash;

use super::budget::{Born, Charge, Gone};
use super::datagram::{parse_view, total_len};
use super::parity::FecInfo;
use super::senders::Sender;
use super::{Cause, Datagram, Frame, Invalid, LATE_WINDOW, Outcome, Reassembler, span, within};
use crate::fec::Layout;
use crate::wire::{self, Kind, SceHeader};

/// An incomplete `sce` frame.
pub(super) struct Pending<B> {
    pub(super) id: u16,
    pub(super) born: Born,
    pub(super) pts: Option<u64>,
    /// Payload length of the non-final chunks, once one has arrived.
    pub(super) p: Option<usize>,
    /// The `E` chunk, once it has arrived.
    pub(super) end: Option<End>,
    pub(super) chunks: BTreeMap<u16, B>,
    /// Bytes charged for the frame (see `Reassembler::held_bytes`).
    pub(super) held: Charge,
    pub(super) highest: u16,
    /// The frame as its parity chunks describe it.
    pub(super) fec: Option<FecInfo>,
    /// Parity chunks by index.
    pub(super) parity: BTreeMap<u16, B>,
    /// Decodes tried.
    pub(super) attempts: u8,
}

impl<B> Pending<B> {
    fn new(id: u16, born: Born, pts: Option<u64>, held: Charge) -> Self {
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

    pub(super) fn held_chunks(&self) -> usize {
        self.chunks.len() + self.parity.len()
    }

    /// Whether it holds every data chunk, from 0 to its `E`.
    fn is_whole(&self) -> bool {
        self.end
            .is_some_and(|e| self.chunks.len() == usize::from(e.cid) + 1)
    }

    pub(super) fn gone(self) -> Gone {
        Gone {
            id: Some(self.id),
            born: self.born,
            chunks: self.held_chunks(),
            held: self.held,
        }
    }
}

/// The `E` chunk of a frame: its chunk id and payload length.
#[derive(Debug, Clone, Copy)]
pub(super) struct End {
    pub(super) cid: u16,
    pub(super) len: usize,
}

/// A data chunk (`S`, `C` or `E`) as read from its header.
struct DataChunk<B> {
    kind: Kind,
    id: u16,
    cid: u16,
    /// Payload bytes.
    len: usize,
    datagram: B,
}

/// Where a frame id lies for a sender that has emitted frames.
pub(super) enum Behind {
    /// It is the frame emitted last.
    Emitted,
    /// It lies within `LATE_WINDOW` ids behind it.
    Late,
}

impl<K: Clone + Eq + Hash, B: Datagram> Reassembler<K, B> {
    /// An `sce` datagram: a data chunk, a parity chunk or an unknown kind.
    pub(super) fn push_sce(
        &mut self,
        key: K,
        datagram: B,
        now: u64,
        pts: Option<u64>,
    ) -> Outcome<K, B> {
        let header = match SceHeader::parse(&parse_view(&datagram)) {
            Ok((h, _)) => h,
            Err(e) => return Outcome::Invalid(Invalid::Wire(e)),
        };
        let kind = match header.kind {
            Kind::Other(wire::PARITY_KIND) => {
                self.stats.chunks_parity += 1;
                return self.push_parity(key, datagram, now, pts);
            }
            Kind::Other(k) => return Outcome::UnknownKind(k),
            kind => kind,
        };
        let chunk = DataChunk {
            kind,
            id: header.image_id,
            cid: header.chunk_id,
            len: total_len(&datagram) - wire::SCE_HEADER_LEN,
            datagram,
        };
        self.with_sender(key, now, |r, key, s| r.data_chunk(key, s, chunk, now, pts))
    }

    /// A data chunk of sender `s`: checked against its frame, then held,
    /// completing the frame perhaps.
    fn data_chunk(
        &mut self,
        key: &K,
        s: &mut Sender<B>,
        c: DataChunk<B>,
        now: u64,
        pts: Option<u64>,
    ) -> Outcome<K, B> {
        match self.behind(s, c.id) {
            Some(Behind::Emitted) => return Outcome::Duplicate,
            Some(Behind::Late) => return Outcome::Late,
            None => {}
        }
        let view = match s.frame(c.id) {
            Some(f) if f.chunks.contains_key(&c.cid) => return Outcome::Duplicate,
            Some(f) => FrameView::of(f),
            None => FrameView::default(),
        };
        let max = self.limits.max_frame_size;
        if let Err(e) = check_chunk(view, c.kind, c.cid, c.len, max) {
            return Outcome::Invalid(e);
        }
        let charge = Self::chunk_charge(&c.datagram);
        let mut f = match self.join(key, s, c.id, charge, now, pts) {
            Ok(f) => f,
            Err(e) => return Outcome::Invalid(e),
        };
        if c.kind != Kind::End {
            self.learn_p(&mut f, c.len);
        }
        if c.cid < f.highest {
            let depth = u64::from(f.highest - c.cid);
            self.stats.max_reorder = self.stats.max_reorder.max(depth);
        }
        f.highest = f.highest.max(c.cid);
        if c.kind == Kind::End {
            f.end = Some(End {
                cid: c.cid,
                len: c.len,
            });
        }
        f.chunks.insert(c.cid, c.datagram);
        self.charge(&mut f.held, charge);
        self.complete_or_recover(key, s, f)
    }

    /// Where frame `id` lies behind the last frame `s` emitted, if it does
    /// (a late frame is counted once).
    pub(super) fn behind(&mut self, s: &mut Sender<B>, id: u16) -> Option<Behind> {
        match wire::ids_behind(id, s.last_emitted?) {
            0 => Some(Behind::Emitted),
            d if d <= LATE_WINDOW => {
                if s.last_late != Some(id) {
                    s.last_late = Some(id);
                    self.stats.frames_late += 1;
                }
                Some(Behind::Late)
            }
            _ => None,
        }
    }

    /// Makes room for a chunk charged `charge` of frame `id` of `s` (see
    /// `room_for`), then takes the frame out of the list to add the chunk
    /// to it, or starts it.
    pub(super) fn join(
        &mut self,
        key: &K,
        s: &mut Sender<B>,
        id: u16,
        charge: usize,
        now: u64,
        pts: Option<u64>,
    ) -> Result<Pending<B>, Invalid> {
        let joined = s.frame(id).map(|f| (f.born, f.held.bytes()));
        self.room_for(key, s, joined, charge)?;
        Ok(match s.take_frame(id) {
            Some(f) => f,
            None => self.new_frame(key, s, id, now, pts),
        })
    }

    /// Starts frame `id` of `s`, making room under the pending limit
    /// (oldest first). It is not in the list yet: `restore` puts it there.
    fn new_frame(
        &mut self,
        key: &K,
        s: &mut Sender<B>,
        id: u16,
        now: u64,
        pts: Option<u64>,
    ) -> Pending<B> {
        while s.pending.len() >= self.limits.max_pending_frames.max(1) {
            let gone = s.abandon_pending(0);
            self.record_abandoned(key.clone(), gone, Cause::PendingLimit);
        }
        if s.started.len() < usize::from(LATE_WINDOW) && !s.started.contains(&id) {
            s.started.push(id);
        }
        let (born, held) = self.open_frame(key, now);
        Pending::new(id, born, pts, held)
    }

    /// Fixes the frame's P on its first non-final chunk (or parity chunk);
    /// an `E` held before that must fit it, or is dropped as invalid.
    pub(super) fn learn_p(&mut self, f: &mut Pending<B>, p: usize) {
        if f.p.is_some() {
            return;
        }
        f.p = Some(p);
        let Some(e) = f.end else {
            return;
        };
        let max = self.limits.max_frame_size;
        if e.len > p || within(span(usize::from(e.cid), p, e.len), max).is_err() {
            if let Some(c) = f.chunks.remove(&e.cid) {
                self.refund(&mut f.held, Self::chunk_charge(&c));
            }
            f.end = None;
            self.stats.chunks_invalid += 1;
        }
    }

    /// Emits frame `f` of `s` if its data chunks are all in, or rebuilds it
    /// from parity once enough chunks are in; else puts it back in the list.
    pub(super) fn complete_or_recover(
        &mut self,
        key: &K,
        s: &mut Sender<B>,
        mut f: Pending<B>,
    ) -> Outcome<K, B> {
        if f.is_whole() {
            return self.emit_whole(key, s, f);
        }
        match self.recover(&mut f) {
            Some(rebuilt) => self.emit_rebuilt(key, s, f, rebuilt),
            None => {
                s.restore(f);
                Outcome::Pending
            }
        }
    }

    /// Emits frame `f` of `s`, which holds all its data chunks.
    fn emit_whole(&mut self, key: &K, s: &mut Sender<B>, f: Pending<B>) -> Outcome<K, B> {
        s.fit_pending();
        self.release(f.born, f.held);
        let len = f
            .chunks
            .values()
            // A datagram that shrank while held is caught by `copy_to`.
            .map(|c| total_len(c).saturating_sub(wire::SCE_HEADER_LEN))
            .sum();
        let chunks = f.chunks.into_values().collect();
        let frame = Frame::whole(
            key.clone(),
            Some(f.id),
            f.pts,
            len,
            wire::SCE_HEADER_LEN,
            chunks,
        );
        self.finish(s, frame)
    }
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
            end: f.end.map(|e| e.cid),
            last_chunk: f.chunks.last_key_value().map(|(&k, _)| k),
            fec: f.fec,
        }
    }
}

/// Checks a chunk against the frame it would join (not yet holding this chunk id).
fn check_chunk(f: FrameView, kind: Kind, cid: u16, len: usize, max: usize) -> Result<(), Invalid> {
    if let Some(info) = f.fec
        && !fits_layout(info.layout, kind, cid, len)
    {
        return Err(Invalid::ParityMismatch);
    }
    match kind {
        Kind::End => check_end(f, cid, len, max),
        _ => check_start_or_centre(f, cid, len, max),
    }
}

/// Whether a chunk is one of the frame as its parity describes it: K
/// chunks of T bytes (the last one shorter, or full).
fn fits_layout(layout: Layout, kind: Kind, cid: u16, len: usize) -> bool {
    let (at, last) = (usize::from(cid), layout.chunks() - 1);
    match kind {
        Kind::End => at == last && len == layout.last_len(),
        _ => at < last && len == layout.symbol_len(),
    }
}

/// Checks an `E` chunk against the frame it would end.
fn check_end(f: FrameView, cid: u16, len: usize, max: usize) -> Result<(), Invalid> {
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
    let at = usize::from(cid);
    match f.p {
        Some(p) if len > p => Err(Invalid::Length {
            payload: len,
            expected: p,
        }),
        Some(p) => within(span(at, p, len), max),
        // P unknown: every chunk before this one holds at least `len` bytes.
        None => within(span(at + 1, len, 0), max),
    }
}

/// Checks an `S` or `C` chunk against the frame it would join.
fn check_start_or_centre(f: FrameView, cid: u16, len: usize, max: usize) -> Result<(), Invalid> {
    if let Some(end) = f.end
        && cid > end
    {
        return Err(Invalid::PastEnd { end, chunk_id: cid });
    }
    match f.p {
        Some(p) if p != len => Err(Invalid::Length {
            payload: len,
            expected: p,
        }),
        _ => within(span(usize::from(cid) + 1, len, 0), max),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reassembly::testutil::*;

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
        assert_eq!(out.copy_to(&mut buf), Ok(()));
        assert_eq!(buf, f);
        assert_eq!(
            out.copy_to(&mut [0; 3]),
            Err(CopyError::BufferLength {
                buffer: 3,
                frame: 23
            })
        );
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
    fn an_e_chunk_placing_bytes_past_4_gib_is_too_large_not_wrapped() {
        // P = 65,537 bytes (a datagram larger than UDP carries, from another
        // source) and an E at chunk 65535: the frame would end at byte
        // 2^32, which a 32-bit usize wraps to 0, within any limit.
        let want = 65_535u64 * 65_537 + 1;
        assert_eq!(want, 1 << 32);
        assert_eq!(
            65_535u32.checked_mul(65_537).and_then(|e| e.checked_add(1)),
            None
        );
        let want = usize::try_from(want).unwrap_or(usize::MAX);
        let max = 16 * 1024 * 1024;
        let mut s = vec![0u8; 65_537];
        s[..2].copy_from_slice(&[0xFF, 0xD8]);
        let mut r = sce();
        assert_pending(r.push(1, dg(b'S', 1, 0, &s), 0, None));
        assert!(matches!(
            r.push(1, dg(b'E', 1, 65_535, &[0xD9]), 0, None),
            Outcome::Invalid(Invalid::TooLarge { end, max: m }) if end == want && m == max
        ));
        // P unknown: an E of 65,537 bytes at 65535 implies 65,536 chunks of
        // at least that, 4 GiB and more (65,536 on 32 bits when wrapped).
        let want = usize::try_from(65_536u64 * 65_537).unwrap_or(usize::MAX);
        assert!(matches!(
            r.push(1, dg(b'E', 2, 65_535, &s), 0, None),
            Outcome::Invalid(Invalid::TooLarge { end, .. }) if end == want
        ));
    }

    #[test]
    fn chunk_ends_past_usize_max_are_too_large() {
        // Products that overflow on this target too, even with no limit
        // on the frame size (a saturated sum would have passed).
        let too_large = Err(Invalid::TooLarge {
            end: usize::MAX,
            max: usize::MAX,
        });
        let view = FrameView {
            p: Some(usize::MAX / 2),
            ..FrameView::default()
        };
        assert_eq!(check_chunk(view, Kind::End, 3, 1, usize::MAX), too_large);
        let len = usize::MAX / 2;
        let none = FrameView::default();
        assert_eq!(
            check_chunk(none, Kind::Centre, 2, len, usize::MAX),
            too_large
        );
        assert_eq!(check_chunk(none, Kind::End, 2, len, usize::MAX), too_large);
        assert_eq!(check_chunk(none, Kind::Centre, 1, len, usize::MAX), Ok(()));
    }
}
