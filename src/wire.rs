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

    /// Byte range of the frame carried by chunk `index`.
    pub fn range(&self, index: usize) -> std::ops::Range<usize> {
        let start = (index * self.payload).min(self.frame_len);
        let end = (start + self.payload).min(self.frame_len);
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
    fn format_names() {
        for f in [WireFormat::Sce, WireFormat::Countdown] {
            assert_eq!(WireFormat::from_name(f.name()), Some(f));
        }
        assert_eq!(WireFormat::from_name("rtp"), None);
    }
}
