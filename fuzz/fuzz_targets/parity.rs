// SPDX-License-Identifier: MPL-2.0
//! `parity`: one or two known frames sent with parity (`F`) chunks, with a
//! fuzzer-chosen subset of their datagrams lost, repeated and reordered, and
//! forged parity datagrams (any header fields, symbols, lengths) mixed in.
//!
//! Asserted after every push: nothing panics; held bytes stay within
//! `limits.max_held_bytes`, the reassembler's `audit` of its bookkeeping
//! passes and it counts no internal error; a rebuilt frame is byte for
//! byte the known frame of its id (a rebuilt frame whose CRC does not
//! match is never emitted); no id comes out twice.
#![no_main]

use std::collections::HashSet;

use arbitrary::Unstructured;
use gstudpjpeg::fec;
use gstudpjpeg::reassembly::{Frame, Limits, Outcome, Reassembler};
use gstudpjpeg::wire::{self, Plan, WireFormat};
use libfuzzer_sys::fuzz_target;

#[derive(Debug)]
struct Known {
    id: u16,
    frame: Vec<u8>,
    datagrams: Vec<Vec<u8>>,
}

fn known(u: &mut Unstructured, id: u16) -> arbitrary::Result<Known> {
    let t = 8 * u.int_in_range(1..=8usize)?;
    let len = u.int_in_range(4..=600usize)?;
    let mut frame = vec![0u8; len];
    u.fill_buffer(&mut frame)?;
    frame[..2].copy_from_slice(&[0xFF, 0xD8]);
    frame[len - 2..].copy_from_slice(&[0xFF, 0xD9]);
    let k = len.div_ceil(t);
    let m = u.int_in_range(1..=k.max(1) + 2)?;
    let mut datagrams = Plan::with_payload(len, t)
        .expect("small frames fit")
        .datagrams(id, &frame);
    datagrams.extend(fec::parity_datagrams(id, &frame, t, m).expect("coverable layout"));
    Ok(Known {
        id,
        frame,
        datagrams,
    })
}

fn forged_parity(u: &mut Unstructured, ids: &[u16]) -> arbitrary::Result<Vec<u8>> {
    let header = wire::ParityHeader {
        image_id: *u.choose(ids)?,
        index: u.int_in_range(0..=20)?,
        count: u.int_in_range(0..=21)?,
        data_chunks: u.int_in_range(0..=80)?,
        frame_len: u.int_in_range(0..=700)?,
        crc: u.arbitrary()?,
        payload_id: u.arbitrary()?,
    };
    let mut d = header.to_bytes().to_vec();
    let n = u.int_in_range(0..=70usize)?;
    for _ in 0..n {
        d.push(u.arbitrary()?);
    }
    Ok(d)
}

/// Small limits; `max_held_bytes` from the length, so that seeds keep
/// their meaning: a few frames' worth, or unlimited.
fn limits(data: &[u8]) -> Limits {
    Limits {
        max_frame_size: 4096,
        max_pending_frames: 3,
        timeout_ns: 1_000_000,
        max_senders: 2,
        max_held_bytes: match data.len() % 2 {
            0 => usize::MAX,
            _ => 4096 + data.len().wrapping_mul(7919) % 65_536,
        },
    }
}

/// The next datagram: mostly one of a known frame's, else forged parity or
/// a forged data chunk of one of the ids in play.
fn next_datagram(
    u: &mut Unstructured,
    frames: &[Known],
    ids: &[u16],
) -> arbitrary::Result<Vec<u8>> {
    Ok(match u.int_in_range(0..=9u8)? {
        0..=7 => {
            let f = u.choose(frames)?;
            u.choose(&f.datagrams)?.clone()
        }
        8 => forged_parity(u, ids)?,
        _ => {
            let mut d = vec![*u.choose(b"SCE")?];
            d.extend_from_slice(&u.choose(ids)?.to_be_bytes());
            d.extend_from_slice(&u.int_in_range(0..=80u16)?.to_be_bytes());
            let n = u.int_in_range(0..=70usize)?;
            for _ in 0..n {
                d.push(u.arbitrary()?);
            }
            d
        }
    })
}

fn run(data: &[u8]) -> arbitrary::Result<()> {
    let mut u = Unstructured::new(data);
    let base: u16 = u.arbitrary()?;
    let frames = [known(&mut u, base)?, known(&mut u, base.wrapping_add(1))?];
    let ids = [frames[0].id, frames[1].id, base.wrapping_add(2)];
    let limits = limits(data);
    let mut r: Reassembler<u8, Vec<u8>> = Reassembler::new(WireFormat::Sce, limits);
    let mut seen = HashSet::new();
    let mut now = 0u64;
    let ops = u.int_in_range(0..=200usize)?;
    for _ in 0..ops {
        let d = next_datagram(&mut u, &frames, &ids)?;
        now += u.int_in_range(1..=50_000u64)?;
        if let Outcome::Frame(f) = r.push(0, d, now, None) {
            check_frame(&f, &frames, &mut seen);
        }
        assert!(r.held_bytes() <= limits.max_held_bytes);
        assert_eq!(r.audit(), Ok(()));
        assert_eq!(r.stats().internal_errors, 0);
    }
    Ok(())
}

/// An id comes out at most once (only three ids are used, all within the
/// late window of one another); forged data chunks may make up a frame of
/// their own, but a rebuilt frame is always the known frame of its id.
fn check_frame(f: &Frame<u8, Vec<u8>>, frames: &[Known], seen: &mut HashSet<Option<u16>>) {
    let bytes = f.to_vec();
    assert!(seen.insert(f.image_id), "an id comes out once");
    if f.recovered {
        assert!(
            frames
                .iter()
                .any(|k| Some(k.id) == f.image_id && k.frame == bytes),
            "a rebuilt frame is the known frame of its id"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = run(data);
});
