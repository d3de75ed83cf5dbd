// SPDX-License-Identifier: MPL-2.0
//! A complete frame: its chunks in order, copied out once by the caller;
//! the JPEG check and the bookkeeping of emitting one.

use std::fmt;
use std::hash::Hash;

use super::datagram::after;
use super::senders::Sender;
use super::{Cause, Datagram, Invalid, LATE_WINDOW, Outcome, Reassembler};
use crate::jpeg;
use crate::wire::{self, WireFormat};

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
    /// On an error, `dst` may hold part of the frame: drop it.
    pub fn copy_to(&self, dst: &mut [u8]) -> Result<(), CopyError> {
        if dst.len() != self.len {
            return Err(CopyError::BufferLength {
                buffer: dst.len(),
                frame: self.len,
            });
        }
        let mut rest = dst;
        for p in self.payloads() {
            let Some((head, tail)) = rest.split_at_mut_checked(p.len()) else {
                return Err(self.chunk_lengths());
            };
            head.copy_from_slice(p);
            rest = tail;
        }
        if !rest.is_empty() {
            return Err(self.chunk_lengths());
        }
        Ok(())
    }

    fn chunk_lengths(&self) -> CopyError {
        CopyError::ChunkLengths {
            chunks: self.payloads().map(<[u8]>::len).sum(),
            frame: self.len,
        }
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

/// Why [`Frame::copy_to`] could not fill a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyError {
    /// The buffer is not the frame's length.
    BufferLength { buffer: usize, frame: usize },
    /// The frame's chunks do not add up to its length: a [`Datagram`]
    /// changed while it was held.
    ChunkLengths { chunks: usize, frame: usize },
}

impl fmt::Display for CopyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CopyError::BufferLength { buffer, frame } => {
                write!(f, "buffer of {buffer} bytes for a frame of {frame}")
            }
            CopyError::ChunkLengths { chunks, frame } => {
                write!(f, "chunks of {chunks} bytes for a frame of {frame}")
            }
        }
    }
}

impl std::error::Error for CopyError {}

impl<K, B> Frame<K, B> {
    /// A frame made of its datagrams, `chunks`, in order, each with a
    /// header of `header_len` bytes before its part of the frame.
    pub(super) fn whole(
        sender: K,
        image_id: Option<u16>,
        pts: Option<u64>,
        len: usize,
        header_len: usize,
        chunks: Vec<B>,
    ) -> Self {
        Frame {
            sender,
            image_id,
            pts,
            discont: false,
            len,
            recovered: false,
            header_len,
            chunks,
            rebuilt: None,
        }
    }

    /// An `sce` frame rebuilt from parity as `bytes`.
    pub(super) fn rebuilt(sender: K, image_id: u16, pts: Option<u64>, bytes: Vec<u8>) -> Self {
        Frame {
            sender,
            image_id: Some(image_id),
            pts,
            discont: false,
            len: bytes.len(),
            recovered: true,
            header_len: 0,
            chunks: Vec::new(),
            rebuilt: Some(bytes),
        }
    }
}

impl<K: Clone + Eq + Hash, B: Datagram> Reassembler<K, B> {
    /// Emits a complete frame of sender `s` if it is a JPEG frame, and
    /// moves the sender on to it.
    pub(super) fn finish(&mut self, s: &mut Sender<B>, frame: Frame<K, B>) -> Outcome<K, B> {
        if !is_jpeg(&frame, self.format) {
            self.stats.frames_invalid += 1;
            self.discont = true;
            s.discont = true;
            return Outcome::Invalid(Invalid::NotJpeg { len: frame.len });
        }
        let gap = match frame.image_id {
            Some(id) => self.advance(&frame.sender, s, id),
            None => false,
        };
        // Both flags are cleared, whatever the gap.
        let lost =
            std::mem::replace(&mut s.discont, false) | std::mem::replace(&mut self.discont, false);
        let discont = gap || lost;
        self.stats.frames_received += 1;
        Outcome::Frame(Frame { discont, ..frame })
    }

    /// Moves sender `s` on to frame `id`, just emitted: counts the ids it
    /// skipped and abandons its frames that are now late. True when `id`
    /// does not follow the frame emitted before.
    fn advance(&mut self, key: &K, s: &mut Sender<B>, id: u16) -> bool {
        let mut gap = false;
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
        self.supersede(key, s, id);
        gap
    }

    /// Abandons the frames of `s` that lie in the late window of frame
    /// `id`, just emitted: they can never be emitted.
    fn supersede(&mut self, key: &K, s: &mut Sender<B>, id: u16) {
        let mut i = 0;
        while i < s.pending.len() {
            if (1..=LATE_WINDOW).contains(&wire::ids_behind(s.pending[i].id, id)) {
                let gone = s.abandon_pending(i);
                self.record_abandoned(key.clone(), gone, Cause::Superseded);
            } else {
                i += 1;
            }
        }
    }
}

/// A complete frame must start with FF D8 (and for countdown end with FF D9).
pub(super) fn is_jpeg<K, B: Datagram>(frame: &Frame<K, B>, format: WireFormat) -> bool {
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
    use crate::reassembly::testutil::*;

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
    fn copy_to_refuses_chunks_that_do_not_add_up_to_the_frame() {
        // As a frame whose datagrams changed while held would be.
        let chunk = dg(b'E', 1, 0, &[0xFF, 0xD8, 0xFF, 0xD9]);
        for (len, chunks) in [(6, 4), (3, 4)] {
            let f = Frame::whole(1u32, Some(1), None, len, 5, vec![chunk.clone()]);
            let mut buf = vec![0; len];
            let want = CopyError::ChunkLengths { chunks, frame: len };
            assert_eq!(f.copy_to(&mut buf), Err(want));
            assert_eq!(
                want.to_string(),
                format!("chunks of 4 bytes for a frame of {len}")
            );
        }
    }
}
