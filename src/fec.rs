// SPDX-License-Identifier: MPL-2.0
//! Parity chunks: RaptorQ (RFC 6330) over a frame's data chunks.
//!
//! Pure: no GStreamer types, no logging, no panics on any input (inputs are
//! checked before they reach the `raptorq` crate, whose asserts would
//! otherwise fire).
//!
//! A frame of `len` bytes cut into `k` data chunks of `t` bytes (the last
//! zero-padded to `t`) is one RaptorQ source block: transfer length `len`,
//! symbol size `t`, one source block (Z = 1), one sub-block (N = 1),
//! alignment 8. Data chunk `i` is source symbol `i` (ESI `i`); parity chunk
//! `j` carries the repair symbol with ESI `K + j` (RFC 6330 section 5.3.1).
//! See docs/PROTOCOL.md.

use raptorq::{
    EncodingPacket, ObjectTransmissionInformation, PayloadId, SourceBlockDecoder,
    SourceBlockEncoder,
};

/// Symbol alignment: `t` is a multiple of it.
pub const ALIGNMENT: usize = 8;
/// Most data chunks a frame may have for parity to be sent or used: keeps a
/// decode bounded in time and memory.
pub const MAX_SOURCE_SYMBOLS: usize = 8192;
/// Most bytes (K * T) a frame may span for parity: within it, the common
/// `with_defaults` parameter choice of RaptorQ libraries (10 MiB working
/// memory) gives exactly one source block and one sub-block, as we use.
pub const MAX_SOURCE_BYTES: usize = 8 * 1024 * 1024;
/// Most parity chunks per frame.
pub const MAX_REPAIR_SYMBOLS: usize = 8192;
/// Decodes tried per frame (at K, K+1 and K+2 chunks held) before giving up:
/// RaptorQ almost always succeeds by then, and a forger cannot make the
/// receiver decode over and over.
pub const MAX_DECODE_ATTEMPTS: u8 = 3;

/// A frame parity can cover: `len` bytes cut into `k` chunks of `t` bytes
/// (the last one `len - (k - 1) * t` bytes, zero-padded to `t`). Only
/// [`Layout::new`] makes one, so every layout in hand is one it checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    len: usize,
    t: usize,
    k: usize,
}

impl Layout {
    /// The layout of `len` bytes in `k` chunks of `t` bytes, if parity can
    /// cover it: `t` a non-zero multiple of [`ALIGNMENT`] of at most 65535,
    /// `k` in 1..=[`MAX_SOURCE_SYMBOLS`], `k * t` at most
    /// [`MAX_SOURCE_BYTES`], and `len` needing exactly `k` chunks.
    pub fn new(len: usize, t: usize, k: usize) -> Option<Layout> {
        let span = k.checked_mul(t)?;
        let valid = t > 0
            && t.is_multiple_of(ALIGNMENT)
            && t <= usize::from(u16::MAX)
            && (1..=MAX_SOURCE_SYMBOLS).contains(&k)
            && span <= MAX_SOURCE_BYTES
            && len > span - t
            && len <= span;
        valid.then_some(Layout { len, t, k })
    }

    /// The frame's length in bytes.
    pub fn frame_len(&self) -> usize {
        self.len
    }

    /// T: bytes per chunk (and per repair symbol).
    pub fn symbol_len(&self) -> usize {
        self.t
    }

    /// K: data chunks.
    pub fn chunks(&self) -> usize {
        self.k
    }

    /// Bytes of the last data chunk.
    pub fn last_len(&self) -> usize {
        // `len > (k - 1) * t` by construction.
        self.len - (self.k - 1) * self.t
    }

    fn config(&self) -> ObjectTransmissionInformation {
        // `t <= u16::MAX` by construction.
        ObjectTransmissionInformation::new(self.len as u64, self.t as u16, 1, 1, ALIGNMENT as u8)
    }
}

/// Whether `(len, t, k)` describe a frame parity can cover (see [`Layout::new`]).
pub fn valid_layout(len: usize, t: usize, k: usize) -> bool {
    Layout::new(len, t, k).is_some()
}

/// The 4-byte RaptorQ payload id of parity chunk `j` of a frame of `k`
/// data chunks: source block 0, encoding symbol id `k + j`.
pub fn repair_payload_id(k: usize, j: usize) -> [u8; 4] {
    PayloadId::new(0, (k + j) as u32).serialize()
}

/// The repair symbols (each `t` bytes) of parity chunks `0..m` for `frame`
/// cut into chunks of `t` bytes. `None` when the layout is not coverable.
pub fn encode(frame: &[u8], t: usize, m: usize) -> Option<Vec<Vec<u8>>> {
    let layout = Layout::new(frame.len(), t, frame.len().div_ceil(t.max(1)))?;
    if m > MAX_REPAIR_SYMBOLS {
        return None;
    }
    // The encoder works on whole symbols: pad the last one with zeros.
    let span = layout.k * layout.t;
    let mut padded = Vec::with_capacity(span);
    padded.extend_from_slice(frame);
    padded.resize(span, 0);
    let encoder = SourceBlockEncoder::new(0, &layout.config(), &padded);
    Some(
        encoder
            .repair_packets(0, m as u32)
            .into_iter()
            .map(|p| p.split().1)
            .collect(),
    )
}

/// The `m` parity datagrams (header and repair symbol) of frame `image_id`
/// cut into chunks of `t` bytes. `None` when the layout is not coverable.
pub fn parity_datagrams(image_id: u16, frame: &[u8], t: usize, m: usize) -> Option<Vec<Vec<u8>>> {
    let k = frame.len().div_ceil(t.max(1));
    let symbols = encode(frame, t, m)?;
    let crc = crc32(frame);
    Some(
        symbols
            .into_iter()
            .enumerate()
            .map(|(j, symbol)| {
                let header = crate::wire::ParityHeader {
                    image_id,
                    index: j as u16,
                    count: m as u16,
                    data_chunks: k as u16,
                    frame_len: frame.len() as u32,
                    crc,
                    payload_id: repair_payload_id(k, j),
                };
                let mut d = Vec::with_capacity(crate::wire::PARITY_HEADER_LEN + t);
                d.extend_from_slice(&header.to_bytes());
                d.extend_from_slice(&symbol);
                d
            })
            .collect(),
    )
}

/// CRC-32 (IEEE 802.3, as Python's `zlib.crc32`) of a frame: parity chunks
/// carry it so that a rebuilt frame is checked before it is emitted.
pub fn crc32(frame: &[u8]) -> u32 {
    crc32fast::hash(frame)
}

/// Rebuilds a frame of `len` bytes in `k` chunks of `t` bytes from some of
/// its data chunks (index, payload) and parity chunks (payload id, symbol).
/// Returns it only if its CRC-32 is `crc`. Invalid pieces are skipped.
pub fn decode<'a>(
    len: usize,
    t: usize,
    k: usize,
    crc: u32,
    data: impl IntoIterator<Item = (usize, &'a [u8])>,
    parity: impl IntoIterator<Item = ([u8; 4], &'a [u8])>,
) -> Option<Vec<u8>> {
    let layout = Layout::new(len, t, k)?;
    let mut decoder = SourceBlockDecoder::new(0, &layout.config(), (k * t) as u64);
    let k32 = k as u32;
    let source = data.into_iter().filter_map(|(i, payload)| {
        let full = match i.cmp(&(k - 1)) {
            std::cmp::Ordering::Less => t,
            std::cmp::Ordering::Equal => layout.last_len(),
            std::cmp::Ordering::Greater => return None,
        };
        if payload.len() != full {
            return None;
        }
        let mut symbol = Vec::with_capacity(t);
        symbol.extend_from_slice(payload);
        symbol.resize(t, 0);
        Some(EncodingPacket::new(PayloadId::new(0, i as u32), symbol))
    });
    let repair = parity.into_iter().filter_map(|(id, symbol)| {
        let id = PayloadId::deserialize(&id);
        let esi = id.encoding_symbol_id();
        let ok = id.source_block_number() == 0
            && symbol.len() == t
            && esi >= k32
            && esi - k32 < MAX_REPAIR_SYMBOLS as u32;
        ok.then(|| EncodingPacket::new(id, symbol.to_vec()))
    });
    let mut out = decoder.decode(source.chain(repair))?;
    out.truncate(len);
    (crc32(&out) == crc).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed))
            .collect()
    }

    fn chunks(f: &[u8], t: usize) -> Vec<&[u8]> {
        f.chunks(t).collect()
    }

    fn rebuild(f: &[u8], t: usize, lost: &[usize], parity: &[Vec<u8>]) -> Option<Vec<u8>> {
        let k = f.len().div_ceil(t);
        let data = chunks(f, t)
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !lost.contains(i));
        let par = parity
            .iter()
            .enumerate()
            .map(|(j, p)| (repair_payload_id(k, j), p.as_slice()));
        decode(f.len(), t, k, crc32(f), data, par)
    }

    #[test]
    fn rebuilds_lost_data_chunks_from_parity() {
        let t = 64;
        let f = frame(1000, 1);
        assert_eq!(f.len().div_ceil(t), 16);
        let parity = encode(&f, t, 6).unwrap();
        assert_eq!(parity.len(), 6);
        assert!(parity.iter().all(|p| p.len() == t));
        // Data chunks 0, 5 and 15 (the last, shorter one) lost.
        assert_eq!(
            rebuild(&f, t, &[0, 5, 15], &parity).as_deref(),
            Some(&f[..])
        );
        // Six lost, six parity: still rebuilt (RaptorQ needs about K symbols).
        assert_eq!(
            rebuild(&f, t, &[1, 2, 3, 4, 5, 6], &parity).as_deref(),
            Some(&f[..])
        );
        // Seven lost, six parity: not enough.
        assert_eq!(rebuild(&f, t, &[0, 1, 2, 3, 4, 5, 6], &parity), None);
    }

    #[test]
    fn single_chunk_frame() {
        let f = frame(20, 3);
        let parity = encode(&f, 24, 1).unwrap();
        assert_eq!(rebuild(&f, 24, &[0], &parity).as_deref(), Some(&f[..]));
    }

    #[test]
    fn every_single_loss_is_recovered_with_one_parity() {
        let t = 32;
        let f = frame(300, 9);
        let k = f.len().div_ceil(t);
        let parity = encode(&f, t, 1).unwrap();
        for lost in 0..k {
            assert_eq!(
                rebuild(&f, t, &[lost], &parity).as_deref(),
                Some(&f[..]),
                "lost chunk {lost}"
            );
        }
    }

    #[test]
    fn wrong_parity_never_yields_a_frame() {
        let t = 32;
        let f = frame(300, 9);
        let other = frame(300, 10);
        // Parity of another frame with the same layout: the CRC check fails.
        let parity = encode(&other, t, 2).unwrap();
        assert_eq!(rebuild(&f, t, &[3], &parity), None);
        // Forged symbols.
        assert_eq!(rebuild(&f, t, &[3], &[vec![0xAB; 32], vec![1; 32]]), None);
    }

    #[test]
    fn rejects_what_does_not_fit() {
        assert!(encode(&frame(100, 0), 30, 1).is_none(), "t not aligned");
        assert!(encode(&frame(100, 0), 0, 1).is_none());
        assert!(encode(&[], 8, 1).is_none());
        assert!(
            encode(&frame(8 * 9000, 0), 8, 1).is_none(),
            "too many symbols"
        );
        assert!(
            encode(&frame(9 << 20, 0), 8192, 1).is_none(),
            "too many bytes"
        );
        let f = frame(100, 0);
        let crc = crc32(&f);
        let none: [([u8; 4], &[u8]); 0] = [];
        assert!(
            decode(100, 8, 12, crc, [], none).is_none(),
            "len does not match k"
        );
        assert!(decode(100, 8, 14, crc, [], none).is_none());
        // Pieces that do not fit are skipped, never passed to the decoder.
        let bad_data: Vec<(usize, &[u8])> = vec![(13, &[0; 8]), (0, &[0; 7]), (12, &[0; 8])];
        let bad_parity: Vec<([u8; 4], &[u8])> = vec![
            ([1, 0, 0, 20], &[0; 8]),
            ([0, 0, 0, 1], &[0; 8]),
            (repair_payload_id(13, 0), &[0; 9]),
        ];
        assert!(decode(100, 8, 13, crc, bad_data, bad_parity).is_none());
    }

    #[test]
    fn crc_matches_zlib() {
        // zlib.crc32(b"123456789") == 0xCBF43926
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn layouts_whose_span_overflows_are_refused() {
        // K chunks of T bytes past usize::MAX on this target, and past
        // u32::MAX (as a 32-bit target would see them) with T and K each
        // within their own limit but for the product.
        assert!(Layout::new(usize::MAX, 8, usize::MAX / 4).is_none());
        assert!(Layout::new(usize::MAX, usize::MAX / 2 + 1, 2).is_none());
        assert_eq!(65_528u32.checked_mul(65_560), None);
        assert!(Layout::new(1 << 32, 65_528, 65_560).is_none());
        let l = Layout::new(1000, 64, 16).unwrap();
        assert_eq!((l.frame_len(), l.symbol_len(), l.chunks()), (1000, 64, 16));
        assert_eq!(l.last_len(), 1000 - 15 * 64);
        assert!(valid_layout(1000, 64, 16));
        assert!(!valid_layout(1000, 64, 17));
    }
}
