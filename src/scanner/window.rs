// SPDX-License-Identifier: MPL-2.0
//! The bytes of earlier inputs that the open frame candidates may still
//! emit: from the front candidate's SOI to the end of the last input.
//!
//! While a candidate is open, the window holds the stream bytes
//! [start, end of the last input) with start at or before the front
//! candidate's SOI; [`Window::frame`] checks that it holds what it is
//! asked for instead of trusting it.

use super::walk::Input;

#[derive(Debug, Default)]
pub(super) struct Window {
    bytes: Vec<u8>,
    /// Stream offset of `bytes[0]`.
    start: u64,
}

/// [`Window::frame`] was asked for bytes the window does not hold: the
/// scanner's bookkeeping is broken (a bug, never the input's fault).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct NotHeld;

impl Window {
    /// Bytes held.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Stream offset just past the bytes held.
    fn end(&self) -> u64 {
        self.start + self.bytes.len() as u64
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
        if self.bytes.is_empty() || front >= self.end() {
            // Nothing held is needed: the front starts in `input` (or
            // where a handed-over window ended). Were it to start earlier,
            // the window holds from `input` on only, and `frame` says so.
            self.bytes.clear();
            self.start = front.max(input.base);
        } else if let Some(skip) = front.checked_sub(self.start)
            && skip > 0
            && skip >= (self.bytes.len() / 2) as u64
        {
            // `skip` is below the length: `front` lies inside the bytes held.
            self.bytes.drain(..skip as usize);
            self.start = front;
        }
        let new = input.range(front.max(input.base), input.end());
        self.bytes.extend_from_slice(new);
        new.len() as u64
    }

    /// The held bytes at stream offsets [from, to), if all are held.
    fn held(&self, from: u64, to: u64) -> Option<&[u8]> {
        let index = |at: u64| usize::try_from(at.checked_sub(self.start)?).ok();
        self.bytes.get(index(from)?..index(to)?)
    }

    /// The bytes [start, end) of the stream, from the window and `input`.
    /// The window is handed over, not copied, when the frame starts where
    /// it does and runs into `input`. Returns the frame and the number of
    /// bytes copied, or [`NotHeld`] when the part before `input` is not
    /// held whole.
    pub fn frame(&mut self, start: u64, end: u64, input: Input) -> Result<(Vec<u8>, u64), NotHeld> {
        if start >= input.base {
            return Ok((input.range(start, end).to_vec(), end - start));
        }
        if self.end() != input.base {
            return Err(NotHeld);
        }
        let (mut data, mut copied) = if start == self.start && end >= input.base {
            (std::mem::take(&mut self.bytes), 0)
        } else {
            let old = self.held(start, end.min(input.base)).ok_or(NotHeld)?;
            (old.to_vec(), old.len() as u64)
        };
        if end > input.base {
            let new = input.range(input.base, end);
            data.extend_from_slice(new);
            copied += new.len() as u64;
        }
        Ok((data, copied))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(data: &[u8], base: u64) -> Input<'_> {
        Input { data, base }
    }

    #[test]
    fn a_frame_from_the_window_and_the_input() {
        let mut w = Window::default();
        w.restart(10, &[], 0);
        assert_eq!(w.keep(10, input(&[1, 2, 3, 4], 8)), 2);
        let next = input(&[5, 6, 7], 12);
        // Starting after the window's start: copied.
        assert_eq!(w.frame(11, 14, next), Ok((vec![4, 5, 6], 3)));
        // Starting where it does and running into the input: handed over.
        assert_eq!(w.frame(10, 13, next), Ok((vec![3, 4, 5], 1)));
        assert_eq!(w.len(), 0);
        // Wholly inside the input.
        assert_eq!(w.frame(13, 15, next), Ok((vec![6, 7], 2)));
    }

    #[test]
    fn bytes_not_held_are_an_error_not_a_shorter_frame() {
        let mut w = Window::default();
        w.restart(10, &[], 0);
        w.keep(10, input(&[1, 2, 3, 4], 8));
        // Before the window's start.
        assert_eq!(w.frame(9, 13, input(&[5], 12)), Err(NotHeld));
        // The window does not reach the input: a gap between them.
        assert_eq!(w.frame(10, 14, input(&[5], 13)), Err(NotHeld));
    }
}
