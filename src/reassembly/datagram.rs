// SPDX-License-Identifier: MPL-2.0
//! How the reassembler holds datagrams without copying them: the
//! [`Datagram`] trait, what holding one costs, and views of its bytes.

use std::borrow::Cow;
use std::mem::size_of;
use std::rc::Rc;

use crate::wire;

/// A datagram as the reassembler holds it: its bytes in one slice, or in two
/// (a header part, then the payload, as a buffer of a header memory and a
/// payload memory has them), so that holding it copies nothing.
///
/// Both methods must answer the same for as long as the datagram is held;
/// were they not to, the reassembler notices some of it, counts it in
/// [`Stats::internal_errors`](super::Stats::internal_errors) and mends its
/// bookkeeping (a debug build stops at it).
pub trait Datagram {
    /// The datagram's bytes as `(head, tail)`: the datagram is `head`
    /// followed by `tail`. One in one piece is all head.
    fn parts(&self) -> (&[u8], &[u8]);

    /// Bytes of memory that holding this datagram keeps alive, beyond the
    /// value itself (the reassembler counts that as its own bookkeeping):
    /// its bytes, the unused room of their allocation, and the overhead of
    /// the allocator and of any header structure. It is charged against
    /// [`Limits::max_held_bytes`](super::Limits::max_held_bytes), so it must
    /// not undercount.
    fn pinned_len(&self) -> usize;
}

/// Bytes that a heap allocation of `n` bytes takes with glibc's malloc: an
/// 8-byte header, rounded up to 16 bytes, 32 at least (measured resident:
/// 6 bytes take 32, 100 take 112, 112 take 128).
pub const fn heap_block(n: usize) -> usize {
    let b = n.saturating_add(8 + 15) & !15;
    if b < 32 { 32 } else { b }
}

impl Datagram for Vec<u8> {
    fn parts(&self) -> (&[u8], &[u8]) {
        (self, &[])
    }
    fn pinned_len(&self) -> usize {
        heap_block(self.capacity())
    }
}

impl Datagram for Rc<[u8]> {
    fn parts(&self) -> (&[u8], &[u8]) {
        (self, &[])
    }
    fn pinned_len(&self) -> usize {
        // The bytes follow the two reference counts in one allocation.
        heap_block(self.len().saturating_add(2 * size_of::<usize>()))
    }
}

/// Length of a datagram in bytes.
pub(super) fn total_len<B: Datagram>(d: &B) -> usize {
    let (h, t) = d.parts();
    h.len() + t.len()
}

/// The bytes after the first `skip` of a datagram, in up to two pieces.
pub(super) fn after<B: Datagram>(d: &B, skip: usize) -> (&[u8], &[u8]) {
    let (h, t) = d.parts();
    match h.get(skip..) {
        Some(rest) => (rest, t),
        None => (&[], t.get(skip - h.len()..).unwrap_or(&[])),
    }
}

/// The bytes after the first `skip` in one slice: borrowed unless they lie
/// in both parts (then copied; only parity recovery asks for this).
pub(super) fn after_joined<B: Datagram>(d: &B, skip: usize) -> Cow<'_, [u8]> {
    match after(d, skip) {
        (a, []) => Cow::Borrowed(a),
        ([], b) => Cow::Borrowed(b),
        (a, b) => Cow::Owned([a, b].concat()),
    }
}

/// Length of [`ParseView::Short`]: a header and the first payload byte.
pub(super) const SHORT_VIEW: usize = wire::SCE_HEADER_LEN + 1;

/// The bytes a header parser sees (see [`parse_view`]).
pub(super) enum ParseView<'a> {
    Whole(&'a [u8]),
    /// The first bytes (at most [`SHORT_VIEW`]) of a datagram in two parts.
    Short([u8; SHORT_VIEW], usize),
}

impl std::ops::Deref for ParseView<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            ParseView::Whole(b) => b,
            ParseView::Short(a, n) => &a[..*n],
        }
    }
}

/// The bytes an `sce` or countdown header parser needs to see. A datagram
/// in one piece is passed whole; one in two parts, a copy of its first
/// `SCE_HEADER_LEN + 1` bytes (enough for the header and its "payload not
/// empty" check; callers take the payload length from [`total_len`]). The
/// parity parser checks the symbol length, so it is given the whole
/// datagram ([`after_joined`] from 0) instead.
pub(super) fn parse_view<B: Datagram>(d: &B) -> ParseView<'_> {
    let (h, t) = d.parts();
    if t.is_empty() {
        return ParseView::Whole(h);
    }
    let mut v = [0u8; SHORT_VIEW];
    let n = h.len().min(SHORT_VIEW);
    v[..n].copy_from_slice(&h[..n]);
    let m = t.len().min(SHORT_VIEW - n);
    v[n..n + m].copy_from_slice(&t[..m]);
    ParseView::Short(v, n + m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reassembly::testutil::*;

    /// A datagram held in two parts, as a header memory and a payload
    /// memory of a GStreamer buffer are.
    #[derive(Debug, Clone)]
    struct Two(Vec<u8>, Vec<u8>);

    impl Datagram for Two {
        fn parts(&self) -> (&[u8], &[u8]) {
            (&self.0, &self.1)
        }
        fn pinned_len(&self) -> usize {
            self.0.pinned_len() + self.1.pinned_len()
        }
    }

    /// What became of a datagram, comparable across datagram types.
    fn summary<B: Datagram + fmt::Debug>(o: &Outcome<u32, B>) -> String {
        match o {
            Outcome::Frame(f) => format!(
                "frame {:?} {} {:?} {} {}",
                f.image_id,
                f.len,
                f.pts,
                f.recovered,
                f.to_vec()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            ),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn datagrams_in_two_parts_behave_as_in_one() {
        // Frames whole and with a lost chunk rebuilt from parity, duplicates,
        // invalid datagrams (too short, C at 0), a parity chunk for a frame
        // already whole, an unknown kind; then the same in countdown.
        let f1 = jpeg(1000, 1);
        let f2 = jpeg(700, 2);
        let (d1, p1) = with_parity(&f1, 1, 64, 2);
        let (d2, p2) = with_parity(&f2, 2, 64, 2);
        let mut sce_input: Vec<Vec<u8>> = d1.clone();
        sce_input.extend(p1.iter().cloned());
        sce_input.extend(d2.iter().skip(1).cloned());
        sce_input.push(d2[3].clone());
        sce_input.extend(p2.iter().cloned());
        sce_input.extend([
            vec![b'S', 0, 3, 0],
            dg(b'C', 3, 0, b"x"),
            dg(b'S', 4, 0, b""),
            dg(b'Z', 4, 0, b""),
            p2[0][..wire::PARITY_HEADER_LEN].to_vec(),
        ]);
        let f3 = jpeg(40, 3);
        let cd_input: Vec<Vec<u8>> = Plan::new(WireFormat::Countdown, 40, 9)
            .unwrap()
            .datagrams(0, &f3);
        for (format, input) in [
            (WireFormat::Sce, &sce_input),
            (WireFormat::Countdown, &cd_input),
        ] {
            let longest = input.iter().map(Vec::len).max().unwrap();
            for split in 0..=longest {
                let mut one = R::new(format, Limits::default());
                let mut two = Reassembler::<u32, Two>::new(format, Limits::default());
                let mut frames = 0;
                for (i, d) in input.iter().enumerate() {
                    let at = split.min(d.len());
                    let parts = Two(d[..at].to_vec(), d[at..].to_vec());
                    let a = summary(&one.push(1, d.clone(), i as u64, Some(i as u64)));
                    let b = summary(&two.push(1, parts, i as u64, Some(i as u64)));
                    assert_eq!(a, b, "{format:?}, datagram {i} split at {at}");
                    frames += usize::from(a.starts_with("frame"));
                }
                assert_eq!(one.stats(), two.stats(), "{format:?}, split at {split}");
                assert_eq!(one.held_bytes(), two.held_bytes());
                let want = if format == WireFormat::Sce { 2 } else { 1 };
                assert_eq!(frames, want, "{format:?}, split at {split}");
            }
        }
        assert_eq!(one_rebuilt(&sce_input), 1, "the second frame is rebuilt");
    }

    fn one_rebuilt(input: &[Vec<u8>]) -> u64 {
        let mut r = sce();
        for d in input {
            r.push(1, d.clone(), 0, None);
        }
        r.stats().frames_recovered
    }
}
