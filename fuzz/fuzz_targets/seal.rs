// SPDX-License-Identifier: MPL-2.0
//! `seal`: the opener against any mix of genuine sealed datagrams (from
//! three sessions, both ciphers), replays of them, bit flips, forged bytes
//! and the passing of time, with a table of two sessions.
//!
//! Asserts:
//! - `Opener::open` never panics;
//! - what it opens is byte for byte a datagram a sealer made, unchanged,
//!   and its plaintext is what was sealed;
//! - no (session, counter) opens twice;
//! - nothing opens for a session none of the sealers had.
#![no_main]

use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;

use arbitrary::{Arbitrary, Unstructured};
use gstudpjpeg::seal::{Cipher, Header, IDLE_NS, Key, Opener, Sealer, SessionId};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Op {
    Seal { sealer: u8, plain: Vec<u8> },
    Replay { index: u16, flip: Option<u16> },
    Forge { bytes: Vec<u8> },
    Wait { tenths: u8 },
}

struct World {
    opener: Opener,
    sealers: Vec<Sealer>,
    sent: Vec<Vec<u8>>,
    plains: HashMap<(SessionId, u64), Vec<u8>>,
    opened: HashSet<(SessionId, u64)>,
    now: u64,
}

impl World {
    fn new(max_age: bool) -> World {
        let key = Key::from_hex(&"42".repeat(32)).unwrap();
        let ciphers = [Cipher::Aes256Gcm, Cipher::ChaCha20Poly1305];
        let sealers = (0..3u8)
            .map(|i| Sealer::new(&key, ciphers[i as usize % 2], SessionId([i; 16]), 1000 + u64::from(i)))
            .collect();
        let two = NonZeroUsize::new(2).unwrap();
        World {
            opener: Opener::new(key, two, max_age.then_some(100)),
            sealers,
            sent: Vec::new(),
            plains: HashMap::new(),
            opened: HashSet::new(),
            now: 0,
        }
    }

    fn open(&mut self, datagram: &[u8]) {
        let mut copy = datagram.to_vec();
        let Ok(opened) = self.opener.open(&mut copy, 1050, self.now) else {
            return;
        };
        let h: Header = opened.header;
        let id = (h.session, h.counter);
        assert!(self.sent.iter().any(|s| s == datagram), "opened a datagram no sealer made");
        assert_eq!(self.plains.get(&id).map(Vec::as_slice), Some(opened.plaintext));
        assert!(self.opened.insert(id), "opened {id:?} twice");
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Seal { sealer, plain } => {
                let s = &mut self.sealers[sealer as usize % 3];
                let counter = s.next_header().counter;
                let d = s.seal(&[&plain]).unwrap();
                self.plains.insert((s.next_header().session, counter), plain);
                self.sent.push(d.clone());
                self.open(&d);
            }
            Op::Replay { index, flip } if !self.sent.is_empty() => {
                let mut d = self.sent[index as usize % self.sent.len()].clone();
                if let Some(bit) = flip {
                    let bit = bit as usize % (d.len() * 8);
                    d[bit / 8] ^= 1 << (bit % 8);
                }
                self.open(&d);
            }
            Op::Replay { .. } => {}
            Op::Forge { bytes } => self.open(&bytes),
            Op::Wait { tenths } => self.now += u64::from(tenths) * IDLE_NS / 10,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let mut world = World::new(u.arbitrary().unwrap_or(false));
    for _ in 0..64 {
        let Ok(op) = u.arbitrary::<Op>() else { break };
        world.apply(op);
    }
});
