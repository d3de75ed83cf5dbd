// SPDX-License-Identifier: MPL-2.0
//! `udpjpeg`: live JPEG video over UDP for GStreamer.
//!
//! Three elements:
//! - `udpjpegpay`: cuts each JPEG frame into datagrams (see `wire`).
//! - `udpjpegdepay`: reassembles them into whole frames (see `reassembly`).
//! - `mjpegsplit`: cuts a raw MJPEG byte stream into frames (see `scanner`).
//!
//! The modules `wire`, `reassembly`, `jpeg`, `scanner` and `pacing` are pure logic with
//! no GStreamer types; the element folders are the glue, and `glue` holds
//! what the three elements share (held events, JPEG caps, state reset,
//! rate-limited warnings).
#![allow(clippy::non_send_fields_in_send_ty, unused_doc_comments)]

use gst::glib;

pub mod fec;
pub mod jpeg;
pub mod pacing;
pub mod reassembly;
pub mod scanner;
pub mod seal;
pub mod source;
pub mod wire;

mod glue;
mod keyprops;
mod mjpegsplit;
mod udpjpegdepay;
mod udpjpegpay;
pub mod wireformat;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    udpjpegpay::register(plugin)?;
    udpjpegdepay::register(plugin)?;
    mjpegsplit::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    udpjpeg,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MPL",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    "gst-plugin-udpjpeg",
    env!("BUILD_REL_DATE")
);
