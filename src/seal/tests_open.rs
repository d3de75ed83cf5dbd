// SPDX-License-Identifier: MPL-2.0
//! Sealing and opening together: what passes, what is refused, and why.

use std::num::NonZeroUsize;

use super::*;

const NOW_S: u64 = 1_800_000_000;

fn key(b: u8) -> Key {
    Key::from_hex(&format!("{b:02x}").repeat(32)).unwrap()
}

fn sealer(cipher: Cipher, session: u8, start: u64) -> Sealer {
    Sealer::new(&key(1), cipher, SessionId([session; 16]), start)
}

fn opener(max_sessions: usize, max_age: Option<u64>) -> Opener {
    Opener::new(key(1), NonZeroUsize::new(max_sessions).unwrap(), max_age)
}

fn plain(i: u8) -> Vec<u8> {
    let mut d = vec![b'E', 0, i, 0, 0];
    d.extend_from_slice(&[0xff, 0xd8, i, i, 0xff, 0xd9]);
    d
}

fn open(o: &mut Opener, d: &[u8], now: u64) -> Result<Vec<u8>, Rejected> {
    o.open(&mut d.to_vec(), NOW_S, now)
        .map(|x| x.plaintext.to_vec())
}

#[test]
fn both_ciphers_round_trip_with_the_stated_overhead() {
    for cipher in [Cipher::Aes256Gcm, Cipher::ChaCha20Poly1305] {
        let mut s = sealer(cipher, 7, NOW_S);
        let mut o = opener(4, None);
        for i in 0..10u8 {
            let p = plain(i);
            let d = s.seal(&[&p[..5], &p[5..]]).unwrap();
            assert_eq!(d.len(), p.len() + OVERHEAD);
            assert_eq!(Header::parse(&d).unwrap().counter, u64::from(i));
            assert_eq!(open(&mut o, &d, 0), Ok(p));
        }
        assert_eq!(o.sessions(), 1);
    }
}

#[test]
fn every_single_bit_flip_is_refused() {
    for cipher in [Cipher::Aes256Gcm, Cipher::ChaCha20Poly1305] {
        let mut s = sealer(cipher, 7, NOW_S);
        let first = s.seal(&[&plain(0)]).unwrap();
        let d = s.seal(&[&plain(1)]).unwrap();
        let mut o = opener(4, None);
        // The session is known from its first datagram, and not known: both
        // paths refuse every flip. A millisecond apart, each flip is tried
        // (none is refused for the trial budget alone).
        let mut now = 0;
        for known in [false, true] {
            if known {
                open(&mut o, &first, now).unwrap();
            }
            for bit in 0..d.len() * 8 {
                let mut f = d.clone();
                f[bit / 8] ^= 1 << (bit % 8);
                now += 1_000_000;
                let r = open(&mut o, &f, now);
                assert!(
                    r.is_err() && r != Err(Rejected::Throttled),
                    "bit {bit} known {known}"
                );
            }
        }
        assert_eq!(open(&mut o, &d, now), Ok(plain(1)));
    }
}

#[test]
fn replays_are_refused_before_and_after_the_window() {
    let mut s = sealer(Cipher::Aes256Gcm, 7, NOW_S);
    let mut o = opener(4, None);
    let first = s.seal(&[&plain(0)]).unwrap();
    open(&mut o, &first, 0).unwrap();
    assert_eq!(open(&mut o, &first, 0), Err(Rejected::Replayed));
    let held = s.seal(&[&plain(1)]).unwrap();
    for _ in 0..WINDOW + 10 {
        let d = s.seal(&[&plain(2)]).unwrap();
        open(&mut o, &d, 0).unwrap();
    }
    assert_eq!(
        open(&mut o, &held, 0),
        Err(Rejected::Replayed),
        "too far behind"
    );
}

#[test]
fn another_key_and_forged_headers_do_not_authenticate() {
    let mut o = opener(4, None);
    let mut other = Sealer::new(&key(2), Cipher::Aes256Gcm, SessionId([7; 16]), NOW_S);
    let d = other.seal(&[&plain(0)]).unwrap();
    assert_eq!(open(&mut o, &d, 0), Err(Rejected::Unauthenticated));
    assert_eq!(o.sessions(), 0, "no state from a datagram that fails");
    let mut forged = Header::parse(&d).unwrap().write().to_vec();
    forged.extend_from_slice(&[0x55; 40]);
    assert_eq!(open(&mut o, &forged, 0), Err(Rejected::Unauthenticated));
    // A known session's header with the other cipher, or another start.
    let mut s = sealer(Cipher::Aes256Gcm, 7, NOW_S);
    open(&mut o, &s.seal(&[&plain(0)]).unwrap(), 0).unwrap();
    let mut d = s.seal(&[&plain(1)]).unwrap();
    d[1] = Cipher::ChaCha20Poly1305.id();
    assert_eq!(open(&mut o, &d, 0), Err(Rejected::Unauthenticated));
}

#[test]
fn max_session_age_refuses_old_sessions_and_off_takes_them() {
    let mut old = sealer(Cipher::Aes256Gcm, 7, NOW_S - 3600);
    let d = old.seal(&[&plain(0)]).unwrap();
    assert_eq!(
        open(&mut opener(4, Some(600)), &d, 0),
        Err(Rejected::TooOld { age: 3600 })
    );
    assert_eq!(open(&mut opener(4, None), &d, 0), Ok(plain(0)));
    // A sender's clock ahead of ours is no age at all.
    let mut ahead = sealer(Cipher::Aes256Gcm, 8, NOW_S + 30);
    let d = ahead.seal(&[&plain(0)]).unwrap();
    assert_eq!(open(&mut opener(4, Some(600)), &d, 0), Ok(plain(0)));
}

#[test]
fn live_sessions_are_never_pushed_out_and_forgotten_ones_never_return() {
    let mut o = opener(2, None);
    let mut live = sealer(Cipher::Aes256Gcm, 1, NOW_S);
    let mut old: Vec<Sealer> = (2..12)
        .map(|s| sealer(Cipher::Aes256Gcm, s, NOW_S - 100 + u64::from(s)))
        .collect();
    let recorded: Vec<Vec<u8>> = old
        .iter_mut()
        .map(|s| s.seal(&[&plain(0)]).unwrap())
        .collect();
    // The receiver heard each old session once, long ago (each pushing out
    // the one before, idle by then).
    for (i, d) in recorded.iter().enumerate() {
        open(&mut o, d, i as u64 * IDLE_NS).unwrap();
    }
    let t = 20 * IDLE_NS;
    open(&mut o, &live.seal(&[&plain(1)]).unwrap(), t).unwrap();
    // Every recording replayed while the live session runs: none is taken,
    // and the live session stays.
    for (i, d) in recorded.iter().enumerate() {
        let r = open(&mut o, d, t + i as u64);
        assert!(
            matches!(r, Err(Rejected::Replayed | Rejected::Forgotten)),
            "{i}: {r:?}"
        );
        open(&mut o, &live.seal(&[&plain(1)]).unwrap(), t + i as u64).unwrap();
    }
    // A second live sender pushes out the idle old session; a third finds
    // the table full of live ones until one idles.
    let mut second = sealer(Cipher::Aes256Gcm, 98, NOW_S + 1);
    open(&mut o, &second.seal(&[&plain(2)]).unwrap(), t + 50).unwrap();
    let mut third = sealer(Cipher::Aes256Gcm, 99, NOW_S + 2);
    let d = third.seal(&[&plain(0)]).unwrap();
    assert_eq!(
        open(&mut o, &d, t + 100),
        Err(Rejected::NoRoom),
        "{:?}",
        o.sessions()
    );
    assert_eq!(
        open(&mut o, &d, t + 2 * IDLE_NS),
        Ok(plain(0)),
        "once the others idle"
    );
}

#[test]
fn a_restarted_sender_is_taken_at_once() {
    let mut o = opener(4, None);
    for session in 1..=3 {
        let mut s = sealer(
            Cipher::ChaCha20Poly1305,
            session,
            NOW_S + u64::from(session),
        );
        assert_eq!(
            open(&mut o, &s.seal(&[&plain(session)]).unwrap(), 0),
            Ok(plain(session))
        );
    }
}

#[test]
fn a_session_ends_before_its_counter_wraps() {
    let mut s = sealer(Cipher::Aes256Gcm, 7, NOW_S);
    s.next.counter = u64::MAX - 1;
    assert!(s.seal(&[&plain(0)]).is_ok());
    assert_eq!(s.seal(&[&plain(0)]), Err(Exhausted));
}

#[test]
fn new_sessions_beyond_the_trial_budget_are_not_tried() {
    let mut o = opener(4, None);
    let forged = |i: u64| {
        let mut s = Sealer::new(&key(2), Cipher::Aes256Gcm, SessionId([9; 16]), NOW_S + i);
        s.seal(&[&plain(0)]).unwrap()
    };
    for i in 0..TRIAL_BURST {
        assert_eq!(open(&mut o, &forged(i), 0), Err(Rejected::Unauthenticated));
    }
    assert_eq!(open(&mut o, &forged(99), 0), Err(Rejected::Throttled));
    let mut real = sealer(Cipher::Aes256Gcm, 1, NOW_S);
    let d = real.seal(&[&plain(1)]).unwrap();
    assert_eq!(
        open(&mut o, &d, 0),
        Err(Rejected::Throttled),
        "not tried yet"
    );
    // One trial a 500 µs later: the real session is taken.
    let later = 1_000_000_000 / TRIALS_PER_SECOND;
    assert_eq!(open(&mut o, &d, later), Ok(plain(1)));
    assert_eq!(open(&mut o, &forged(100), later), Err(Rejected::Throttled));
}
