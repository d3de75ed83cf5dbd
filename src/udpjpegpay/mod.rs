// SPDX-License-Identifier: MPL-2.0
//! `udpjpegpay`: cuts each JPEG frame into a burst of UDP-sized datagrams.
//!
//! ```text
//! gst-launch-1.0 videotestsrc ! video/x-raw,format=I420 ! jpegenc ! udpjpegpay ! udpsink host=127.0.0.1 port=5000
//! ```
//!
//! Each frame leaves as one buffer list; every datagram carries a small
//! header (see the crate's `wire` module) and shares the input's memory.

use gst::glib;
use gst::prelude::*;

use crate::wireformat::WireFormatEnum;

mod imp;

glib::wrapper! {
    pub struct UdpJpegPay(ObjectSubclass<imp::UdpJpegPay>) @extends gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    WireFormatEnum::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "udpjpegpay",
        gst::Rank::NONE,
        UdpJpegPay::static_type(),
    )
}
