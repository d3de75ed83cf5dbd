// SPDX-License-Identifier: MPL-2.0
//! `mjpegsplit`: cuts a raw stream of concatenated JPEG frames (motion JPEG
//! over TCP, from a file or a pipe) into one buffer per frame.
//!
//! ```text
//! gst-launch-1.0 tcpclientsrc host=camera port=8080 ! mjpegsplit framerate=25/1 \
//!     ! queue ! jpegdec ! videoconvert ! autovideosink
//! ```
//!
//! Bytes between frames are skipped; broken frames are dropped and counted
//! (a warning at most every 5 s), and the frame after a broken one still
//! comes out whole, with DISCONT. Each frame gets the PTS of the input
//! buffer that held its first byte. The caps (`image/jpeg`, with the size
//! of the last readable SOF and the `framerate` property) come with the
//! first frame: segment and tags wait for them. Going back to READY resets
//! everything; a flush cuts the frame in progress, counted as end of stream
//! counts it, and keeps the counters.

use gst::{glib, prelude::*};

mod imp;
mod stamp;

glib::wrapper! {
    pub struct MjpegSplit(ObjectSubclass<imp::MjpegSplit>) @extends gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "mjpegsplit",
        gst::Rank::NONE,
        MjpegSplit::static_type(),
    )
}
