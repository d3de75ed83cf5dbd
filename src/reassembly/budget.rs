// SPDX-License-Identifier: MPL-2.0
//! What the reassembler holds, in bytes: the charges of datagrams and
//! frames, the total `held_bytes`, and making room within
//! `max_held_bytes` by abandoning the oldest frames.

use std::collections::BTreeMap;
use std::hash::Hash;
use std::mem::size_of;

use super::datagram::heap_block;
use super::sce::Pending;
use super::senders::{Filed, PENDING_SPARE, Sender};
use super::{
    ABANDONED_LOG_CAP, Abandoned, Cause, Datagram, Invalid, LATE_WINDOW, Limits, Reassembler,
};

/// When a frame was started (its first datagram's arrival) and a number
/// that no other frame has: the frame's place in the reassembler's age order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Born {
    pub(super) at: u64,
    pub(super) seq: u64,
}

/// What is left to count of a frame that was given up.
pub(super) struct Gone {
    pub(super) id: Option<u16>,
    pub(super) born: Born,
    pub(super) chunks: usize,
    pub(super) held: Charge,
}

/// The bytes an incomplete frame is charged: its own and its chunks'. Only
/// `open_frame`, `charge`, `refund` and `release` make, change and end
/// one, and they move `held_bytes` with it, so that `held_bytes` is the sum
/// of the charges of the frames held.
#[derive(Debug)]
pub(super) struct Charge(usize);

impl Charge {
    pub(super) fn bytes(&self) -> usize {
        self.0
    }
}

impl<K: Clone + Eq + Hash, B: Datagram> Reassembler<K, B> {
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
    /// state (boxed), its share of the order of hearing, its list of
    /// started ids, and room for `PENDING_SPARE` pending frames. With
    /// `frame_charge` this accounts for a sender's list of pending frames
    /// (see `Sender::fit_pending`).
    pub fn sender_bytes() -> usize {
        3 * (size_of::<(K, Box<Sender<B>>)>() + 1)
            + heap_block(size_of::<Sender<B>>())
            + btree_node::<Filed, K>().div_ceil(5)
            + heap_block(usize::from(LATE_WINDOW) * size_of::<u16>())
            + heap_block(PENDING_SPARE * size_of::<Pending<B>>())
    }

    /// The most memory the reassembler keeps alive with limits `limits`:
    /// `max_held_bytes` in frames, `sender_bytes` per sender remembered, and
    /// fixed tables (the abandoned-frame log, the first nodes of the two
    /// orders, the stand-in for a lent sender).
    pub fn memory_bound(limits: &Limits) -> usize {
        let fixed = ABANDONED_LOG_CAP * size_of::<Abandoned<K>>()
            + btree_node::<Filed, K>()
            + btree_node::<Born, K>()
            + heap_block(size_of::<Sender<B>>())
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

    /// Checks the bookkeeping against what is held (for tests and fuzzing;
    /// it visits everything held): `held_bytes` is the sum of the frames'
    /// charges and within `max_held_bytes`, each frame's charge is that of
    /// its chunks plus `frame_charge`, the age order lists exactly the
    /// frames, the order of hearing each sender once, each sender's
    /// pending frames are in order of birth, and no sender keeps more room
    /// for pending frames than it is charged for.
    pub fn audit(&self) -> Result<(), String> {
        let mut held = 0usize;
        let mut ages = BTreeMap::new();
        for (key, s) in &self.senders {
            self.audit_sender(key, s)?;
            for (born, charged) in Self::audit_frames(s)? {
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

    /// `audit` of one sender's own state.
    fn audit_sender(&self, key: &K, s: &Sender<B>) -> Result<(), String> {
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
        if !s.pending.is_sorted_by_key(|f| f.born) {
            return Err("pending frames out of their order of birth".into());
        }
        Ok(())
    }

    /// `audit` of a sender's frames: each is charged what its chunks are
    /// and `frame_charge`. Their births and charges.
    fn audit_frames(s: &Sender<B>) -> Result<Vec<(Born, usize)>, String> {
        let pending = s.pending.iter().map(|f| {
            let chunks = f.chunks.values().chain(f.parity.values());
            (f.born, f.held.bytes(), chunks.map(Self::chunk_charge).sum())
        });
        let countdown = s.countdown.iter().map(|c| {
            let chunks = c.chunks.iter().map(Self::chunk_charge).sum::<usize>();
            (c.born, c.held.bytes(), chunks)
        });
        let mut frames = Vec::new();
        for (born, charged, chunks) in pending.chain(countdown) {
            if charged != chunks + Self::frame_charge() {
                return Err(format!("a frame charged {charged} for {chunks} of chunks"));
            }
            frames.push((born, charged));
        }
        Ok(frames)
    }

    /// Starts a frame of `key` first heard at `now`: files it in the age
    /// order and charges it `frame_charge`.
    pub(super) fn open_frame(&mut self, key: &K, now: u64) -> (Born, Charge) {
        let born = Born {
            at: now,
            seq: self.next_tick(),
        };
        self.ages.insert(born, key.clone());
        let bytes = Self::frame_charge();
        self.held_bytes += bytes;
        (born, Charge(bytes))
    }

    /// Charges a frame's `held` for a chunk that costs `bytes`.
    pub(super) fn charge(&mut self, held: &mut Charge, bytes: usize) {
        held.0 += bytes;
        self.held_bytes += bytes;
    }

    /// Gives back to a frame's `held` what a chunk that costs `bytes` was
    /// charged, as the chunk leaves it.
    pub(super) fn refund(&mut self, held: &mut Charge, bytes: usize) {
        // Only a datagram whose pinned length changed can cost more now.
        debug_assert!(
            bytes <= held.0,
            "refund of {bytes} from a charge of {}",
            held.0
        );
        match held.0.checked_sub(bytes) {
            Some(rest) => {
                held.0 = rest;
                self.held_bytes -= bytes;
            }
            None => self.stats.internal_errors += 1,
        }
    }

    /// Forgets a frame that has left its sender's state: its place in the
    /// age order and what it was charged, which is returned.
    pub(super) fn release(&mut self, born: Born, held: Charge) -> usize {
        self.ages.remove(&born);
        self.held_bytes -= held.0;
        held.0
    }

    pub(super) fn record_abandoned(&mut self, sender: K, gone: Gone, cause: Cause) {
        let bytes = self.release(gone.born, gone.held);
        self.stats.count_lost(cause);
        self.discont = true;
        if self.abandoned.len() < ABANDONED_LOG_CAP {
            self.abandoned.push(Abandoned {
                sender,
                image_id: gone.id,
                cause,
                chunks: gone.chunks,
                bytes,
            });
        }
    }

    /// Abandons incomplete frames until `need` more bytes fit within
    /// `max_held_bytes`, never the frame born `keep`: first the `current`
    /// sender's own, oldest first, while it holds more than its share
    /// (`max_held_bytes / max_senders`), so that one address flooding the
    /// budget pushes out only its own frames; then the oldest of any
    /// sender. False when they cannot fit even so.
    pub(super) fn make_room(
        &mut self,
        need: usize,
        keep: Option<Born>,
        mut current: Option<Current<'_, K, B>>,
    ) -> bool {
        while self.held_bytes.saturating_add(need) > self.limits.max_held_bytes {
            let Some((born, key)) = self.oldest_to_abandon(need, keep, current.as_ref()) else {
                return false;
            };
            self.abandon_frame(born, &key, current.as_mut(), Cause::MemoryLimit);
        }
        true
    }

    /// The frame `make_room` abandons next (see there), with its sender.
    fn oldest_to_abandon(
        &self,
        need: usize,
        keep: Option<Born>,
        current: Option<&Current<'_, K, B>>,
    ) -> Option<(Born, K)> {
        let share = self.limits.max_held_bytes / self.limits.max_senders.max(1);
        let own = current
            .filter(|c| c.sender.held().saturating_add(need) > share)
            .and_then(|c| Some((c.sender.oldest_but(keep)?, c.key.clone())));
        own.or_else(|| {
            let (born, key) = self.ages.iter().find(|(b, _)| Some(**b) != keep)?;
            Some((*born, key.clone()))
        })
    }

    /// Abandons the incomplete frame born `born` of sender `key`, which is
    /// the `current` one or in the table.
    pub(super) fn abandon_frame(
        &mut self,
        born: Born,
        key: &K,
        current: Option<&mut Current<'_, K, B>>,
        cause: Cause,
    ) {
        let sender = match current {
            Some(c) if c.key == key => Some(&mut *c.sender),
            _ => self.senders.get_mut(key).map(|s| &mut **s),
        };
        let gone = sender.and_then(|s| s.abandon(born));
        // Every entry of the age order is a frame (`audit` checks it); were
        // one not, dropping the entry still lets `make_room` go on.
        debug_assert!(gone.is_some(), "the age order lists a frame not held");
        match gone {
            Some(gone) => self.record_abandoned(key.clone(), gone, cause),
            None => {
                self.stats.internal_errors += 1;
                self.ages.remove(&born);
            }
        }
    }

    /// Makes room within `max_held_bytes` for a chunk charged `charge` of
    /// sender `key`, `s`, joining its frame `joined` (a frame's birth and
    /// the bytes it holds), or a new frame. A chunk that cannot fit beside
    /// that frame alone is refused, with no other frame touched, and the
    /// frame abandoned: it could never complete.
    pub(super) fn room_for(
        &mut self,
        key: &K,
        s: &mut Sender<B>,
        joined: Option<(Born, usize)>,
        charge: usize,
    ) -> Result<(), Invalid> {
        let (keep, kept, need) = match joined {
            Some((born, held)) => (Some(born), held, charge),
            None => (None, 0, charge.saturating_add(Self::frame_charge())),
        };
        let max = self.limits.max_held_bytes;
        let mut current = Current { key, sender: s };
        if kept.saturating_add(need) <= max && self.make_room(need, keep, Some(current.reborrow()))
        {
            return Ok(());
        }
        if let Some(born) = keep {
            self.abandon_frame(born, key, Some(&mut current), Cause::MemoryLimit);
        }
        Err(Invalid::Memory { need, max })
    }
}

/// The sender whose datagram is being handled: out of the table meanwhile
/// (see `Reassembler::with_sender`), so the budget is handed it.
pub(super) struct Current<'a, K, B> {
    key: &'a K,
    sender: &'a mut Sender<B>,
}

impl<K, B> Current<'_, K, B> {
    fn reborrow(&mut self) -> Current<'_, K, B> {
        Current {
            key: self.key,
            sender: self.sender,
        }
    }
}

/// Bytes of one node of a standard-library B-tree map with keys `Key` and
/// values `V`, at most: 11 keys and 11 values, 12 child pointers (in an
/// inner node), the node's header and the allocator's.
pub(super) fn btree_node<Key, V>() -> usize {
    heap_block(11 * (size_of::<Key>() + size_of::<V>()) + 12 * size_of::<usize>() + 32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reassembly::testutil::*;

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

    /// A datagram that says it pins more each time it is asked: breaks the
    /// `Datagram` contract, which the reassembler notices.
    #[derive(Debug)]
    struct Growing(Vec<u8>, std::cell::Cell<usize>);

    impl Datagram for Growing {
        fn parts(&self) -> (&[u8], &[u8]) {
            (&self.0, &[])
        }
        fn pinned_len(&self) -> usize {
            self.1.replace(self.1.get() + (1 << 20))
        }
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "refund of")]
    fn a_datagram_pinning_more_once_held_is_an_internal_error() {
        let mut r = Reassembler::<u32, Growing>::new(WireFormat::Sce, Limits::default());
        let held = |d: Vec<u8>| Growing(d, std::cell::Cell::new(100));
        // An E held before P is known, then dropped by the S that fixes P:
        // its refund is now larger than what it was charged.
        assert_pending(r.push(1, held(dg(b'E', 8, 1, &[7, 7, 7])), 0, None));
        assert_pending(r.push(1, held(dg(b'S', 8, 0, &[0xFF, 0xD8])), 0, None));
    }
}
