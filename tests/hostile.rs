//! Hostile input: floods of forged and random datagrams mixed with a valid
//! stream, and byte streams built to hurt the splitter. The valid frames
//! must all come out exact, nothing panics, and memory stays bounded.

mod common;

use common::*;
use gst::prelude::*;
use gst_check::Harness;
use gst_net::gio;
use gstudpjpeg::wire::{Plan, WireFormat};

/// xorshift64*: a fixed pseudo-random sequence, the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    /// Between `min` and `min + spread - 1` random bytes.
    fn some_bytes(&mut self, min: usize, spread: u64) -> Vec<u8> {
        let n = min + self.below(spread) as usize;
        self.bytes(n)
    }
}

/// One hostile datagram: short, unknown kind, forged header with random ids,
/// `E` at 65535, or oversize.
fn forged(rng: &mut Rng) -> Vec<u8> {
    let kind = [b'S', b'C', b'E'][rng.below(3) as usize];
    let id = rng.next() as u16;
    match rng.below(8) {
        0 => rng.some_bytes(0, 6),
        1 => {
            let mut d = rng.some_bytes(5, 100);
            d[0] = b'a' + rng.below(26) as u8;
            d
        }
        2 => {
            let mut d = vec![b'E'];
            d.extend_from_slice(&id.to_be_bytes());
            d.extend_from_slice(&65535u16.to_be_bytes());
            d.extend(rng.some_bytes(1, 1395));
            d
        }
        3 => {
            let mut d = vec![kind];
            d.extend_from_slice(&id.to_be_bytes());
            d.extend_from_slice(&(rng.next() as u16).to_be_bytes());
            d.extend(rng.some_bytes(60_000, 5_502));
            d
        }
        4 => {
            // Well-formed middle chunks of a few forged frames: these fill
            // frames up to max-frame-size.
            let mut d = vec![b'C'];
            d.extend_from_slice(&(rng.below(8) as u16).to_be_bytes());
            d.extend_from_slice(&(1 + rng.below(760) as u16).to_be_bytes());
            d.extend(rng.bytes(1395));
            d
        }
        _ => {
            let mut d = vec![kind];
            d.extend_from_slice(&(rng.below(8) as u16).to_be_bytes());
            let cid = if kind == b'S' {
                0
            } else {
                rng.below(300) as u16
            };
            d.extend_from_slice(&cid.to_be_bytes());
            d.extend(rng.some_bytes(1, 1400));
            d
        }
    }
}

fn datagram_from(data: Vec<u8>, ip: &str, port: u16) -> gst::Buffer {
    let mut b = gst::Buffer::from_mut_slice(data);
    let addr = gio::InetSocketAddress::from_string(ip, port.into()).unwrap();
    gst_net::NetAddressMeta::add(b.get_mut().unwrap(), &addr);
    b
}

/// The default `max-held-bytes`.
const MAX_HELD: u64 = 64 << 20;

/// Runs a valid stream from 127.0.0.1:9000 with `per_datagram` hostile
/// datagrams after each of its datagrams, from the addresses `flood_addr`
/// picks, and checks that every valid frame comes out exact and in order,
/// with the bytes held never over the limits.
fn flood(per_datagram: usize, flood_addr: impl Fn(&mut Rng) -> (String, u16)) {
    const MAX_FRAME: u64 = 1 << 20;
    const PENDING: u64 = 4;
    const SENDERS: u64 = 64;
    let mut h = depay_unchecked(&[
        ("max-frame-size", &MAX_FRAME.to_string()),
        ("max-pending-frames", &PENDING.to_string()),
        ("max-senders", &SENDERS.to_string()),
    ]);
    let frames: Vec<Vec<u8>> = (0..40)
        .map(|i| tag_frame(&FRAMES_360P[i % FRAMES_360P.len()], &format!("valid {i}")))
        .collect();
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let mut got = Vec::new();
    let mut max_held = 0;
    for (i, f) in frames.iter().enumerate() {
        let plan = Plan::new(WireFormat::Sce, f.len(), 1400).unwrap();
        for d in plan.datagrams(1000 + i as u16, f) {
            h.push(datagram_from(d, "127.0.0.1", 9000)).unwrap();
            for _ in 0..per_datagram {
                let (ip, port) = flood_addr(&mut rng);
                h.push(datagram_from(forged(&mut rng), &ip, port))
                    .expect("hostile input never stops the stream");
            }
            while let Some(b) = h.try_pull() {
                got.push(bytes(&b));
            }
        }
        max_held = max_held.max(stat(&h, "bytes-held"));
    }
    assert_eq!(got.len(), frames.len(), "every valid frame comes out");
    assert!(got == frames, "each one exact, in order");
    assert!(
        max_held <= MAX_HELD,
        "bytes held {max_held} within max-held-bytes"
    );
    assert!(stat(&h, "senders") <= SENDERS);
    assert!(stat(&h, "chunks-invalid") > 0);
    assert!(stat(&h, "chunks-unknown-kind") > 0);
    eprintln!("max bytes held: {max_held}");
}

#[test]
fn flood_from_one_address_does_not_touch_another_senders_frames() {
    flood(20, |_| ("127.0.0.1".to_string(), 9001));
}

#[test]
fn flood_without_address_is_one_more_sender() {
    init();
    let mut h = depay_unchecked(&[]);
    let mut rng = Rng(7);
    let f = &FRAMES_360P[0];
    for d in Plan::new(WireFormat::Sce, f.len(), 1400)
        .unwrap()
        .datagrams(5, f)
    {
        h.push(datagram_from(d, "127.0.0.1", 9000)).unwrap();
        for _ in 0..50 {
            h.push(gst::Buffer::from_mut_slice(forged(&mut rng)))
                .unwrap();
        }
    }
    assert_eq!(bytes(&h.pull().unwrap()), *f);
}

#[test]
fn flood_from_many_spoofed_addresses_keeps_the_sender_table_bounded() {
    // 10 hostile datagrams per valid one, from 1000 addresses: the valid
    // sender is heard often enough to stay among the 64 remembered.
    flood(10, |rng| {
        let n = rng.below(1000);
        (
            format!("127.1.{}.{}", n / 250, n % 250 + 1),
            1024 + (n as u16),
        )
    });
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

#[test]
fn forged_frames_fill_up_to_the_limits_and_no_further() {
    // Well-formed middle chunks of four forged frames from one address: the
    // frames grow to max-frame-size and stop there.
    let mut h = depay_unchecked(&[
        ("max-frame-size", "1048576"),
        ("max-pending-frames", "4"),
        ("timeout", "60000"),
    ]);
    let mut rng = Rng(11);
    for _ in 0..12_000 {
        let mut d = vec![b'C'];
        d.extend_from_slice(&(rng.below(4) as u16).to_be_bytes());
        d.extend_from_slice(&(1 + rng.below(800) as u16).to_be_bytes());
        d.extend(rng.bytes(1395));
        h.push(datagram_from(d, "127.0.0.1", 9100)).unwrap();
    }
    let held = stat(&h, "bytes-held");
    eprintln!("bytes held after 12,000 forged chunks: {held}");
    // Chunks 1..=750 fit (751 * 1395 bytes would pass 1 MiB), and the flood
    // hits almost all of them. Each is charged what it pins: its 1,400-byte
    // memory, the buffer and a table slot, under 3 KiB; each frame 8 KiB more.
    assert_eq!(stat(&h, "pending-frames"), 4);
    assert!(held <= 4 * (750 * 3072 + 8192), "{held}");
    assert!(
        held >= 4 * 700 * 1400,
        "the flood did fill the frames: {held}"
    );
    assert!(stat(&h, "chunks-invalid") > 0, "chunks past max-frame-size");
}

#[test]
fn memory_stays_flat_over_a_long_flood() {
    // Up to 400,000 hostile datagrams (gigabytes claimed by forged headers)
    // from 5,000 addresses, for at most 16 seconds: once the reassembler's
    // tables are full (after 20,000), the resident size may not grow by more
    // than its small limits allow.
    let mut h = depay_unchecked(&[
        ("max-frame-size", "1048576"),
        ("max-pending-frames", "4"),
        ("max-senders", "64"),
    ]);
    let mut rng = Rng(99);
    let start = std::time::Instant::now();
    const WARMUP: usize = 20_000;
    let mut after_warmup = 0;
    let mut done = 0;
    for i in 0..400_000 {
        if start.elapsed() > std::time::Duration::from_secs(16) {
            break;
        }
        let n = rng.below(5000);
        let d = forged(&mut rng);
        h.push(datagram_from(
            d,
            &format!("127.2.{}.{}", n / 250, n % 250 + 1),
            2000,
        ))
        .unwrap();
        if i == WARMUP {
            after_warmup = rss_kib();
        }
        done = i + 1;
    }
    assert!(
        done >= 3 * WARMUP,
        "the flood ran well past its warm-up ({done} datagrams)"
    );
    let end = rss_kib();
    let held = stat(&h, "bytes-held");
    eprintln!(
        "{done} datagrams: RSS {after_warmup} KiB after warm-up, {end} KiB at the end, {held} bytes held"
    );
    assert!(held <= MAX_HELD, "{held}");
    assert!(
        end <= after_warmup + 64 * 1024,
        "RSS grew from {after_warmup} KiB to {end} KiB"
    );
}

#[test]
fn mjpegsplit_survives_hostile_streams() {
    init();
    let mut e = gst::ElementFactory::make("mjpegsplit");
    e = e.property("max-frame-size", 1_048_576u32);
    let mut h = Harness::with_element(&e.build().unwrap(), Some("sink"), Some("src"));
    h.play();
    start_stream(&mut h, "tcp", false);
    let good = &FRAMES_360P[0];
    let mut rng = Rng(3);
    // Random bytes.
    for _ in 0..200 {
        h.push(gst::Buffer::from_mut_slice(rng.bytes(4096)))
            .unwrap();
    }
    // An SOI with no EOI for 8 MB (scan data that never ends).
    let mut soi = vec![0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02];
    soi.extend(std::iter::repeat_n(0x11, 65536 - soi.len()));
    h.push(gst::Buffer::from_mut_slice(soi)).unwrap();
    for _ in 0..127 {
        h.push(gst::Buffer::from_mut_slice(vec![0x11; 65536]))
            .unwrap();
    }
    // Segment lengths that point past the data.
    h.push(gst::Buffer::from_slice([
        0xFF, 0xD8, 0xFF, 0xE0, 0xFF, 0xFF, 1, 2, 3,
    ]))
    .unwrap();
    h.push(gst::Buffer::from_slice(good.clone())).unwrap();
    h.push(gst::Buffer::from_slice(good.clone())).unwrap();
    let out: Vec<Vec<u8>> = std::iter::from_fn(|| h.try_pull())
        .map(|b| bytes(&b))
        .collect();
    // Random bytes can hold a tiny valid-looking frame by chance; the real
    // ones come out whole at the end.
    assert!(out.len() >= 2);
    assert_eq!(out[out.len() - 2..], [good.clone(), good.clone()]);
    for f in &out {
        assert!(f.starts_with(&[0xFF, 0xD8]) && f.ends_with(&[0xFF, 0xD9]));
        assert!(f.len() <= 1_048_576);
    }
    let stats = h.element().unwrap().property::<gst::Structure>("stats");
    eprintln!("{stats}");
}
