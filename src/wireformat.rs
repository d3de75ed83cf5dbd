// SPDX-License-Identifier: MPL-2.0
//! What the payloader and depayloader share about the wire format as
//! GStreamer sees it: the GObject enum of their `wire-format` property and
//! the caps name of the datagrams between them.

use gst::glib;

use crate::wire::WireFormat;

/// GObject enum behind the `wire-format` property.
#[derive(Debug, Default, Eq, PartialEq, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstUdpJpegWireFormat")]
pub enum WireFormatEnum {
    #[default]
    #[enum_value(
        name = "S/C/E chunks: 5-byte header (kind, image id, chunk id), up to 65536 chunks a frame",
        nick = "sce"
    )]
    Sce = 0,
    #[enum_value(
        name = "One-byte segment countdown n..1, at most 255 segments a frame",
        nick = "countdown"
    )]
    Countdown = 1,
}

impl From<WireFormatEnum> for WireFormat {
    fn from(v: WireFormatEnum) -> Self {
        match v {
            WireFormatEnum::Sce => WireFormat::Sce,
            WireFormatEnum::Countdown => WireFormat::Countdown,
        }
    }
}

impl From<WireFormat> for WireFormatEnum {
    fn from(v: WireFormat) -> Self {
        match v {
            WireFormat::Sce => WireFormatEnum::Sce,
            WireFormat::Countdown => WireFormatEnum::Countdown,
        }
    }
}

/// The caps that `udpjpegpay` puts out and `udpjpegdepay` takes in.
pub const CAPS_NAME: &str = "application/x-udpjpeg";
