// SPDX-License-Identifier: MPL-2.0
//! A sealed datagram that is refused allocates nothing and leaves no
//! session behind, whatever the reason (docs/PROTOCOL.md section 3.5):
//! counted with a global allocator that counts, in a test binary of its
//! own.

use std::alloc::{GlobalAlloc, Layout, System};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};

use gstudpjpeg::seal::{Cipher, Key, Opener, Rejected, Sealer, SessionId, WINDOW};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn key(b: u8) -> Key {
    Key::from_hex(&format!("{b:02x}").repeat(32)).unwrap()
}

/// Allocations made while `f` runs.
fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    f();
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

#[test]
fn refused_datagrams_allocate_nothing_and_create_no_session() {
    const NOW: u64 = 1_800_000_000;
    let plain = [b'E', 0, 1, 0, 0, 0xff, 0xd8, 0xff, 0xd9];
    for cipher in [Cipher::Aes256Gcm, Cipher::ChaCha20Poly1305] {
        let mut live = Sealer::new(&key(1), cipher, SessionId([1; 16]), NOW);
        let mut other_key = Sealer::new(&key(2), cipher, SessionId([2; 16]), NOW);
        let mut old = Sealer::new(&key(1), cipher, SessionId([3; 16]), NOW - 3600);
        let first = live.seal(&[&plain]).unwrap();
        let mut behind = vec![live.seal(&[&plain]).unwrap()];
        let mut o = Opener::new(key(1), NonZeroUsize::new(4).unwrap(), Some(600));
        o.open(&mut first.clone(), NOW, 0).unwrap();
        for _ in 0..WINDOW + 1 {
            o.open(&mut live.seal(&[&plain]).unwrap(), NOW, 0).unwrap();
        }
        let mut forged_known = live.seal(&[&plain]).unwrap();
        *forged_known.last_mut().unwrap() ^= 1;
        let refused: Vec<(Vec<u8>, Rejected)> = vec![
            (first.clone(), Rejected::Replayed),
            (behind.pop().unwrap(), Rejected::Replayed),
            (forged_known, Rejected::Unauthenticated),
            (
                other_key.seal(&[&plain]).unwrap(),
                Rejected::Unauthenticated,
            ),
            (old.seal(&[&plain]).unwrap(), Rejected::TooOld { age: 3600 }),
            (
                plain.to_vec(),
                Rejected::Malformed(gstudpjpeg::seal::Malformed::NotSealed),
            ),
        ];
        let sessions = o.sessions();
        for (d, why) in refused {
            let mut d = d;
            let n = allocations(|| assert_eq!(o.open(&mut d, NOW, 0).unwrap_err(), why));
            assert_eq!(n, 0, "{cipher:?} {why:?}: {n} allocations");
        }
        assert_eq!(o.sessions(), sessions, "no session from a refused datagram");
    }
}
