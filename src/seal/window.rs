// SPDX-License-Identifier: MPL-2.0
//! The replay window of one session (RFC 6479): a ring of 64-bit blocks
//! holding one bit per recent counter. A counter is checked before its
//! datagram is decrypted and marked only after it authenticates.

/// Blocks in the ring.
const BLOCKS: usize = 64;
/// How far behind the highest counter seen a datagram may arrive: one block
/// less than the ring holds, so that advancing never clears a bit still in
/// the window. 4,032 datagrams: more than a 5 MB frame at mtu 1400, or
/// reordering across a few frames of 1080p with their parity.
pub const WINDOW: u64 = ((BLOCKS - 1) * 64) as u64;

/// What the window says of a counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Never marked, and within or ahead of the window.
    Fresh,
    /// Marked already.
    Replayed,
    /// At least [`WINDOW`] behind the highest counter marked.
    TooOld,
}

#[derive(Debug, Clone)]
pub struct ReplayWindow {
    /// The highest counter marked.
    top: u64,
    bits: [u64; BLOCKS],
}

impl ReplayWindow {
    /// A window that has marked `counter` only.
    pub fn starting_at(counter: u64) -> ReplayWindow {
        let mut w = ReplayWindow {
            top: counter,
            bits: [0; BLOCKS],
        };
        w.set(counter);
        w
    }

    pub fn check(&self, counter: u64) -> Seen {
        if counter > self.top {
            Seen::Fresh
        } else if self.top - counter >= WINDOW {
            Seen::TooOld
        } else if self.is_set(counter) {
            Seen::Replayed
        } else {
            Seen::Fresh
        }
    }

    /// Marks a counter that [`ReplayWindow::check`] found fresh and whose
    /// datagram authenticated.
    pub fn mark(&mut self, counter: u64) {
        if counter > self.top {
            self.advance(counter);
        }
        self.set(counter);
    }

    /// Clears the blocks between the old top's and `top`'s.
    fn advance(&mut self, top: u64) {
        let (old, new) = (self.top / 64, top / 64);
        let cleared = (new - old).min(BLOCKS as u64);
        for b in 1..=cleared {
            self.bits[((old + b) % BLOCKS as u64) as usize] = 0;
        }
        self.top = top;
    }

    fn slot(counter: u64) -> (usize, u64) {
        (
            ((counter / 64) % BLOCKS as u64) as usize,
            1 << (counter % 64),
        )
    }

    fn is_set(&self, counter: u64) -> bool {
        let (block, bit) = Self::slot(counter);
        self.bits[block] & bit != 0
    }

    fn set(&mut self, counter: u64) {
        let (block, bit) = Self::slot(counter);
        self.bits[block] |= bit;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// What a window must say, from every counter marked so far.
    fn oracle(marked: &HashSet<u64>, top: u64, counter: u64) -> Seen {
        if counter <= top && top - counter >= WINDOW {
            Seen::TooOld
        } else if marked.contains(&counter) {
            Seen::Replayed
        } else {
            Seen::Fresh
        }
    }

    #[test]
    fn every_counter_is_taken_once_in_any_order_within_the_window() {
        let mut w = ReplayWindow::starting_at(1000);
        assert_eq!(w.check(1000), Seen::Replayed);
        for c in (0..1000).rev().chain(1001..1100) {
            assert_eq!(w.check(c), Seen::Fresh, "{c}");
            w.mark(c);
            assert_eq!(w.check(c), Seen::Replayed, "{c}");
        }
        w.mark(1000 + WINDOW + 5);
        assert_eq!(w.check(5), Seen::TooOld);
        assert_eq!(w.check(1099), Seen::Replayed);
        assert_eq!(w.check(1100), Seen::Fresh);
    }

    #[test]
    fn a_jump_far_ahead_forgets_nothing_still_in_the_window() {
        let mut w = ReplayWindow::starting_at(0);
        w.mark(WINDOW - 1);
        assert_eq!(w.check(0), Seen::Replayed);
        w.mark(u64::MAX);
        assert_eq!(w.check(u64::MAX), Seen::Replayed);
        assert_eq!(w.check(u64::MAX - 1), Seen::Fresh);
        assert_eq!(w.check(WINDOW - 1), Seen::TooOld);
    }

    #[test]
    fn random_walks_agree_with_the_oracle() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..50 {
            let start = rng.u64(0..1 << 40);
            let mut w = ReplayWindow::starting_at(start);
            let (mut marked, mut top) = (HashSet::from([start]), start);
            for _ in 0..3000 {
                let c = match rng.u8(0..4) {
                    0 => top.saturating_add(rng.u64(1..200)),
                    1 => top.saturating_sub(rng.u64(0..2 * WINDOW)),
                    2 => top.saturating_add(rng.u64(WINDOW..4 * WINDOW)),
                    _ => top.saturating_sub(rng.u64(0..100)),
                };
                let seen = w.check(c);
                assert_eq!(seen, oracle(&marked, top, c), "{c} top {top}");
                if seen == Seen::Fresh {
                    w.mark(c);
                    marked.insert(c);
                    top = top.max(c);
                }
            }
        }
    }
}
