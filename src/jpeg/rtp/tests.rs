// SPDX-License-Identifier: MPL-2.0
//! The RTP/JPEG verdict on the fixtures of tests/fixtures (their README
//! says how each was made) and on frames patched byte by byte.

use proptest::prelude::*;

use super::*;
use crate::jpeg::dimensions;

const BASELINE: &[u8] = include_bytes!("../../../tests/fixtures/baseline.jpg");
const S422: &[u8] = include_bytes!("../../../tests/fixtures/422.jpg");
const S444: &[u8] = include_bytes!("../../../tests/fixtures/444.jpg");
const GRAY: &[u8] = include_bytes!("../../../tests/fixtures/gray.jpg");
const OPTIMIZED: &[u8] = include_bytes!("../../../tests/fixtures/optimized.jpg");
const PROGRESSIVE: &[u8] = include_bytes!("../../../tests/fixtures/progressive.jpg");
const RESTART: &[u8] = include_bytes!("../../../tests/fixtures/restart.jpg");
const EXIF: &[u8] = include_bytes!("../../../tests/fixtures/exif.jpg");
const SCANS: &[u8] = include_bytes!("../../../tests/fixtures/scans.jpg");

const ALL: [&[u8]; 9] = [
    BASELINE,
    S422,
    S444,
    GRAY,
    OPTIMIZED,
    PROGRESSIVE,
    RESTART,
    EXIF,
    SCANS,
];

/// The offset of the first `FF code` segment of `frame` before its scan
/// data, walking the segments.
fn segment(frame: &[u8], code: u8) -> usize {
    let mut pos = 2;
    loop {
        assert_eq!(frame[pos], 0xFF, "a marker at {pos}");
        if frame[pos + 1] == code {
            return pos;
        }
        assert_ne!(
            frame[pos + 1],
            marker::SOS,
            "no FF {code:02X} before the scan"
        );
        pos += 2 + usize::from(u16::from_be_bytes([frame[pos + 2], frame[pos + 3]]));
    }
}

/// `frame` with `f` applied to the payload of its first `FF code` segment.
fn patch(frame: &[u8], code: u8, f: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let mut v = frame.to_vec();
    let at = segment(frame, code) + 4;
    f(&mut v[at..]);
    v
}

/// `frame` without its segments of `code`.
fn without(frame: &[u8], code: u8) -> Vec<u8> {
    let mut v = frame[..2].to_vec();
    let mut pos = 2;
    while frame[pos + 1] != marker::SOS {
        let end = pos + 2 + usize::from(u16::from_be_bytes([frame[pos + 2], frame[pos + 3]]));
        if frame[pos + 1] != code {
            v.extend_from_slice(&frame[pos..end]);
        }
        pos = end;
    }
    v.extend_from_slice(&frame[pos..]);
    v
}

#[test]
fn frames_rtp_jpeg_carries_fit() {
    for (name, frame) in [
        ("baseline 4:2:0", BASELINE),
        ("baseline 4:2:2", S422),
        ("restart markers", RESTART),
        ("an EXIF thumbnail", EXIF),
        ("no DHT (a webcam's MJPEG)", &without(BASELINE, marker::DHT)),
    ] {
        assert_eq!(check(frame), Verdict::Fits, "{name}");
    }
}

#[test]
fn each_fixture_that_does_not_fit_says_why() {
    assert_eq!(
        check(PROGRESSIVE),
        Verdict::Reencode(Reason::NotBaseline { sof: 0xC2 })
    );
    assert_eq!(
        check(S444),
        Verdict::Reencode(Reason::Sampling([0x11, 0x11, 0x11]))
    );
    assert_eq!(check(GRAY), Verdict::Reencode(Reason::Components(1)));
    assert_eq!(
        check(OPTIMIZED),
        Verdict::Reencode(Reason::OwnHuffmanTables)
    );
    assert_eq!(check(SCANS), Verdict::Reencode(Reason::Scans));
}

#[test]
fn reasons_read_as_the_log_prints_them() {
    let shown = |r: Reason| r.to_string();
    assert_eq!(
        shown(Reason::NotBaseline { sof: 0xC2 }),
        "progressive (SOF2)"
    );
    assert_eq!(shown(Reason::Sampling([0x11; 3])), "4:4:4 sampling");
    assert_eq!(
        shown(Reason::Sampling([0x22, 0x21, 0x11])),
        "Y 2x2 Cb 2x1 Cr 1x1 sampling"
    );
    assert_eq!(shown(Reason::Components(1)), "grayscale (1 component)");
    assert_eq!(
        shown(Reason::TooLarge {
            width: 3840,
            height: 2160
        }),
        "3840x2160, above 2040 px a side"
    );
    assert_eq!(shown(Reason::OwnHuffmanTables), "own Huffman tables");
}

#[test]
fn sides_above_2040_do_not_fit() {
    // SOF payload: P, Y (2 bytes), X (2 bytes).
    let sized = |w: u16, h: u16| {
        patch(BASELINE, 0xC0, |p| {
            p[1..3].copy_from_slice(&h.to_be_bytes());
            p[3..5].copy_from_slice(&w.to_be_bytes());
        })
    };
    assert_eq!(check(&sized(2040, 2040)), Verdict::Fits);
    let too_large = |width, height| Verdict::Reencode(Reason::TooLarge { width, height });
    assert_eq!(check(&sized(2041, 120)), too_large(2041, 120));
    assert_eq!(check(&sized(160, 2048)), too_large(160, 2048));
}

#[test]
fn chroma_on_two_quantization_tables_does_not_fit() {
    // SOF payload byte 6 on: (C, HV, Tq) for Y, Cb, Cr; Cr onto table 0.
    let frame = patch(BASELINE, 0xC0, |p| p[6 + 3 * 2 + 2] = 0);
    assert_eq!(check(&frame), Verdict::Reencode(Reason::ChromaTables));
}

#[test]
fn components_are_told_apart_by_id_not_order() {
    // Cr, Cb, Y listed in reverse: still Y 2x2, chroma 1x1.
    let frame = patch(BASELINE, 0xC0, |p| {
        let (y, cr) = (p[6..9].to_vec(), p[12..15].to_vec());
        p[6..9].copy_from_slice(&cr);
        p[12..15].copy_from_slice(&y);
    });
    assert_eq!(check(&frame), Verdict::Fits);
}

#[test]
fn a_scan_on_other_huffman_slots_does_not_fit() {
    // SOS payload: Ns, then (Cs, Td<<4|Ta): Y onto slots 1.
    let frame = patch(BASELINE, marker::SOS, |p| p[2] = 0x11);
    assert_eq!(check(&frame), Verdict::Reencode(Reason::HuffmanSlots));
}

#[test]
fn a_marker_inside_the_scan_data_means_another_scan() {
    let mut frame = BASELINE.to_vec();
    let eoi = frame.len() - 2;
    frame.splice(eoi..eoi, [0xFF, 0xDC, 0x00, 0x04, 0x00, 0x78]);
    assert_eq!(check(&frame), Verdict::Reencode(Reason::Scans));
}

#[test]
fn fill_bytes_and_padding_after_the_eoi_still_fit() {
    let mut frame = BASELINE.to_vec();
    let eoi = frame.len() - 2;
    frame.insert(eoi, 0xFF);
    frame.extend_from_slice(&[0; 100]);
    assert_eq!(check(&frame), Verdict::Fits);
}

#[test]
fn frames_no_decoder_reads_are_unreadable() {
    let twelve_bit = patch(BASELINE, 0xC0, |p| p[0] = 12);
    let unknown_scan_component = patch(BASELINE, marker::SOS, |p| p[1] = 9);
    let mut two_sofs = BASELINE.to_vec();
    let sof = segment(BASELINE, 0xC0);
    two_sofs.splice(sof..sof, BASELINE[sof..sof + 19].to_vec());
    for (name, frame) in [
        ("no DQT", without(BASELINE, marker::DQT)),
        ("no SOF", without(BASELINE, 0xC0)),
        ("12-bit baseline", twelve_bit),
        ("a scan of an unknown component", unknown_scan_component),
        ("two SOFs", two_sofs),
        ("no SOI", BASELINE[2..].to_vec()),
    ] {
        assert_eq!(check(&frame), Verdict::Unreadable, "{name}");
    }
}

/// A frame cut short never fits: it is unreadable, or (cut after its
/// first scan) re-encoded for the same reason as the whole frame.
#[test]
fn no_prefix_of_a_frame_fits() {
    for frame in ALL {
        let whole = check(frame);
        for end in 0..frame.len() {
            let cut = check(&frame[..end]);
            assert!(
                cut == Verdict::Unreadable || (cut == whole && whole != Verdict::Fits),
                "prefix {end}: {cut:?}, the whole frame: {whole:?}"
            );
        }
    }
}

#[test]
fn fitted_size_keeps_small_frames_and_shrinks_large_ones() {
    assert_eq!(fitted_size(1920, 1080), (1920, 1080));
    assert_eq!(fitted_size(2040, 2040), (2040, 2040));
    assert_eq!(fitted_size(3840, 2160), (2040, 1144));
    assert_eq!(fitted_size(2160, 3840), (1144, 2040));
    assert_eq!(fitted_size(2041, 10), (2040, 8));
    assert_eq!(fitted_size(1, 65535), (8, 2040));
    assert_eq!(fitted_size(65535, 65535), (2040, 2040));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn any_bytes_give_a_verdict(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut frame = SOI.to_vec();
        frame.extend_from_slice(&data);
        let _ = check(&data);
        let _ = check(&frame);
    }

    /// A fixture with a few bytes changed: never a panic, and what fits
    /// has a size RTP/JPEG carries.
    #[test]
    fn changed_fixtures_give_a_verdict(
        which in 0..ALL.len(),
        changes in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
    ) {
        let mut frame = ALL[which].to_vec();
        for (at, byte) in changes {
            let n = frame.len();
            frame[at % n] = byte;
        }
        if check(&frame) == Verdict::Fits {
            let (w, h) = dimensions(&frame).expect("a frame that fits has an SOF");
            prop_assert!(w <= MAX_SIDE && h <= MAX_SIDE);
        }
    }
}
