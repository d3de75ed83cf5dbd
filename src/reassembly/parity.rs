// SPDX-License-Identifier: MPL-2.0
//! Parity (`F`) chunks: RaptorQ repair symbols that rebuild a frame's lost
//! data chunks (see [`crate::fec`]).

use std::hash::Hash;

use super::datagram::{after_joined, total_len};
use super::sce::Pending;
use super::{Datagram, Invalid, Outcome, Reassembler};
use crate::fec;
use crate::wire;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FecInfo {
    pub(super) k: u16,
    pub(super) len: u32,
    pub(super) crc: u32,
    pub(super) t: usize,
    pub(super) m: u16,
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
}

/// Whether a parity chunk describing the frame as `info` agrees with what
/// the frame already holds.
pub(super) fn parity_fits<B: Datagram>(f: &Pending<B>, info: FecInfo) -> bool {
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
