// SPDX-License-Identifier: MPL-2.0
//! Helpers shared by the reassembler's unit tests.

pub(crate) use super::*;
pub(crate) use crate::fec;
pub(crate) use crate::wire::{Plan, WireError, WireFormat};
pub(crate) use std::fmt;

pub(crate) type R = Reassembler<u32, Vec<u8>>;

pub(crate) fn dg(kind: u8, id: u16, cid: u16, payload: &[u8]) -> Vec<u8> {
    let mut d = vec![kind];
    d.extend_from_slice(&id.to_be_bytes());
    d.extend_from_slice(&cid.to_be_bytes());
    d.extend_from_slice(payload);
    d
}

/// A JPEG-shaped frame of `len` bytes (FF D8 .. FF D9) seeded by `seed`.
pub(crate) fn jpeg(len: usize, seed: u8) -> Vec<u8> {
    let mut v: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect();
    v[0] = 0xFF;
    v[1] = 0xD8;
    v[len - 2] = 0xFF;
    v[len - 1] = 0xD9;
    v
}

pub(crate) fn sce() -> R {
    R::new(WireFormat::Sce, Limits::default())
}

pub(crate) fn frame_of(o: Outcome<u32, Vec<u8>>) -> Frame<u32, Vec<u8>> {
    match o {
        Outcome::Frame(f) => f,
        other => panic!("expected a frame, got {other:?}"),
    }
}

pub(crate) fn assert_pending<B: fmt::Debug>(o: Outcome<u32, B>) {
    assert!(matches!(o, Outcome::Pending), "expected pending, got {o:?}");
}

/// What one frame holding (copies of) datagrams `ds` is charged.
pub(crate) fn frame_held(ds: &[&Vec<u8>]) -> usize {
    let chunks: usize = ds.iter().map(|d| R::chunk_charge(&d.to_vec())).sum();
    R::frame_charge() + chunks
}

/// Data and parity datagrams of `frame` with chunks of `t` bytes.
pub(crate) fn with_parity(
    frame: &[u8],
    id: u16,
    t: usize,
    m: usize,
) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let data = Plan::with_payload(frame.len(), t)
        .unwrap()
        .datagrams(id, frame);
    let parity = fec::parity_datagrams(id, frame, t, m).unwrap();
    (data, parity)
}

pub(crate) fn cd(c: u8, payload: &[u8]) -> Vec<u8> {
    let mut d = vec![c];
    d.extend_from_slice(payload);
    d
}
