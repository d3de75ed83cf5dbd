// SPDX-License-Identifier: MPL-2.0
//! The `countdown` wire format: a one-byte countdown n..1 per segment; a
//! frame is the run of segments of one sender that counts down to 1.

use std::hash::Hash;

use super::budget::{Born, Charge, Gone};
use super::datagram::{parse_view, total_len};
use super::senders::Sender;
use super::{Cause, Datagram, Frame, Invalid, Outcome, Reassembler, within};
use crate::wire;

/// The `countdown` frame a sender has in progress.
pub(super) struct Countdown<B> {
    pub(super) prev: u8,
    pub(super) born: Born,
    pub(super) pts: Option<u64>,
    pub(super) chunks: Vec<B>,
    /// Payload bytes.
    pub(super) bytes: usize,
    /// Bytes charged for the frame (see `Reassembler::held_bytes`).
    pub(super) held: Charge,
}

impl<B> Countdown<B> {
    pub(super) fn gone(self) -> Gone {
        Gone {
            id: None,
            born: self.born,
            chunks: self.chunks.len(),
            held: self.held,
        }
    }
}

/// A segment as read from its header.
struct Segment<B> {
    count: u8,
    /// Payload bytes.
    len: usize,
    datagram: B,
}

impl<K: Clone + Eq + Hash, B: Datagram> Reassembler<K, B> {
    pub(super) fn push_countdown(
        &mut self,
        key: K,
        datagram: B,
        now: u64,
        pts: Option<u64>,
    ) -> Outcome<K, B> {
        let count = match wire::parse_countdown(&parse_view(&datagram)) {
            Ok((c, _)) => c,
            Err(e) => return Outcome::Invalid(Invalid::Wire(e)),
        };
        let segment = Segment {
            count,
            len: total_len(&datagram) - wire::COUNTDOWN_HEADER_LEN,
            datagram,
        };
        self.with_sender(key, now, |r, key, s| r.segment(key, s, segment, now, pts))
    }

    /// A segment of sender `s`: it continues the frame in progress (or
    /// breaks it and starts one), and completes it at countdown 1.
    fn segment(
        &mut self,
        key: &K,
        s: &mut Sender<B>,
        seg: Segment<B>,
        now: u64,
        pts: Option<u64>,
    ) -> Outcome<K, B> {
        let continues = s
            .countdown
            .as_ref()
            .is_some_and(|f| f.prev.checked_sub(1) == Some(seg.count));
        if !continues {
            self.resync(key, s);
        }
        let held = s.countdown.as_ref().map_or(0, |f| f.bytes);
        if let Err(e) = within(held.checked_add(seg.len), self.limits.max_frame_size) {
            self.resync(key, s);
            return Outcome::Invalid(e);
        }
        let charge = Self::chunk_charge(&seg.datagram);
        let joined = s.countdown.as_ref().map(|f| (f.born, f.held.bytes()));
        if let Err(e) = self.room_for(key, s, joined, charge) {
            return Outcome::Invalid(e);
        }
        let mut f = match s.countdown.take() {
            Some(f) => f,
            None => self.new_countdown(key, now, pts),
        };
        f.prev = seg.count;
        f.chunks.push(seg.datagram);
        f.bytes += seg.len;
        self.charge(&mut f.held, charge);
        if seg.count != 1 {
            s.countdown = Some(f);
            return Outcome::Pending;
        }
        self.release(f.born, f.held);
        let frame = Frame::whole(
            key.clone(),
            None,
            f.pts,
            f.bytes,
            wire::COUNTDOWN_HEADER_LEN,
            f.chunks,
        );
        self.finish(s, frame)
    }

    /// Abandons the frame `s` has in progress, if any: a datagram broke
    /// its countdown.
    fn resync(&mut self, key: &K, s: &mut Sender<B>) {
        if let Some(gone) = s.abandon_countdown() {
            self.record_abandoned(key.clone(), gone, Cause::Resync);
        }
    }

    /// Starts a countdown frame of `key`, first heard at `now`.
    fn new_countdown(&mut self, key: &K, now: u64, pts: Option<u64>) -> Countdown<B> {
        let (born, held) = self.open_frame(key, now);
        Countdown {
            prev: 0,
            born,
            pts,
            chunks: Vec::new(),
            bytes: 0,
            held,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::reassembly::testutil::*;

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
