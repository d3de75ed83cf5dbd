// SPDX-License-Identifier: MPL-2.0
//! Webcam passthrough without a camera: frames shaped as UVC cameras send
//! them in MJPEG mode (no DHT segment, so decoders use the standard Huffman
//! tables; zero padding after the EOI up to a fixed size; caps `image/jpeg`
//! without `parsed`), through the README's recipe
//!
//! ```text
//! v4l2src ! image/jpeg,width=1280,height=720,framerate=30/1 ! udpjpegpay ! udpsink
//! ```
//!
//! with `appsrc` in place of `v4l2src`.

mod common;

use common::{
    PipelineGuard, appsrc_sender, buffer_with_pts, by_name_as, bytes, depay_receiver, init,
    jpeg_frames, require, send_all,
};

/// The caps `v4l2src` gives a 1280x720 MJPEG camera: no `parsed` field.
const CAMERA_CAPS: &str = "image/jpeg,width=1280,height=720,framerate=30/1";

/// The size every frame is padded to, as a camera pads to its maximum
/// frame size: above any 1280x720 test frame.
const PADDED_LEN: usize = 256 * 1024;

/// `jpeg` without its DHT segments (each `FF C4` segment before the SOS).
fn strip_dht(jpeg: &[u8]) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    let mut at = 2;
    loop {
        assert_eq!(jpeg[at], 0xFF, "a marker at {at}");
        let code = jpeg[at + 1];
        let len = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
        if code == 0xDA {
            out.extend_from_slice(&jpeg[at..]);
            return out;
        }
        if code != 0xC4 {
            out.extend_from_slice(&jpeg[at..at + 2 + len]);
        }
        at += 2 + len;
    }
}

/// Whether `jpeg` has a DHT marker before its SOS.
fn has_dht(jpeg: &[u8]) -> bool {
    let sos = jpeg.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    jpeg[..sos].windows(2).any(|w| w == [0xFF, 0xC4])
}

/// The frame `jpeg` as a UVC camera sends it: no DHT, zeros after the EOI
/// up to `PADDED_LEN` bytes.
fn camera_frame(jpeg: &[u8]) -> Vec<u8> {
    let mut frame = strip_dht(jpeg);
    assert!(frame.len() < PADDED_LEN, "the test frame fits the padding");
    frame.resize(PADDED_LEN, 0);
    frame
}

/// `n` 1280x720 frames: (what jpegenc made, as the camera sends it).
fn frames(n: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    jpeg_frames(n, 1280, 720)
        .into_iter()
        .map(|jpeg| {
            let camera = camera_frame(&jpeg);
            (jpeg, camera)
        })
        .collect()
}

#[test]
fn camera_frames_have_no_dht_and_end_in_padding() {
    init();
    let (jpeg, camera) = frames(1).remove(0);
    assert!(has_dht(&jpeg), "jpegenc writes its tables");
    assert!(!has_dht(&camera));
    let eoi = camera.windows(2).rposition(|w| w == [0xFF, 0xD9]).unwrap();
    assert!(
        eoi + 2 < PADDED_LEN - 1000,
        "at least 1000 bytes of padding"
    );
    assert!(camera[eoi + 2..].iter().all(|&b| b == 0));
}

/// Pay and depay carry each frame whole, padding included: the receiver
/// gets the camera's bytes exactly.
#[test]
fn camera_frames_cross_pay_and_depay_byte_for_byte() {
    let sent: Vec<Vec<u8>> = frames(10).into_iter().map(|(_, camera)| camera).collect();
    let (receiver, sink, port) = depay_receiver("buffer-size=8388608", "");
    let (sender, appsrc) = appsrc_sender(&format!(
        "appsrc name=src caps={CAMERA_CAPS} format=time ! udpjpegpay ! \
         udpsink host=127.0.0.1 port={port} sync=true"
    ));
    send_all(&sender, &appsrc, &sent, 33);
    let mut received = Vec::new();
    while let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(2)) {
        received.push(bytes(sample.buffer().unwrap()));
        if received.len() == sent.len() {
            break;
        }
    }
    assert_eq!(
        received.len(),
        sent.len(),
        "every frame arrives on loopback"
    );
    for (i, (got, want)) in received.iter().zip(&sent).enumerate() {
        assert!(
            got == want,
            "frame {i} differs ({} vs {} bytes)",
            got.len(),
            want.len()
        );
    }
    common::assert_clean(&receiver, "receiver");
}

/// `mjpegsplit` ends each frame at its EOI and skips the padding before
/// the next SOI.
#[test]
fn mjpegsplit_trims_the_padding_after_the_eoi() {
    require("mjpegsplit");
    let frames = frames(5);
    let pipeline = PipelineGuard::playing(&format!(
        "appsrc name=src caps={CAMERA_CAPS} format=time ! mjpegsplit ! \
         appsink name=sink sync=false max-buffers=0"
    ));
    let appsrc: gst_app::AppSrc = by_name_as(&pipeline, "src");
    let sink: gst_app::AppSink = by_name_as(&pipeline, "sink");
    for (i, (_, camera)) in frames.iter().enumerate() {
        appsrc
            .push_buffer(buffer_with_pts(camera.clone(), 33 * i as u64))
            .unwrap();
    }
    appsrc.end_of_stream().unwrap();
    let got = pull_until_eos(&sink);
    assert_eq!(got.len(), frames.len(), "one frame out per frame in");
    for (i, ((_, camera), got)) in frames.iter().zip(&got).enumerate() {
        let eoi = camera.windows(2).rposition(|w| w == [0xFF, 0xD9]).unwrap();
        assert!(
            bytes(got.buffer().unwrap()) == camera[..eoi + 2],
            "frame {i} is the camera's up to its EOI"
        );
    }
    common::assert_clean(&pipeline, "mjpegsplit");
}

/// Every sample reaching `sink` up to its end of stream (an appsink holds
/// the end of stream back until its samples are pulled).
fn pull_until_eos(sink: &gst_app::AppSink) -> Vec<gst::Sample> {
    let mut samples = Vec::new();
    while let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(20)) {
        samples.push(sample);
    }
    assert!(sink.is_eos(), "the end of stream within 20 s");
    samples
}

/// The pixels `jpegdec` makes of each frame in `frames`, checking that they
/// are 1280x720.
fn decode(frames: &[Vec<u8>], caps: &str) -> Vec<Vec<u8>> {
    require("jpegdec");
    let pipeline = PipelineGuard::playing(&format!(
        "appsrc name=src caps={caps} format=time ! jpegdec ! \
         video/x-raw,format=I420 ! appsink name=sink sync=false max-buffers=0"
    ));
    let appsrc: gst_app::AppSrc = by_name_as(&pipeline, "src");
    let sink: gst_app::AppSink = by_name_as(&pipeline, "sink");
    for (i, f) in frames.iter().enumerate() {
        appsrc
            .push_buffer(buffer_with_pts(f.clone(), 33 * i as u64))
            .unwrap();
    }
    appsrc.end_of_stream().unwrap();
    let mut pictures = Vec::new();
    for sample in pull_until_eos(&sink) {
        let s = sample.caps().unwrap().structure(0).unwrap().to_owned();
        assert_eq!(s.get::<i32>("width").unwrap(), 1280);
        assert_eq!(s.get::<i32>("height").unwrap(), 720);
        pictures.push(bytes(sample.buffer().unwrap()));
    }
    common::assert_clean(&pipeline, "jpegdec");
    pictures
}

/// Without a DHT `jpegdec` uses the standard tables, the ones jpegenc
/// wrote: the camera's frames decode to the very pixels of the originals.
#[test]
fn jpegdec_decodes_camera_frames_with_the_standard_tables() {
    let (originals, cameras): (Vec<_>, Vec<_>) = frames(3).into_iter().unzip();
    let want = decode(&originals, "image/jpeg");
    let got = decode(&cameras, CAMERA_CAPS);
    assert_eq!(got.len(), originals.len(), "one picture per frame");
    assert!(
        got == want,
        "the same pixels as the frames with their tables"
    );
}
