// SPDX-License-Identifier: MPL-2.0
//! `wire`: header parsing and the datagram plan.
//!
//! Asserts:
//! - `SceHeader::parse` and `parse_countdown` never panic; on `Ok` the header
//!   re-serialises to the input's first bytes and the payload is the rest;
//!   `S`/`C`/`E` datagrams have a non-empty payload, `S` is at chunk 0 and
//!   `C` is never at chunk 0; countdowns are 1..=255 with a non-empty payload.
//!   On `Err` the input breaks one of those rules.
//! - `Plan::new` never panics for any (format, frame length up to
//!   `isize::MAX`, mtu); when `Ok`: P = mtu - header, count = ceil(len / P)
//!   <= the format's limit, chunk ranges tile the frame with P-sized chunks
//!   but the last (checked at the ends for huge lengths).
//! - For frames up to 4096 bytes, `datagrams` gives `count` datagrams of at
//!   most mtu bytes each whose headers parse back to (kind, image id, chunk
//!   id) or the countdown n..1 and whose payloads concatenate to the frame.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use gstudpjpeg::wire::{
    self, COUNTDOWN_HEADER_LEN, Kind, Plan, PlanError, SCE_HEADER_LEN, SceHeader, WireError,
    WireFormat,
};
use libfuzzer_sys::fuzz_target;

mod oracle;

fn check_parse(data: &[u8]) {
    match SceHeader::parse(data) {
        Ok((h, payload)) => {
            assert_eq!(h.to_bytes()[..], data[..SCE_HEADER_LEN]);
            assert_eq!(payload, &data[SCE_HEADER_LEN..]);
            assert_eq!(h.kind.to_byte(), data[0]);
            assert_eq!(Kind::from_byte(data[0]), h.kind);
            match h.kind {
                Kind::Start => assert_eq!(h.chunk_id, 0),
                Kind::Centre => assert_ne!(h.chunk_id, 0),
                Kind::End => {}
                Kind::Other(b) => assert!(!matches!(b, b'S' | b'C' | b'E')),
            }
            if !matches!(h.kind, Kind::Other(_)) {
                assert!(!payload.is_empty());
            }
        }
        Err(WireError::TooShort { len, min }) => {
            assert_eq!((len, min), (data.len(), SCE_HEADER_LEN + 1));
            assert!(
                data.len() < SCE_HEADER_LEN
                    || (data.len() == SCE_HEADER_LEN && matches!(data[0], b'S' | b'C' | b'E'))
            );
        }
        Err(WireError::CentreAtZero) => {
            assert!(data.len() > SCE_HEADER_LEN && data[0] == b'C' && data[3..5] == [0, 0]);
        }
        Err(WireError::StartNotAtZero { chunk_id }) => {
            assert!(data.len() > SCE_HEADER_LEN && data[0] == b'S');
            assert_eq!(chunk_id.to_be_bytes(), data[3..5]);
            assert_ne!(chunk_id, 0);
        }
        Err(e @ WireError::ZeroCountdown) => panic!("sce parse gave {e:?}"),
    }

    match wire::parse_countdown(data) {
        Ok((c, payload)) => {
            assert!(c >= 1);
            assert_eq!(c, data[0]);
            assert_eq!(payload, &data[COUNTDOWN_HEADER_LEN..]);
            assert!(!payload.is_empty());
        }
        Err(WireError::ZeroCountdown) => assert_eq!(data.first(), Some(&0)),
        Err(WireError::TooShort { len, min }) => {
            assert_eq!((len, min), (data.len(), COUNTDOWN_HEADER_LEN + 1));
            assert!(data.len() <= COUNTDOWN_HEADER_LEN && data.first() != Some(&0));
        }
        Err(e) => panic!("countdown parse gave {e:?}"),
    }
}

fn format(b: bool) -> WireFormat {
    if b {
        WireFormat::Countdown
    } else {
        WireFormat::Sce
    }
}

/// `Plan::new` on any sizes: only O(1) checks, so huge lengths are fine.
fn check_plan_sizes(format: WireFormat, frame_len: usize, mtu: usize) -> Option<Plan> {
    let header_len = format.header_len();
    match Plan::new(format, frame_len, mtu) {
        Ok(plan) => {
            assert_eq!(plan.format, format);
            assert_eq!(plan.frame_len, frame_len);
            assert!(mtu > header_len && frame_len > 0);
            assert_eq!(plan.payload, mtu - header_len);
            assert_eq!(plan.count, frame_len.div_ceil(plan.payload));
            assert!(plan.count >= 1 && plan.count <= format.max_chunks());
            assert_eq!(plan.range(0).start, 0);
            let last = plan.range(plan.count - 1);
            assert_eq!(last.end, frame_len);
            assert!(!last.is_empty() && last.len() <= plan.payload);
            if plan.count > 1 {
                assert_eq!(plan.range(0).len(), plan.payload);
                assert_eq!(plan.range(plan.count - 2).end, last.start);
                assert_eq!(plan.range(plan.count - 2).len(), plan.payload);
            }
            Some(plan)
        }
        Err(PlanError::Empty) => {
            assert_eq!(frame_len, 0);
            assert!(mtu > header_len);
            None
        }
        Err(PlanError::MtuTooSmall {
            mtu: m,
            header_len: h,
        }) => {
            assert_eq!((m, h), (mtu, header_len));
            assert!(mtu <= header_len);
            None
        }
        Err(PlanError::TooManyChunks {
            frame_len: l,
            mtu: m,
            chunks,
            max_chunks,
            max_frame_len,
        }) => {
            let payload = mtu - header_len;
            assert_eq!((l, m), (frame_len, mtu));
            assert_eq!(max_chunks, format.max_chunks());
            assert_eq!(chunks, frame_len.div_ceil(payload));
            assert!(chunks > max_chunks);
            assert_eq!(max_frame_len, max_chunks.saturating_mul(payload));
            assert!(frame_len > max_frame_len);
            None
        }
    }
}

fn check_datagrams(plan: &Plan, image_id: u16, frame: &[u8], mtu: usize) {
    let dgs = plan.datagrams(image_id, frame);
    assert_eq!(dgs.len(), plan.count);
    let mut joined = Vec::with_capacity(frame.len());
    for (i, d) in dgs.iter().enumerate() {
        assert!(
            d.len() <= mtu,
            "datagram {i} of {} bytes > mtu {mtu}",
            d.len()
        );
        let payload = match plan.format {
            WireFormat::Sce => {
                let (h, p) = SceHeader::parse(d).expect("planned datagram parses");
                assert_eq!(h.kind, oracle::chunk_kind(i, plan.count));
                assert_eq!(h.image_id, image_id);
                assert_eq!(usize::from(h.chunk_id), i);
                p
            }
            WireFormat::Countdown => {
                let (c, p) = wire::parse_countdown(d).expect("planned datagram parses");
                assert_eq!(usize::from(c), plan.count - i);
                p
            }
        };
        if i + 1 < plan.count {
            assert_eq!(payload.len(), plan.payload);
        }
        assert_eq!(payload, &frame[plan.range(i)]);
        joined.extend_from_slice(payload);
    }
    assert_eq!(joined, frame);
}

#[derive(Debug, Arbitrary)]
struct PlanInput {
    countdown: bool,
    /// Any length a slice can have.
    huge_len: usize,
    huge_mtu: usize,
    /// A small frame that is actually cut.
    len: u16,
    mtu: u16,
    image_id: u16,
    fill: u8,
}

fuzz_target!(|data: &[u8]| {
    check_parse(data);

    let mut u = Unstructured::new(data);
    let Ok(input) = PlanInput::arbitrary(&mut u) else {
        return;
    };
    let format = format(input.countdown);

    let huge_len = input.huge_len % (isize::MAX as usize + 1);
    check_plan_sizes(format, huge_len, input.huge_mtu);

    let len = usize::from(input.len % 4097);
    let mtu = usize::from(input.mtu);
    if let Some(plan) = check_plan_sizes(format, len, mtu) {
        let frame: Vec<u8> = (0..len)
            .map(|i| input.fill.wrapping_add(i as u8).wrapping_mul(31))
            .collect();
        check_datagrams(&plan, input.image_id, &frame, mtu);
    }
});
