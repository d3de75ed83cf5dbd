// SPDX-License-Identifier: MPL-2.0
//! `jpeg::rtp::check` on arbitrary bytes.
//!
//! Asserts: never panics; a frame that fits has an SOF with both sides
//! within what RTP/JPEG carries; and `fitted_size` of any size fits.
#![no_main]

use gstudpjpeg::jpeg::{self, rtp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if rtp::check(data) == rtp::Verdict::Fits {
        let (w, h) = jpeg::dimensions(data).expect("a frame that fits has an SOF");
        assert!(w <= rtp::MAX_SIDE && h <= rtp::MAX_SIDE, "{w}x{h} fits");
    }
    if let [a, b, c, d, ..] = *data {
        let (w, h) = (u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]));
        let (fw, fh) = rtp::fitted_size(w, h);
        assert!(fw <= rtp::MAX_SIDE && fh <= rtp::MAX_SIDE, "{w}x{h} -> {fw}x{fh}");
    }
});
