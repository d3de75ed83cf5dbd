// SPDX-License-Identifier: MPL-2.0
//! Whether a JPEG frame crosses RTP/JPEG (RFC 2435) intact when
//! `rtpjpegpay` sends it as it is, and if not, why.
//!
//! RFC 2435 carries the entropy-coded data and the quantization tables; the
//! receiver rebuilds every other header from a type (three components, Y
//! sampled 2x1 for 4:2:2 or 2x2 for 4:2:0, chroma 1x1), the width and
//! height in 8-pixel blocks (at most 255 of them: 2040 px) and the standard
//! Huffman tables of Annex K. `rtpjpegpay` reads only a baseline SOF0 and
//! drops DHT segments. So a frame crosses intact when it is baseline, with
//! three components sampled 4:2:0 or 4:2:2, at most 2040 px a side, Cb and
//! Cr sharing one quantization table, no Huffman tables but the standard
//! ones, and one interleaved scan coded with tables 0 for Y and 1 for
//! chroma. Any other frame that a decoder reads must be re-encoded first:
//!
//! ```
//! use gstudpjpeg::jpeg::rtp::{self, Reason, Verdict};
//! # let frame: &[u8] = include_bytes!("../../tests/fixtures/444.jpg");
//! match rtp::check(frame) {
//!     Verdict::Fits => { /* send as it is */ }
//!     Verdict::Reencode(reason) => assert_eq!(reason.to_string(), "4:4:4 sampling"),
//!     Verdict::Unreadable => { /* drop it: no decoder reads it either */ }
//! }
//! ```
//!
//! Sides that are not a multiple of 8 cross, rounded up to the next
//! multiple (the decoder shows the encoder's padding there).
//!
//! Pure: no GStreamer types, no panics on any input.

use std::fmt;

use super::huffman::{self, Dht};
use super::{SOI, is_sof, is_standalone, marker};

/// The largest side RTP/JPEG carries: 255 blocks of 8 pixels.
pub const MAX_SIDE: u16 = 2040;

/// What to do with a frame before `rtpjpegpay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Sent as it is, it decodes the same at the far end.
    Fits,
    /// A frame a decoder reads, which RTP/JPEG would damage: re-encode it
    /// (baseline, 4:2:0, standard tables, at most [`MAX_SIDE`]) first.
    Reencode(Reason),
    /// Not a frame this check can read (cut short, a malformed segment, no
    /// frame or scan header, no EOI after the scan, a quantization table
    /// missing): neither RTP/JPEG nor a decoder makes a picture of it.
    Unreadable,
}

/// Why a frame must be re-encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// A start of frame other than baseline (SOF0): progressive (SOF2),
    /// extended (SOF1), lossless, arithmetic coding.
    NotBaseline { sof: u8 },
    /// Other than three components: 1 is grayscale, 4 is CMYK.
    Components(u8),
    /// Three components, but not Y 2x1 or 2x2 with chroma 1x1: the
    /// sampling bytes (horizontal << 4 | vertical) of Y, Cb, Cr.
    Sampling([u8; 3]),
    /// A side above [`MAX_SIDE`].
    TooLarge { width: u16, height: u16 },
    /// Cb and Cr use different quantization tables; RFC 2435 sends one.
    ChromaTables,
    /// A DHT segment defines a table other than the standard one of its
    /// slot (`jpegtran -optimize`, progressive encoders).
    OwnHuffmanTables,
    /// The scan codes Y or chroma with other Huffman table slots than 0
    /// and 1.
    HuffmanSlots,
    /// More than one scan, or a first scan that does not hold all three
    /// components.
    Scans,
}

impl Reason {
    /// A short fixed name for counting frames by reason.
    pub fn kind(self) -> &'static str {
        match self {
            Reason::NotBaseline { .. } => "not baseline",
            Reason::Components(_) => "components",
            Reason::Sampling(_) => "sampling",
            Reason::TooLarge { .. } => "too large",
            Reason::ChromaTables => "chroma tables",
            Reason::OwnHuffmanTables => "own Huffman tables",
            Reason::HuffmanSlots => "Huffman slots",
            Reason::Scans => "scans",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Reason::NotBaseline { sof } => write!(f, "{} (SOF{})", sof_name(sof), sof - 0xC0),
            Reason::Components(1) => f.write_str("grayscale (1 component)"),
            Reason::Components(n) => write!(f, "{n} components"),
            Reason::Sampling(s) => write!(f, "{} sampling", sampling_name(s)),
            Reason::TooLarge { width, height } => {
                write!(f, "{width}x{height}, above {MAX_SIDE} px a side")
            }
            Reason::ChromaTables => f.write_str("Cb and Cr quantized with different tables"),
            Reason::OwnHuffmanTables => f.write_str("own Huffman tables"),
            Reason::HuffmanSlots => f.write_str("Huffman tables in other slots"),
            Reason::Scans => f.write_str("more than one scan"),
        }
    }
}

fn sof_name(sof: u8) -> &'static str {
    match sof {
        0xC1 => "extended sequential",
        0xC2 => "progressive",
        0xC3 => "lossless",
        0xC9..=0xCB => "arithmetic coded",
        _ => "hierarchical",
    }
}

/// "4:4:4", "4:2:0", ... for three components whose chroma is 1x1, else
/// each component's factors.
fn sampling_name([y, cb, cr]: [u8; 3]) -> String {
    let named = match y {
        0x11 => "4:4:4",
        0x21 => "4:2:2",
        0x22 => "4:2:0",
        0x12 => "4:4:0",
        0x41 => "4:1:1",
        _ => "",
    };
    if cb == 0x11 && cr == 0x11 && !named.is_empty() {
        return named.to_string();
    }
    let hv = |s: u8| format!("{}x{}", s >> 4, s & 0x0F);
    format!("Y {} Cb {} Cr {}", hv(y), hv(cb), hv(cr))
}

/// Whether `frame` (SOI to EOI) crosses RTP/JPEG intact.
pub fn check(frame: &[u8]) -> Verdict {
    let Some((headers, scan, data)) = read_headers(frame) else {
        return Verdict::Unreadable;
    };
    let Some(sof) = headers.sof.filter(|sof| readable(&headers, sof, &scan)) else {
        return Verdict::Unreadable;
    };
    let end = scan_end(frame.get(data..).unwrap_or_default());
    match (end, header_reason(&headers, &sof, &scan)) {
        (ScanEnd::Truncated, _) => Verdict::Unreadable,
        (_, Some(reason)) => Verdict::Reencode(reason),
        (ScanEnd::Marker, None) => Verdict::Reencode(Reason::Scans),
        (ScanEnd::Eoi, None) => Verdict::Fits,
    }
}

/// The size a frame of `width` x `height` is re-encoded at: the same when
/// both sides fit in [`MAX_SIDE`], else scaled down to fit, keeping the
/// aspect ratio to within one 8-pixel block.
pub fn fitted_size(width: u16, height: u16) -> (u16, u16) {
    let (w, h, max) = (u32::from(width), u32::from(height), u32::from(MAX_SIDE));
    if w <= max && h <= max {
        return (width, height);
    }
    let larger = w.max(h);
    // At most MAX_SIDE, so the cast cannot truncate.
    let side = |s: u32| ((s * max / larger) / 8 * 8).max(8) as u16;
    (side(w), side(h))
}

/// One component of a frame header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Component {
    id: u8,
    sampling: u8,
    quant: u8,
}

/// The frame header (SOF) fields the verdict needs.
#[derive(Debug, Clone, Copy)]
struct Sof {
    code: u8,
    precision: u8,
    width: u16,
    height: u16,
    /// The number of components, 1 to 255.
    count: u8,
    /// The first four components, sorted by id (as `rtpjpegpay` sorts
    /// them: the lowest id is Y); valid up to `count`.
    components: [Component; 4],
}

/// The first scan header (SOS): each component's id and its Huffman table
/// slots (DC << 4 | AC).
#[derive(Debug, Clone, Copy)]
struct Scan {
    count: usize,
    components: [(u8, u8); 4],
}

/// What the segments before the first scan say.
#[derive(Debug, Default)]
struct Headers {
    sof: Option<Sof>,
    /// Which of the quantization tables 0..=3 a DQT defined.
    quant: [bool; 4],
    own_huffman: bool,
}

/// Walks the segments from the SOI to the first SOS: the headers, the
/// first scan header and where its entropy-coded data starts. `None` when
/// a segment is malformed or cut short, or a second SOF comes.
fn read_headers(frame: &[u8]) -> Option<(Headers, Scan, usize)> {
    if !frame.starts_with(&SOI) {
        return None;
    }
    let mut headers = Headers::default();
    let mut pos = 2;
    loop {
        let (code, at) = next_marker(frame, pos)?;
        if is_standalone(code) {
            if code == marker::SOI || code == marker::EOI {
                return None;
            }
            pos = at;
            continue;
        }
        let len = usize::from(u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]));
        let payload = frame.get(at + 2..at.checked_add(len)?)?;
        pos = at + len;
        match code {
            marker::SOS => return Some((headers, read_scan(payload)?, pos)),
            marker::DHT => match huffman::classify(payload) {
                Dht::Malformed => return None,
                Dht::Own => headers.own_huffman = true,
                Dht::Standard => {}
            },
            marker::DQT => read_quant(payload, &mut headers.quant)?,
            c if is_sof(c) && headers.sof.is_none() => headers.sof = Some(read_sof(c, payload)?),
            c if is_sof(c) => return None,
            _ => {}
        }
    }
}

/// The marker code at `pos` (after any fill bytes) and the position after
/// it; `None` when no marker starts there.
fn next_marker(frame: &[u8], mut pos: usize) -> Option<(u8, usize)> {
    if *frame.get(pos)? != 0xFF {
        return None;
    }
    while *frame.get(pos + 1)? == marker::FILL {
        pos += 1;
    }
    Some((*frame.get(pos + 1)?, pos + 2))
}

/// Reads an SOF payload: P, Y, X, Nf, then Nf times (C, H<<4|V, Tq).
fn read_sof(code: u8, p: &[u8]) -> Option<Sof> {
    let [precision, y1, y0, x1, x0, count] = *p.get(..6)? else {
        return None;
    };
    let (width, height) = (u16::from_be_bytes([x1, x0]), u16::from_be_bytes([y1, y0]));
    let fields = p.get(6..6 + 3 * usize::from(count))?;
    if width == 0 || height == 0 || count == 0 {
        return None;
    }
    let mut components = [Component::default(); 4];
    let n = usize::from(count).min(4);
    for (c, f) in components.iter_mut().zip(fields.chunks_exact(3)) {
        *c = Component {
            id: f[0],
            sampling: f[1],
            quant: f[2],
        };
    }
    components[..n].sort_by_key(|c| c.id);
    Some(Sof {
        code,
        precision,
        width,
        height,
        count,
        components,
    })
}

/// Marks the tables a DQT payload defines; `None` when it is malformed.
fn read_quant(mut p: &[u8], defined: &mut [bool; 4]) -> Option<()> {
    while let Some((&pq_tq, rest)) = p.split_first() {
        let size = match pq_tq >> 4 {
            0 => 64,
            1 => 128,
            _ => return None,
        };
        *defined.get_mut(usize::from(pq_tq & 0x0F))? = true;
        p = rest.get(size..)?;
    }
    Some(())
}

/// Reads an SOS payload: Ns, then Ns times (Cs, Td<<4|Ta), then Ss, Se,
/// Ah<<4|Al.
fn read_scan(p: &[u8]) -> Option<Scan> {
    let (&ns, rest) = p.split_first()?;
    let count = usize::from(ns);
    if !(1..=4).contains(&count) || rest.len() < 2 * count + 3 {
        return None;
    }
    let mut components = [(0, 0); 4];
    for (c, f) in components.iter_mut().zip(rest.chunks_exact(2).take(count)) {
        *c = (f[0], f[1]);
    }
    Some(Scan { count, components })
}

/// Whether a decoder can read the frame at all: a baseline frame is 8-bit,
/// every component's quantization table is defined, and every scan
/// component is in the SOF.
fn readable(headers: &Headers, sof: &Sof, scan: &Scan) -> bool {
    if sof.code == 0xC0 && sof.precision != 8 {
        return false;
    }
    let n = usize::from(sof.count).min(4);
    let components = &sof.components[..n];
    let quant_ok = components
        .iter()
        .all(|c| headers.quant.get(usize::from(c.quant)) == Some(&true));
    let scan_ok = scan.components[..scan.count]
        .iter()
        .all(|(id, _)| components.iter().any(|c| c.id == *id));
    quant_ok && scan_ok
}

/// The first reason, from the headers alone, why the frame must be
/// re-encoded; `None` when the headers fit.
fn header_reason(headers: &Headers, sof: &Sof, scan: &Scan) -> Option<Reason> {
    let [y, cb, cr, _] = sof.components;
    if sof.code != 0xC0 {
        Some(Reason::NotBaseline { sof: sof.code })
    } else if sof.count != 3 {
        Some(Reason::Components(sof.count))
    } else if !matches!(y.sampling, 0x21 | 0x22) || cb.sampling != 0x11 || cr.sampling != 0x11 {
        Some(Reason::Sampling([y.sampling, cb.sampling, cr.sampling]))
    } else if sof.width > MAX_SIDE || sof.height > MAX_SIDE {
        Some(Reason::TooLarge {
            width: sof.width,
            height: sof.height,
        })
    } else if cb.quant != cr.quant {
        Some(Reason::ChromaTables)
    } else if headers.own_huffman {
        Some(Reason::OwnHuffmanTables)
    } else if scan.count != 3 {
        Some(Reason::Scans)
    } else if !standard_slots(scan, y.id) {
        Some(Reason::HuffmanSlots)
    } else {
        None
    }
}

/// Whether the scan codes the component `y` with tables 0 and the others
/// with tables 1, as an RTP/JPEG receiver assumes.
fn standard_slots(scan: &Scan, y: u8) -> bool {
    scan.components[..scan.count]
        .iter()
        .all(|&(id, tables)| tables == if id == y { 0x00 } else { 0x11 })
}

/// How the entropy-coded data after the first scan header ends.
#[derive(Debug, PartialEq, Eq)]
enum ScanEnd {
    /// At the EOI.
    Eoi,
    /// At another marker: another scan, tables between scans, a DNL.
    Marker,
    /// Without an EOI.
    Truncated,
}

/// Where the entropy-coded `data` ends: 0xFF 0x00 is a stuffed byte, RSTn
/// a restart marker, 0xFF 0xFF fill; any other marker ends it.
fn scan_end(data: &[u8]) -> ScanEnd {
    let mut from = 0;
    while let Some(found) = memchr::memchr(0xFF, data.get(from..).unwrap_or_default()) {
        let at = from + found;
        match data.get(at + 1) {
            None => return ScanEnd::Truncated,
            Some(0x00 | marker::RST0..=marker::RST7) => from = at + 2,
            Some(&marker::FILL) => from = at + 1,
            Some(&marker::EOI) => return ScanEnd::Eoi,
            Some(_) => return ScanEnd::Marker,
        }
    }
    ScanEnd::Truncated
}

#[cfg(test)]
mod tests;
