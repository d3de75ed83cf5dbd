// SPDX-License-Identifier: MPL-2.0
//! The scanner's hot loop: where entropy-coded data stops.
//!
//! JPEG at high quality has a stuffed FF 00 every few dozen bytes, so rather
//! than stopping at each 0xFF this tests 32 bytes (AVX2, when the CPU has
//! it), 16 (SSE2, any other x86_64) or 8 (a u64, elsewhere) at once, each
//! against the byte after it, and stops only at a real marker.

use crate::jpeg::marker;
/// True for the byte after an 0xFF that keeps entropy-coded data going:
/// stuffing (00) or a restart marker (D0..D7).
pub(super) fn continues_scan(next: u8) -> bool {
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
pub(super) fn entropy_stop(data: &[u8]) -> Option<usize> {
    // The block search ends at the stop or where the blocks ended, inside
    // `data` either way; the bytes from there are tested one by one.
    let from = entropy_stop_wide(data);
    debug_assert!(from <= data.len());
    (from..data.len())
        .find(|&i| data[i] == 0xFF && !data.get(i + 1).is_some_and(|&n| continues_scan(n)))
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

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use proptest::prelude::*;
    use proptest::test_runner::{TestCaseError, TestRunner};

    use super::*;

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

    /// Bytes drawn mostly from the interesting ones (0xFF, stuffing,
    /// restart markers, other markers), at lengths up to 80 and so at every
    /// alignment: each stop position in a block and the tail are covered,
    /// on the wide path and on the 8-byte path.
    fn entropy_data() -> impl Strategy<Value = Vec<u8>> {
        const ALPHABET: [u8; 10] = [0xFF, 0x00, 0xD0, 0xD7, 0xD8, 0xD9, 0xCF, 0x12, 0xFE, 0x01];
        // One u16 per byte: a quarter any byte, the rest from the alphabet
        // (cheaper to draw than a choice of strategies per byte).
        let byte = |x: u16| {
            let [hi, lo] = x.to_be_bytes();
            if lo % 4 == 0 {
                hi
            } else {
                ALPHABET[usize::from(hi) % ALPHABET.len()]
            }
        };
        prop::collection::vec(any::<u16>(), 0..80)
            .prop_map(move |v| v.into_iter().map(byte).collect())
    }

    /// [`entropy_stop`] finds what the definition finds, and each
    /// block-wise search either finds the stop or leaves at most one block
    /// (plus its look-ahead byte) to the tail.
    fn agrees_with_the_definition(data: &[u8]) -> Result<bool, TestCaseError> {
        let want = entropy_stop_reference(data);
        prop_assert_eq!(entropy_stop(data), want, "{:02x?}", data);
        for (width, wide) in block_searches() {
            let at = wide(data);
            if want != Some(at) {
                prop_assert!(
                    at <= want.unwrap_or(data.len()) && at + width >= data.len(),
                    "{}-byte blocks: {} for {:?} in {:02x?}",
                    width,
                    at,
                    want,
                    data
                );
            }
        }
        Ok(want.is_some())
    }

    #[test]
    fn entropy_stop_agrees_with_the_definition() {
        let config = ProptestConfig {
            cases: 24_000,
            failure_persistence: None,
            ..ProptestConfig::default()
        };
        let checked = Cell::new(0);
        TestRunner::new(config)
            .run(&entropy_data(), |data| {
                let found = agrees_with_the_definition(&data)?;
                checked.set(checked.get() + usize::from(found));
                Ok(())
            })
            .unwrap();
        assert!(checked.get() > 10_000, "stops found: {}", checked.get());
    }

    /// What [`entropy_stop`] computes off x86_64 (aarch64, a Raspberry Pi):
    /// the 8-byte search, then the byte-by-byte tail from where it stopped.
    fn portable_entropy_stop(data: &[u8]) -> Option<usize> {
        let from = swar_entropy_stop(data);
        (from..data.len())
            .find(|&i| data[i] == 0xFF && !data.get(i + 1).is_some_and(|&n| continues_scan(n)))
    }

    /// The portable path gives the definition's answer, run here on x86_64
    /// so that a board without SIMD is covered without one.
    #[test]
    fn portable_entropy_stop_agrees_with_the_definition() {
        let config = ProptestConfig {
            cases: 24_000,
            failure_persistence: None,
            ..ProptestConfig::default()
        };
        TestRunner::new(config)
            .run(&entropy_data(), |data| {
                let want = entropy_stop_reference(&data);
                prop_assert_eq!(portable_entropy_stop(&data), want, "{:02x?}", data);
                prop_assert_eq!(entropy_stop(&data), want, "{:02x?}", data);
                Ok(())
            })
            .unwrap();
        let mut long = [0xFF, 0x00, 0x55, 0xFF, 0xD3].repeat(1000);
        assert_eq!(portable_entropy_stop(&long), None);
        assert_eq!(
            portable_entropy_stop(&long[..4999]),
            Some(4998),
            "a final FF"
        );
        long[3334] = 0xD9;
        assert_eq!(portable_entropy_stop(&long), Some(3333));
    }

    #[test]
    fn entropy_stop_on_long_runs_and_a_final_ff() {
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
}
