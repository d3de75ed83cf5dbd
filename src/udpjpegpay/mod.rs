// SPDX-License-Identifier: MPL-2.0
//! `udpjpegpay`: cuts each JPEG frame into datagrams for `udpsink`.
//!
//! ```text
//! gst-launch-1.0 videotestsrc ! video/x-raw,format=I420 ! jpegenc ! udpjpegpay \
//!     ! udpsink host=127.0.0.1 port=5000
//! ```
//!
//! Every datagram carries a small header (5-byte S/C/E or 1-byte countdown,
//! see the crate's `wire` module) and shares the frame's memory; with
//! `fec-percent`, RaptorQ parity datagrams follow the data. A frame leaves
//! in bursts of `burst-size` datagrams, one buffer list each,
//! `burst-interval` apart, and the longest such delay is added to the
//! latency. A frame that is not JPEG, or that the wire format cannot carry
//! at the mtu, is dropped and counted; each cause is a bus warning at most
//! every 5 s. With `key-file` (or `key`), every datagram is sealed
//! (encrypted and authenticated, docs/PROTOCOL.md) within the same `mtu`;
//! a new session starts at every READY->PAUSED and every
//! `session-lifetime`. Going back to READY resets the counters and the image id; a
//! flush finds nothing held.

use gst::glib;
use gst::prelude::*;

use crate::wireformat::WireFormatEnum;

mod imp;
mod seal;

glib::wrapper! {
    pub struct UdpJpegPay(ObjectSubclass<imp::UdpJpegPay>) @extends gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    WireFormatEnum::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    seal::CipherEnum::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "udpjpegpay",
        gst::Rank::NONE,
        UdpJpegPay::static_type(),
    )
}
