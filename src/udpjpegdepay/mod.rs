// SPDX-License-Identifier: MPL-2.0
//! `udpjpegdepay`: reassembles datagrams from `udpjpegpay` (or a compatible
//! sender) into JPEG frames.
//!
//! ```text
//! gst-launch-1.0 udpsrc port=5000 ! udpjpegdepay ! queue ! jpegdec ! videoconvert ! autovideosink
//! ```
//!
//! Frames are kept apart by sender address and image id, chunks placed by
//! chunk id, and a frame is pushed the moment its last missing chunk lands
//! or parity rebuilds it. An incomplete frame is dropped and counted as
//! lost when a later frame of its sender completes, when
//! `max-pending-frames`, `timeout` or `max-held-bytes` says so, at end of
//! stream and at a flush; the next frame pushed carries DISCONT. Garbage
//! never stops the stream: it is counted, and a warning line at most every
//! 5 s per cause. The caps (`image/jpeg`, with the size of the last
//! readable SOF) come with the first frame: segment and tags wait for them.
//! With `key-file` (or `key`), only sealed datagrams that authenticate get
//! past the first step (docs/PROTOCOL.md, "Sealed datagrams"); the rest
//! are counted, and a warning at most every 5 s names their address.
//! At READY->PAUSED it asks the socket of a `udpsrc` linked right upstream
//! (and left at `buffer-size=0`) for a receive buffer that holds a whole
//! frame (`receive-buffer-size`), and warns once if a frame arrives that
//! does not fit what the socket has.
//! Going back to READY resets everything; a flush keeps the counters, the
//! sessions' replay windows and the `source=first` lock.

use gst::glib;
use gst::prelude::*;

use crate::wireformat::WireFormatEnum;

mod datagram;
mod imp;
mod socket;
mod unseal;

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
