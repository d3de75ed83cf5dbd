// SPDX-License-Identifier: MPL-2.0
//! The wire formats of `udpjpegpay` and `udpjpegdepay` (see `docs/PROTOCOL.md`).
//!
//! Pure: no GStreamer types, no logging, no panics on any input.
//!
//! - `sce`: a 5-byte header `kind, image id (u16 BE), chunk id (u16 BE)`
//!   before each payload, kinds `S` (first), `C` (middle), `E` (last).
//! - `countdown`: a 1-byte header counting down from n (first of n segments)
//!   to 1 (last segment).

use std::fmt;

/// Length of the `sce` header.
pub const SCE_HEADER_LEN: usize = 5;
/// Length of the `countdown` header.
pub const COUNTDOWN_HEADER_LEN: usize = 1;
/// Most chunks one `sce` frame can have (chunk ids 0..=65535).
pub const SCE_MAX_CHUNKS: usize = 65_536;
/// Most segments one `countdown` frame can have.
pub const COUNTDOWN_MAX_SEGMENTS: usize = 255;
/// Smallest datagram size the payloader accepts.
pub const MIN_MTU: usize = 64;
/// Largest UDP payload over IPv4.
pub const MAX_MTU: usize = 65_507;

/// Which wire format a stream uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WireFormat {
    /// Start / centre / end chunks with image and chunk ids.
    #[default]
    Sce,
    /// One-byte segment countdown.
    Countdown,
}

impl WireFormat {
    /// Header bytes in front of every payload.
    pub fn header_len(self) -> usize {
        match self {
            WireFormat::Sce => SCE_HEADER_LEN,
            WireFormat::Countdown => COUNTDOWN_HEADER_LEN,
        }
    }

    /// Most chunks (segments) a frame may be cut into.
    pub fn max_chunks(self) -> usize {
        match self {
            WireFormat::Sce => SCE_MAX_CHUNKS,
            WireFormat::Countdown => COUNTDOWN_MAX_SEGMENTS,
        }
    }

    /// The short name used in properties and caps.
    pub fn name(self) -> &'static str {
        match self {
            WireFormat::Sce => "sce",
            WireFormat::Countdown => "countdown",
        }
    }

    /// The format named `name`, as in [`WireFormat::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "sce" => Some(WireFormat::Sce),
            "countdown" => Some(WireFormat::Countdown),
            _ => None,
        }
    }
}

/// Kind byte of an `sce` chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `S`: chunk 0 of a frame of two or more chunks.
    Start,
    /// `C`: a middle chunk.
    Centre,
    /// `E`: the last chunk (chunk 0 too when the frame fits in one chunk).
    End,
    /// Any other byte: reserved for extensions, ignored by receivers.
    Other(u8),
}

impl Kind {
    pub fn from_byte(b: u8) -> Kind {
        match b {
            b'S' => Kind::Start,
            b'C' => Kind::Centre,
            b'E' => Kind::End,
            other => Kind::Other(other),
        }
    }

    pub fn to_byte(self) -> u8 {
        match self {
            Kind::Start => b'S',
            Kind::Centre => b'C',
            Kind::End => b'E',
            Kind::Other(b) => b,
        }
    }
}

/// The header of an `sce` datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SceHeader {
    pub kind: Kind,
    pub image_id: u16,
    pub chunk_id: u16,
}

/// Why a datagram cannot be read at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// Shorter than a header plus one payload byte.
    TooShort { len: usize, min: usize },
    /// `C` with chunk id 0.
    CentreAtZero,
    /// `S` with a chunk id other than 0.
    StartNotAtZero { chunk_id: u16 },
    /// A countdown of 0.
    ZeroCountdown,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::TooShort { len, min } => {
                write!(f, "datagram of {len} bytes is shorter than {min}")
            }
            WireError::CentreAtZero => write!(f, "C chunk with chunk id 0"),
            WireError::StartNotAtZero { chunk_id } => {
                write!(f, "S chunk with chunk id {chunk_id}, not 0")
            }
            WireError::ZeroCountdown => write!(f, "countdown 0"),
        }
    }
}

impl std::error::Error for WireError {}

impl SceHeader {
    pub fn to_bytes(self) -> [u8; SCE_HEADER_LEN] {
        let [i0, i1] = self.image_id.to_be_bytes();
        let [c0, c1] = self.chunk_id.to_be_bytes();
        [self.kind.to_byte(), i0, i1, c0, c1]
    }

    /// Reads the header of `datagram` and returns it with the payload.
    ///
    /// A datagram of an unknown kind is returned as `Kind::Other` (it has no
    /// further rules); the `S`/`C` chunk-id rules are checked here.
    pub fn parse(datagram: &[u8]) -> Result<(SceHeader, &[u8]), WireError> {
        let Some((head, payload)) = datagram.split_first_chunk::<SCE_HEADER_LEN>() else {
            return Err(WireError::TooShort {
                len: datagram.len(),
                min: SCE_HEADER_LEN + 1,
            });
        };
        let header = SceHeader {
            kind: Kind::from_byte(head[0]),
            image_id: u16::from_be_bytes([head[1], head[2]]),
            chunk_id: u16::from_be_bytes([head[3], head[4]]),
        };
        if let Kind::Other(_) = header.kind {
            return Ok((header, payload));
        }
        if payload.is_empty() {
            return Err(WireError::TooShort {
                len: datagram.len(),
                min: SCE_HEADER_LEN + 1,
            });
        }
        match header.kind {
            Kind::Centre if header.chunk_id == 0 => Err(WireError::CentreAtZero),
            Kind::Start if header.chunk_id != 0 => Err(WireError::StartNotAtZero {
                chunk_id: header.chunk_id,
            }),
            _ => Ok((header, payload)),
        }
    }
}

/// Reads a `countdown` datagram: the countdown (1..=255) and the payload.
pub fn parse_countdown(datagram: &[u8]) -> Result<(u8, &[u8]), WireError> {
    match datagram.split_first() {
        Some((&0, _)) => Err(WireError::ZeroCountdown),
        Some((&c, payload)) if !payload.is_empty() => Ok((c, payload)),
        _ => Err(WireError::TooShort {
            len: datagram.len(),
            min: COUNTDOWN_HEADER_LEN + 1,
        }),
    }
}

/// Why a frame cannot be sent with the configured format and mtu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanError {
    /// The frame is empty.
    Empty,
    /// The mtu leaves no room for payload.
    MtuTooSmall { mtu: usize, header_len: usize },
    /// The frame needs more chunks than the format allows.
    TooManyChunks {
        frame_len: usize,
        mtu: usize,
        chunks: usize,
        max_chunks: usize,
        max_frame_len: usize,
    },
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::Empty => write!(f, "empty frame"),
            PlanError::MtuTooSmall { mtu, header_len } => {
                write!(
                    f,
                    "mtu {mtu} leaves no payload after the {header_len}-byte header"
                )
            }
            PlanError::TooManyChunks {
                frame_len,
                mtu,
                chunks,
                max_chunks,
                max_frame_len,
            } => write!(
                f,
                "frame of {frame_len} bytes needs {chunks} datagrams at mtu {mtu}, \
                 more than the {max_chunks} the format allows \
                 (at most {max_frame_len} bytes at this mtu); raise mtu"
            ),
        }
    }
}

impl std::error::Error for PlanError {}

/// How a frame is cut: `count` chunks, each of `payload` bytes but the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub format: WireFormat,
    pub frame_len: usize,
    /// P: payload bytes of every chunk but the last.
    pub payload: usize,
    /// Number of chunks (datagrams).
    pub count: usize,
}

/// The chunk size of `sce` frames that carry parity: parity datagrams
/// (21-byte header + P) must fit `mtu`, and P is a multiple of 8.
pub fn parity_payload(mtu: usize) -> Option<usize> {
    let p = mtu.checked_sub(PARITY_HEADER_LEN)? / 8 * 8;
    (p > 0).then_some(p)
}

/// Parity chunks for `k` data chunks at `percent` (rounded up), at least
/// `min` when percent is above 0; 0 when percent is 0.
pub fn parity_count(k: usize, percent: u32, min: u32) -> usize {
    if percent == 0 {
        return 0;
    }
    // In u64: 65,536 chunks at 65,536 % pass u32::MAX.
    let count = (k as u64).saturating_mul(u64::from(percent)).div_ceil(100);
    usize::try_from(count)
        .unwrap_or(usize::MAX)
        .max(min as usize)
}

impl Plan {
    /// Plans how to cut a frame of `frame_len` bytes into datagrams of at
    /// most `mtu` bytes, header included.
    pub fn new(format: WireFormat, frame_len: usize, mtu: usize) -> Result<Plan, PlanError> {
        let header_len = format.header_len();
        let payload = match mtu.checked_sub(header_len) {
            Some(p) if p > 0 => p,
            _ => return Err(PlanError::MtuTooSmall { mtu, header_len }),
        };
        if frame_len == 0 {
            return Err(PlanError::Empty);
        }
        let count = frame_len.div_ceil(payload);
        let max_chunks = format.max_chunks();
        if count > max_chunks {
            return Err(PlanError::TooManyChunks {
                frame_len,
                mtu,
                chunks: count,
                max_chunks,
                max_frame_len: max_chunks.saturating_mul(payload),
            });
        }
        Ok(Plan {
            format,
            frame_len,
            payload,
            count,
        })
    }

    /// Plans an `sce` frame with its chunk size forced to `payload` (an
    /// extension may use a smaller P than mtu - 5).
    pub fn with_payload(frame_len: usize, payload: usize) -> Result<Plan, PlanError> {
        if frame_len == 0 {
            return Err(PlanError::Empty);
        }
        if payload == 0 {
            return Err(PlanError::MtuTooSmall {
                mtu: SCE_HEADER_LEN,
                header_len: SCE_HEADER_LEN,
            });
        }
        let count = frame_len.div_ceil(payload);
        if count > SCE_MAX_CHUNKS {
            return Err(PlanError::TooManyChunks {
                frame_len,
                mtu: payload.saturating_add(SCE_HEADER_LEN),
                chunks: count,
                max_chunks: SCE_MAX_CHUNKS,
                max_frame_len: SCE_MAX_CHUNKS.saturating_mul(payload),
            });
        }
        Ok(Plan {
            format: WireFormat::Sce,
            frame_len,
            payload,
            count,
        })
    }

    /// Byte range of the frame carried by chunk `index`.
    pub fn range(&self, index: usize) -> std::ops::Range<usize> {
        let start = index.saturating_mul(self.payload).min(self.frame_len);
        let end = start.saturating_add(self.payload).min(self.frame_len);
        start..end
    }

    /// The header of chunk `index` for the frame with id `image_id`.
    ///
    /// Returns a fixed-size array and the number of its bytes in use.
    pub fn header(&self, image_id: u16, index: usize) -> ([u8; SCE_HEADER_LEN], usize) {
        match self.format {
            WireFormat::Sce => {
                let kind = if index + 1 >= self.count {
                    Kind::End
                } else if index == 0 {
                    Kind::Start
                } else {
                    Kind::Centre
                };
                let header = SceHeader {
                    kind,
                    image_id,
                    // count <= 65536, so index fits.
                    chunk_id: index as u16,
                };
                (header.to_bytes(), SCE_HEADER_LEN)
            }
            WireFormat::Countdown => {
                // count <= 255, so the countdown fits.
                let c = (self.count - index) as u8;
                ([c, 0, 0, 0, 0], COUNTDOWN_HEADER_LEN)
            }
        }
    }

    /// The whole frame cut into datagrams, copied (for tests and peers; the
    /// payloader shares memory instead).
    pub fn datagrams(&self, image_id: u16, frame: &[u8]) -> Vec<Vec<u8>> {
        (0..self.count)
            .map(|i| {
                let (h, n) = self.header(image_id, i);
                let mut d = Vec::with_capacity(n + self.payload);
                d.extend_from_slice(&h[..n]);
                d.extend_from_slice(frame.get(self.range(i)).unwrap_or_default());
                d
            })
            .collect()
    }
}

/// Length of the header of a parity (`F`) chunk.
pub const PARITY_HEADER_LEN: usize = 21;
/// Kind byte of a parity chunk (an `sce` extension, see docs/PROTOCOL.md).
pub const PARITY_KIND: u8 = b'F';

/// The header of a parity (`F`) chunk: everything a receiver needs to
/// rebuild the frame, even when its `E` chunk is the one lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParityHeader {
    pub image_id: u16,
    /// j: this parity chunk's index, 0..count.
    pub index: u16,
    /// m: parity chunks sent for the frame.
    pub count: u16,
    /// K: data chunks of the frame (its `E` chunk id + 1).
    pub data_chunks: u16,
    /// The frame's length in bytes.
    pub frame_len: u32,
    /// CRC-32 (IEEE, as zlib.crc32) of the whole frame.
    pub crc: u32,
    /// RaptorQ payload id (source block 0, 24-bit encoding symbol id).
    pub payload_id: [u8; 4],
}

/// Why a parity chunk is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParityError {
    /// Shorter than the header plus one symbol byte.
    TooShort { len: usize },
    /// index >= count, no data chunks, or a length that does not fit K.
    Inconsistent,
}

impl fmt::Display for ParityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParityError::TooShort { len } => write!(
                f,
                "parity datagram of {len} bytes is shorter than {}",
                PARITY_HEADER_LEN + 1
            ),
            ParityError::Inconsistent => write!(f, "parity header does not add up"),
        }
    }
}

impl ParityHeader {
    pub fn to_bytes(self) -> [u8; PARITY_HEADER_LEN] {
        let mut h = [0u8; PARITY_HEADER_LEN];
        h[0] = PARITY_KIND;
        h[1..3].copy_from_slice(&self.image_id.to_be_bytes());
        h[3..5].copy_from_slice(&self.index.to_be_bytes());
        h[5..7].copy_from_slice(&self.count.to_be_bytes());
        h[7..9].copy_from_slice(&self.data_chunks.to_be_bytes());
        h[9..13].copy_from_slice(&self.frame_len.to_be_bytes());
        h[13..17].copy_from_slice(&self.crc.to_be_bytes());
        h[17..21].copy_from_slice(&self.payload_id);
        h
    }

    /// Reads a parity datagram (kind byte `F`): the header and the repair
    /// symbol, whose length is the frame's chunk size P.
    pub fn parse(datagram: &[u8]) -> Result<(ParityHeader, &[u8]), ParityError> {
        let Some((h, symbol)) = datagram.split_first_chunk::<PARITY_HEADER_LEN>() else {
            return Err(ParityError::TooShort {
                len: datagram.len(),
            });
        };
        if symbol.is_empty() {
            return Err(ParityError::TooShort {
                len: datagram.len(),
            });
        }
        let be16 = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
        let be32 = |i: usize| u32::from_be_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let header = ParityHeader {
            image_id: be16(1),
            index: be16(3),
            count: be16(5),
            data_chunks: be16(7),
            frame_len: be32(9),
            crc: be32(13),
            payload_id: [h[17], h[18], h[19], h[20]],
        };
        // In u64: K (up to 65,535) chunks of a symbol's length pass
        // u32::MAX, which a 32-bit usize would wrap.
        let k = u64::from(header.data_chunks);
        let len = u64::from(header.frame_len);
        let t = symbol.len() as u64;
        let span = |chunks: u64| chunks.saturating_mul(t);
        if header.index >= header.count || k == 0 || len <= span(k - 1) || len > span(k) {
            return Err(ParityError::Inconsistent);
        }
        Ok((header, symbol))
    }
}

/// Serial-number distance from `b` back to `a`: how many ids `a` lies
/// behind `b`, modulo 65536 (0 when equal).
pub fn ids_behind(a: u16, b: u16) -> u16 {
    b.wrapping_sub(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sce_header_bytes_match_python_struct_pack() {
        // struct.pack("!cHH", b"S", 0x1234, 0) == b"S\x12\x34\x00\x00"
        let h = SceHeader {
            kind: Kind::Start,
            image_id: 0x1234,
            chunk_id: 0,
        };
        assert_eq!(h.to_bytes(), [0x53, 0x12, 0x34, 0x00, 0x00]);
        let h = SceHeader {
            kind: Kind::End,
            image_id: 0xFFFF,
            chunk_id: 0x0102,
        };
        assert_eq!(h.to_bytes(), [0x45, 0xFF, 0xFF, 0x01, 0x02]);
        let h = SceHeader {
            kind: Kind::Centre,
            image_id: 7,
            chunk_id: 65535,
        };
        assert_eq!(h.to_bytes(), [0x43, 0x00, 0x07, 0xFF, 0xFF]);
    }

    #[test]
    fn parse_round_trip() {
        let d = [0x43, 0xAB, 0xCD, 0x00, 0x05, 1, 2, 3];
        let (h, p) = SceHeader::parse(&d).unwrap();
        assert_eq!(
            h,
            SceHeader {
                kind: Kind::Centre,
                image_id: 0xABCD,
                chunk_id: 5
            }
        );
        assert_eq!(p, &[1, 2, 3]);
        assert_eq!(h.to_bytes(), d[..5]);
    }

    #[test]
    fn short_and_empty_datagrams_are_rejected() {
        for len in 0..5 {
            let d = vec![b'E'; len];
            assert_eq!(
                SceHeader::parse(&d),
                Err(WireError::TooShort { len, min: 6 }),
                "len {len}"
            );
        }
        // Header only, empty payload.
        assert_eq!(
            SceHeader::parse(&[b'E', 0, 1, 0, 0]),
            Err(WireError::TooShort { len: 5, min: 6 })
        );
    }

    #[test]
    fn chunk_id_rules_for_s_and_c() {
        assert_eq!(
            SceHeader::parse(&[b'C', 0, 1, 0, 0, 9]),
            Err(WireError::CentreAtZero)
        );
        assert_eq!(
            SceHeader::parse(&[b'S', 0, 1, 0, 1, 9]),
            Err(WireError::StartNotAtZero { chunk_id: 1 })
        );
        assert!(SceHeader::parse(&[b'S', 0, 1, 0, 0, 9]).is_ok());
        assert!(SceHeader::parse(&[b'E', 0, 1, 0, 0, 9]).is_ok());
        assert!(SceHeader::parse(&[b'E', 0, 1, 0xFF, 0xFF, 9]).is_ok());
    }

    #[test]
    fn unknown_kinds_are_passed_through() {
        let (h, p) = SceHeader::parse(&[b'F', 0, 1, 0, 3, 7, 7]).unwrap();
        assert_eq!(h.kind, Kind::Other(b'F'));
        assert_eq!(p, &[7, 7]);
        // Even with an empty payload: extensions define their own rules.
        let (h, p) = SceHeader::parse(&[b'x', 0, 1, 0, 0]).unwrap();
        assert_eq!(h.kind, Kind::Other(b'x'));
        assert!(p.is_empty());
    }

    #[test]
    fn countdown_parse() {
        assert_eq!(
            parse_countdown(&[3, 0xFF, 0xD8]),
            Ok((3, &[0xFF, 0xD8][..]))
        );
        assert_eq!(parse_countdown(&[0, 1]), Err(WireError::ZeroCountdown));
        assert_eq!(parse_countdown(&[0]), Err(WireError::ZeroCountdown));
        assert_eq!(
            parse_countdown(&[1]),
            Err(WireError::TooShort { len: 1, min: 2 })
        );
        assert_eq!(
            parse_countdown(&[]),
            Err(WireError::TooShort { len: 0, min: 2 })
        );
    }

    #[test]
    fn plan_sce_exact_vectors() {
        let frame: Vec<u8> = (0..12u8).collect();
        let plan = Plan::new(WireFormat::Sce, frame.len(), 5 + 5).unwrap();
        assert_eq!(plan.payload, 5);
        assert_eq!(plan.count, 3);
        let d = plan.datagrams(0xFFFE, &frame);
        assert_eq!(d[0], [b'S', 0xFF, 0xFE, 0, 0, 0, 1, 2, 3, 4]);
        assert_eq!(d[1], [b'C', 0xFF, 0xFE, 0, 1, 5, 6, 7, 8, 9]);
        assert_eq!(d[2], [b'E', 0xFF, 0xFE, 0, 2, 10, 11]);
    }

    #[test]
    fn plan_single_chunk_is_one_e_at_zero() {
        let plan = Plan::new(WireFormat::Sce, 3, 1400).unwrap();
        assert_eq!(plan.count, 1);
        assert_eq!(
            plan.datagrams(9, &[1, 2, 3]),
            vec![vec![b'E', 0, 9, 0, 0, 1, 2, 3]]
        );
    }

    #[test]
    fn plan_exact_multiple_has_full_last_chunk() {
        let plan = Plan::new(WireFormat::Sce, 10, 10).unwrap();
        assert_eq!((plan.count, plan.payload), (2, 5));
        assert_eq!(plan.range(1), 5..10);
    }

    #[test]
    fn plan_countdown_vectors() {
        let frame: Vec<u8> = (0..7u8).collect();
        let plan = Plan::new(WireFormat::Countdown, frame.len(), 4).unwrap();
        let d = plan.datagrams(0, &frame);
        assert_eq!(d, vec![vec![3, 0, 1, 2], vec![2, 3, 4, 5], vec![1, 6]]);
    }

    #[test]
    fn plan_countdown_limit_at_mtu_1400() {
        // 255 segments of 1399 bytes: 356,745 bytes fit, one more does not.
        assert_eq!(
            Plan::new(WireFormat::Countdown, 356_745, 1400)
                .unwrap()
                .count,
            255
        );
        let err = Plan::new(WireFormat::Countdown, 356_746, 1400).unwrap_err();
        assert_eq!(
            err,
            PlanError::TooManyChunks {
                frame_len: 356_746,
                mtu: 1400,
                chunks: 256,
                max_chunks: 255,
                max_frame_len: 356_745
            }
        );
        let msg = err.to_string();
        assert!(msg.contains("356746") && msg.contains("1400") && msg.contains("356745"));
    }

    #[test]
    fn plan_sce_limit_is_65536_chunks() {
        assert_eq!(Plan::new(WireFormat::Sce, 65_536, 6).unwrap().count, 65_536);
        assert!(matches!(
            Plan::new(WireFormat::Sce, 65_537, 6),
            Err(PlanError::TooManyChunks { chunks: 65_537, .. })
        ));
        let plan = Plan::new(WireFormat::Sce, 65_536, 6).unwrap();
        assert_eq!(plan.header(1, 65_535).0, [b'E', 0, 1, 0xFF, 0xFF]);
    }

    #[test]
    fn plan_errors() {
        assert_eq!(Plan::new(WireFormat::Sce, 0, 1400), Err(PlanError::Empty));
        assert_eq!(
            Plan::new(WireFormat::Sce, 10, 5),
            Err(PlanError::MtuTooSmall {
                mtu: 5,
                header_len: 5
            })
        );
        assert_eq!(
            Plan::new(WireFormat::Countdown, 10, 0),
            Err(PlanError::MtuTooSmall {
                mtu: 0,
                header_len: 1
            })
        );
    }

    #[test]
    fn ids_wrap() {
        assert_eq!(ids_behind(65535, 0), 1);
        assert_eq!(ids_behind(0, 65535), 65535);
        assert_eq!(ids_behind(10, 74), 64);
        assert_eq!(ids_behind(5, 5), 0);
    }

    #[test]
    fn parity_header_vector() {
        let h = ParityHeader {
            image_id: 0x0102,
            index: 3,
            count: 10,
            data_chunks: 180,
            frame_len: 250_000,
            crc: 0xCBF4_3926,
            payload_id: [0, 0, 0, 191],
        };
        let b = h.to_bytes();
        assert_eq!(
            b,
            [
                b'F', 0x01, 0x02, 0, 3, 0, 10, 0, 180, 0x00, 0x03, 0xD0, 0x90, 0xCB, 0xF4, 0x39,
                0x26, 0, 0, 0, 191
            ]
        );
        let mut d = b.to_vec();
        d.extend(std::iter::repeat_n(7u8, 1392));
        let (parsed, symbol) = ParityHeader::parse(&d).unwrap();
        assert_eq!(parsed, h);
        assert_eq!(symbol.len(), 1392);
    }

    #[test]
    fn parity_header_invalid() {
        let h = ParityHeader {
            image_id: 1,
            index: 0,
            count: 1,
            data_chunks: 2,
            frame_len: 10,
            crc: 0,
            payload_id: [0; 4],
        };
        let with = |h: ParityHeader, t: usize| {
            let mut d = h.to_bytes().to_vec();
            d.extend(std::iter::repeat_n(0u8, t));
            ParityHeader::parse(&d).map(|(h, s)| (h, s.len()))
        };
        assert!(with(h, 8).is_ok());
        assert_eq!(with(h, 0), Err(ParityError::TooShort { len: 21 }));
        assert_eq!(
            ParityHeader::parse(&[b'F'; 20]).map(|(h, _)| h),
            Err(ParityError::TooShort { len: 20 })
        );
        assert_eq!(
            with(ParityHeader { index: 1, ..h }, 8),
            Err(ParityError::Inconsistent)
        );
        assert_eq!(
            with(
                ParityHeader {
                    data_chunks: 0,
                    ..h
                },
                8
            ),
            Err(ParityError::Inconsistent)
        );
        // 10 bytes do not need 3 chunks of 8, nor fit in 1.
        assert_eq!(
            with(
                ParityHeader {
                    data_chunks: 3,
                    ..h
                },
                8
            ),
            Err(ParityError::Inconsistent)
        );
        assert_eq!(
            with(
                ParityHeader {
                    data_chunks: 1,
                    ..h
                },
                8
            ),
            Err(ParityError::Inconsistent)
        );
    }

    #[test]
    fn parity_sizes() {
        assert_eq!(parity_payload(1400), Some(1376));
        assert_eq!(parity_payload(29), Some(8));
        assert_eq!(parity_payload(28), None);
        assert_eq!(parity_count(180, 5, 1), 9);
        assert_eq!(parity_count(180, 0, 4), 0);
        assert_eq!(parity_count(3, 5, 2), 2);
        assert_eq!(parity_count(27, 20, 1), 6);
        let plan = Plan::with_payload(1000, 64).unwrap();
        assert_eq!((plan.count, plan.payload), (16, 64));
        assert_eq!(
            plan.datagrams(1, &[0xAB; 1000]).last().unwrap().len(),
            5 + 1000 - 15 * 64
        );
    }

    #[test]
    fn format_names() {
        for f in [WireFormat::Sce, WireFormat::Countdown] {
            assert_eq!(WireFormat::from_name(f.name()), Some(f));
        }
        assert_eq!(WireFormat::from_name("rtp"), None);
    }

    #[test]
    fn parity_header_past_u32_is_read_without_wrapping() {
        // K = 65,535 symbols of 65,538 bytes span 4,295,032,830 bytes, past
        // u32::MAX (a 32-bit usize would wrap it to 65,534 and reject a
        // consistent header); a frame of u32::MAX bytes needs exactly K.
        assert_eq!(65_535u32.checked_mul(65_538), None);
        let h = ParityHeader {
            image_id: 1,
            index: 0,
            count: 1,
            data_chunks: 65_535,
            frame_len: u32::MAX,
            crc: 0,
            payload_id: [0; 4],
        };
        let mut d = h.to_bytes().to_vec();
        d.resize(PARITY_HEADER_LEN + 65_538, 0);
        assert_eq!(
            ParityHeader::parse(&d).map(|(h, s)| (h, s.len())),
            Ok((h, 65_538))
        );
        // 65,536 bytes per symbol and K no longer holds the frame.
        d.truncate(PARITY_HEADER_LEN + 65_536);
        assert_eq!(
            ParityHeader::parse(&d).map(|(h, _)| h),
            Err(ParityError::Inconsistent)
        );
    }

    #[test]
    fn sizes_past_u32_do_not_wrap() {
        // 65,536 chunks at 70,000 %: a product of 4,587,520,000, past u32::MAX.
        assert_eq!(65_536u32.checked_mul(70_000), None);
        assert_eq!(parity_count(65_536, 70_000, 1), 45_875_200);
        let most = usize::try_from(u64::MAX.div_ceil(100)).unwrap_or(usize::MAX);
        assert_eq!(parity_count(usize::MAX, u32::MAX, 1), most);
        // A chunk index far past the frame is an empty range at its end.
        let plan = Plan::new(WireFormat::Sce, 12, 10).unwrap();
        assert_eq!(plan.range(usize::MAX), 12..12);
        assert_eq!(plan.range(1 << 40), 12..12);
        // The largest frame a huge P allows saturates instead of wrapping.
        let err = Plan::with_payload(usize::MAX, usize::MAX / 65_537).unwrap_err();
        assert!(matches!(
            err,
            PlanError::TooManyChunks {
                chunks: 65_537,
                max_frame_len,
                ..
            } if max_frame_len == 65_536 * (usize::MAX / 65_537)
        ));
    }
}
