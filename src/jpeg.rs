// SPDX-License-Identifier: MPL-2.0
//! Small helpers over JPEG marker syntax, shared by the depayloader and the
//! splitter: marker codes, and a frame's width and height from its SOF.
//! [`rtp`] says whether a frame crosses RTP/JPEG (RFC 2435) intact, with the
//! standard Huffman tables of [`huffman`].
//!
//! Pure: no GStreamer types, no panics on any input.

pub mod huffman;
pub mod rtp;

/// Start of image: every frame begins with these two bytes.
pub const SOI: [u8; 2] = [0xFF, 0xD8];
/// End of image.
pub const EOI: [u8; 2] = [0xFF, 0xD9];

/// Marker codes (the byte after 0xFF).
pub mod marker {
    pub const SOI: u8 = 0xD8;
    pub const EOI: u8 = 0xD9;
    pub const SOS: u8 = 0xDA;
    pub const TEM: u8 = 0x01;
    pub const RST0: u8 = 0xD0;
    pub const RST7: u8 = 0xD7;
    pub const DHT: u8 = 0xC4;
    pub const DQT: u8 = 0xDB;
    pub const JPG: u8 = 0xC8;
    pub const DAC: u8 = 0xCC;
    pub const FILL: u8 = 0xFF;
}

/// True for the markers that carry no length field (TEM, RST0..RST7, SOI, EOI).
pub fn is_standalone(code: u8) -> bool {
    code == marker::TEM || (marker::RST0..=marker::EOI).contains(&code)
}

/// True for the start-of-frame markers SOF0..SOF15 (C0..CF except DHT, JPG, DAC).
pub fn is_sof(code: u8) -> bool {
    (0xC0..=0xCF).contains(&code)
        && code != marker::DHT
        && code != marker::JPG
        && code != marker::DAC
}

/// Width and height from the first start-of-frame segment of a JPEG frame,
/// walking the length-prefixed segments that precede it from the SOI.
///
/// Returns `None` when the frame does not start with SOI, when a segment is
/// malformed or cut short before an SOF, or when the SOF declares a zero
/// width or height.
pub fn dimensions(frame: &[u8]) -> Option<(u16, u16)> {
    if !frame.starts_with(&SOI) {
        return None;
    }
    let mut pos = 2;
    loop {
        // Fill bytes (FF FF ...) may precede a marker.
        if *frame.get(pos)? != 0xFF {
            return None;
        }
        while *frame.get(pos + 1)? == marker::FILL {
            pos += 1;
        }
        let code = *frame.get(pos + 1)?;
        pos += 2;
        if is_standalone(code) {
            if code == marker::EOI || code == marker::SOI {
                return None;
            }
            continue;
        }
        if code == marker::SOS {
            return None;
        }
        let len = u16::from_be_bytes([*frame.get(pos)?, *frame.get(pos + 1)?]) as usize;
        if len < 2 {
            return None;
        }
        if is_sof(code) {
            // Lf(2) P(1) Y(2) X(2)
            let seg = frame.get(pos..pos + len)?;
            if len < 7 {
                return None;
            }
            let height = u16::from_be_bytes([seg[3], seg[4]]);
            let width = u16::from_be_bytes([seg[5], seg[6]]);
            if width == 0 || height == 0 {
                return None;
            }
            return Some((width, height));
        }
        pos += len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sof(width: u16, height: u16) -> Vec<u8> {
        let mut v = vec![0xFF, 0xC0, 0x00, 0x0B, 0x08];
        v.extend_from_slice(&height.to_be_bytes());
        v.extend_from_slice(&width.to_be_bytes());
        v.extend_from_slice(&[0x01, 0x01, 0x11, 0x00]);
        v
    }

    #[test]
    fn dimensions_after_app_segments_and_fill() {
        let mut f = vec![0xFF, 0xD8];
        f.extend_from_slice(&[0xFF, 0xE0, 0x00, 0x04, 0xAA, 0xBB]);
        f.extend_from_slice(&[0xFF, 0xFF]); // fill before the next marker
        f.extend_from_slice(&sof(640, 360));
        f.extend_from_slice(&[0xFF, 0xDA]);
        assert_eq!(dimensions(&f), Some((640, 360)));
    }

    #[test]
    fn progressive_sof2_is_found() {
        let mut f = vec![0xFF, 0xD8];
        let mut s = sof(1920, 1080);
        s[1] = 0xC2;
        f.extend_from_slice(&s);
        assert_eq!(dimensions(&f), Some((1920, 1080)));
    }

    #[test]
    fn dht_is_not_an_sof() {
        let mut f = vec![
            0xFF, 0xD8, 0xFF, 0xC4, 0x00, 0x09, 0, 0, 0, 0x10, 0x20, 0, 0,
        ];
        f.extend_from_slice(&sof(2, 3));
        assert_eq!(dimensions(&f), Some((2, 3)));
    }

    #[test]
    fn malformed_inputs_give_none() {
        assert_eq!(dimensions(&[]), None);
        assert_eq!(dimensions(&[0xFF]), None);
        assert_eq!(dimensions(&[0xFF, 0xD8]), None);
        assert_eq!(dimensions(&[0x00, 0xD8, 0xFF, 0xC0]), None);
        // Segment length below 2.
        assert_eq!(dimensions(&[0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x01]), None);
        // SOF cut short.
        assert_eq!(
            dimensions(&[0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x01]),
            None
        );
        // Zero width.
        assert_eq!(
            dimensions(&[[0xFF, 0xD8].as_slice(), &sof(0, 5)].concat()),
            None
        );
        // SOS before any SOF.
        assert_eq!(dimensions(&[0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02]), None);
        // Garbage where a marker should be.
        assert_eq!(dimensions(&[0xFF, 0xD8, 0x12, 0x34]), None);
    }

    #[test]
    fn every_prefix_of_a_header_is_safe() {
        let mut f = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0xAA, 0xBB];
        f.extend_from_slice(&sof(7, 9));
        for end in 0..f.len() {
            assert_eq!(dimensions(&f[..end]), None, "prefix {end}");
        }
        assert_eq!(dimensions(&f), Some((7, 9)));
    }
}
