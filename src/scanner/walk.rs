// SPDX-License-Identifier: MPL-2.0
//! One parse of a frame candidate: the marker walk from just after its SOI
//! to its EOI, over one input at a time.
//!
//! Length-prefixed segment payloads are jumped over (the caller is told to
//! wake the parse where the payload ends); only entropy-coded data after an
//! SOS header is searched, with the block search of [`super::entropy`].

use super::DropReason;
use super::entropy::{continues_scan, entropy_stop};
use crate::jpeg::{self, marker};

/// The kind of a segment whose length is being read or whose payload is
/// being jumped over: it decides what follows the payload, and whether an
/// SOI..EOI inside the payload is a thumbnail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Seg {
    /// Any segment but APPn and SOS: a marker follows.
    Plain,
    /// APP0..APP15: a marker follows; a whole frame inside is a thumbnail.
    App,
    /// Start of scan: entropy-coded data follows.
    Sos,
}

impl Seg {
    fn of(code: u8) -> Seg {
        match code {
            marker::SOS => Seg::Sos,
            0xE0..=0xEF => Seg::App,
            _ => Seg::Plain,
        }
    }

    /// Where the parse is once the payload has been passed.
    pub(super) fn after(self) -> Step {
        match self {
            Seg::Sos => Step::Entropy,
            Seg::Plain | Seg::App => Step::Marker,
        }
    }
}

/// Where a parse is inside a frame, at a byte position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Step {
    /// A marker must start here (0xFF).
    Marker,
    /// After 0xFF (and maybe fill bytes): the marker code.
    Code,
    /// High byte of a segment length.
    Len1(Seg),
    /// Low byte of a segment length.
    Len2(Seg, u8),
    /// Entropy-coded data: looking for 0xFF.
    Entropy,
    /// Entropy-coded data, just after a 0xFF.
    EntropyFf,
}

/// How a walk over part of the input ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Walked {
    /// Reached the end of the part in this step.
    At(Step),
    /// A segment payload runs past the part: wake at `wake` (a stream
    /// offset), where the payload ends.
    Sleep { wake: u64, seg: Seg },
    /// An EOI: the frame ends just before `end`.
    Complete { end: u64 },
    /// The byte at `at` shows the candidate is not a frame.
    Fault { at: u64, reason: DropReason },
}

/// What one byte does to a parse outside entropy-coded data.
enum Next {
    Step(Step),
    /// A segment length of at least 2: its payload follows.
    Payload(Seg, u16),
    Complete,
    Fault(DropReason),
}

fn code(code: u8) -> Next {
    match code {
        marker::FILL => Next::Step(Step::Code),
        marker::EOI => Next::Complete,
        marker::SOI => Next::Fault(DropReason::SoiInFrame),
        0x00 => Next::Fault(DropReason::NotAMarker),
        c if jpeg::is_standalone(c) => Next::Step(Step::Marker),
        c => Next::Step(Step::Len1(Seg::of(c))),
    }
}

/// The parse's next state after byte `b`, one byte at a time (entropy-coded
/// data too, though [`walk`] searches that in blocks).
fn next(step: Step, b: u8) -> Next {
    match step {
        Step::Marker if b == 0xFF => Next::Step(Step::Code),
        Step::Marker => Next::Fault(DropReason::NotAMarker),
        Step::Code => code(b),
        Step::Len1(seg) => Next::Step(Step::Len2(seg, b)),
        Step::Len2(seg, hi) => match u16::from_be_bytes([hi, b]) {
            0 | 1 => Next::Fault(DropReason::BadLength),
            len => Next::Payload(seg, len),
        },
        Step::Entropy if b == 0xFF => Next::Step(Step::EntropyFf),
        Step::Entropy => Next::Step(Step::Entropy),
        Step::EntropyFf if continues_scan(b) => Next::Step(Step::Entropy),
        Step::EntropyFf => match code(b) {
            Next::Step(Step::Code) => Next::Step(Step::EntropyFf),
            other => other,
        },
    }
}

/// Bytes of one input and the stream offset of its first byte.
#[derive(Debug, Clone, Copy)]
pub(super) struct Input<'a> {
    pub data: &'a [u8],
    pub base: u64,
}

impl Input<'_> {
    /// Stream offset just past the input.
    pub fn end(&self) -> u64 {
        self.base + self.data.len() as u64
    }

    fn index(&self, offset: u64) -> usize {
        usize::try_from(offset - self.base).unwrap_or(usize::MAX)
    }

    /// The input bytes at stream offsets [from, to), both inside the input.
    pub fn range(&self, from: u64, to: u64) -> &[u8] {
        &self.data[self.index(from)..self.index(to)]
    }

    /// The input byte at stream offset `at`, inside the input.
    pub fn byte(&self, at: u64) -> u8 {
        self.data[self.index(at)]
    }
}

/// Runs a parse from stream offset `pos` in state `step` up to `to` (at
/// most the input's end), counting the bytes it looks at in `looked`.
pub(super) fn walk(
    mut step: Step,
    input: Input,
    mut pos: u64,
    to: u64,
    looked: &mut u64,
) -> Walked {
    while pos < to {
        if step == Step::Entropy {
            let data = input.range(pos, to);
            match entropy_stop(data) {
                Some(i) => {
                    // Up to and with the 0xFF; the byte after it decides.
                    *looked += i as u64 + 1;
                    pos += i as u64 + 1;
                    step = Step::EntropyFf;
                }
                None => {
                    *looked += data.len() as u64;
                    pos = to;
                }
            }
            continue;
        }
        *looked += 1;
        let b = input.byte(pos);
        match next(step, b) {
            Next::Step(s) => step = s,
            Next::Payload(seg, len) => {
                let wake = pos + 1 + u64::from(len - 2);
                if wake > to {
                    return Walked::Sleep { wake, seg };
                }
                pos = wake;
                step = seg.after();
                continue;
            }
            Next::Complete => return Walked::Complete { end: pos + 1 },
            Next::Fault(reason) => return Walked::Fault { at: pos, reason },
        }
        pos += 1;
    }
    Walked::At(step)
}
