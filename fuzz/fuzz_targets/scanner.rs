// SPDX-License-Identifier: MPL-2.0
//! `scanner`: arbitrary bytes cut into inputs at fuzzer-chosen points.
//!
//! Asserts, after `finish`:
//! - every frame starts with FF D8, ends with FF D9, is at least 4 and at
//!   most max_frame_size bytes, and the frames occur in the stream in
//!   order without overlapping (each found at or after the previous one's
//!   end);
//! - each frame's tag is the tag of an input already pushed and is never
//!   newer than the input being pushed when it came out; tags never go down;
//! - the counters match the outputs (frames, drops per reason, dropped
//!   bytes), and no frame was lost to the scanner's own bookkeeping
//!   (`internal_errors` is 0);
//! - splitting does not matter: the same bytes in one input give the same
//!   outputs (frames and drops, same order) and the same counters;
//! - work stays linear in the bytes received, whatever they hold: bytes
//!   copied <= 2 x input + inputs (kept across inputs once, copied into a
//!   frame once), bytes scanned <= 12 x input + 4 x inputs (searched for
//!   SOI once, stepped through by at most one parse per parse state);
//!   without any drop or thumbnail, bytes copied is exactly the sum of the
//!   frames' lengths (each frame byte copied once).
#![no_main]

use gstudpjpeg::scanner::{DropReason, Output, Scanner, Stats};
use libfuzzer_sys::fuzz_target;

struct Run {
    outputs: Vec<Output>,
    /// Index of the input being pushed when each output came out.
    pushed_at: Vec<usize>,
    stats: Stats,
    scanned: u64,
    copied: u64,
}

fn run(max: usize, stream: &[u8], cuts: &[usize]) -> Run {
    let mut scanner = Scanner::new(max);
    assert_eq!(scanner.max_frame_size(), max.max(4));
    let mut outputs = Vec::new();
    let mut pushed_at = Vec::new();
    let mut start = 0;
    let ends = cuts.iter().copied().chain(std::iter::once(stream.len()));
    let mut inputs = 0;
    for (i, end) in ends.enumerate() {
        scanner.push(&stream[start..end], Some(i as u64), &mut |o| {
            outputs.push(o);
            pushed_at.push(i);
        });
        start = end;
        inputs = i + 1;
    }
    scanner.finish(&mut |o| {
        outputs.push(o);
        pushed_at.push(inputs);
    });
    assert!(!scanner.in_frame());
    Run {
        outputs,
        pushed_at,
        stats: scanner.stats(),
        scanned: scanner.bytes_scanned(),
        copied: scanner.bytes_copied(),
    }
}

fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// What the outputs add up to, for comparing with the counters.
#[derive(Default)]
struct Tally {
    frames: u64,
    frame_bytes: u64,
    dropped_bytes: u64,
    /// Drops by reason, in the order of [`drop_index`].
    drops: [u64; 5],
}

fn drop_index(reason: DropReason) -> usize {
    match reason {
        DropReason::SoiInFrame => 0,
        DropReason::NotAMarker => 1,
        DropReason::BadLength => 2,
        DropReason::TooLarge => 3,
        DropReason::Truncated => 4,
    }
}

/// Checks one frame: its size, SOI..EOI, found in the stream at or after
/// `at`. Returns where it ends in the stream.
fn check_frame(max: usize, stream: &[u8], at: usize, data: &[u8]) -> usize {
    assert!(
        data.len() >= 4 && data.len() <= max,
        "frame of {}",
        data.len()
    );
    assert!(
        data.starts_with(&[0xFF, 0xD8]),
        "frame does not start with SOI"
    );
    assert!(data.ends_with(&[0xFF, 0xD9]), "frame does not end with EOI");
    let Some(pos) = find(stream, at, data) else {
        panic!(
            "frame of {} bytes not found in the stream after offset {at}",
            data.len()
        );
    };
    pos + data.len()
}

/// Checks every output (frames in stream order, tags never newer than the
/// input being pushed and never going down) and adds them up.
fn check_outputs(max: usize, stream: &[u8], inputs: usize, r: &Run) -> Tally {
    let mut t = Tally::default();
    let mut at = 0;
    let mut last_tag = 0;
    for (o, &pushed) in r.outputs.iter().zip(&r.pushed_at) {
        match o {
            Output::Frame { data, tag } => {
                at = check_frame(max, stream, at, data);
                let tag = tag.expect("every input is tagged") as usize;
                assert!(
                    tag <= pushed && tag < inputs,
                    "tag {tag} pushed at {pushed}"
                );
                assert!(tag >= last_tag, "tag went down from {last_tag} to {tag}");
                last_tag = tag;
                t.frames += 1;
                t.frame_bytes += data.len() as u64;
            }
            Output::Dropped { reason, len } => {
                assert!(*len <= stream.len());
                t.dropped_bytes += *len as u64;
                t.drops[drop_index(*reason)] += 1;
            }
        }
    }
    t
}

/// Checks the counters against the outputs, and the work done against
/// the bytes and inputs received.
fn check_counters(stream: &[u8], inputs: usize, r: &Run, t: &Tally) {
    let s = &r.stats;
    assert_eq!(
        s.internal_errors, 0,
        "the scanner lost the bytes of a frame"
    );
    assert_eq!(s.frames, t.frames);
    assert_eq!(
        [
            s.dropped_soi_in_frame,
            s.dropped_not_a_marker,
            s.dropped_bad_length,
            s.dropped_too_large,
            s.dropped_truncated
        ],
        t.drops
    );
    assert_eq!(s.bytes_dropped, t.dropped_bytes);
    assert!(s.bytes_skipped <= stream.len() as u64);
    let n = stream.len() as u64;
    let inputs = inputs as u64;
    assert!(
        r.copied <= 2 * n + inputs,
        "copied {} of {n} bytes in {inputs} inputs",
        r.copied
    );
    assert!(
        r.scanned <= 12 * n + 4 * inputs,
        "scanned {} of {n} bytes in {inputs} inputs",
        r.scanned
    );
    if s.frames_dropped() == 0 && s.thumbnails == 0 {
        assert_eq!(
            r.copied, t.frame_bytes,
            "without drops every frame byte is copied once"
        );
    }
}

fn check(max: usize, stream: &[u8], inputs: usize, r: &Run) {
    let tally = check_outputs(max.max(4), stream, inputs, r);
    check_counters(stream, inputs, r, &tally);
}

fuzz_target!(|data: &[u8]| {
    // Layout: [max frame size: 2 bytes] [number of cuts k: 1 byte]
    //         [k cut points: 2 bytes each] [stream...]
    if data.len() < 3 {
        return;
    }
    let max = usize::from(u16::from_le_bytes([data[0], data[1]]));
    let k = usize::from(data[2] % 64);
    let Some(cut_bytes) = data.get(3..3 + 2 * k) else {
        return;
    };
    let stream = &data[3 + 2 * k..];
    let mut cuts: Vec<usize> = cut_bytes
        .chunks_exact(2)
        .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])) % (stream.len() + 1))
        .collect();
    cuts.sort_unstable();

    let split = run(max, stream, &cuts);
    check(max, stream, cuts.len() + 1, &split);

    let whole = run(max, stream, &[]);
    check(max, stream, 1, &whole);

    let frames = |r: &Run| -> Vec<Vec<u8>> {
        r.outputs
            .iter()
            .filter_map(|o| match o {
                Output::Frame { data, .. } => Some(data.clone()),
                Output::Dropped { .. } => None,
            })
            .collect()
    };
    assert_eq!(
        frames(&split),
        frames(&whole),
        "frames depend on how the input is cut"
    );
    let drops = |r: &Run| -> Vec<Output> {
        r.outputs
            .iter()
            .filter(|o| matches!(o, Output::Dropped { .. }))
            .cloned()
            .collect()
    };
    assert_eq!(
        drops(&split),
        drops(&whole),
        "drops depend on how the input is cut"
    );
    // Thumbnails are a diagnostic: walks that meet are merged where the
    // parses stop, which depends on the input boundaries, and a merged
    // thumbnail counts once.
    let counters = |r: &Run| Stats {
        thumbnails: 0,
        ..r.stats
    };
    assert_eq!(
        counters(&split),
        counters(&whole),
        "counters depend on how the input is cut"
    );
});
