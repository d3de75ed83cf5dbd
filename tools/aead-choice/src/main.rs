// SPDX-License-Identifier: MPL-2.0
//! Per-datagram cost of AES-256-GCM and ChaCha20-Poly1305 (seal, open,
//! reject) and of HKDF-SHA256 with key setup, in ring, aws-lc-rs and
//! RustCrypto: the measurement behind docs/PROTOCOL.md section 3.7.

use std::hint::black_box;
use std::time::Instant;
const LEN: usize = 1400 - 50;
const N: u32 = 200_000;
fn median(mut v: Vec<f64>) -> f64 { v.sort_by(|a, b| a.partial_cmp(b).unwrap()); v[v.len() / 2] }
fn time<F: FnMut(u64)>(mut f: F) -> f64 {
    let mut runs = Vec::new();
    for _ in 0..7 { let t = Instant::now(); for i in 0..N as u64 { f(i) } runs.push(t.elapsed().as_nanos() as f64 / N as f64); }
    median(runs)
}
fn nonce12(i: u64) -> [u8; 12] { let mut n = [0u8; 12]; n[4..].copy_from_slice(&i.to_be_bytes()); n }
fn main() {
    let key = [7u8; 32];
    let aad = [1u8; 34];
    let mut buf = vec![0u8; LEN + 16];
    {
        use ring::aead::*;
        for (name, alg) in [("ring aes-256-gcm", &AES_256_GCM), ("ring chacha20-poly1305", &CHACHA20_POLY1305)] {
            let k = LessSafeKey::new(UnboundKey::new(alg, &key).unwrap());
            let seal = time(|i| { let t = k.seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce12(i)), Aad::from(&aad), &mut buf[..LEN]).unwrap(); black_box(t); });
            let mut ct = vec![0u8; LEN]; let tag = k.seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce12(1)), Aad::from(&aad), &mut ct).unwrap();
            ct.extend_from_slice(tag.as_ref());
            let open = time(|_| { buf.copy_from_slice(&ct); let r = k.open_in_place(Nonce::assume_unique_for_key(nonce12(1)), Aad::from(&aad), &mut buf).unwrap(); black_box(r.len()); });
            let bad = time(|_| { buf.copy_from_slice(&ct); buf[3] ^= 1; let r = k.open_in_place(Nonce::assume_unique_for_key(nonce12(1)), Aad::from(&aad), &mut buf); black_box(r.is_err()); });
            println!("{name}: seal {seal:.0} ns, open {open:.0} ns, reject {bad:.0} ns");
        }
        let hk = time(|i| { let salt = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, &i.to_be_bytes()); let prk = salt.extract(&key); let okm = prk.expand(&[b"udpjpeg"], &AES_256_GCM).unwrap(); let k = LessSafeKey::new(UnboundKey::from(okm)); black_box(&k); });
        println!("ring hkdf+key setup {hk:.0} ns");
    }
    {
        use aws_lc_rs::aead::*;
        for (name, alg) in [("aws-lc-rs aes-256-gcm", &AES_256_GCM), ("aws-lc-rs chacha20-poly1305", &CHACHA20_POLY1305)] {
            let k = LessSafeKey::new(UnboundKey::new(alg, &key).unwrap());
            let seal = time(|i| { let t = k.seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce12(i)), Aad::from(&aad), &mut buf[..LEN]).unwrap(); black_box(t); });
            let mut ct = vec![0u8; LEN]; let tag = k.seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce12(1)), Aad::from(&aad), &mut ct).unwrap();
            ct.extend_from_slice(tag.as_ref());
            let open = time(|_| { buf.copy_from_slice(&ct); let r = k.open_in_place(Nonce::assume_unique_for_key(nonce12(1)), Aad::from(&aad), &mut buf).unwrap(); black_box(r.len()); });
            let bad = time(|_| { buf.copy_from_slice(&ct); buf[3] ^= 1; let r = k.open_in_place(Nonce::assume_unique_for_key(nonce12(1)), Aad::from(&aad), &mut buf); black_box(r.is_err()); });
            println!("{name}: seal {seal:.0} ns, open {open:.0} ns, reject {bad:.0} ns");
        }
        let hk = time(|i| { let salt = aws_lc_rs::hkdf::Salt::new(aws_lc_rs::hkdf::HKDF_SHA256, &i.to_be_bytes()); let prk = salt.extract(&key); let okm = prk.expand(&[b"udpjpeg"], &AES_256_GCM).unwrap(); let k = LessSafeKey::new(UnboundKey::from(okm)); black_box(&k); });
        println!("aws-lc-rs hkdf+key setup {hk:.0} ns");
    }
    {
        use aes_gcm::{Aes256Gcm, KeyInit, aead::AeadInPlace};
        let c = Aes256Gcm::new_from_slice(&key).unwrap();
        let seal = time(|i| { let t = c.encrypt_in_place_detached(&nonce12(i).into(), &aad, &mut buf[..LEN]).unwrap(); black_box(t); });
        println!("RustCrypto aes-gcm: seal {seal:.0} ns");
        use chacha20poly1305::ChaCha20Poly1305;
        let c = ChaCha20Poly1305::new_from_slice(&key).unwrap();
        let seal = time(|i| { let t = c.encrypt_in_place_detached(&nonce12(i).into(), &aad, &mut buf[..LEN]).unwrap(); black_box(t); });
        println!("RustCrypto chacha20poly1305: seal {seal:.0} ns");
    }
}
