//! Shared test helpers: plugin registration, real JPEG frames, pipeline guards.
#![allow(dead_code)]

use std::sync::{LazyLock, Once};

use gst::prelude::*;

pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().expect("GStreamer initialises");
        gstudpjpeg::plugin_register_static().expect("the udpjpeg plugin registers");
    });
}

/// Fails the test, with a clear message, when a stock element is missing.
pub fn require(factory: &str) {
    init();
    assert!(
        gst::ElementFactory::find(factory).is_some(),
        "the stock element {factory} is missing: install the GStreamer packages listed in \
         scripts/apt-packages.txt"
    );
}

/// Sets the pipeline to NULL however the test ends.
pub struct PipelineGuard(pub gst::Element);

impl Drop for PipelineGuard {
    fn drop(&mut self) {
        let _ = self.0.set_state(gst::State::Null);
    }
}

impl std::ops::Deref for PipelineGuard {
    type Target = gst::Element;
    fn deref(&self) -> &gst::Element {
        &self.0
    }
}

/// Inserts a COM segment holding `tag` right after the SOI, so that every
/// frame is unique and still a valid JPEG.
pub fn tag_frame(jpeg: &[u8], tag: &str) -> Vec<u8> {
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
    let len = (tag.len() + 2) as u16;
    let mut out = Vec::with_capacity(jpeg.len() + tag.len() + 4);
    out.extend_from_slice(&[0xFF, 0xD8, 0xFF, 0xFE]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(tag.as_bytes());
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// `n` real JPEG frames of `width` x `height` from videotestsrc and jpegenc
/// (format I420), each made unique with a COM segment.
pub fn jpeg_frames(n: usize, width: u32, height: u32) -> Vec<Vec<u8>> {
    require("videotestsrc");
    require("jpegenc");
    require("appsink");
    // Encode at most 30 distinct pictures and tag copies: encoding is slow in
    // debug builds and the pictures only need to be real JPEGs.
    let distinct = n.clamp(1, 30);
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers={distinct} pattern=pinwheel ! \
         video/x-raw,format=I420,width={width},height={height} ! \
         jpegenc ! appsink name=sink sync=false"
    ))
    .expect("frame pipeline parses");
    let pipeline = PipelineGuard(pipeline);
    let sink = pipeline
        .downcast_ref::<gst::Bin>()
        .unwrap()
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut pictures = Vec::new();
    while let Ok(sample) = sink.pull_sample() {
        let buffer = sample.buffer().unwrap();
        pictures.push(buffer.map_readable().unwrap().to_vec());
    }
    assert_eq!(pictures.len(), distinct, "jpegenc made every picture");
    (0..n)
        .map(|i| tag_frame(&pictures[i % distinct], &format!("frame {i:06}")))
        .collect()
}

/// 640x360 test frames, made once per test binary.
pub static FRAMES_360P: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| jpeg_frames(30, 640, 360));

/// A JPEG-shaped frame of exactly `len` bytes (FF D8 ... FF D9), not decodable.
pub fn fake_jpeg(len: usize, seed: u8) -> Vec<u8> {
    assert!(len >= 4);
    let mut v: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(13).wrapping_add(seed))
        .collect();
    v[..2].copy_from_slice(&[0xFF, 0xD8]);
    v[len - 2..].copy_from_slice(&[0xFF, 0xD9]);
    v
}

pub fn buffer_with_pts(data: Vec<u8>, pts_ms: u64) -> gst::Buffer {
    let mut b = gst::Buffer::from_mut_slice(data);
    b.get_mut()
        .unwrap()
        .set_pts(gst::ClockTime::from_mseconds(pts_ms));
    b
}

pub fn bytes(b: &gst::BufferRef) -> Vec<u8> {
    b.map_readable().unwrap().to_vec()
}

/// The first error or warning message posted on `bus`, if any.
pub fn first_message(bus: &gst::Bus, kind: gst::MessageType) -> Option<gst::Message> {
    bus.iter().find(|m| m.type_() == kind)
}
