// SPDX-License-Identifier: MPL-2.0
//! `udpjpegdepay`: reassembles datagrams from `udpjpegpay` (or a peer) into JPEG frames.
//!
//! ```text
//! gst-launch-1.0 udpsrc port=5000 ! udpjpegdepay ! jpegdec ! autovideosink
//! ```
//!
//! Frames are kept apart by sender address and image id, chunks placed by
//! chunk id, and a frame is pushed the moment its last missing chunk lands.

use gst::glib;
use gst::prelude::*;

use crate::wireformat::WireFormatEnum;

mod datagram;
mod imp;

glib::wrapper! {
    pub struct UdpJpegDepay(ObjectSubclass<imp::UdpJpegDepay>) @extends gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    WireFormatEnum::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "udpjpegdepay",
        gst::Rank::NONE,
        UdpJpegDepay::static_type(),
    )
}
