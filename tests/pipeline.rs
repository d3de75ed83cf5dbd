// SPDX-License-Identifier: MPL-2.0
//! End-to-end tests: pay and depay over real UDP on 127.0.0.1, and in-process
//! with reordering, interleaving, duplicates and drops between them.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use gst::prelude::*;
use gst_check::Harness;

#[test]
fn udp_loopback_delivers_at_least_99_percent_byte_for_byte() {
    for f in ["appsrc", "udpsink", "udpsrc", "appsink"] {
        require(f);
    }
    const N: usize = 300;
    let frames = jpeg_frames(N, 640, 360);
    let index: HashMap<&[u8], usize> = frames
        .iter()
        .enumerate()
        .map(|(i, f)| (f.as_slice(), i))
        .collect();
    assert_eq!(index.len(), N, "every frame sent is unique");

    let (receiver, port) = udp_receiver(
        "udpsrc name=src address=127.0.0.1 port=0 ! udpjpegdepay name=depay ! \
         appsink name=sink sync=false max-buffers=0",
    );

    let (sender, appsrc) = appsrc_sender(&format!(
        "appsrc name=src is-live=true format=time caps=image/jpeg ! \
         udpjpegpay name=pay mtu=1400 ! udpsink host=127.0.0.1 port={port}"
    ));
    // 100 frames a second, paced by udpsink's clock sync.
    send_all(&sender, &appsrc, &frames, 10);

    let sink: gst_app::AppSink = by_name_as(&receiver, "sink");
    let mut got = Vec::new();
    while let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_mseconds(500)) {
        let data = bytes(sample.buffer().unwrap());
        let i = *index
            .get(data.as_slice())
            .expect("every frame received is byte for byte a frame that was sent");
        got.push(i);
        let caps = sample.caps().unwrap().structure(0).unwrap().to_owned();
        assert_eq!(caps.get::<i32>("width").unwrap(), 640);
        assert_eq!(caps.get::<i32>("height").unwrap(), 360);
    }
    assert_no_error(&receiver, "");
    let mut sorted = got.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted, got, "frames arrive once each, in order");
    let stats: gst::Structure = by_name(&receiver, "depay").property("stats");
    assert!(
        got.len() * 100 >= N * 99,
        "received {} of {N} frames; stats {stats}",
        got.len()
    );
    assert_eq!(
        stats.get::<u64>("frames-received").unwrap(),
        got.len() as u64
    );
    assert_eq!(stats.get::<u64>("chunks-invalid").unwrap(), 0);
}

/// Datagrams of each frame as the payloader cut them.
fn payload_all(frames: &[Vec<u8>]) -> Vec<Vec<gst::Buffer>> {
    init();
    let mut h = Harness::new("udpjpegpay");
    h.element().unwrap().set_property("mtu", 1400u32);
    h.set_src_caps_str("image/jpeg");
    frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            h.push(buffer_with_pts(f.clone(), i as u64 * 10)).unwrap();
            std::iter::from_fn(|| h.try_pull()).collect()
        })
        .collect()
}

/// `a` and `b` chunk by chunk, with `b`'s last chunk held to the very end
/// (so `a` completes first).
fn interleave(a: &[gst::Buffer], b: &[gst::Buffer]) -> Vec<gst::Buffer> {
    let (b_last, b_rest) = b.split_last().unwrap();
    let mut out = Vec::new();
    for i in 0..a.len().max(b_rest.len()) {
        out.extend(a.get(i).cloned());
        out.extend(b_rest.get(i).cloned());
    }
    out.push(b_last.clone());
    out
}

#[test]
fn reorder_interleave_duplicate_and_drop_between_pay_and_depay() {
    let frames: Vec<Vec<u8>> = (0..20)
        .map(|i| tag_frame(&FRAMES_360P[i % FRAMES_360P.len()], &format!("n{i}")))
        .collect();
    let d = payload_all(&frames);
    assert!(
        d.iter().all(|x| x.len() >= 10),
        "frames span many datagrams"
    );

    let mut wire: Vec<gst::Buffer> = Vec::new();
    wire.extend(d[0].iter().cloned());
    wire.extend(d[1].iter().cloned());
    // 2: every chunk in reverse order, E first.
    wire.extend(d[2].iter().rev().cloned());
    // 3 and 4: interleaved chunk by chunk.
    wire.extend(interleave(&d[3], &d[4]));
    // 5: every chunk twice.
    for b in &d[5] {
        wire.push(b.clone());
        wire.push(b.clone());
    }
    // 6: chunk 3 lost.
    wire.extend(
        d[6].iter()
            .enumerate()
            .filter(|(i, _)| *i != 3)
            .map(|(_, b)| b.clone()),
    );
    // 7: shuffled.
    let mut seven = d[7].clone();
    fastrand::Rng::with_seed(0x9E37_79B9_7F4A_7C15).shuffle(&mut seven);
    wire.extend(seven);
    // 8: E lost. 9: S lost.
    wire.extend(d[8][..d[8].len() - 1].iter().cloned());
    wire.extend(d[9][1..].iter().cloned());
    // 10 and 11 interleaved, but 11 completes first: 10 must never follow it.
    wire.extend(interleave(&d[11], &d[10]));
    // 12..19 in order, with stale duplicates of frame 5 mixed in.
    for (k, frame) in d.iter().enumerate().skip(12) {
        wire.push(d[5][k % d[5].len()].clone());
        wire.extend(frame.iter().cloned());
    }

    let mut h = Harness::new("udpjpegdepay");
    h.play();
    start_stream(&mut h, "udp", false);
    for b in wire {
        h.push(b).unwrap();
    }
    h.push_event(gst::event::Eos::new());
    let out: Vec<gst::Buffer> = std::iter::from_fn(|| h.try_pull()).collect();
    let got: Vec<(usize, bool)> = out
        .iter()
        .map(|b| {
            let data = bytes(b);
            let i = frames
                .iter()
                .position(|f| *f == data)
                .expect("every frame out is byte for byte a frame sent");
            assert_eq!(b.pts(), Some(gst::ClockTime::from_mseconds(i as u64 * 10)));
            (i, b.flags().contains(gst::BufferFlags::DISCONT))
        })
        .collect();
    let expected: Vec<(usize, bool)> = [0, 1, 2, 3, 4, 5, 7, 11, 12, 13, 14, 15, 16, 17, 18, 19]
        .into_iter()
        .map(|i| (i, i == 0 || i == 7 || i == 11))
        .collect();
    assert_eq!(got, expected);

    let stats = h.element().unwrap().property::<gst::Structure>("stats");
    assert_eq!(stats.get::<u64>("frames-received").unwrap(), 16);
    // 6, 8, 9 and 10 superseded.
    assert_eq!(stats.get::<u64>("frames-lost").unwrap(), 4, "{stats}");
    assert_eq!(stats.get::<u64>("frames-superseded").unwrap(), 4, "{stats}");
    assert_eq!(
        stats.get::<u64>("chunks-duplicate").unwrap(),
        d[5].len() as u64,
        "{stats}"
    );
    // The E of 10, after 11, and the 8 stale chunks of 5.
    assert_eq!(stats.get::<u64>("chunks-late").unwrap(), 9, "{stats}");
    assert_eq!(stats.get::<u64>("chunks-invalid").unwrap(), 0, "{stats}");
}

#[test]
fn countdown_over_udp_loopback() {
    for f in ["appsrc", "udpsink", "udpsrc", "appsink"] {
        require(f);
    }
    let frames: Vec<Vec<u8>> = FRAMES_360P.iter().take(20).cloned().collect();
    let (receiver, port) = udp_receiver(
        "udpsrc name=src address=127.0.0.1 port=0 ! udpjpegdepay wire-format=countdown ! \
         appsink name=sink sync=false",
    );
    let (_sender, appsrc) = appsrc_sender(&format!(
        "appsrc name=src format=time caps=image/jpeg ! \
         udpjpegpay wire-format=countdown mtu=8192 ! udpsink host=127.0.0.1 port={port}"
    ));
    for (i, f) in frames.iter().enumerate() {
        appsrc
            .push_buffer(buffer_with_pts(f.clone(), 20 * i as u64))
            .unwrap();
    }
    appsrc.end_of_stream().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let sink: gst_app::AppSink = by_name_as(&receiver, "sink");
    let mut got = Vec::new();
    while got.len() < frames.len() && Instant::now() < deadline {
        if let Some(s) = sink.try_pull_sample(gst::ClockTime::from_mseconds(500)) {
            got.push(bytes(s.buffer().unwrap()));
        }
    }
    assert_no_error(&receiver, "");
    assert_eq!(got, frames);
}
