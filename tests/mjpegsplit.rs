// SPDX-License-Identifier: MPL-2.0
//! Tests of the `mjpegsplit` element: Harness tests on hand-made streams and
//! a filesrc ! mjpegsplit ! jpegdec pipeline.

mod common;
#[path = "common/stats_blurb.rs"]
mod stats_blurb;

use common::*;
use gst::prelude::*;
use gst_check::Harness;

const BASELINE: &[u8] = include_bytes!("fixtures/baseline.jpg");
const PROGRESSIVE: &[u8] = include_bytes!("fixtures/progressive.jpg");
const RESTART: &[u8] = include_bytes!("fixtures/restart.jpg");
const EXIF: &[u8] = include_bytes!("fixtures/exif.jpg");

fn ms(n: u64) -> gst::ClockTime {
    gst::ClockTime::from_mseconds(n)
}

/// A harness around a fresh mjpegsplit, with a bus to catch errors.
fn harness() -> (Harness, gst::Bus) {
    init();
    let mut h = Harness::new("mjpegsplit");
    let bus = gst::Bus::new();
    h.element().unwrap().set_bus(Some(&bus));
    h.set_src_caps_str("application/octet-stream");
    (h, bus)
}

/// Pushes `stream` in buffers of `chunk` bytes, buffer i with PTS i ms.
fn push_chunks(h: &mut Harness, stream: &[u8], chunk: usize) {
    for (i, c) in stream.chunks(chunk).enumerate() {
        let mut buffer = gst::Buffer::from_slice(c.to_vec());
        buffer.get_mut().unwrap().set_pts(ms(i as u64));
        assert_eq!(h.push(buffer), Ok(gst::FlowSuccess::Ok));
    }
}

fn stat(s: &gst::Structure, name: &str) -> u64 {
    s.get::<u64>(name)
        .unwrap_or_else(|e| panic!("stats field {name}: {e}"))
}

fn assert_no_error(bus: &gst::Bus) {
    if let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
        panic!("error on the bus: {msg:?}");
    }
}

/// `buffers` is the one frame `frame`, marked DISCONT since a frame was
/// lost before it.
#[track_caller]
fn assert_one_frame_after_a_loss(buffers: &[gst::Buffer], frame: &[u8]) {
    assert_eq!(buffers.len(), 1);
    assert!(buffers[0].map_readable().unwrap().as_slice() == frame);
    assert!(buffers[0].flags().contains(gst::BufferFlags::DISCONT));
}

fn jpeg_caps(width: i32, height: i32, framerate: gst::Fraction) -> gst::Caps {
    gst::Caps::builder("image/jpeg")
        .field("parsed", true)
        .field("width", width)
        .field("height", height)
        .field("framerate", framerate)
        .build()
}

/// Baseline with fill bytes (FF FF) before its first marker after SOI.
fn with_fill() -> Vec<u8> {
    [&BASELINE[..2], &[0xFF, 0xFF], &BASELINE[2..]].concat()
}

#[test]
fn mixed_stream_in_every_buffer_size() {
    let garbage = b"\x00garbage\xFF\x00\xFF".to_vec();
    let fill = with_fill();
    let cut_scan = &BASELINE[..800]; // cut in the scan data (SOS at 609)
    let cut_app = &BASELINE[..10]; // cut inside APP0 (length 16)
    let tail = b"\x01tail".to_vec();
    let parts: Vec<&[u8]> = vec![
        &garbage,
        EXIF,
        &fill,
        PROGRESSIVE,
        RESTART,
        cut_scan,
        cut_app,
        BASELINE,
        &tail,
    ];
    let offsets: Vec<usize> = parts
        .iter()
        .scan(0, |acc, p| {
            let o = *acc;
            *acc += p.len();
            Some(o)
        })
        .collect();
    let stream = parts.concat();
    // (index in `parts`, discont)
    let expected = [(1, true), (2, false), (3, false), (4, false), (7, true)];

    for chunk in [1, 7, 4096, stream.len()] {
        let (mut h, bus) = harness();
        h.element()
            .unwrap()
            .set_property("framerate", gst::Fraction::new(30, 1));
        push_chunks(&mut h, &stream, chunk);
        assert!(h.push_event(gst::event::Eos::new()));

        let buffers = pull_all(&mut h);
        assert_eq!(buffers.len(), expected.len(), "chunk {chunk}");
        for (buffer, &(part, discont)) in buffers.iter().zip(&expected) {
            let map = buffer.map_readable().unwrap();
            assert!(map.as_slice() == parts[part], "chunk {chunk}: part {part}");
            assert_eq!(
                buffer.pts(),
                Some(ms((offsets[part] / chunk) as u64)),
                "chunk {chunk}: part {part}"
            );
            assert_eq!(
                buffer.flags().contains(gst::BufferFlags::DISCONT),
                discont,
                "chunk {chunk}: part {part}"
            );
        }

        let events = events(&mut h);
        let types: Vec<_> = events.iter().map(|e| e.type_()).collect();
        assert_eq!(
            types,
            [
                gst::EventType::StreamStart,
                gst::EventType::Caps,
                gst::EventType::Segment,
                gst::EventType::Caps,
                gst::EventType::Eos
            ],
            "chunk {chunk}"
        );
        let fps = gst::Fraction::new(30, 1);
        assert_eq!(
            caps_events(&events),
            [jpeg_caps(96, 64, fps), jpeg_caps(160, 120, fps)]
        );

        let s = stats(&h);
        assert_eq!(s.name(), "mjpegsplit-stats");
        assert_eq!(stat(&s, "frames"), 5);
        assert_eq!(stat(&s, "frames-dropped"), 2);
        assert_eq!(stat(&s, "dropped-soi-in-frame"), 1);
        assert_eq!(stat(&s, "dropped-not-a-marker"), 1);
        assert_eq!(stat(&s, "dropped-bad-length"), 0);
        assert_eq!(stat(&s, "dropped-too-large"), 0);
        assert_eq!(stat(&s, "dropped-truncated"), 0);
        // cut_scan up to and including the FF of the next SOI; cut_app up
        // to where its APP0 length led into the good frame (10 bytes in).
        assert_eq!(stat(&s, "bytes-dropped"), 801 + 20);
        assert_eq!(
            stat(&s, "bytes-skipped"),
            (garbage.len() + tail.len()) as u64
        );
        assert_no_error(&bus);
    }
}

#[test]
fn framerate_defaults_to_zero() {
    let (mut h, _bus) = harness();
    push_chunks(&mut h, BASELINE, 100);
    assert_eq!(pull_all(&mut h).len(), 1);
    assert_eq!(
        caps_events(&events(&mut h)),
        [jpeg_caps(160, 120, gst::Fraction::new(0, 1))]
    );
    assert_eq!(
        h.element().unwrap().property::<u32>("max-frame-size"),
        16 << 20
    );
}

#[test]
fn max_frame_size_drops_large_frames() {
    let (mut h, bus) = harness();
    h.element()
        .unwrap()
        .set_property("max-frame-size", PROGRESSIVE.len() as u32);
    assert!(RESTART.len() > PROGRESSIVE.len());
    let stream = [RESTART, PROGRESSIVE].concat();
    push_chunks(&mut h, &stream, 333);
    let buffers = pull_all(&mut h);
    assert_one_frame_after_a_loss(&buffers, PROGRESSIVE);
    let s = stats(&h);
    assert_eq!(stat(&s, "frames"), 1);
    assert_eq!(stat(&s, "dropped-too-large"), 1);
    assert_eq!(stat(&s, "frames-dropped"), 1);
    assert_no_error(&bus);
}

#[test]
fn caps_are_pushed_only_when_they_change() {
    let (mut h, _bus) = harness();
    let stream = [BASELINE, BASELINE, EXIF, EXIF, BASELINE].concat();
    push_chunks(&mut h, &stream, 500);
    let buffers = pull_all(&mut h);
    assert_eq!(buffers.len(), 5);
    let flags: Vec<bool> = buffers
        .iter()
        .map(|b| b.flags().contains(gst::BufferFlags::DISCONT))
        .collect();
    assert_eq!(flags, [true, false, false, false, false]);
    let zero = gst::Fraction::new(0, 1);
    assert_eq!(
        caps_events(&events(&mut h)),
        [
            jpeg_caps(160, 120, zero),
            jpeg_caps(96, 64, zero),
            jpeg_caps(160, 120, zero)
        ]
    );
    // The src pad answers caps queries with the current caps.
    let pad = h.element().unwrap().static_pad("src").unwrap();
    assert_eq!(pad.query_caps(None), jpeg_caps(160, 120, zero));
}

#[test]
fn caps_query_before_data_gives_template() {
    let (h, _bus) = harness();
    let pad = h.element().unwrap().static_pad("src").unwrap();
    assert_eq!(
        pad.query_caps(None),
        gst::Caps::builder("image/jpeg")
            .field("parsed", true)
            .build()
    );
}

#[test]
fn framerate_change_renegotiates() {
    let (mut h, _bus) = harness();
    push_chunks(&mut h, BASELINE, 4096);
    h.element()
        .unwrap()
        .set_property("framerate", gst::Fraction::new(25, 1));
    push_chunks(&mut h, BASELINE, 4096);
    assert_eq!(pull_all(&mut h).len(), 2);
    assert_eq!(
        caps_events(&events(&mut h)),
        [
            jpeg_caps(160, 120, gst::Fraction::new(0, 1)),
            jpeg_caps(160, 120, gst::Fraction::new(25, 1))
        ]
    );
}

#[test]
fn flush_resets_the_frame_in_progress() {
    let (mut h, bus) = harness();
    push_chunks(&mut h, &BASELINE[..500], 100);
    assert!(h.push_event(gst::event::FlushStart::new()));
    assert!(h.push_event(gst::event::FlushStop::new(true)));
    let segment = gst::FormattedSegment::<gst::ClockTime>::new();
    assert!(h.push_event(gst::event::Segment::new(&segment)));
    let stream = [&BASELINE[500..], PROGRESSIVE].concat();
    push_chunks(&mut h, &stream, 100);
    let buffers = pull_all(&mut h);
    assert_one_frame_after_a_loss(&buffers, PROGRESSIVE);
    let s = stats(&h);
    assert_eq!(stat(&s, "frames"), 1);
    // The frame the flush cut is counted as end of stream counts it.
    assert_eq!(stat(&s, "frames-dropped"), 1);
    assert_eq!(stat(&s, "dropped-truncated"), 1);
    assert_eq!(stat(&s, "bytes-dropped"), 500);
    assert_eq!(stat(&s, "frames-flushed"), 0);
    assert_no_error(&bus);
}

#[test]
fn eos_drops_the_unfinished_frame() {
    let (mut h, bus) = harness();
    let stream = [BASELINE, &RESTART[..700]].concat();
    push_chunks(&mut h, &stream, 256);
    assert!(h.push_event(gst::event::Eos::new()));
    let buffers = pull_all(&mut h);
    assert_eq!(buffers.len(), 1);
    assert!(buffers[0].map_readable().unwrap().as_slice() == BASELINE);
    let s = stats(&h);
    assert_eq!(stat(&s, "frames"), 1);
    assert_eq!(stat(&s, "dropped-truncated"), 1);
    assert_eq!(stat(&s, "bytes-dropped"), 700);
    let types: Vec<_> = events(&mut h).iter().map(|e| e.type_()).collect();
    assert_eq!(types.last(), Some(&gst::EventType::Eos));
    assert_no_error(&bus);
}

#[test]
fn eos_without_any_frame_still_arrives() {
    let (mut h, bus) = harness();
    push_chunks(&mut h, b"no jpeg here \xFF", 4);
    assert!(h.push_event(gst::event::Eos::new()));
    assert!(pull_all(&mut h).is_empty());
    let types: Vec<_> = events(&mut h).iter().map(|e| e.type_()).collect();
    assert_eq!(
        types,
        [
            gst::EventType::StreamStart,
            gst::EventType::Segment,
            gst::EventType::Eos
        ]
    );
    assert_eq!(stat(&stats(&h), "bytes-skipped"), 14);
    assert_no_error(&bus);
}

#[test]
fn stats_reset_on_paused_to_ready() {
    let (mut h, _bus) = harness();
    push_chunks(&mut h, BASELINE, 4096);
    assert_eq!(stat(&stats(&h), "frames"), 1);
    let element = h.element().unwrap();
    element.set_state(gst::State::Ready).unwrap();
    let s = stats(&h);
    for field in [
        "frames",
        "frames-dropped",
        "dropped-soi-in-frame",
        "dropped-not-a-marker",
        "dropped-bad-length",
        "dropped-too-large",
        "dropped-truncated",
        "bytes-dropped",
        "bytes-skipped",
        "thumbnails",
        "candidates-refused",
        "bytes-held",
    ] {
        assert_eq!(stat(&s, field), 0, "{field}");
    }
}

#[test]
fn filesrc_pipeline_decodes_every_frame() {
    init();
    for name in ["filesrc", "jpegdec", "appsink"] {
        assert!(
            gst::ElementFactory::find(name).is_some(),
            "element {name} is missing: install gstreamer1.0-plugins-base/good"
        );
    }
    let frames = [BASELINE, EXIF, PROGRESSIVE, RESTART, BASELINE];
    let path = std::env::temp_dir().join(format!("mjpegsplit-test-{}.mjpeg", std::process::id()));
    std::fs::write(&path, [&b"junk"[..], &frames.concat()].concat()).unwrap();

    let pipeline = PipelineGuard::playing(&format!(
        "filesrc location={} blocksize=4096 ! mjpegsplit framerate=10/1 ! jpegdec \
         ! video/x-raw,format=I420 ! appsink name=sink sync=false",
        path.display()
    ));
    let sink: gst_app::AppSink = by_name_as(&pipeline, "sink");

    let mut sizes = Vec::new();
    while let Ok(sample) = sink.pull_sample() {
        let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
        assert_eq!(info.fps(), gst::Fraction::new(10, 1));
        sizes.push((info.width(), info.height()));
    }
    wait_eos(&pipeline, "splitter", 5);
    drop(pipeline);
    let _ = std::fs::remove_file(&path);
    assert_eq!(
        sizes,
        [(160, 120), (96, 64), (160, 120), (160, 120), (160, 120)]
    );
}

/// Where the EXIF fixture's thumbnail (a whole 947-byte JPEG inside APP1)
/// starts and ends.
const THUMB: std::ops::Range<usize> = 12..947;

#[test]
fn exif_thumbnail_of_a_cut_frame_never_comes_out() {
    assert_eq!(&EXIF[THUMB.start..THUMB.start + 2], &[0xFF, 0xD8]);
    assert_eq!(&EXIF[THUMB.end - 2..THUMB.end], &[0xFF, 0xD9]);
    let thumb = &EXIF[THUMB];
    // Cut inside the thumbnail, just after it, in the rest of APP1, in
    // the scan data.
    for cut in [500, THUMB.end, THUMB.end + 100, 2000, EXIF.len() - 2] {
        // Cut short, then a frame: in one stream, and as a DISCONT buffer.
        for discont in [false, true] {
            let (mut h, bus) = harness();
            push_chunks(&mut h, &EXIF[..cut], 4096);
            let mut next = gst::Buffer::from_slice(BASELINE);
            if discont {
                next.get_mut().unwrap().set_flags(gst::BufferFlags::DISCONT);
            }
            assert_eq!(h.push(next), Ok(gst::FlowSuccess::Ok));
            assert!(h.push_event(gst::event::Eos::new()));
            let buffers = pull_all(&mut h);
            assert_eq!(buffers.len(), 1, "cut {cut}, discont {discont}");
            let data = buffers[0].map_readable().unwrap();
            assert!(data.as_slice() == BASELINE, "cut {cut}, discont {discont}");
            assert!(data.as_slice() != thumb);
            assert_eq!(
                caps_events(&events(&mut h)),
                [jpeg_caps(160, 120, gst::Fraction::new(0, 1))],
                "cut {cut}: no caps of the thumbnail's size"
            );
            assert_no_error(&bus);
        }
        // Cut short by the end of the stream.
        let (mut h, _bus) = harness();
        push_chunks(&mut h, &EXIF[..cut], 1000);
        assert!(h.push_event(gst::event::Eos::new()));
        assert!(pull_all(&mut h).is_empty(), "cut {cut}");
        assert_eq!(stat(&stats(&h), "dropped-truncated"), 1);
    }
}

#[test]
fn nested_candidates_do_not_hold_up_the_frames_behind_them() {
    // 8 MB of nested candidates, then 30 good frames, in 4 KB buffers.
    let stream = [
        gstudpjpeg::scanner::crafted::nested_candidates(128),
        BASELINE.repeat(30),
    ]
    .concat();
    let (mut h, bus) = harness();
    push_chunks(&mut h, &stream, 4096);
    assert!(h.push_event(gst::event::Eos::new()));
    let buffers = pull_all(&mut h);
    assert_eq!(buffers.len(), 30);
    assert!(
        buffers
            .iter()
            .all(|b| b.map_readable().unwrap().as_slice() == BASELINE)
    );
    let s = stats(&h);
    // One drop: the outer candidate; the gadgets inside it are not
    // reported one by one.
    assert_eq!(stat(&s, "frames-dropped"), 1);
    assert_eq!(stat(&s, "dropped-soi-in-frame"), 1);
    assert_eq!(stat(&s, "bytes-held"), 0);
    assert_no_error(&bus);
}

/// A frame cut short inside a comment (COM) segment that holds a whole
/// frame: the inner frame is complete while the outer is still open.
fn frame_in_a_cut_comment() -> Vec<u8> {
    let len = (2 + BASELINE.len() + 10) as u16;
    [
        &[0xFF, 0xD8, 0xFF, 0xFE][..],
        &len.to_be_bytes(),
        BASELINE,
        &[0u8; 4],
    ]
    .concat()
}

#[test]
fn a_flush_counts_what_it_cuts_as_end_of_stream_does() {
    // At EOS the cut frame is dropped and the frame it held comes out.
    let (mut h, bus) = harness();
    push_chunks(&mut h, &frame_in_a_cut_comment(), 100);
    assert!(h.push_event(gst::event::Eos::new()));
    let buffers = pull_all(&mut h);
    assert_eq!(buffers.len(), 1);
    let eos = stats(&h);
    assert_eq!(stat(&eos, "frames"), 1);
    assert_eq!(stat(&eos, "dropped-truncated"), 1);
    assert_no_error(&bus);

    // A flush drops and counts the same, and pushes nothing from before it.
    let (mut h, bus) = harness();
    push_chunks(&mut h, &frame_in_a_cut_comment(), 100);
    assert!(h.push_event(gst::event::FlushStart::new()));
    assert!(h.push_event(gst::event::FlushStop::new(true)));
    assert!(pull_all(&mut h).is_empty());
    let flushed = stats(&h);
    assert_eq!(stat(&flushed, "frames"), 1);
    assert_eq!(stat(&flushed, "frames-flushed"), 1);
    assert_eq!(
        stat(&flushed, "dropped-truncated"),
        stat(&eos, "dropped-truncated")
    );
    assert_eq!(stat(&flushed, "bytes-dropped"), stat(&eos, "bytes-dropped"));
    assert_no_error(&bus);
}

#[test]
fn stats_blurb_names_exactly_the_stats_fields() {
    init();
    let element = gst::ElementFactory::make("mjpegsplit").build().unwrap();
    stats_blurb::assert_stats_blurb_names_every_field(&element);
}

/// A file's bytes come without timestamps, in a BYTES segment: with a
/// frame rate, frames are stamped at it from 0 (PTS and duration) in a
/// TIME segment.
#[test]
fn a_frame_rate_stamps_untimestamped_input_in_a_time_segment() {
    let (mut h, _bus) = harness();
    h.element()
        .unwrap()
        .set_property("framerate", gst::Fraction::new(30, 1));
    h.push_event(gst::event::StreamStart::new("file"));
    let bytes = gst::FormattedSegment::<gst::format::Bytes>::new();
    h.push_event(gst::event::Segment::new(&bytes));
    for c in [BASELINE, BASELINE, BASELINE].concat().chunks(4096) {
        assert_eq!(
            h.push(gst::Buffer::from_slice(c.to_vec())),
            Ok(gst::FlowSuccess::Ok)
        );
    }
    let out = pull_all(&mut h);
    let pts: Vec<_> = out
        .iter()
        .map(|b| b.pts().map(gst::ClockTime::nseconds))
        .collect();
    assert_eq!(pts, [Some(0), Some(33_333_333), Some(66_666_666)]);
    assert!(
        out.iter()
            .all(|b| b.duration().is_some_and(|d| d.nseconds() / 1000 == 33_333))
    );
    let segments: Vec<gst::Format> = events(&mut h)
        .iter()
        .filter_map(|e| match e.view() {
            gst::EventView::Segment(s) => Some(s.segment().format()),
            _ => None,
        })
        .collect();
    // The harness's own segment, then ours, both in time.
    assert_eq!(segments, [gst::Format::Time, gst::Format::Time]);
}

/// Timestamped input (a live TCP source) keeps its timestamps; the rate
/// still gives the duration.
#[test]
fn a_frame_rate_keeps_the_timestamps_that_come() {
    let (mut h, _bus) = harness();
    h.element()
        .unwrap()
        .set_property("framerate", gst::Fraction::new(25, 1));
    push_chunks(&mut h, &[BASELINE, BASELINE].concat(), 1 << 20);
    let out = pull_all(&mut h);
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|b| b.pts() == Some(ms(0))));
    assert!(out.iter().all(|b| b.duration() == Some(ms(40))));
}

/// The user's case: a file replayed over UDP in real time, every frame
/// arriving, instead of all at once (and most lost).
#[test]
fn a_file_replays_over_udp_at_its_frame_rate() {
    for f in ["filesrc", "udpsrc", "udpsink", "appsink"] {
        require(f);
    }
    let frames: Vec<Vec<u8>> = FRAMES_360P.iter().take(30).cloned().collect();
    let dir = TempDir::new("udpjpeg-replay");
    let path = dir.0.join("capture.mjpeg");
    std::fs::write(&path, frames.concat()).unwrap();
    let (receiver, port) = udp_receiver(
        "udpsrc name=src address=127.0.0.1 port=0 ! udpjpegdepay ! appsink name=sink sync=false max-buffers=0",
    );
    let started = std::time::Instant::now();
    let sender = PipelineGuard::playing(&format!(
        "filesrc location={} ! mjpegsplit framerate=30/1 ! udpjpegpay ! udpsink host=127.0.0.1 port={port}",
        path.display()
    ));
    wait_eos(&sender, "sender", 10);
    let took = started.elapsed();
    let sink: gst_app::AppSink = by_name_as(&receiver, "sink");
    let got: Vec<Vec<u8>> =
        std::iter::from_fn(|| sink.try_pull_sample(gst::ClockTime::from_mseconds(500)))
            .map(|s| bytes(s.buffer().unwrap()))
            .collect();
    assert_eq!(got.len(), 30, "every frame arrives");
    assert!(got == frames, "byte for byte, in order");
    assert!(
        took >= std::time::Duration::from_millis(900),
        "30 frames at 30 fps take about 1 s, not {took:?}"
    );
}
