// SPDX-License-Identifier: MPL-2.0
//! The JPEG frames every section feeds: generated once up front by
//! `videotestsrc pattern=pinwheel ! jpegenc` and held in memory, so that no
//! file reading is measured.

use crate::harness::{element, launch, set_state};

/// Distinct frames generated per size; runs cycle through them.
pub const DISTINCT_FRAMES: usize = 60;

pub struct FrameSet {
    pub label: &'static str,
    pub width: u32,
    pub height: u32,
    pub quality: u32,
    pub frames: Vec<gst::Buffer>,
}

impl FrameSet {
    pub fn mean_size(&self) -> f64 {
        self.frames.iter().map(|f| f.size() as f64).sum::<f64>() / self.frames.len() as f64
    }
    pub fn caps(&self) -> gst::Caps {
        gst::Caps::builder("image/jpeg")
            .field("width", self.width as i32)
            .field("height", self.height as i32)
            .field("framerate", gst::Fraction::new(30, 1))
            .build()
    }
    pub fn bytes(&self, i: usize) -> Vec<u8> {
        self.frames[i % self.frames.len()]
            .map_readable()
            .unwrap()
            .to_vec()
    }
}

/// JPEG frames of a moving pinwheel, I420 (4:2:0) so rtpjpegpay takes them.
pub fn generate(label: &'static str, width: u32, height: u32, quality: u32) -> FrameSet {
    let pipeline = launch(&format!(
        "videotestsrc pattern=pinwheel horizontal-speed=3 num-buffers={DISTINCT_FRAMES} \
         ! video/x-raw,format=I420,width={width},height={height},framerate=30/1 \
         ! jpegenc quality={quality} ! appsink name=sink sync=false"
    ));
    let sink: gst_app::AppSink = element(&pipeline, "sink");
    set_state(&pipeline, gst::State::Playing);
    let mut frames = Vec::new();
    while let Ok(sample) = sink.pull_sample() {
        let map = sample.buffer().unwrap().map_readable().unwrap();
        frames.push(gst::Buffer::from_mut_slice(map.to_vec()));
    }
    set_state(&pipeline, gst::State::Null);
    assert_eq!(frames.len(), DISTINCT_FRAMES, "jpegenc made every frame");
    FrameSet {
        label,
        width,
        height,
        quality,
        frames,
    }
}
