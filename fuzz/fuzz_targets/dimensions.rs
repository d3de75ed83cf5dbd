// SPDX-License-Identifier: MPL-2.0
//! `jpeg::dimensions` on arbitrary bytes.
//!
//! Asserts: never panics; a `Some((w, h))` has w > 0 and h > 0 and comes
//! from an input that starts with SOI; and since the walk reads only the
//! segments up to the first SOF, appending bytes never changes a `Some`.
#![no_main]

use gstudpjpeg::jpeg;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The last byte chooses how much of the input is the frame; the rest
    // is a suffix appended to check that a found SOF does not move.
    let Some((&cut, data)) = data.split_last() else {
        assert_eq!(jpeg::dimensions(&[]), None);
        return;
    };
    let split = data.len().saturating_sub(usize::from(cut));
    let (frame, suffix) = data.split_at(split);

    let dims = jpeg::dimensions(data);
    if let Some((w, h)) = dims {
        assert!(w > 0 && h > 0, "zero dimension {w}x{h}");
        assert!(data.starts_with(&jpeg::SOI));
    }
    if let Some(d) = jpeg::dimensions(frame) {
        assert_eq!(
            dims,
            Some(d),
            "appending {} bytes changed the dimensions",
            suffix.len()
        );
    }
});
