// SPDX-License-Identifier: MPL-2.0
//! The bytes of earlier inputs that the open frame candidates may still
//! emit: from the front candidate's SOI to the end of the last input.

use super::walk::Input;

#[derive(Debug, Default)]
pub(super) struct Window {
    bytes: Vec<u8>,
    /// Stream offset of `bytes[0]`.
    start: u64,
}

impl Window {
    /// Bytes held.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn clear(&mut self) {
        self.bytes.clear();
    }

    /// Starts again at `start` with `bytes` (the part of an SOI that lay in
    /// the previous input), reserving room for a frame of `expect` bytes.
    pub fn restart(&mut self, start: u64, bytes: &[u8], expect: usize) {
        self.bytes.clear();
        self.bytes.reserve(expect);
        self.bytes.extend_from_slice(bytes);
        self.start = start;
    }

    /// Keeps the bytes of `input` from `front` (the front candidate's
    /// start) on, and forgets bytes before `front` once they are over half
    /// of what is held. Returns the number of bytes copied.
    pub fn keep(&mut self, front: u64, input: Input) -> u64 {
        let skip = front.saturating_sub(self.start);
        if skip >= self.bytes.len() as u64 {
            self.bytes.clear();
            self.start = front.max(input.base);
        } else if skip > 0 && skip >= (self.bytes.len() / 2) as u64 {
            // Bounded by the length check just above.
            self.bytes.drain(..skip as usize);
            self.start = front;
        }
        let new = input.range(front.max(input.base), input.end());
        self.bytes.extend_from_slice(new);
        new.len() as u64
    }

    /// The bytes [start, end) of the stream, from the window and `input`;
    /// `start` is at or after the window's start. The window is handed
    /// over, not copied, when the frame starts where it does and runs into
    /// `input`. Returns the frame and the number of bytes copied.
    pub fn frame(&mut self, start: u64, end: u64, input: Input) -> (Vec<u8>, u64) {
        if start >= input.base {
            return (input.range(start, end).to_vec(), end - start);
        }
        let at = |o: u64| usize::try_from(o.saturating_sub(self.start)).unwrap_or(usize::MAX);
        let (mut data, mut copied) = if start == self.start && end >= input.base {
            (std::mem::take(&mut self.bytes), 0)
        } else {
            let old = &self.bytes
                [at(start).min(self.bytes.len())..at(end.min(input.base)).min(self.bytes.len())];
            (old.to_vec(), old.len() as u64)
        };
        if end > input.base {
            let new = input.range(input.base, end);
            data.extend_from_slice(new);
            copied += new.len() as u64;
        }
        (data, copied)
    }
}
