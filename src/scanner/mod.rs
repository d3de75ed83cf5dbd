// SPDX-License-Identifier: MPL-2.0
//! Resumable JPEG frame scanner: cuts whole frames (SOI..EOI) out of a byte
//! stream delivered in inputs of any size.
//!
//! Pure: no GStreamer types, no logging, no panics on any input.
//!
//! Inside a frame the scanner walks the marker segments ([`walk`]):
//! length-prefixed payloads are jumped over, and only the entropy-coded
//! data after an SOS header is searched for markers ([`entropy`]). A marker
//! other than EOI, RSTn or stuffing after scan data returns to segment
//! walking, so progressive frames (several scans) come out whole.
//!
//! A frame cut off anywhere never swallows the frame that follows it: every
//! SOI met while a frame candidate is open starts a candidate of its own,
//! parsed alongside in the same pass ([`candidates`]). The earliest
//! candidate that ends in an EOI is the frame; the candidates it holds are
//! not. When it turns out broken, it is dropped and the next candidate in
//! SOI order takes its place, with no byte searched again. An SOI..EOI that
//! lies wholly inside an APPn payload of another candidate (an EXIF
//! thumbnail) is never a frame, whether that candidate is complete or cut;
//! so a frame cut off inside its own APPn segment loses a next frame small
//! enough to end inside that segment's declared length.
//!
//! Work is linear in the input: each byte is searched for SOI at most once
//! and stepped through by at most one parse per parse state. Memory is the
//! bytes of the open candidates (at most about twice the maximum frame
//! size) plus at most [`MAX_CANDIDATES`] candidates of a few dozen bytes.
//!
//! Drops are reported for the front candidate only: a candidate that fails
//! while an earlier one is still open lies inside that one's bytes, and is
//! not reported on its own.
//!
//! ```
//! use gstudpjpeg::scanner::{Output, Scanner};
//! let frame = [0xFF, 0xD8, 0xFF, 0xD9];
//! let mut scanner = Scanner::new(1 << 20);
//! let mut frames = Vec::new();
//! for chunk in [&[0x00, 0xFF][..], &[0xD8, 0xFF], &[0xD9, 0x17]] {
//!     scanner.push(chunk, None, &mut |o| frames.push(o));
//! }
//! assert_eq!(frames, vec![Output::Frame { data: frame.to_vec(), tag: None }]);
//! ```

mod candidates;
#[doc(hidden)]
pub mod crafted;
mod entropy;
mod walk;
mod window;

pub use candidates::MAX_CANDIDATES;
use candidates::{Candidates, End, Snapshot};
use walk::Input;
use window::Window;

/// How far ahead the SOI search looks while parses step through bytes: a
/// bound on the work done ahead of them, not on what is found.
const SOI_LOOKAHEAD: u64 = 256;

/// Why a frame candidate was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// An SOI (FF D8) where a marker or scan data was expected.
    SoiInFrame,
    /// A byte other than 0xFF where a marker must start, or FF 00 there.
    NotAMarker,
    /// A segment length below 2.
    BadLength,
    /// The frame grew over the maximum frame size.
    TooLarge,
    /// The stream ended (or was cut by [`Scanner::finish`]) inside the frame.
    Truncated,
}

/// What the scanner reports while consuming input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A whole frame, SOI..EOI inclusive, byte for byte as in the input.
    /// `tag` is the tag of the input that held the frame's SOI.
    Frame { data: Vec<u8>, tag: Option<u64> },
    /// A frame in progress was dropped; `len` is the number of its bytes
    /// (from its SOI up to the byte that revealed the fault).
    Dropped { reason: DropReason, len: usize },
}

/// Counters of what the scanner did since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames emitted.
    pub frames: u64,
    /// Frames dropped because of an SOI inside them.
    pub dropped_soi_in_frame: u64,
    /// Frames dropped because a segment did not end at a marker.
    pub dropped_not_a_marker: u64,
    /// Frames dropped because of a segment length below 2.
    pub dropped_bad_length: u64,
    /// Frames dropped because they grew over the maximum frame size.
    pub dropped_too_large: u64,
    /// Frames dropped because the stream ended inside them.
    pub dropped_truncated: u64,
    /// Bytes of dropped frames.
    pub bytes_dropped: u64,
    /// Bytes outside any frame candidate (garbage between frames).
    pub bytes_skipped: u64,
    /// Whole frames found inside an APPn payload of another candidate
    /// (EXIF thumbnails), never emitted. A diagnostic: thumbnails whose
    /// walks met count once, and where walks are seen to meet depends on
    /// the input boundaries.
    pub thumbnails: u64,
    /// SOIs not followed because [`MAX_CANDIDATES`] candidates were open.
    pub candidates_refused: u64,
    /// Frames lost because the scanner's own bookkeeping broke (the bytes
    /// of a complete frame were no longer held): a bug, always 0, counted
    /// rather than hidden behind a plausible frame.
    pub internal_errors: u64,
}

impl Stats {
    /// All dropped frames, whatever the reason.
    pub fn frames_dropped(&self) -> u64 {
        self.dropped_soi_in_frame
            + self.dropped_not_a_marker
            + self.dropped_bad_length
            + self.dropped_too_large
            + self.dropped_truncated
    }

    fn count_drop(&mut self, reason: DropReason, len: usize) {
        let n = match reason {
            DropReason::SoiInFrame => &mut self.dropped_soi_in_frame,
            DropReason::NotAMarker => &mut self.dropped_not_a_marker,
            DropReason::BadLength => &mut self.dropped_bad_length,
            DropReason::TooLarge => &mut self.dropped_too_large,
            DropReason::Truncated => &mut self.dropped_truncated,
        };
        *n += 1;
        self.bytes_dropped = self.bytes_dropped.saturating_add(len as u64);
    }
}

/// Where the search for the next SOI stands within one input.
#[derive(Debug, Default)]
struct SoiSearch {
    /// No SOI starts in [the input's start, searched), but maybe `found`.
    searched: u64,
    /// The next SOI at or after `searched`, if found.
    found: Option<u64>,
}

impl SoiSearch {
    fn restart(&mut self, at: u64) {
        self.searched = at;
        self.found = None;
    }

    /// The first SOI starting in [from, to) (`to` at most the input's end),
    /// counting the bytes looked at in `looked`. Each byte is looked at
    /// once, however often this is asked.
    fn next(&mut self, input: Input, from: u64, to: u64, looked: &mut u64) -> Option<u64> {
        if let Some(q) = self.found.filter(|&q| q >= from) {
            return (q < to).then_some(q);
        }
        let start = from.max(self.searched);
        if start >= to {
            return None;
        }
        // An SOI starting at to - 1 needs the byte at `to`.
        let hay = input.range(start, (to + 1).min(input.end()));
        match memchr::memmem::find(hay, &crate::jpeg::SOI) {
            Some(i) => {
                let q = start + i as u64;
                *looked += i as u64 + 2;
                self.searched = q + 2;
                self.found = Some(q);
                Some(q)
            }
            None => {
                *looked += to - start;
                self.searched = to;
                None
            }
        }
    }

    /// Nothing starts in [from, to): the parses looked at those bytes.
    fn clear_up_to(&mut self, to: u64) {
        self.searched = self.searched.max(to);
    }

    /// The SOI at `at` has been dealt with.
    fn consume(&mut self, at: u64) {
        if self.found == Some(at) {
            self.found = None;
        }
    }
}

/// How the previous input ended: its final 0xFF may begin an SOI whose D8
/// is the next input's first byte.
#[derive(Debug, Clone, Copy, Default)]
enum Tail {
    /// Not with 0xFF (or no input yet).
    #[default]
    Other,
    /// With 0xFF outside any frame candidate.
    FfOutside,
    /// With 0xFF inside frame candidates, as they stood at that byte,
    /// before the parses stepped over it.
    FfInside(Snapshot),
}

/// The scanner. See the module documentation.
#[derive(Debug)]
pub struct Scanner {
    max_frame_size: usize,
    /// Stream offset of the next input's first byte.
    offset: u64,
    /// Tag of the previous (non-empty) input.
    prev_tag: Option<u64>,
    /// How the previous input ended.
    tail: Tail,
    /// The candidates as they stood at the current input's final 0xFF,
    /// when one was open there.
    at_final_ff: Option<Snapshot>,
    candidates: Candidates,
    window: Window,
    soi: SoiSearch,
    /// Stream offset up to which bytes belonged to a frame candidate.
    seen_until: u64,
    /// Size of the last frame emitted, to reserve room for the next one.
    last_frame_size: usize,
    stats: Stats,
    scanned: u64,
    copied: u64,
}

impl Scanner {
    /// A scanner that drops frames longer than `max_frame_size` bytes
    /// (at least 4, the size of the smallest frame).
    pub fn new(max_frame_size: usize) -> Self {
        Scanner {
            max_frame_size: max_frame_size.max(4),
            offset: 0,
            prev_tag: None,
            tail: Tail::Other,
            at_final_ff: None,
            candidates: Candidates::default(),
            window: Window::default(),
            soi: SoiSearch::default(),
            seen_until: 0,
            last_frame_size: 0,
            stats: Stats::default(),
            scanned: 0,
            copied: 0,
        }
    }

    /// The maximum frame size in bytes.
    pub fn max_frame_size(&self) -> usize {
        self.max_frame_size
    }

    /// Changes the maximum frame size; applies to the frame in progress too.
    pub fn set_max_frame_size(&mut self, max_frame_size: usize) {
        self.max_frame_size = max_frame_size.max(4);
    }

    /// Forgets the frame in progress and any partial marker, without
    /// reporting anything (for a flush). Counters are kept.
    pub fn reset(&mut self) {
        self.candidates.clear();
        self.window.clear();
        self.tail = Tail::Other;
        self.at_final_ff = None;
        self.seen_until = self.offset;
    }

    /// Counters since creation.
    pub fn stats(&self) -> Stats {
        Stats {
            candidates_refused: self.candidates.refused,
            ..self.stats
        }
    }

    /// Bytes the scanner inspected: searched for SOI, or stepped through by
    /// a parse (a byte stepped through by two parses counts twice).
    pub fn bytes_scanned(&self) -> u64 {
        self.scanned
    }

    /// Bytes the scanner copied: into the bytes it keeps across inputs, and
    /// into frames.
    pub fn bytes_copied(&self) -> u64 {
        self.copied
    }

    /// Bytes of earlier inputs kept for the open frame candidates.
    pub fn bytes_held(&self) -> usize {
        self.window.len()
    }

    /// True while a frame has started but not ended.
    pub fn in_frame(&self) -> bool {
        !self.candidates.is_empty()
    }

    /// Consumes one input. `tag` is attached to frames whose SOI lies in it.
    pub fn push(&mut self, data: &[u8], tag: Option<u64>, out: &mut impl FnMut(Output)) {
        let input = Input {
            data,
            base: self.offset,
        };
        if data.is_empty() {
            return;
        }
        self.soi.restart(input.base);
        // Each input's final 0xFF is an event (see `event_bound`).
        self.soi_across_inputs(input);
        let mut pos = input.base;
        while let Some(next) = self.step(input, tag, pos, out) {
            pos = next;
        }
        if let Some((_, front)) = self.candidates.front() {
            self.copied += self.window.keep(front.start, input);
        } else {
            self.window.clear();
        }
        self.tail = self.tail_of(data);
        self.offset = input.end();
        self.prev_tag = tag;
    }

    /// Ends the stream: the frame candidates still open are dropped as
    /// truncated (the earliest reported), and whole frames found inside
    /// them come out.
    pub fn finish(&mut self, out: &mut impl FnMut(Output)) {
        let end = self.offset;
        let input = Input {
            data: &[],
            base: end,
        };
        if let Some(front) = self.candidates.end_all() {
            self.drop_frame(DropReason::Truncated, end - front.start, out);
        }
        self.settle(input, out);
        if !matches!(self.tail, Tail::Other) && self.candidates.is_empty() {
            self.skipped(end - 1, end);
        }
        self.tail = Tail::Other;
        self.candidates.clear();
        self.window.clear();
        self.seen_until = self.seen_until.max(end);
    }

    /// An SOI whose 0xFF ended the previous input: opened as the
    /// candidates stood at that 0xFF.
    fn soi_across_inputs(&mut self, input: Input) {
        let then = match std::mem::take(&mut self.tail) {
            Tail::Other => return,
            Tail::FfOutside => None,
            Tail::FfInside(then) => Some(then),
        };
        // The previous input's final 0xFF.
        let start = input.base - 1;
        if input.data.first() != Some(&crate::jpeg::marker::SOI) {
            if self.candidates.is_empty() {
                self.skipped(start, input.base);
            }
            return;
        }
        self.scanned += 1;
        // The candidates open at that 0xFF may all have ended on it; the
        // window was then let go with them, and holds from this SOI on.
        if self.candidates.is_empty() {
            self.window.restart(start, &[0xFF], self.expected_size());
            self.copied += 1;
        }
        match then {
            None => self.candidates.open(start, self.prev_tag),
            Some(then) => self.candidates.open_as_of(start, self.prev_tag, then),
        }
    }

    /// How `data`, the input just pushed, ended.
    fn tail_of(&mut self, data: &[u8]) -> Tail {
        let then = self.at_final_ff.take();
        if data.last() != Some(&0xFF) {
            return Tail::Other;
        }
        // A candidate open at the end was open at the final 0xFF (none
        // starts there), where `step` noted them; the ones noted may have
        // ended on it.
        debug_assert!(then.is_some() || self.candidates.is_empty());
        then.map_or(Tail::FfOutside, Tail::FfInside)
    }

    fn expected_size(&self) -> usize {
        self.last_frame_size.min(self.max_frame_size)
    }

    /// One step over `input` from `pos`: a search for SOI while no
    /// candidate is open, else the parses up to the next event. Returns
    /// where to go on from, or `None` at the end of the input.
    fn step(
        &mut self,
        input: Input,
        tag: Option<u64>,
        pos: u64,
        out: &mut impl FnMut(Output),
    ) -> Option<u64> {
        if self.candidates.is_empty() {
            return self.search(input, tag, pos);
        }
        let pos = self.lone_entropy_run(input, pos);
        if pos + 1 == input.end() && input.data.last() == Some(&0xFF) {
            // What happens at this byte has happened: note the candidates
            // for an SOI that this 0xFF may begin.
            self.at_final_ff = Some(self.candidates.snapshot());
        }
        let to = self.horizon(input, pos);
        let ends = self.candidates.advance(input, pos, to, &mut self.scanned);
        if let Some(resume) = self.record_ends(ends, input, out) {
            return Some(resume);
        }
        self.at_horizon(input, tag, to, out)
    }

    /// Searches for the next SOI from `pos` and opens a candidate there.
    fn search(&mut self, input: Input, tag: Option<u64>, pos: u64) -> Option<u64> {
        let end = input.end();
        let Some(q) = self.soi.next(input, pos, end, &mut self.scanned) else {
            // A final 0xFF may begin an SOI: counted with the next input.
            let tail = end - u64::from(input.data.last() == Some(&0xFF));
            self.skipped(pos, tail);
            return None;
        };
        self.skipped(pos, q);
        self.soi.consume(q);
        self.window.restart(q, &[], self.expected_size());
        self.candidates.open(q, tag);
        Some(q)
    }

    /// With one parse in entropy-coded data and nothing else stepping, runs
    /// it up to the next 0xFF that is not stuffing or a restart marker: no
    /// SOI can start before that, so no separate search is needed there.
    fn lone_entropy_run(&mut self, input: Input, pos: u64) -> u64 {
        if !self.candidates.lone_entropy_walker() {
            return pos;
        }
        let to = self.event_bound(input, pos);
        let data = input.range(pos, to);
        let n = entropy::entropy_stop(data).unwrap_or(data.len());
        self.scanned += n as u64;
        let at = pos + n as u64;
        self.soi.clear_up_to(at);
        at
    }

    /// The nearest of: the input's end, the front candidate's size limit,
    /// the next wake of a sleeping parse.
    fn event_bound(&self, input: Input, pos: u64) -> u64 {
        // A candidate that comes to the front past its limit (it lay inside
        // the one before) is dropped where it stands, at `pos`.
        let limit = self.candidates.front().map_or(u64::MAX, |(_, c)| {
            c.start.saturating_add(self.max_frame_size as u64).max(pos)
        });
        let wake = self.candidates.next_wake().unwrap_or(u64::MAX);
        // A final 0xFF may begin an SOI found with the next input: the
        // candidates are noted as they stand there, before stepping over it.
        let final_ff = match input.data.last() {
            Some(0xFF) if pos < input.end() - 1 => input.end() - 1,
            _ => u64::MAX,
        };
        input.end().min(limit).min(wake).min(final_ff)
    }

    /// Where the parses stop next: [`Self::event_bound`] or the next SOI
    /// (searched a bounded way ahead while parses step through bytes).
    fn horizon(&mut self, input: Input, pos: u64) -> u64 {
        let bound = self.event_bound(input, pos);
        let look = if self.candidates.has_walkers() {
            bound.min(pos.saturating_add(SOI_LOOKAHEAD))
        } else {
            bound
        };
        self.soi
            .next(input, pos, look, &mut self.scanned)
            .unwrap_or(look)
    }

    /// Records the candidates that ended, byte by byte, reporting and
    /// emitting what comes to the front. Returns where to search from when
    /// no candidate is left.
    fn record_ends(
        &mut self,
        ends: Vec<(u64, End)>,
        input: Input,
        out: &mut impl FnMut(Output),
    ) -> Option<u64> {
        for batch in ends.chunk_by(|a, b| a.1.byte() == b.1.byte()) {
            let mut resume = self.end_batch(batch, out);
            if let Some(emitted) = self.settle(input, out) {
                resume = resume.max(emitted);
            }
            if self.candidates.is_empty() {
                self.seen_until = self.seen_until.max(resume);
                return Some(resume);
            }
        }
        None
    }

    /// Records candidates that ended at the same byte. Only the front is
    /// reported if it failed: the others lie inside its bytes. Returns
    /// where the search would resume after them.
    fn end_batch(&mut self, batch: &[(u64, End)], out: &mut impl FnMut(Output)) -> u64 {
        let front = self.candidates.front().map(|(id, _)| id);
        // Parses that end in an EOI at the same byte have walked the same
        // bytes since they met: the earliest stands for them all, as it
        // does once merged, whether or not they were seen to meet before.
        let first_complete = batch
            .iter()
            .filter(|(_, e)| matches!(e, End::Complete(_)))
            .map(|&(id, _)| id)
            .min();
        let mut resume = 0;
        for &(id, end) in batch {
            resume = resume.max(end.resume());
            match end {
                End::Complete(e) if Some(id) == first_complete => self.candidates.complete(id, e),
                End::Complete(_) => {
                    self.candidates.remove(id);
                }
                End::Fault { at, reason } => {
                    let gone = self.candidates.remove(id);
                    if let Some(c) = gone.filter(|_| front == Some(id)) {
                        self.drop_frame(reason, at - c.start, out);
                    }
                }
            }
        }
        resume
    }

    fn drop_frame(&mut self, reason: DropReason, len: u64, out: &mut impl FnMut(Output)) {
        // Only a 32-bit build can see more bytes than a usize counts: the
        // reported length then says "at least this many".
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        self.stats.count_drop(reason, len);
        out(Output::Dropped { reason, len });
    }

    /// Takes complete candidates off the front: as frames, or, inside an
    /// APPn payload, as thumbnails. Returns the end of the last frame
    /// emitted.
    fn settle(&mut self, input: Input, out: &mut impl FnMut(Output)) -> Option<u64> {
        let mut emitted = None;
        while let Some((c, end)) = self.candidates.pop_complete() {
            if end <= c.thumb_until {
                // Candidates that ended with it walked the same bytes since
                // (merged or not): they are the same thumbnail.
                self.stats.thumbnails += 1;
                while self
                    .candidates
                    .front()
                    .is_some_and(|(_, n)| n.complete == Some(end))
                {
                    self.candidates.pop();
                }
                continue;
            }
            self.emit(c.start, end, c.tag, input, out);
            while self.candidates.front().is_some_and(|(_, n)| n.start < end) {
                self.candidates.pop();
            }
            emitted = Some(end);
        }
        emitted
    }

    fn emit(
        &mut self,
        start: u64,
        end: u64,
        tag: Option<u64>,
        input: Input,
        out: &mut impl FnMut(Output),
    ) {
        self.seen_until = self.seen_until.max(end);
        let Ok((data, copied)) = self.window.frame(start, end, input) else {
            debug_assert!(false, "the window lost the bytes of frame [{start}, {end})");
            self.stats.internal_errors += 1;
            return;
        };
        self.copied += copied;
        self.stats.frames += 1;
        self.last_frame_size = data.len();
        out(Output::Frame { data, tag });
    }

    /// At `at`, where the parses stopped: the front's size limit, parses
    /// waking, an SOI. Returns where to go on from, or `None` at the end of
    /// the input.
    fn at_horizon(
        &mut self,
        input: Input,
        tag: Option<u64>,
        at: u64,
        out: &mut impl FnMut(Output),
    ) -> Option<u64> {
        if at >= input.end() {
            return None;
        }
        self.candidates.wake_and_merge(at);
        if let Some((_, c)) = self.candidates.front()
            && c.complete.is_none()
            && at >= c.start.saturating_add(self.max_frame_size as u64)
        {
            self.candidates.pop();
            self.drop_frame(DropReason::TooLarge, at - c.start, out);
            self.settle(input, out);
            if self.candidates.is_empty() {
                self.seen_until = self.seen_until.max(at);
                return Some(at);
            }
        }
        if self.soi.found == Some(at) {
            self.soi.consume(at);
            self.candidates.open(at, tag);
        }
        Some(at)
    }

    /// Counts bytes [from, to) (stream offsets) passed over while searching.
    fn skipped(&mut self, from: u64, to: u64) {
        let from = from.max(self.seen_until);
        if to > from {
            self.stats.bytes_skipped += to - from;
            self.seen_until = to;
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const SOF: [u8; 13] = [
        0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x00, 0x10, 0x00, 0x20, 0x01, 0x01, 0x11, 0x00,
    ];
    const SOS: [u8; 10] = [0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00];

    /// SOI, APP0, SOF0, SOS header, `scan` and EOI.
    fn frame_with_scan(scan: &[u8]) -> Vec<u8> {
        let mut f = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x06, b'J', b'F', 0xFF, 0xD9];
        f.extend_from_slice(&SOF);
        f.extend_from_slice(&SOS);
        f.extend_from_slice(scan);
        f.extend_from_slice(&[0xFF, 0xD9]);
        f
    }

    fn frame(seed: u8) -> Vec<u8> {
        frame_with_scan(&[seed, 0x12, 0xFF, 0x00, 0x34, seed, 0x56])
    }

    fn run(scanner: &mut Scanner, input: &[u8], chunk: usize) -> Vec<Output> {
        let mut outs = Vec::new();
        for (i, c) in input.chunks(chunk.max(1)).enumerate() {
            scanner.push(c, Some(i as u64), &mut |o| outs.push(o));
        }
        outs
    }

    fn frames_of(outs: &[Output]) -> Vec<Vec<u8>> {
        outs.iter()
            .filter_map(|o| match o {
                Output::Frame { data, .. } => Some(data.clone()),
                _ => None,
            })
            .collect()
    }

    fn drops_of(outs: &[Output]) -> Vec<DropReason> {
        outs.iter()
            .filter_map(|o| match o {
                Output::Dropped { reason, .. } => Some(*reason),
                _ => None,
            })
            .collect()
    }

    fn whole(input: &[u8]) -> (Vec<Output>, Scanner) {
        let mut s = Scanner::new(1 << 20);
        let mut outs = run(&mut s, input, input.len());
        s.finish(&mut |o| outs.push(o));
        (outs, s)
    }

    #[test]
    fn simple_frame() {
        let f = frame(1);
        let (outs, s) = whole(&f);
        assert_eq!(
            outs,
            vec![Output::Frame {
                data: f.clone(),
                tag: Some(0)
            }]
        );
        assert_eq!(s.stats().frames, 1);
        assert_eq!(s.stats().bytes_skipped, 0);
        assert_eq!(s.bytes_copied(), f.len() as u64);
    }

    #[test]
    fn minimal_frame_soi_eoi() {
        let (outs, _) = whole(&[0x00, 0xFF, 0xD8, 0xFF, 0xD9, 0x00]);
        assert_eq!(frames_of(&outs), vec![vec![0xFF, 0xD8, 0xFF, 0xD9]]);
    }

    #[test]
    fn garbage_between_frames() {
        let (a, b) = (frame(1), frame(2));
        let g1 = [0x00, 0xFF, 0x01, 0xFF, 0xFF, 0xD9, 0x17];
        let g2 = [0xFF, 0xD9, 0xAA, 0xFF];
        let g3 = [0x55, 0xFF];
        let stream = [&g1[..], &a, &g2, &b, &g3].concat();
        let (outs, s) = whole(&stream);
        assert_eq!(frames_of(&outs), vec![a, b]);
        assert!(drops_of(&outs).is_empty());
        assert_eq!(
            s.stats().bytes_skipped,
            (g1.len() + g2.len() + g3.len()) as u64
        );
    }

    #[test]
    fn fill_bytes_before_markers() {
        let mut f = vec![0xFF, 0xD8, 0xFF, 0xFF, 0xFF, 0xE0, 0x00, 0x04, 0x01, 0x02];
        f.extend_from_slice(&[0xFF, 0xFF]);
        f.extend_from_slice(&SOF);
        f.extend_from_slice(&SOS);
        f.extend_from_slice(&[0x11, 0xFF, 0xFF, 0xFF, 0x00, 0x22, 0xFF, 0xFF, 0xD9]);
        let (outs, _) = whole(&f);
        assert_eq!(frames_of(&outs), vec![f]);
    }

    #[test]
    fn restart_markers_and_stuffing() {
        let mut scan = Vec::new();
        for rst in 0xD0..=0xD7u8 {
            scan.extend_from_slice(&[0x10, 0xFF, 0x00, 0x20, 0xFF, rst]);
        }
        let f = frame_with_scan(&scan);
        let (outs, _) = whole(&[&f[..], &frame(3)].concat());
        assert_eq!(frames_of(&outs), vec![f, frame(3)]);
    }

    #[test]
    fn progressive_multiple_scans() {
        let mut f = vec![0xFF, 0xD8];
        f.extend_from_slice(&SOF);
        for i in 0..4u8 {
            f.extend_from_slice(&[0xFF, 0xC4, 0x00, 0x05, 0x00, 0xFF, 0xD9]); // DHT
            f.extend_from_slice(&SOS);
            f.extend_from_slice(&[i, 0xFF, 0x00, 0x33, 0xFF, 0xD1, 0x44]);
        }
        f.extend_from_slice(&[0xFF, 0xDD, 0x00, 0x04, 0x00, 0x01]); // DRI after a scan
        f.extend_from_slice(&SOS);
        f.extend_from_slice(&[0x99, 0xFF, 0xD9]);
        let (outs, _) = whole(&f);
        assert_eq!(frames_of(&outs), vec![f]);
    }

    #[test]
    fn exif_thumbnail_is_skipped_whole() {
        let thumb = frame(9);
        let mut payload = b"Exif\0\0".to_vec();
        payload.extend_from_slice(&thumb);
        let mut f = vec![0xFF, 0xD8, 0xFF, 0xE1];
        f.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
        f.extend_from_slice(&payload);
        f.extend_from_slice(&SOF);
        f.extend_from_slice(&SOS);
        f.extend_from_slice(&[0x01, 0x02, 0xFF, 0xD9]);
        let (outs, s) = whole(&f);
        assert_eq!(frames_of(&outs), vec![f]);
        assert_eq!(s.stats().frames_dropped(), 0);
    }

    #[test]
    fn frame_cut_in_scan_data_then_good_frame() {
        let a = frame(1);
        let cut = &a[..a.len() - 4];
        let b = frame(2);
        let stream = [cut, &b].concat();
        for chunk in [1, 3, stream.len()] {
            let mut s = Scanner::new(1 << 20);
            let outs = run(&mut s, &stream, chunk);
            assert_eq!(
                outs,
                vec![
                    Output::Dropped {
                        reason: DropReason::SoiInFrame,
                        len: cut.len() + 1
                    },
                    Output::Frame {
                        data: b.clone(),
                        tag: Some((cut.len() / chunk) as u64)
                    }
                ],
                "chunk {chunk}"
            );
            assert_eq!(s.stats().bytes_skipped, 0);
        }
    }

    #[test]
    fn frame_cut_in_app_segment_then_good_frame() {
        // APP1 announces 0x40 bytes but only 3 follow, then frame B: the
        // skip runs into B, so B's bytes are only found by the rescan.
        let cut = [0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x40, 0x01, 0x02, 0x03];
        let b = frame_with_scan(&[0x42; 80]);
        let stream = [&cut[..], &b, &[0x00; 10]].concat();
        let mut s = Scanner::new(1 << 20);
        let outs = run(&mut s, &stream, stream.len());
        assert_eq!(drops_of(&outs), vec![DropReason::NotAMarker]);
        assert_eq!(frames_of(&outs), vec![b.clone()]);

        // Same, but the stream ends inside the segment: finish() rescans.
        let stream = [&cut[..], &b[..20]].concat();
        let b2 = frame(5);
        let stream = [&stream[..], &b2].concat();
        let (outs, _) = whole(&stream);
        assert_eq!(frames_of(&outs), vec![b2]);
    }

    #[test]
    fn segment_length_past_the_data() {
        // A COM segment announces 65533 bytes: the next frame lies inside
        // it, and comes out when the stream ends.
        let cut = [0xFF, 0xD8, 0xFF, 0xFE, 0xFF, 0xFF, 0x00];
        let b = frame(4);
        let stream = [&cut[..], &b].concat();
        let mut s = Scanner::new(1 << 20);
        let mut outs = run(&mut s, &stream, 5);
        assert!(outs.is_empty());
        assert!(s.in_frame());
        s.finish(&mut |o| outs.push(o));
        assert_eq!(
            outs,
            vec![
                Output::Dropped {
                    reason: DropReason::Truncated,
                    len: stream.len()
                },
                Output::Frame {
                    data: b,
                    tag: Some(1)
                }
            ]
        );
        assert!(!s.in_frame());
    }

    /// A frame whose APP1 segment holds an EXIF thumbnail (a whole frame).
    fn frame_with_thumbnail() -> (Vec<u8>, Vec<u8>) {
        // (the frame, and its thumbnail)
        let thumb = frame(9);
        let mut payload = b"Exif\0\0".to_vec();
        payload.extend_from_slice(&thumb);
        payload.extend_from_slice(&[0x00; 8]);
        let mut f = vec![0xFF, 0xD8, 0xFF, 0xE1];
        f.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
        f.extend_from_slice(&payload);
        f.extend_from_slice(&SOF);
        f.extend_from_slice(&SOS);
        f.extend_from_slice(&[0x01, 0x02, 0x03, 0x04, 0xFF, 0xD9]);
        (f, thumb)
    }

    #[test]
    fn thumbnail_of_a_cut_frame_never_comes_out() {
        let (f, thumb) = frame_with_thumbnail();
        assert!(f.windows(thumb.len()).any(|w| w == thumb));
        // Longer than the APP1 payload, so it runs past it wherever it
        // starts; no APP0, whose payload would hold an FF D9.
        let next = [&[0xFF, 0xD8][..], &SOF, &SOS, &[0x33; 100], &[0xFF, 0xD9]].concat();
        let mut absorbed = 0;
        // Cut anywhere after the thumbnail's SOI: inside the thumbnail,
        // right after it, inside the APP1 payload after it, in the scan.
        for cut in 14..f.len() - 1 {
            for chunk in [1, 7, 4096] {
                // Cut short and followed by a frame.
                let stream = [&f[..cut], &next].concat();
                let mut s = Scanner::new(1 << 20);
                let mut outs = run(&mut s, &stream, chunk);
                s.finish(&mut |o| outs.push(o));
                let frames = frames_of(&outs);
                // Never the thumbnail. Where a cut segment's declared length
                // ends exactly on one of the next frame's markers, the cut
                // frame's walk goes on as that frame and the earlier SOI
                // wins, as for any two walks that meet (and as before this
                // scanner): the frame ends as the next one does.
                assert_eq!(frames.len(), 1, "cut {cut}, chunk {chunk}");
                assert!(
                    frames[0].ends_with(&next[2..]),
                    "cut {cut}, chunk {chunk}: {} bytes, {:02x?}",
                    frames[0].len(),
                    &frames[0][..12.min(frames[0].len())]
                );
                absorbed += usize::from(frames[0] != next);
                // Cut short by the end of the stream.
                let mut s = Scanner::new(1 << 20);
                let mut outs = run(&mut s, &f[..cut], chunk);
                s.finish(&mut |o| outs.push(o));
                assert!(frames_of(&outs).is_empty(), "cut {cut}, chunk {chunk}");
                assert_eq!(drops_of(&outs), vec![DropReason::Truncated]);
            }
        }
        assert!(absorbed < (f.len() - 15) * 3 / 2, "{absorbed}");
        // Whole, with the thumbnail skipped by the walk.
        let (outs, s) = whole(&f);
        assert_eq!(frames_of(&outs), vec![f]);
        assert_eq!(s.stats().frames_dropped(), 0);
    }

    #[test]
    fn frame_starting_in_an_app_payload_and_running_past_it_comes_out() {
        // APP1 announces 0x30 bytes; the stream is cut after 3 of them and
        // a frame longer than the rest of the declared payload follows.
        let cut = [0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x30, 0x01, 0x02, 0x03];
        let b = frame_with_scan(&[0x42; 60]);
        assert!(cut.len() + b.len() > 6 + 0x30 - 2);
        let stream = [&cut[..], &b].concat();
        for chunk in [1, 5, stream.len()] {
            let mut s = Scanner::new(1 << 20);
            let mut outs = run(&mut s, &stream, chunk);
            s.finish(&mut |o| outs.push(o));
            assert_eq!(frames_of(&outs), vec![b.clone()], "chunk {chunk}");
            assert_eq!(s.stats().thumbnails, 0);
        }
        // A frame small enough to end inside the declared payload is taken
        // for a thumbnail: the documented cost of the rule.
        let small = [0xFF, 0xD8, 0xFF, 0xD9];
        let stream = [&cut[..], &small, &frame(2)].concat();
        let (outs, s) = whole(&stream);
        assert_eq!(frames_of(&outs), vec![frame(2)]);
        assert_eq!(s.stats().thumbnails, 1);
    }

    /// Pushes `stream` in 4 KB inputs; returns the frames and the scanner.
    fn scan_in_4k(stream: &[u8], max: usize) -> (Vec<Vec<u8>>, Scanner) {
        let mut s = Scanner::new(max);
        let mut frames = Vec::new();
        for c in stream.chunks(4096) {
            s.push(c, None, &mut |o| {
                if let Output::Frame { data, .. } = o {
                    frames.push(data)
                }
            });
        }
        s.finish(&mut |_| {});
        (frames, s)
    }

    /// Bytes looked at per byte of input, at most: each byte is searched
    /// for SOI once and stepped through by a few parses (the SOI and APP0
    /// header of each gadget).
    const LOOKS_PER_BYTE: u64 = 3;

    #[test]
    fn nested_candidates_cost_linear_work() {
        let good: Vec<Vec<u8>> = (0..30).map(|i| frame_with_scan(&[i as u8; 3000])).collect();
        let bad = crafted::nested_candidates(128);
        assert!(bad.len() > 8 << 20);
        let stream = [bad, good.concat()].concat();
        for max in [16 << 20, 1 << 20] {
            let (frames, s) = scan_in_4k(&stream, max);
            let first_bad = frames.iter().zip(&good).position(|(a, b)| a != b);
            assert!(
                frames == good,
                "max {max}: {} frames out, first wrong {first_bad:?} of len {:?}, stats {:?}",
                frames.len(),
                first_bad.map(|i| frames[i].len()),
                s.stats()
            );
            let n = stream.len() as u64;
            assert!(
                s.bytes_scanned() <= LOOKS_PER_BYTE * n,
                "max {max}: looked at {} bytes of {n}",
                s.bytes_scanned()
            );
            // Kept across inputs once, copied into a frame once (the scanner
            // this one replaced copied 22.9 GB for 0.5 MB of this).
            assert!(
                s.bytes_copied() <= 2 * n,
                "max {max}: copied {} bytes of {n}",
                s.bytes_copied()
            );
            eprintln!(
                "max {max}: {n} bytes, looked at {}, copied {}",
                s.bytes_scanned(),
                s.bytes_copied()
            );
            // One report per front candidate dropped, not one per gadget.
            assert!(
                s.stats().frames_dropped() <= 1 + n / max as u64 * 2,
                "max {max}: {:?}",
                s.stats()
            );
        }
    }

    #[test]
    fn candidates_beyond_the_limit_are_counted_not_followed() {
        // 5000 gadgets whose APP0 payloads all end at different bytes (60000
        // + g) cannot be merged, and are all open at once: past
        // MAX_CANDIDATES held, further SOIs are refused.
        let mut s = vec![0xFF, 0xD8, 0xFF, 0xFE, 0xFF, 0xFF];
        let mut payload = vec![0u8; 65533];
        for g in 0..5000 {
            let k = g * 8;
            let len = (60000 + g - (k + 4)) as u16;
            payload[k..k + 4].copy_from_slice(&[0xFF, 0xD8, 0xFF, 0xE0]);
            payload[k + 4..k + 6].copy_from_slice(&len.to_be_bytes());
        }
        s.extend_from_slice(&payload);
        let next = frame(5);
        s.extend_from_slice(&next);
        let mut scanner = Scanner::new(1 << 20);
        let outs = run(&mut scanner, &s, 4096);
        assert!(
            frames_of(&outs) == vec![next],
            "{} frames",
            frames_of(&outs).len()
        );
        let refused = scanner.stats().candidates_refused;
        assert_eq!(refused, 5001 - MAX_CANDIDATES as u64);
    }

    #[test]
    fn length_below_two() {
        for bad in [[0x00, 0x00], [0x00, 0x01]] {
            let cut = [0xFF, 0xD8, 0xFF, 0xE0, bad[0], bad[1], 0x00];
            let stream = [&cut[..], &frame(6)].concat();
            let (outs, s) = whole(&stream);
            assert_eq!(drops_of(&outs), vec![DropReason::BadLength]);
            assert_eq!(frames_of(&outs), vec![frame(6)]);
            assert_eq!(s.stats().dropped_bad_length, 1);
            // The offending length byte and the byte after it.
            assert_eq!(s.stats().bytes_skipped, 2);
        }
    }

    #[test]
    fn not_a_marker_and_ff00_at_marker_position() {
        for junk in [[0x12, 0x34], [0xFF, 0x00]] {
            let cut = [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x02, junk[0], junk[1]];
            let stream = [&cut[..], &frame(6)].concat();
            let (outs, _) = whole(&stream);
            assert_eq!(drops_of(&outs), vec![DropReason::NotAMarker]);
            assert_eq!(frames_of(&outs), vec![frame(6)]);
        }
    }

    #[test]
    fn endless_frame_over_max_then_good_frame() {
        let endless = frame_with_scan(&[0x42; 3000]);
        let endless = &endless[..endless.len() - 2];
        let b = frame(7);
        let stream = [endless, &[0x00, 0x00], &b].concat();
        for chunk in [1, 100, stream.len()] {
            let mut s = Scanner::new(1000);
            let outs = run(&mut s, &stream, chunk);
            assert_eq!(
                outs.first(),
                Some(&Output::Dropped {
                    reason: DropReason::TooLarge,
                    len: 1000
                })
            );
            assert_eq!(frames_of(&outs), vec![b.clone()], "chunk {chunk}");
            assert_eq!(s.stats().dropped_too_large, 1);
        }
    }

    #[test]
    fn frame_of_exactly_max_size_passes() {
        let f = frame_with_scan(&[0x42; 100]);
        let mut s = Scanner::new(f.len());
        assert_eq!(frames_of(&run(&mut s, &f, 1)), vec![f.clone()]);
        let mut s = Scanner::new(f.len() - 1);
        let outs = run(&mut s, &f, 7);
        assert!(frames_of(&outs).is_empty());
        assert_eq!(drops_of(&outs), vec![DropReason::TooLarge]);
    }

    /// Found by the scanner fuzz target: the candidates open at an input's
    /// final 0xFF all end on it, and the next input begins with D8. The SOI
    /// so formed must be held in a window of its own, and the stream must
    /// come out as it does uncut.
    #[test]
    fn soi_across_inputs_after_the_candidates_at_the_final_ff_ended() {
        let stream = [
            0xD8, 0xAF, 0xDB, 0xFF, 0xFF, 0xD8, 0xFF, 0xFF, 0xFF, 0xD8, 0xFF, 0x7D, 0xFF, 0xD8,
            0xAF, 0xDB, 0xFF, 0xFF, 0xD8, 0xFF, 0xFF, 0xFF, 0xD8, 0xFF, 0x7D, 0xFF,
        ];
        let cut = |cuts: &[usize]| {
            let mut s = Scanner::new(1);
            let mut outs = Vec::new();
            let mut start = 0;
            for &end in cuts.iter().chain([&stream.len()]) {
                s.push(&stream[start..end], None, &mut |o| outs.push(o));
                start = end;
            }
            s.finish(&mut |o| outs.push(o));
            (outs, s.stats())
        };
        let (split, split_stats) = cut(&[3, 25]);
        let (whole, whole_stats) = cut(&[]);
        assert_eq!(split_stats.internal_errors, 0);
        assert_eq!(split, whole);
        assert_eq!(
            Stats {
                thumbnails: 0,
                ..split_stats
            },
            Stats {
                thumbnails: 0,
                ..whole_stats
            }
        );
    }

    #[test]
    fn tag_is_the_tag_of_the_input_holding_soi() {
        let f = frame(8);
        let mut s = Scanner::new(1 << 20);
        let mut outs = Vec::new();
        s.push(&[0x00, 0xFF], Some(10), &mut |o| outs.push(o));
        s.push(&f[1..5], Some(20), &mut |o| outs.push(o));
        s.push(&f[5..], Some(30), &mut |o| outs.push(o));
        assert_eq!(
            outs,
            vec![Output::Frame {
                data: f.clone(),
                tag: Some(10)
            }]
        );
        assert_eq!(s.stats().bytes_skipped, 1);
    }

    #[test]
    fn reset_forgets_the_frame_in_progress() {
        let f = frame(8);
        let mut s = Scanner::new(1 << 20);
        let mut outs = Vec::new();
        s.push(&f[..20], None, &mut |o| outs.push(o));
        s.reset();
        s.push(&f[20..], None, &mut |o| outs.push(o));
        s.push(&f, None, &mut |o| outs.push(o));
        assert_eq!(frames_of(&outs), vec![f]);
        assert!(drops_of(&outs).is_empty());
    }

    fn mixed_stream() -> Vec<u8> {
        let mut thumb_app = vec![0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x00];
        thumb_app.extend_from_slice(b"Exif\0\0");
        thumb_app.extend_from_slice(&frame(9));
        let n = (thumb_app.len() - 4) as u16;
        thumb_app[4..6].copy_from_slice(&n.to_be_bytes());
        thumb_app.extend_from_slice(&SOF);
        thumb_app.extend_from_slice(&SOS);
        thumb_app.extend_from_slice(&[0x01, 0xFF, 0xD9]);
        let a = frame(1);
        [
            &[0x00, 0xFF, 0xFF, 0x01][..],
            &thumb_app,
            &a[..a.len() - 3],
            &frame(2),
            &[0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x10, 0x01],
            &frame(3),
            &[0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x01],
            &frame(4),
            &[0xFF],
        ]
        .concat()
    }

    #[test]
    fn every_input_split_gives_the_same_output() {
        let stream = mixed_stream();
        let (reference, _) = whole(&stream);
        assert_eq!(frames_of(&reference).len(), 4);
        assert_eq!(
            drops_of(&reference),
            vec![
                DropReason::SoiInFrame,
                DropReason::NotAMarker,
                DropReason::BadLength
            ]
        );
        let strip = |outs: Vec<Output>| -> Vec<Output> {
            outs.into_iter()
                .map(|o| match o {
                    Output::Frame { data, .. } => Output::Frame { data, tag: None },
                    o => o,
                })
                .collect()
        };
        let reference = strip(reference);
        for chunk in 1..=17 {
            let mut s = Scanner::new(1 << 20);
            let mut outs = run(&mut s, &stream, chunk);
            s.finish(&mut |o| outs.push(o));
            assert_eq!(strip(outs), reference, "chunk size {chunk}");
        }
    }

    #[test]
    fn cost_is_linear_on_one_byte_inputs() {
        let mut scan = Vec::with_capacity(3 << 20);
        let mut rng = fastrand::Rng::with_seed(0x1234_5678);
        while scan.len() < 3 << 20 {
            let b = rng.u8(..);
            scan.push(b);
            if b == 0xFF {
                scan.push(0x00);
            }
        }
        // A big APP segment too, skipped without being inspected.
        let mut f = vec![0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF];
        f.extend_from_slice(&[0xFF; 0xFFFD]);
        f.extend_from_slice(&frame_with_scan(&scan)[2..]);
        let mut s = Scanner::new(16 << 20);
        let mut frames = 0;
        for b in f.chunks(1) {
            s.push(b, None, &mut |o| {
                assert_eq!(
                    o,
                    Output::Frame {
                        data: f.clone(),
                        tag: None
                    }
                );
                frames += 1;
            });
        }
        assert_eq!(frames, 1);
        let n = f.len() as u64;
        assert_eq!(s.bytes_copied(), n);
        assert!(
            s.bytes_scanned() <= 2 * n,
            "{} > 2 * {n}",
            s.bytes_scanned()
        );
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    /// The byte runs that matter to the scanner: markers, segment headers,
    /// whole and cut frames.
    fn pieces() -> Vec<Vec<u8>> {
        vec![
            vec![0xFF, 0xD8],
            vec![0xFF, 0xD9],
            vec![0xFF, 0xDA, 0x00, 0x02],
            vec![0xFF, 0xE0, 0x00, 0x04],
            vec![0xFF, 0x00],
            vec![0xFF, 0xD3],
            vec![0xFF, 0xFF],
            SOF.to_vec(),
            SOS.to_vec(),
            frame(1),
            frame(2)[..15].to_vec(),
        ]
    }

    /// A stream of about 3,000 bytes: a third of its parts one of
    /// [`pieces`], the rest up to 7 random bytes each.
    fn random_stream() -> impl Strategy<Value = Vec<u8>> {
        let pieces = pieces();
        let part = (any::<u8>(), any::<u64>()).prop_map(move |(choice, bits)| {
            if choice % 3 == 0 {
                pieces[(bits % pieces.len() as u64) as usize].clone()
            } else {
                bits.to_le_bytes()[..usize::from(choice / 3 % 8)].to_vec()
            }
        });
        prop::collection::vec(part, 500..700).prop_map(|parts| parts.concat())
    }

    /// Runs `stream` through a scanner with frames of at most `max` bytes,
    /// in inputs of the `sizes` in turn (all of it at once if empty), and
    /// finishes.
    fn scan_in(stream: &[u8], max: usize, sizes: &[usize]) -> (Vec<Output>, Scanner) {
        let mut outs = Vec::new();
        let mut s = Scanner::new(max);
        let mut sizes = sizes.iter().cycle();
        let mut rest = stream;
        while !rest.is_empty() {
            let n = sizes.next().map_or(rest.len(), |&n| n.min(rest.len()));
            let (input, after) = rest.split_at(n);
            s.push(input, None, &mut |o| outs.push(o));
            rest = after;
        }
        s.finish(&mut |o| outs.push(o));
        (outs, s)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Whatever the bytes and however they are cut into inputs, the
        /// outputs are the same, the work is bounded, and every frame is
        /// an SOI..EOI of the stream within the size limit.
        #[test]
        fn random_input_never_panics_and_frames_are_sound(
            stream in random_stream(),
            max in 64..4064usize,
            sizes in prop::collection::vec(1..=40usize, 1..64),
        ) {
            let (whole_out, _) = scan_in(&stream, max, &[]);
            let (split_out, split) = scan_in(&stream, max, &sizes);
            prop_assert_eq!(&whole_out, &split_out);
            prop_assert!(split.bytes_copied() <= 64 * stream.len() as u64);
            for o in &whole_out {
                if let Output::Frame { data, .. } = o {
                    prop_assert!(data.starts_with(&[0xFF, 0xD8]));
                    prop_assert!(data.ends_with(&[0xFF, 0xD9]));
                    prop_assert!(data.len() <= max.max(4));
                    prop_assert!(contains(&stream, data));
                }
            }
        }
    }
}
