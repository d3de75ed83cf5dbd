// SPDX-License-Identifier: MPL-2.0
//! Crafted streams for tests and benchmarks of the scanner's worst cases.

/// One SOI, then `coms` COM segments of 65535 bytes whose payloads are
/// packed with 6-byte gadgets `FF D8 FF E0 len`, each APP0 ending exactly
/// where the next COM starts. Every gadget is a frame candidate whose walk
/// runs on to the end of the stream: a scanner that searches a dropped
/// candidate's bytes again for each of them does quadratic work.
pub fn nested_candidates(coms: usize) -> Vec<u8> {
    const PAYLOAD: usize = 65533;
    let mut stream = Vec::with_capacity(2 + coms * (PAYLOAD + 4));
    stream.extend_from_slice(&[0xFF, 0xD8]);
    let mut payload = vec![0u8; PAYLOAD];
    for k in (0..=PAYLOAD - 6).step_by(6) {
        // The APP0 length counts its own two bytes, at k + 4.
        let len = u16::try_from(PAYLOAD - (k + 4)).unwrap_or(u16::MAX);
        payload[k..k + 4].copy_from_slice(&[0xFF, 0xD8, 0xFF, 0xE0]);
        payload[k + 4..k + 6].copy_from_slice(&len.to_be_bytes());
    }
    for _ in 0..coms {
        stream.extend_from_slice(&[0xFF, 0xFE, 0xFF, 0xFF]);
        stream.extend_from_slice(&payload);
    }
    stream
}
