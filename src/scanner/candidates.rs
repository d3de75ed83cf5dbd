// SPDX-License-Identifier: MPL-2.0
//! The frame candidates open at once, and their parses.
//!
//! Every SOI seen while a candidate is open starts a candidate of its own
//! (a frame cut off inside the open one may start there). Each candidate's
//! parse is followed forward in one pass over the input, with all others:
//! no byte is ever searched twice. Two parses in the same state at the same
//! byte have the same future, so they are merged into one, under the
//! earlier candidate (which wins if they end in a frame); the number of
//! parses that step through any one byte is therefore bounded by the number
//! of parse states, whatever the input.
//!
//! Candidates are numbered in the order they start (the order of their
//! SOIs). One merged into an earlier one, or failed while an earlier one is
//! open, leaves at once (its fate is the earlier one's); the front, the
//! earliest, leaves when it fails, or when it is complete.

use std::collections::{BTreeMap, BTreeSet};

use super::DropReason;
use super::walk::{Input, Seg, Step, Walked, walk};

/// Most candidates held (open, or complete but behind an open one). An SOI
/// seen while that many are held is not followed (and counted):
/// only a stream holding thousands of nested SOIs inside one frame
/// candidate reaches it, and it bounds the memory kept.
pub const MAX_CANDIDATES: usize = 4096;

/// How a candidate ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    /// A whole frame: its bytes are [start, end).
    Complete(u64),
    /// Not a frame: the byte at `at` showed it.
    Fault { at: u64, reason: DropReason },
}

impl End {
    /// The stream offset at which the search resumes once this candidate
    /// and every earlier one are gone.
    pub(super) fn resume(self) -> u64 {
        match self {
            End::Complete(end) => end,
            End::Fault { at, .. } => at,
        }
    }

    /// The byte that decided the end (for ordering ends).
    pub(super) fn byte(self) -> u64 {
        match self {
            End::Complete(end) => end - 1,
            End::Fault { at, .. } => at,
        }
    }
}

/// A frame candidate: an SOI and the parse that follows it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Candidate {
    /// Stream offset of its SOI.
    pub start: u64,
    /// Tag of the input that held its SOI.
    pub tag: Option<u64>,
    /// End of the furthest APPn payload that an open candidate was jumping
    /// over when it started (0: none): a frame that ends by then lies inside
    /// that payload, so it is a thumbnail, never a frame of the stream.
    pub thumb_until: u64,
    /// Set once complete: the frame is [start, end).
    pub complete: Option<u64>,
}

/// What [`Candidates::open`] depends on, at one byte.
#[derive(Debug, Clone, Copy)]
pub(super) struct Snapshot {
    app_until: u64,
    held: usize,
}

/// A parse stepping through bytes, for candidate number `id`.
#[derive(Debug, Clone, Copy)]
struct Walker {
    id: u64,
    step: Step,
}

#[derive(Debug, Default)]
pub(super) struct Candidates {
    /// By number, which is also the order of their starts.
    held: BTreeMap<u64, Candidate>,
    /// Number of the next candidate.
    next_id: u64,
    /// Parses stepping through bytes, all at the same stream offset.
    walkers: Vec<Walker>,
    /// Parses jumping over a segment payload, by where it ends.
    sleepers: BTreeMap<(u64, Seg), u64>,
    /// Where the payloads of the sleeping parses in an APPn segment end.
    app_wakes: BTreeSet<u64>,
    /// Candidates never followed because too many were held.
    pub refused: u64,
}

impl Candidates {
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    pub fn clear(&mut self) {
        self.held.clear();
        self.forget_parses();
    }

    fn forget_parses(&mut self) {
        self.walkers.clear();
        self.sleepers.clear();
        self.app_wakes.clear();
    }

    /// The earliest candidate held.
    pub fn front(&self) -> Option<(u64, Candidate)> {
        self.held.first_key_value().map(|(&id, &c)| (id, c))
    }

    /// What opening a candidate depends on, as it stands now.
    pub fn snapshot(&mut self) -> Snapshot {
        Snapshot {
            app_until: self.app_payload_end(),
            held: self.held.len(),
        }
    }

    /// The end of the furthest APPn payload that an open candidate is
    /// jumping over (0: none). Parses of candidates that have left are
    /// forgotten on the way, so each is looked at once.
    fn app_payload_end(&mut self) -> u64 {
        while let Some(&wake) = self.app_wakes.last() {
            match self.sleepers.get(&(wake, Seg::App)) {
                Some(&id) if self.is_open(id) => return wake,
                _ => {
                    self.app_wakes.remove(&wake);
                    self.sleepers.remove(&(wake, Seg::App));
                }
            }
        }
        0
    }

    /// Opens a candidate at `start` (its parse continues after the two SOI
    /// bytes), unless too many are held.
    pub fn open(&mut self, start: u64, tag: Option<u64>) {
        let now = self.snapshot();
        self.open_as_of(start, tag, now);
    }

    /// [`Self::open`] as it would have been when `then` was taken: for an
    /// SOI whose 0xFF ended the previous input, which the parses have
    /// stepped over since.
    pub fn open_as_of(&mut self, start: u64, tag: Option<u64>, then: Snapshot) {
        if then.held >= MAX_CANDIDATES {
            self.refused += 1;
            return;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.held.insert(
            id,
            Candidate {
                start,
                tag,
                thumb_until: then.app_until,
                complete: None,
            },
        );
        self.sleep(id, start + 2, Seg::Plain);
    }

    /// True if candidate `id` is held and still being parsed.
    fn is_open(&self, id: u64) -> bool {
        self.held.get(&id).is_some_and(|c| c.complete.is_none())
    }

    /// Merges the parses of `a` and `b` (both open) under the earlier: the
    /// later leaves, since whatever becomes of the earlier becomes of it.
    fn merge(&mut self, a: u64, b: u64) -> u64 {
        self.held.remove(&a.max(b));
        a.min(b)
    }

    /// Puts parse `id` to sleep until `wake`, merging it with a parse that
    /// sleeps until the same byte into the same state.
    fn sleep(&mut self, id: u64, wake: u64, seg: Seg) {
        if seg == Seg::App {
            self.app_wakes.insert(wake);
        }
        let key = (wake, seg);
        let id = match self.sleepers.get(&key) {
            Some(&other) if self.is_open(other) => self.merge(other, id),
            _ => id,
        };
        self.sleepers.insert(key, id);
        if self.sleepers.len() > 2 * MAX_CANDIDATES {
            self.sleepers
                .retain(|_, id| self.held.get(id).is_some_and(|c| c.complete.is_none()));
        }
    }

    /// The earliest byte at which a sleeping parse wakes.
    pub fn next_wake(&self) -> Option<u64> {
        self.sleepers.keys().next().map(|(wake, _)| *wake)
    }

    /// True if the only parse stepping through bytes is in entropy-coded
    /// data.
    pub fn lone_entropy_walker(&self) -> bool {
        matches!(self.walkers.as_slice(), [w] if w.step == Step::Entropy)
    }

    pub fn has_walkers(&self) -> bool {
        !self.walkers.is_empty()
    }

    /// Wakes the parses whose payload ends at `at`, then merges the parses
    /// that stand in the same state.
    pub fn wake_and_merge(&mut self, at: u64) {
        while let Some(entry) = self.sleepers.first_entry() {
            if entry.key().0 != at {
                break;
            }
            let ((_, seg), id) = entry.remove_entry();
            if seg == Seg::App {
                self.app_wakes.remove(&at);
            }
            self.walkers.push(Walker {
                id,
                step: seg.after(),
            });
        }
        for w in std::mem::take(&mut self.walkers) {
            if !self.is_open(w.id) {
                continue;
            }
            match self.walkers.iter().position(|k| k.step == w.step) {
                Some(i) => {
                    let kept = self.walkers[i].id;
                    self.walkers[i].id = self.merge(kept, w.id);
                }
                None => self.walkers.push(w),
            }
        }
    }

    /// Steps every parse from `pos` to `to` over `input`. Returns the
    /// candidates that ended, ordered by the byte that ended them.
    pub fn advance(
        &mut self,
        input: Input,
        pos: u64,
        to: u64,
        looked: &mut u64,
    ) -> Vec<(u64, End)> {
        let mut ends = Vec::new();
        for w in std::mem::take(&mut self.walkers) {
            if !self.is_open(w.id) {
                continue;
            }
            match walk(w.step, input, pos, to, looked) {
                Walked::At(step) => self.walkers.push(Walker { id: w.id, step }),
                Walked::Sleep { wake, seg } => self.sleep(w.id, wake, seg),
                Walked::Complete { end } => ends.push((w.id, End::Complete(end))),
                Walked::Fault { at, reason } => ends.push((w.id, End::Fault { at, reason })),
            }
        }
        ends.sort_by_key(|&(_, end)| end.byte());
        ends
    }

    /// Records that candidate `id`'s parse reached an EOI at `end`: it
    /// stays until it comes to the front. A candidate already gone (it lay
    /// inside a frame emitted at an earlier byte) stays gone.
    pub fn complete(&mut self, id: u64, end: u64) {
        if let Some(c) = self.held.get_mut(&id) {
            c.complete = Some(end);
        }
    }

    /// Removes candidate `id` (its parse failed, or another stands for it);
    /// `None` if it was already gone, inside a frame emitted before.
    pub fn remove(&mut self, id: u64) -> Option<Candidate> {
        let c = self.held.remove(&id)?;
        self.forget_parses_if_empty();
        Some(c)
    }

    /// Ends every open parse (the stream ended): the open ones leave, the
    /// front among them returned (for the caller to report); complete ones
    /// stay.
    pub fn end_all(&mut self) -> Option<Candidate> {
        let front = self.front().filter(|(_, c)| c.complete.is_none());
        self.held.retain(|_, c| c.complete.is_some());
        self.forget_parses();
        front.map(|(_, c)| c)
    }

    /// Removes the front candidate if it is complete: it and where its
    /// frame ends.
    pub fn pop_complete(&mut self) -> Option<(Candidate, u64)> {
        let (_, c) = self.front()?;
        let end = c.complete?;
        self.pop();
        Some((c, end))
    }

    /// Removes the front candidate.
    pub fn pop(&mut self) -> Option<Candidate> {
        let (_, c) = self.held.pop_first()?;
        self.forget_parses_if_empty();
        Some(c)
    }

    fn forget_parses_if_empty(&mut self) {
        if self.held.is_empty() {
            self.forget_parses();
        }
    }
}
