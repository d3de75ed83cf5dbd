// SPDX-License-Identifier: MPL-2.0
//! Parity (`F`) chunks: RaptorQ repair symbols that rebuild a frame's lost
//! data chunks (see [`crate::fec`] and docs/PROTOCOL.md).

use std::borrow::Cow;
use std::hash::Hash;

use super::datagram::after_joined;
use super::sce::{Behind, Pending};
use super::senders::Sender;
use super::{Datagram, Frame, Invalid, Outcome, Reassembler, span, within};
use crate::fec::{self, Layout};
use crate::wire::{self, ParityHeader};

/// The frame as its parity chunks describe it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FecInfo {
    pub(super) layout: Layout,
    pub(super) crc: u32,
    /// Parity chunks sent for the frame.
    pub(super) m: u16,
}

/// A parity chunk as read from its header.
struct ParityChunk<B> {
    id: u16,
    index: u16,
    info: FecInfo,
    datagram: B,
}

impl<K: Clone + Eq + Hash, B: Datagram> Reassembler<K, B> {
    /// A parity (`F`) chunk: checked against its frame, held, and used to
    /// rebuild the frame once enough chunks are in.
    pub(super) fn push_parity(
        &mut self,
        key: K,
        datagram: B,
        now: u64,
        pts: Option<u64>,
    ) -> Outcome<K, B> {
        let (h, t) = match ParityHeader::parse(&after_joined(&datagram, 0)) {
            Ok((h, symbol)) => (h, symbol.len()),
            Err(e) => return Outcome::Invalid(Invalid::Parity(e)),
        };
        let info = match self.fec_info(&h, t) {
            Ok(info) => info,
            Err(e) => return Outcome::Invalid(e),
        };
        let chunk = ParityChunk {
            id: h.image_id,
            index: h.index,
            info,
            datagram,
        };
        self.with_sender(key, now, |r, key, s| {
            r.parity_chunk(key, s, chunk, now, pts)
        })
    }

    /// The frame as parity header `h` with symbols of `t` bytes describes
    /// it, if parity can cover it and it fits `max_frame_size`.
    fn fec_info(&self, h: &ParityHeader, t: usize) -> Result<FecInfo, Invalid> {
        let len = h.frame_len as usize;
        let layout = Layout::new(len, t, usize::from(h.data_chunks));
        let Some(layout) = layout.filter(|_| usize::from(h.count) <= fec::MAX_REPAIR_SYMBOLS)
        else {
            return Err(Invalid::ParityMismatch);
        };
        let max = self.limits.max_frame_size;
        if len > max {
            return Err(Invalid::TooLarge { end: len, max });
        }
        Ok(FecInfo {
            layout,
            crc: h.crc,
            m: h.count,
        })
    }

    /// A parity chunk of sender `s`: checked against its frame, then held,
    /// rebuilding the frame perhaps.
    fn parity_chunk(
        &mut self,
        key: &K,
        s: &mut Sender<B>,
        c: ParityChunk<B>,
        now: u64,
        pts: Option<u64>,
    ) -> Outcome<K, B> {
        match self.behind(s, c.id) {
            // Parity of a frame already emitted whole is simply not needed.
            Some(Behind::Emitted) => return Outcome::ParityUnneeded,
            Some(Behind::Late) => return Outcome::Late,
            None => {}
        }
        if let Some(f) = s.frame(c.id) {
            if f.parity.contains_key(&c.index) {
                return Outcome::Duplicate;
            }
            if let Err(e) = self.check_parity(f, c.info) {
                return Outcome::Invalid(e);
            }
        }
        let charge = Self::chunk_charge(&c.datagram);
        let mut f = match self.join(key, s, c.id, charge, now, pts) {
            Ok(f) => f,
            Err(e) => return Outcome::Invalid(e),
        };
        self.learn_p(&mut f, c.info.layout.symbol_len());
        f.fec = Some(c.info);
        f.parity.insert(c.index, c.datagram);
        self.charge(&mut f.held, charge);
        self.complete_or_recover(key, s, f)
    }

    /// Checks a parity chunk describing the frame as `info` against frame
    /// `f`, which it would join.
    fn check_parity(&self, f: &Pending<B>, info: FecInfo) -> Result<(), Invalid> {
        if !parity_fits(f, info) {
            return Err(Invalid::ParityMismatch);
        }
        // Parity bytes held per frame stay within max-frame-size.
        let (held, layout) = (f.parity.len(), info.layout);
        let end = span(held + 1, layout.symbol_len(), 0);
        if within(end, self.limits.max_frame_size).is_err() || held >= 2 * layout.chunks() {
            return Err(Invalid::TooLarge {
                end: end.unwrap_or(usize::MAX),
                max: self.limits.max_frame_size,
            });
        }
        Ok(())
    }

    /// Rebuilds frame `f` from its data and parity chunks, once it holds
    /// enough of them, for at most `MAX_DECODE_ATTEMPTS` tries: the frame
    /// as its parity describes it, and its bytes.
    pub(super) fn recover(&mut self, f: &mut Pending<B>) -> Option<(FecInfo, Vec<u8>)> {
        let info = f.fec?;
        let layout = info.layout;
        if f.held_chunks() < layout.chunks() || f.attempts >= fec::MAX_DECODE_ATTEMPTS {
            return None;
        }
        f.attempts += 1;
        let data: Vec<(usize, Cow<[u8]>)> = f
            .chunks
            .iter()
            .map(|(&cid, c)| (usize::from(cid), after_joined(c, wire::SCE_HEADER_LEN)))
            .collect();
        let parity: Vec<Cow<[u8]>> = f.parity.values().map(|c| after_joined(c, 0)).collect();
        // Each was parsed when it was pushed; one that no longer parses
        // has changed while held, and is left out.
        let symbols: Vec<([u8; 4], &[u8])> = parity
            .iter()
            .filter_map(|d| ParityHeader::parse(d).ok())
            .map(|(h, symbol)| (h.payload_id, symbol))
            .collect();
        debug_assert_eq!(symbols.len(), parity.len(), "a parity chunk held changed");
        if symbols.len() != parity.len() {
            self.stats.internal_errors += 1;
        }
        let data = data.iter().map(|(cid, d)| (*cid, d.as_ref()));
        let bytes = fec::decode(
            layout.frame_len(),
            layout.symbol_len(),
            layout.chunks(),
            info.crc,
            data,
            symbols,
        )?;
        Some((info, bytes))
    }

    /// Emits frame `f` of `s`, described by its parity as `info` and
    /// rebuilt as `bytes`.
    pub(super) fn emit_rebuilt(
        &mut self,
        key: &K,
        s: &mut Sender<B>,
        f: Pending<B>,
        (info, bytes): (FecInfo, Vec<u8>),
    ) -> Outcome<K, B> {
        s.fit_pending();
        self.release(f.born, f.held);
        self.stats.frames_recovered += 1;
        let rebuilt = info.layout.chunks().saturating_sub(f.chunks.len()) as u64;
        self.stats.chunks_recovered += rebuilt;
        self.finish(s, Frame::rebuilt(key.clone(), f.id, f.pts, bytes))
    }
}

/// Whether a parity chunk describing the frame as `info` agrees with what
/// the frame already holds.
fn parity_fits<B: Datagram>(f: &Pending<B>, info: FecInfo) -> bool {
    let layout = info.layout;
    if f.fec.is_some_and(|known| known != info) || f.p.is_some_and(|p| p != layout.symbol_len()) {
        return false;
    }
    let k = layout.chunks();
    if f.chunks
        .last_key_value()
        .is_some_and(|(&last, _)| usize::from(last) >= k)
    {
        return false;
    }
    // An `E` held must be the last of K chunks, with the last chunk's length.
    f.end
        .is_none_or(|e| usize::from(e.cid) + 1 == k && e.len == layout.last_len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reassembly::testutil::*;

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
}
