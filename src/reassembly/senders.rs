// SPDX-License-Identifier: MPL-2.0
//! The sender table: each sender's state, a fast keyed hash for its keys,
//! and forgetting the least recently heard sender when the table is full.
//!
//! A datagram's sender is looked up once: [`Reassembler::with_sender`]
//! lends its state out of the table for the time the datagram is handled
//! and puts it back after, so the code in between holds a `&mut Sender`
//! and never looks it up again.

use std::hash::{BuildHasher, Hash, Hasher, RandomState};

use super::budget::{Born, Gone};
use super::countdown::Countdown;
use super::sce::Pending;
use super::{Cause, Datagram, Reassembler};

pub(super) struct Sender<B> {
    pub(super) last_emitted: Option<u16>,
    /// Ids of the frames started since the last emission (at most
    /// `LATE_WINDOW`), to tell skipped ids from lost frames.
    pub(super) started: Vec<u16>,
    pub(super) last_late: Option<u16>,
    pub(super) last_heard: u64,
    /// Its key in the reassembler's hearing order.
    pub(super) filed: Filed,
    /// Incomplete `sce` frames, oldest first.
    pub(super) pending: Vec<Pending<B>>,
    /// The `countdown` frame in progress.
    pub(super) countdown: Option<Countdown<B>>,
    /// The next frame emitted for this sender starts a new run.
    pub(super) discont: bool,
}

/// Where a sender is filed in the order of hearing: the time it was last
/// heard when it was filed, and a number no other entry has.
pub(super) type Filed = (u64, u64);

/// Room for this many pending frames is kept per sender whatever it holds
/// (a vector's first allocation); beyond it, at most twice the frames held.
pub(super) const PENDING_SPARE: usize = 4;

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

    /// An empty state, to stand in the table for a sender lent out.
    fn stand_in() -> Box<Self> {
        Box::new(Sender::new(0, (0, 0)))
    }

    /// The incomplete `sce` frame `id`, if this sender has one.
    pub(super) fn frame(&self, id: u16) -> Option<&Pending<B>> {
        self.pending.iter().find(|f| f.id == id)
    }

    /// Takes the incomplete `sce` frame `id` out of the list, to add a
    /// chunk to it; [`Sender::restore`] puts it back if it stays incomplete.
    pub(super) fn take_frame(&mut self, id: u16) -> Option<Pending<B>> {
        let i = self.pending.iter().position(|f| f.id == id)?;
        Some(self.pending.remove(i))
    }

    /// Puts back a frame taken with [`Sender::take_frame`] (or a new one),
    /// in its place in the list, which is in order of birth.
    pub(super) fn restore(&mut self, f: Pending<B>) {
        let at = self.pending.partition_point(|g| g.born < f.born);
        self.pending.insert(at, f);
    }

    /// Gives back the room of the list of pending frames beyond
    /// `PENDING_SPARE` and twice the frames it holds, after frames left it.
    pub(super) fn fit_pending(&mut self) {
        let len = self.pending.len();
        if self.pending.capacity() > PENDING_SPARE.max(2 * len) {
            self.pending.shrink_to(PENDING_SPARE.max(len));
        }
    }

    /// Abandons pending frame `i` (an index in the list): the next frame
    /// emitted follows a loss.
    pub(super) fn abandon_pending(&mut self, i: usize) -> Gone {
        let f = self.pending.remove(i);
        self.fit_pending();
        self.discont = true;
        f.gone()
    }

    /// Abandons the `countdown` frame in progress, if any.
    pub(super) fn abandon_countdown(&mut self) -> Option<Gone> {
        let gone = self.countdown.take()?.gone();
        self.discont = true;
        Some(gone)
    }

    /// Abandons the incomplete frame born `born`, if this sender holds it.
    pub(super) fn abandon(&mut self, born: Born) -> Option<Gone> {
        if self.countdown.as_ref().is_some_and(|c| c.born == born) {
            return self.abandon_countdown();
        }
        let i = self.pending.iter().position(|f| f.born == born)?;
        Some(self.abandon_pending(i))
    }

    /// Bytes its incomplete frames hold.
    pub(super) fn held(&self) -> usize {
        let pending: usize = self.pending.iter().map(|f| f.held.bytes()).sum();
        pending + self.countdown.as_ref().map_or(0, |c| c.held.bytes())
    }

    /// Its oldest incomplete frame but the one born `keep`.
    pub(super) fn oldest_but(&self, keep: Option<Born>) -> Option<Born> {
        let pending = self.pending.iter().map(|f| f.born);
        let countdown = self.countdown.iter().map(|c| c.born);
        pending.chain(countdown).filter(|b| Some(*b) != keep).min()
    }
}

/// Hashes the keys of the sender table: a multiply-rotate mix per word of
/// the key, keyed by a random seed per reassembler, and a final avalanche.
/// Several times faster than the default SipHash on a socket address. Its
/// weaker resistance to chosen collisions costs little here: the table
/// never holds more than `max_senders` keys.
#[derive(Clone)]
pub(super) struct SenderHasher(u64);

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
pub(super) struct SenderHashState(u64);

impl SenderHashState {
    pub(super) fn new() -> Self {
        SenderHashState(RandomState::new().hash_one(0x5EED_u64))
    }
}

impl BuildHasher for SenderHashState {
    type Hasher = SenderHasher;
    fn build_hasher(&self) -> SenderHasher {
        SenderHasher(self.0)
    }
}

impl<K: Clone + Eq + Hash, B: Datagram> Reassembler<K, B> {
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

    /// Runs `handle` on the state of sender `key`, heard at `now` (made, and
    /// room made for it, if it is new). The state is lent out of the table
    /// meanwhile: `handle` is given it and its key, and the memory budget
    /// reaches it through them (see `make_room`). The stand-in takes its
    /// slot meanwhile: swapping two boxes costs less than removing the
    /// entry and inserting it again.
    pub(super) fn with_sender<T>(
        &mut self,
        key: K,
        now: u64,
        handle: impl FnOnce(&mut Self, &K, &mut Sender<B>) -> T,
    ) -> T {
        let mut s = match self.senders.get_mut(&key) {
            Some(slot) => {
                let stand_in = self.stand_in.take();
                std::mem::replace(slot, stand_in.unwrap_or_else(Sender::stand_in))
            }
            None => self.new_sender(&key, now),
        };
        s.last_heard = now;
        let out = handle(self, &key, &mut s);
        match self.senders.get_mut(&key) {
            Some(slot) => self.stand_in = Some(std::mem::replace(slot, s)),
            None => {
                self.senders.insert(key, s);
            }
        }
        out
    }

    /// The state of a sender heard for the first time at `now`, filed in
    /// the order of hearing, after room was made for it in the table.
    fn new_sender(&mut self, key: &K, now: u64) -> Box<Sender<B>> {
        self.make_room_for_sender();
        let filed = (now, self.next_tick());
        self.heard.insert(filed, key.clone());
        Box::new(Sender::new(now, filed))
    }

    pub(super) fn forget_sender(&mut self, key: &K, cause: Cause) {
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

    pub(super) fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    /// Forgets the least recently heard senders until there is room for one
    /// more. A sender is not refiled each time it is heard (that would cost
    /// every datagram); the first of the order of hearing that was heard
    /// since it was filed is filed again by when it was last heard, so each
    /// datagram costs at most one refiling, and each sender forgotten one
    /// step of the order: O(log senders), amortised.
    fn make_room_for_sender(&mut self) {
        while self.senders.len() >= self.limits.max_senders.max(1) {
            // The order of hearing lists every sender once (`audit` checks
            // it); were it empty, the table would be let grow by one.
            debug_assert!(!self.heard.is_empty(), "no sender in the order of hearing");
            let Some((filed, key)) = self.heard.pop_first() else {
                self.stats.internal_errors += 1;
                return;
            };
            let tick = self.next_tick();
            match self.senders.get_mut(&key) {
                Some(s) if s.last_heard != filed.0 => {
                    s.filed = (s.last_heard, tick);
                    self.heard.insert(s.filed, key);
                }
                Some(_) => {
                    self.forget_sender(&key, Cause::SenderEvicted);
                    self.stats.senders_evicted += 1;
                }
                None => {
                    // An entry for a sender not held is dropped.
                    debug_assert!(false, "the order of hearing lists a sender not held");
                    self.stats.internal_errors += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reassembly::testutil::*;
    use std::collections::HashMap;

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
        let mut rng = fastrand::Rng::with_seed(12345);
        for now in 1..=6000u64 {
            // Some senders far more often than others, so that the first of
            // the order of hearing was often heard again since it was filed.
            let key = if rng.u32(..3) == 0 {
                rng.u32(..20)
            } else {
                rng.u32(..300)
            };
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
}
