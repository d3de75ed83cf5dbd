//! Resumable JPEG frame scanner: cuts whole frames (SOI..EOI) out of a byte
//! stream delivered in inputs of any size.
//!
//! Pure: no GStreamer types, no logging, no panics on any input, memory
//! bounded by the maximum frame size.
//!
//! Inside a frame the scanner walks the marker segments: length-prefixed
//! payloads are skipped without looking inside them (so an EXIF thumbnail
//! with its own SOI/EOI is skipped whole), and only the entropy-coded data
//! after an SOS header is searched for markers. A marker other than EOI,
//! RSTn or stuffing after scan data returns to segment walking, so
//! progressive frames (several scans) come out whole.
//!
//! When a frame in progress turns out to be broken, it is dropped and the
//! search for SOI resumes at the byte after that frame's SOI, replaying the
//! bytes kept from earlier inputs, so a frame cut off anywhere never
//! swallows the frame that follows it.
//!
//! On a well-formed stream every byte of a frame is copied exactly once and
//! looked at at most once; only the fault path rescans bytes.

use crate::jpeg::{self, marker};

/// Most tag changes remembered inside one frame in progress (for the tags of
/// frames found when its bytes are rescanned after a fault). Later changes
/// are ignored, which only makes such rescued frames carry an older tag.
const MAX_TAGS: usize = 64;

/// Why a frame in progress was dropped.
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
    /// Bytes outside any frame candidate (garbage between frames). Bytes of
    /// a dropped frame that are searched again are not counted here.
    pub bytes_skipped: u64,
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
}

/// Where the scanner is inside a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// A marker must start here (0xFF).
    Marker,
    /// After 0xFF (and maybe fill bytes): the marker code.
    Code,
    /// High byte of a segment length.
    Len1 { sos: bool },
    /// Low byte of a segment length.
    Len2 { sos: bool, hi: u8 },
    /// Inside a segment payload.
    Skip { left: usize, sos: bool },
    /// Entropy-coded data: looking for 0xFF.
    Entropy,
    /// Entropy-coded data, just after a 0xFF.
    EntropyFf,
}

/// A frame being collected.
#[derive(Debug)]
struct Frame {
    /// Bytes copied so far (from earlier inputs).
    data: Vec<u8>,
    /// Stream offset of its SOI.
    start: u64,
    /// Tag of the input that held its SOI.
    tag: Option<u64>,
    /// Tag changes over the bytes of the frame: (stream offset, tag).
    tags: Vec<(u64, Option<u64>)>,
    step: Step,
}

/// What a marker code means at a marker position.
enum CodeAction {
    Next(Step),
    Complete,
    Fault(DropReason),
}

fn code_action(code: u8) -> CodeAction {
    match code {
        marker::FILL => CodeAction::Next(Step::Code),
        marker::EOI => CodeAction::Complete,
        marker::SOI => CodeAction::Fault(DropReason::SoiInFrame),
        0x00 => CodeAction::Fault(DropReason::NotAMarker),
        c if jpeg::is_standalone(c) => CodeAction::Next(Step::Marker),
        c => CodeAction::Next(Step::Len1 {
            sos: c == marker::SOS,
        }),
    }
}

fn tag_at(tags: &[(u64, Option<u64>)], offset: u64) -> Option<u64> {
    tags.iter()
        .take_while(|(o, _)| *o <= offset)
        .last()
        .or(tags.first())
        .and_then(|(_, t)| *t)
}

/// True for the byte after an 0xFF that keeps entropy-coded data going:
/// stuffing (00) or a restart marker (D0..D7).
fn continues_scan(next: u8) -> bool {
    next == 0x00 || (marker::RST0..=marker::RST7).contains(&next)
}

/// Where entropy-coded data `data` stops: the index of the first 0xFF that
/// is not followed (inside `data`) by 00 or a restart marker. An 0xFF in
/// the last byte is a stop, since its next byte is not known yet.
///
/// This is the scanner's hot loop. JPEG at high quality has an FF 00 every
/// few dozen bytes, so rather than stopping at each 0xFF it tests 32 bytes
/// (AVX2, when the CPU has it), 16 (SSE2, any other x86_64) or 8 (a u64,
/// elsewhere) at once, each against the byte after it, and stops only at a
/// real marker.
fn entropy_stop(data: &[u8]) -> Option<usize> {
    let from = entropy_stop_wide(data);
    data.get(from..)?
        .iter()
        .enumerate()
        .find(|&(i, &b)| b == 0xFF && !data.get(from + i + 1).is_some_and(|&n| continues_scan(n)))
        .map(|(i, _)| from + i)
}

/// The vector part of [`entropy_stop`]: returns the stop if it found one in
/// the blocks it tested, else the index the byte-by-byte tail starts at.
#[cfg(target_arch = "x86_64")]
fn entropy_stop_wide(data: &[u8]) -> usize {
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        let (found, at) = unsafe { avx2_entropy_stop(data) };
        if found {
            return at;
        }
        return sse2_entropy_stop(&data[at..]) + at;
    }
    sse2_entropy_stop(data)
}

/// [`entropy_stop_wide`] on 32-byte blocks: `(true, stop)` when it found a
/// stop, else `(false, where it left off)`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn avx2_entropy_stop(data: &[u8]) -> (bool, usize) {
    use std::arch::x86_64::*;
    const W: usize = 32;
    let mut i = 0;
    while i + W < data.len() {
        // SAFETY: both unaligned 32-byte loads end at or before
        // data[i + 32], inside `data`.
        let (here, next) = unsafe {
            let p = data.as_ptr().add(i);
            (
                _mm256_loadu_si256(p.cast()),
                _mm256_loadu_si256(p.add(1).cast()),
            )
        };
        let ff = _mm256_cmpeq_epi8(here, _mm256_set1_epi8(-1));
        let stuffed = _mm256_cmpeq_epi8(next, _mm256_setzero_si256());
        let rst = _mm256_cmpeq_epi8(
            _mm256_and_si256(next, _mm256_set1_epi8(0xF8u8 as i8)),
            _mm256_set1_epi8(0xD0u8 as i8),
        );
        let stops =
            _mm256_movemask_epi8(_mm256_andnot_si256(_mm256_or_si256(stuffed, rst), ff)) as u32;
        if stops != 0 {
            return (true, i + stops.trailing_zeros() as usize);
        }
        i += W;
    }
    (false, i)
}

/// [`entropy_stop_wide`] on 16-byte blocks with SSE2, which every x86_64
/// CPU has.
#[cfg(target_arch = "x86_64")]
fn sse2_entropy_stop(data: &[u8]) -> usize {
    use std::arch::x86_64::*;
    const W: usize = 16;
    let mut i = 0;
    // A block tests data[i..i + 16], reading its next bytes up to i + 16.
    while i + W < data.len() {
        // SAFETY: SSE2 is part of every x86_64 CPU, and both unaligned
        // 16-byte loads end at or before data[i + 16], inside `data`.
        let stops = unsafe {
            let p = data.as_ptr().add(i);
            let here = _mm_loadu_si128(p.cast());
            let next = _mm_loadu_si128(p.add(1).cast());
            let ff = _mm_cmpeq_epi8(here, _mm_set1_epi8(-1));
            let stuffed = _mm_cmpeq_epi8(next, _mm_setzero_si128());
            let rst = _mm_cmpeq_epi8(
                _mm_and_si128(next, _mm_set1_epi8(0xF8u8 as i8)),
                _mm_set1_epi8(0xD0u8 as i8),
            );
            _mm_movemask_epi8(_mm_andnot_si128(_mm_or_si128(stuffed, rst), ff)) as u32
        };
        if stops != 0 {
            return i + stops.trailing_zeros() as usize;
        }
        i += W;
    }
    i
}

/// The vector part of [`entropy_stop`] off x86_64: 8 bytes at a time in a
/// u64, with exact per-byte equality tests.
#[cfg(not(target_arch = "x86_64"))]
fn entropy_stop_wide(data: &[u8]) -> usize {
    swar_entropy_stop(data)
}

/// [`entropy_stop_wide`] on 8-byte words (also tested on x86_64).
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn swar_entropy_stop(data: &[u8]) -> usize {
    const LO7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    const HI: u64 = 0x8080_8080_8080_8080;
    // High bit of each byte of x that is zero; exact, no carry between bytes.
    let zero_bytes = |x: u64| !(((x & LO7) + LO7) | x | LO7);
    let word = |at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&data[at..at + 8]);
        u64::from_le_bytes(w)
    };
    let mut i = 0;
    while i + 8 < data.len() {
        let here = word(i);
        let ff = zero_bytes(!here);
        if ff != 0 {
            let next = word(i + 1);
            let keep = zero_bytes(next)
                | zero_bytes((next & 0xF8F8_F8F8_F8F8_F8F8) ^ 0xD0D0_D0D0_D0D0_D0D0);
            let stops = ff & !keep & HI;
            if stops != 0 {
                return i + stops.trailing_zeros() as usize / 8;
            }
        }
        i += 8;
    }
    i
}

/// The scanner. See the module documentation.
#[derive(Debug)]
pub struct Scanner {
    max_frame_size: usize,
    /// Stream offset of the next input's first byte.
    offset: u64,
    /// Tag of the previous input.
    prev_tag: Option<u64>,
    /// Searching, and the last byte of the previous input was 0xFF.
    pending_ff: bool,
    frame: Option<Frame>,
    /// Stream offset up to which bytes already belonged to a frame candidate.
    seen_until: u64,
    /// Size of the last frame emitted, to reserve the next one.
    last_frame_size: usize,
    /// Allocation of a dropped frame, reused for the next.
    spare: Vec<u8>,
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
            pending_ff: false,
            frame: None,
            seen_until: 0,
            last_frame_size: 0,
            spare: Vec::new(),
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
        if let Some(frame) = self.frame.take() {
            self.recycle(frame.data);
        }
        self.pending_ff = false;
        self.seen_until = self.offset;
    }

    /// Counters since creation.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Bytes the scanner inspected (one by one or with memchr).
    pub fn bytes_scanned(&self) -> u64 {
        self.scanned
    }

    /// Bytes the scanner copied into frame buffers.
    pub fn bytes_copied(&self) -> u64 {
        self.copied
    }

    /// True while a frame has started but not ended.
    pub fn in_frame(&self) -> bool {
        self.frame.is_some()
    }

    /// Consumes one input. `tag` is attached to frames whose SOI lies in it.
    pub fn push(&mut self, input: &[u8], tag: Option<u64>, out: &mut impl FnMut(Output)) {
        let base = self.offset;
        // The SOI of a frame may begin with the last byte of the previous input.
        let tags = [(base.saturating_sub(1), self.prev_tag), (base, tag)];
        let mut from = 0;
        while let Some(old) = self.feed(input, from, base, &tags, out) {
            // A frame that began before this input was dropped: search its
            // bytes again from after its SOI, then this input from the start.
            let resume = old.start.saturating_add(2).saturating_sub(base);
            self.replay_frame(old, out);
            from = usize::try_from(resume)
                .unwrap_or(usize::MAX)
                .min(input.len());
        }
        self.offset = base.saturating_add(input.len() as u64);
        self.prev_tag = tag;
    }

    /// Ends the stream: the frame in progress, if any, is dropped as
    /// truncated and its bytes are searched again for whole frames.
    pub fn finish(&mut self, out: &mut impl FnMut(Output)) {
        while let Some(frame) = self.frame.take() {
            let len = frame.data.len();
            self.drop_frame(DropReason::Truncated, len, out);
            self.seen_until = self.seen_until.max(self.offset);
            self.replay_frame(frame, out);
        }
        if self.pending_ff {
            self.pending_ff = false;
            self.skipped(self.offset.saturating_sub(1), self.offset);
        }
    }

    fn recycle(&mut self, mut data: Vec<u8>) {
        if data.capacity() > self.spare.capacity() {
            data.clear();
            self.spare = data;
        }
    }

    fn drop_frame(&mut self, reason: DropReason, len: usize, out: &mut impl FnMut(Output)) {
        let s = &mut self.stats;
        match reason {
            DropReason::SoiInFrame => s.dropped_soi_in_frame += 1,
            DropReason::NotAMarker => s.dropped_not_a_marker += 1,
            DropReason::BadLength => s.dropped_bad_length += 1,
            DropReason::TooLarge => s.dropped_too_large += 1,
            DropReason::Truncated => s.dropped_truncated += 1,
        }
        s.bytes_dropped = s.bytes_dropped.saturating_add(len as u64);
        out(Output::Dropped { reason, len });
    }

    /// Searches the bytes of a dropped frame again, from after its SOI.
    fn replay_frame(&mut self, frame: Frame, out: &mut impl FnMut(Output)) {
        let rest = frame.data.get(2..).unwrap_or(&[]);
        if !rest.is_empty() {
            // Starts in search state, so every frame found lies inside
            // `rest` and a fault never reaches back before it.
            let _ = self.feed(rest, 0, frame.start.saturating_add(2), &frame.tags, out);
        }
        self.recycle(frame.data);
    }

    /// Counts bytes [from, to) (stream offsets) passed over while searching.
    fn skipped(&mut self, from: u64, to: u64) {
        let from = from.max(self.seen_until);
        if to > from {
            self.stats.bytes_skipped += to - from;
            self.seen_until = to;
        }
    }

    fn start_frame(&mut self, start: u64, tags: &[(u64, Option<u64>)]) -> Frame {
        let mut data = std::mem::take(&mut self.spare);
        data.clear();
        data.reserve(self.last_frame_size.min(self.max_frame_size));
        let tag = tag_at(tags, start);
        Frame {
            data,
            start,
            tag,
            tags: vec![(start, tag)],
            step: Step::Marker,
        }
    }

    /// Scans `data[from..]`, whose first byte is at stream offset `base`
    /// (`data[0]`), with `tags` giving the input tag at each offset.
    ///
    /// Returns a dropped frame whose SOI lay before `data`: the caller must
    /// replay its bytes, then scan `data` again from after that SOI.
    fn feed(
        &mut self,
        data: &[u8],
        from: usize,
        base: u64,
        tags: &[(u64, Option<u64>)],
        out: &mut impl FnMut(Output),
    ) -> Option<Frame> {
        let len = data.len();
        let mut pos = from.min(len);
        // Start of the frame bytes in `data` not yet copied into the frame.
        let mut span = pos;
        let abs = |i: usize| base.saturating_add(i as u64);

        loop {
            let Some(frame) = self.frame.as_mut() else {
                // Searching for SOI.
                if pos >= len {
                    return None;
                }
                if self.pending_ff {
                    self.pending_ff = false;
                    self.scanned += 1;
                    if data[pos] == marker::SOI {
                        let mut frame = self.start_frame(abs(pos).saturating_sub(1), tags);
                        frame.data.push(0xFF);
                        self.copied += 1;
                        self.frame = Some(frame);
                        span = pos;
                        pos += 1;
                    } else {
                        self.skipped(abs(pos).saturating_sub(1), abs(pos));
                    }
                    continue;
                }
                let rest = &data[pos..];
                match memchr::memchr(0xFF, rest) {
                    None => {
                        self.scanned += rest.len() as u64;
                        self.skipped(abs(pos), abs(len));
                        return None;
                    }
                    Some(i) => {
                        let at = pos + i;
                        self.scanned += i as u64 + 1;
                        self.skipped(abs(pos), abs(at));
                        match data.get(at + 1) {
                            None => {
                                self.pending_ff = true;
                                return None;
                            }
                            Some(&marker::SOI) => {
                                self.scanned += 1;
                                self.frame = Some(self.start_frame(abs(at), tags));
                                span = at;
                                pos = at + 2;
                            }
                            Some(_) => {
                                self.skipped(abs(at), abs(at + 1));
                                pos = at + 1;
                            }
                        }
                    }
                }
                continue;
            };

            // Inside a frame: the frame may reach up to `limit` in `data`.
            let room = self.max_frame_size.saturating_sub(frame.data.len());
            let limit = span.saturating_add(room);
            let end = len.min(limit);
            let mut fault = None;
            let mut complete = false;

            if pos >= end {
                if limit >= len {
                    // End of input: keep the bytes, remember tag changes.
                    let chunk = &data[span.min(len)..];
                    frame.data.extend_from_slice(chunk);
                    self.copied += chunk.len() as u64;
                    for &(o, t) in tags {
                        if o > frame.start
                            && o < abs(len)
                            && frame.tags.len() < MAX_TAGS
                            && frame.tags.last().is_some_and(|(_, last)| *last != t)
                        {
                            frame.tags.push((o, t));
                        }
                    }
                    return None;
                }
                fault = Some((DropReason::TooLarge, pos));
            } else {
                match frame.step {
                    Step::Marker => {
                        self.scanned += 1;
                        if data[pos] == 0xFF {
                            frame.step = Step::Code;
                            pos += 1;
                        } else {
                            fault = Some((DropReason::NotAMarker, pos));
                        }
                    }
                    Step::Code => {
                        self.scanned += 1;
                        match code_action(data[pos]) {
                            CodeAction::Next(step) => {
                                frame.step = step;
                                pos += 1;
                            }
                            CodeAction::Complete => {
                                pos += 1;
                                complete = true;
                            }
                            CodeAction::Fault(reason) => fault = Some((reason, pos)),
                        }
                    }
                    Step::Len1 { sos } => {
                        self.scanned += 1;
                        frame.step = Step::Len2 { sos, hi: data[pos] };
                        pos += 1;
                    }
                    Step::Len2 { sos, hi } => {
                        self.scanned += 1;
                        let seg_len = u16::from_be_bytes([hi, data[pos]]) as usize;
                        if seg_len < 2 {
                            fault = Some((DropReason::BadLength, pos));
                        } else {
                            frame.step = Step::Skip {
                                left: seg_len - 2,
                                sos,
                            };
                            pos += 1;
                        }
                    }
                    Step::Skip { left, sos } => {
                        let n = left.min(end - pos);
                        pos += n;
                        let left = left - n;
                        frame.step = if left > 0 {
                            Step::Skip { left, sos }
                        } else if sos {
                            Step::Entropy
                        } else {
                            Step::Marker
                        };
                    }
                    Step::Entropy => {
                        // The hot loop: skip stuffed FF 00 and restart markers
                        // here; anything else after an FF goes to EntropyFf.
                        let start = pos;
                        match entropy_stop(&data[pos..end]) {
                            Some(i) => {
                                pos = start + i + 1;
                                frame.step = Step::EntropyFf;
                            }
                            None => pos = end,
                        }
                        // Every byte up to `pos` was looked at once (the byte
                        // after a final FF is EntropyFf's).
                        self.scanned += (pos - start) as u64;
                    }
                    Step::EntropyFf => {
                        self.scanned += 1;
                        let code = data[pos];
                        if continues_scan(code) {
                            frame.step = Step::Entropy;
                            pos += 1;
                        } else {
                            match code_action(code) {
                                CodeAction::Next(Step::Code) => {
                                    frame.step = Step::EntropyFf;
                                    pos += 1;
                                }
                                CodeAction::Next(step) => {
                                    frame.step = step;
                                    pos += 1;
                                }
                                CodeAction::Complete => {
                                    pos += 1;
                                    complete = true;
                                }
                                CodeAction::Fault(reason) => fault = Some((reason, pos)),
                            }
                        }
                    }
                }
            }

            if complete {
                let mut frame = self.frame.take()?;
                let chunk = data.get(span..pos).unwrap_or(&[]);
                frame.data.extend_from_slice(chunk);
                self.copied += chunk.len() as u64;
                self.stats.frames += 1;
                self.last_frame_size = frame.data.len();
                self.seen_until = self.seen_until.max(abs(pos));
                out(Output::Frame {
                    data: frame.data,
                    tag: frame.tag,
                });
                span = pos;
                continue;
            }

            if let Some((reason, at)) = fault {
                let frame = self.frame.take()?;
                let dropped = frame.data.len().saturating_add(at.saturating_sub(span));
                self.drop_frame(reason, dropped, out);
                self.seen_until = self.seen_until.max(abs(at));
                self.pending_ff = false;
                if frame.start >= base {
                    // The SOI is in `data`: search again right after it.
                    pos = usize::try_from(frame.start - base)
                        .unwrap_or(usize::MAX)
                        .saturating_add(2)
                        .min(len);
                    span = pos;
                    self.recycle(frame.data);
                    continue;
                }
                return Some(frame);
            }
        }
    }
}

#[cfg(test)]
mod tests {
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

    /// The block-wise searches this CPU can run, with their block width.
    #[allow(clippy::type_complexity)]
    fn block_searches() -> Vec<(usize, Box<dyn Fn(&[u8]) -> usize>)> {
        let mut v: Vec<(usize, Box<dyn Fn(&[u8]) -> usize>)> =
            vec![(8, Box::new(swar_entropy_stop))];
        #[cfg(target_arch = "x86_64")]
        {
            v.push((16, Box::new(sse2_entropy_stop)));
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2.
                v.push((32, Box::new(|d: &[u8]| unsafe { avx2_entropy_stop(d) }.1)));
            }
        }
        v
    }

    /// The plain definition [`entropy_stop`] must agree with.
    fn entropy_stop_reference(data: &[u8]) -> Option<usize> {
        (0..data.len())
            .find(|&i| data[i] == 0xFF && !data.get(i + 1).is_some_and(|&n| continues_scan(n)))
    }

    #[test]
    fn entropy_stop_agrees_with_the_definition() {
        // Bytes drawn mostly from the interesting ones, at every length and
        // every alignment, so each stop position in a block and the tail
        // are covered, on the wide path and on the 8-byte path.
        let alphabet = [0xFF, 0x00, 0xD0, 0xD7, 0xD8, 0xD9, 0xCF, 0x12, 0xFE, 0x01];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut checked = 0;
        for len in 0..80 {
            for _ in 0..300 {
                let data: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        if x.is_multiple_of(4) {
                            (x >> 8) as u8
                        } else {
                            alphabet[(x >> 16) as usize % alphabet.len()]
                        }
                    })
                    .collect();
                let want = entropy_stop_reference(&data);
                assert_eq!(entropy_stop(&data), want, "{data:02x?}");
                // Each block-wise search either finds the stop or leaves at
                // most one block (plus its look-ahead byte) to the tail.
                for (width, wide) in block_searches() {
                    let at = wide(&data);
                    match want {
                        Some(w) if at == w => {}
                        _ => assert!(
                            at <= want.unwrap_or(data.len()) && at + width >= data.len(),
                            "{width}-byte blocks: {at} for {want:?} in {data:02x?}"
                        ),
                    }
                }
                checked += usize::from(want.is_some());
            }
        }
        assert!(checked > 10_000, "stops found: {checked}");
        // Long runs of stuffing and restart markers with one marker far in.
        let mut long = [0xFF, 0x00, 0x55, 0xFF, 0xD3].repeat(1000);
        long[3333] = 0xFF;
        long[3334] = 0xD9;
        assert_eq!(entropy_stop(&long), Some(3333));
        for (width, wide) in block_searches() {
            assert_eq!(wide(&long), 3333, "{width}-byte blocks");
        }
        assert_eq!(entropy_stop(&long[..3333]), None);
        assert_eq!(entropy_stop(&[0x11, 0xFF]), Some(1), "a final FF is a stop");
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
        let cut = [0xFF, 0xD8, 0xFF, 0xE2, 0xFF, 0xFF, 0x00];
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
        let mut x = 0x1234_5678u32;
        while scan.len() < 3 << 20 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let b = x as u8;
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

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn random_input_never_panics_and_frames_are_sound() {
        let pieces: Vec<Vec<u8>> = vec![
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
        ];
        for seed in 1..=200u64 {
            let mut rng = XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut stream = Vec::new();
            while stream.len() < 3000 {
                let r = rng.next();
                if r.is_multiple_of(3) {
                    stream.extend_from_slice(&pieces[(r >> 8) as usize % pieces.len()]);
                } else {
                    for _ in 0..(r >> 16) % 8 {
                        stream.push(rng.next() as u8);
                    }
                }
            }
            let max = 64 + (rng.next() % 4000) as usize;
            let mut whole_out = Vec::new();
            let mut s = Scanner::new(max);
            s.push(&stream, None, &mut |o| whole_out.push(o));
            s.finish(&mut |o| whole_out.push(o));

            let mut split_out = Vec::new();
            let mut s2 = Scanner::new(max);
            let mut pos = 0;
            while pos < stream.len() {
                let n = 1 + (rng.next() % 40) as usize;
                let end = (pos + n).min(stream.len());
                s2.push(&stream[pos..end], None, &mut |o| split_out.push(o));
                pos = end;
            }
            s2.finish(&mut |o| split_out.push(o));
            assert_eq!(whole_out, split_out, "seed {seed}");
            assert!(s2.bytes_copied() <= 64 * stream.len() as u64);

            for o in &whole_out {
                if let Output::Frame { data, .. } = o {
                    assert!(data.starts_with(&[0xFF, 0xD8]), "seed {seed}");
                    assert!(data.ends_with(&[0xFF, 0xD9]), "seed {seed}");
                    assert!(data.len() <= max.max(4));
                    assert!(contains(&stream, data), "seed {seed}");
                }
            }
        }
    }
}
