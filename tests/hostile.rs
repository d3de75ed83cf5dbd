// SPDX-License-Identifier: MPL-2.0
//! Hostile input: floods of forged and random datagrams mixed with a valid
//! stream, floods of new senders over UDP, and byte streams built to hurt
//! the splitter. The valid frames must all come out exact, nothing panics,
//! and memory stays bounded.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use gst::prelude::*;
use gst_check::Harness;
use gst_net::gio;
use gstudpjpeg::reassembly::{Limits, Reassembler};
use gstudpjpeg::wire::{Plan, WireFormat};

use fastrand::Rng;

/// Between `min` and `min + spread - 1` random bytes.
fn some_bytes(rng: &mut Rng, min: usize, spread: usize) -> Vec<u8> {
    let n = min + rng.usize(..spread);
    random_bytes(rng, n)
}

/// One hostile datagram: short, unknown kind, forged header with random ids,
/// `E` at 65535, or oversize.
fn forged(rng: &mut Rng) -> Vec<u8> {
    let kind = [b'S', b'C', b'E'][rng.usize(..3)];
    let id = rng.u16(..);
    match rng.u8(..8) {
        0 => some_bytes(rng, 0, 6),
        1 => {
            let mut d = some_bytes(rng, 5, 100);
            d[0] = rng.u8(b'a'..=b'z');
            d
        }
        2 => {
            let mut d = vec![b'E'];
            d.extend_from_slice(&id.to_be_bytes());
            d.extend_from_slice(&65535u16.to_be_bytes());
            d.extend(some_bytes(rng, 1, 1395));
            d
        }
        3 => {
            let mut d = vec![kind];
            d.extend_from_slice(&id.to_be_bytes());
            d.extend_from_slice(&rng.u16(..).to_be_bytes());
            d.extend(some_bytes(rng, 60_000, 5_502));
            d
        }
        4 => {
            // Well-formed middle chunks of a few forged frames: these fill
            // frames up to max-frame-size.
            let mut d = vec![b'C'];
            d.extend_from_slice(&rng.u16(..8).to_be_bytes());
            d.extend_from_slice(&rng.u16(1..=760).to_be_bytes());
            d.extend(random_bytes(rng, 1395));
            d
        }
        _ => {
            let mut d = vec![kind];
            d.extend_from_slice(&rng.u16(..8).to_be_bytes());
            let cid = if kind == b'S' { 0 } else { rng.u16(..300) };
            d.extend_from_slice(&cid.to_be_bytes());
            d.extend(some_bytes(rng, 1, 1400));
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
    let mut rng = Rng::with_seed(0x5EED_1234_ABCD_0001);
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
    let mut rng = Rng::with_seed(7);
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
        let n = rng.u16(..1000);
        (format!("127.1.{}.{}", n / 250, n % 250 + 1), 1024 + n)
    });
}

/// A 1-byte frame start (`S`, chunk 0) with image id `id`.
fn tiny_start(id: u16) -> Vec<u8> {
    let mut d = vec![b'S'];
    d.extend_from_slice(&id.to_be_bytes());
    d.extend_from_slice(&[0, 0, 0xFF]);
    d
}

/// A distinct source address for each `i`.
fn spoofed(i: u32) -> SocketAddr {
    SocketAddr::from(([127, (i >> 16) as u8, (i >> 8) as u8, i as u8], 5000))
}

/// µs per datagram from a sender never heard before, once `max_senders`
/// are remembered: each one makes the reassembler forget another.
fn reassembler_new_sender_us(max_senders: usize) -> f64 {
    const RUN: u32 = 100_000;
    let limits = Limits {
        max_senders,
        ..Limits::default()
    };
    let mut r: Reassembler<Option<SocketAddr>, Vec<u8>> = Reassembler::new(WireFormat::Sce, limits);
    let warm = 2 * max_senders as u32;
    for i in 0..warm {
        r.push(Some(spoofed(i)), tiny_start(i as u16), u64::from(i), None);
    }
    let start = Instant::now();
    for i in warm..warm + RUN {
        r.push(Some(spoofed(i)), tiny_start(i as u16), u64::from(i), None);
    }
    start.elapsed().as_secs_f64() * 1e6 / f64::from(RUN)
}

/// The same through the element, with buffers as udpsrc makes them (a
/// NetAddressMeta each), made before the clock starts.
fn element_new_sender_us(max_senders: usize) -> f64 {
    const RUN: usize = 25_000;
    let mut h = depay_unchecked(&[("max-senders", &max_senders.to_string())]);
    let buffer = |i: usize| {
        let a = spoofed(i as u32);
        datagram_from(tiny_start(i as u16), &a.ip().to_string(), a.port())
    };
    for i in 0..2 * max_senders {
        h.push(buffer(i)).unwrap();
    }
    let buffers: Vec<gst::Buffer> = (0..RUN).map(|i| buffer(2 * max_senders + i)).collect();
    let start = Instant::now();
    for b in buffers {
        h.push(b).unwrap();
    }
    let us = start.elapsed().as_secs_f64() * 1e6 / RUN as f64;
    assert!(stat(&h, "senders-evicted") >= RUN as u64);
    us
}

/// The tests that time the receiver take turns, so that neither slows the
/// other down.
static TIMED: Mutex<()> = Mutex::new(());

/// The fastest of three runs of `measure`, so that a moment of load on a
/// shared machine does not count.
fn best_of_three(measure: impl Fn() -> f64) -> f64 {
    (0..3).map(|_| measure()).fold(f64::INFINITY, f64::min)
}

/// Forgetting the least recently heard sender takes O(log n): a datagram
/// from a new sender costs about the same with 4,096 senders remembered as
/// with 64 (a scan of every sender cost 40 times as much in the reassembler
/// and 20 times as much through the element).
#[test]
fn a_new_sender_costs_about_the_same_at_64_and_4096_senders() {
    init();
    let _turn = TIMED.lock().unwrap_or_else(|e| e.into_inner());
    let reassembler = [64, 4096].map(|n| best_of_three(|| reassembler_new_sender_us(n)));
    let element = [64, 4096].map(|n| best_of_three(|| element_new_sender_us(n)));
    eprintln!(
        "µs per datagram from a new sender at max-senders 64 and 4096: \
         reassembler {reassembler:.2?}, element {element:.2?}"
    );
    assert!(
        reassembler[1] < 4.0 * reassembler[0],
        "reassembler: {reassembler:.2?} µs at 64 and 4096 senders"
    );
    assert!(
        element[1] < 4.0 * element[0],
        "element: {element:.2?} µs at 64 and 4096 senders"
    );
}

/// Frames sent from one socket, `FRAME_MS` apart, for the sender-flood test.
const REAL_FRAMES: usize = 150;
const FRAME_MS: u64 = 20;
/// Datagrams a second from new senders: ten times what a debug build of a
/// receiver that scanned every sender to forget one handled at 4,096 (about
/// 2,000 a second; a release build, 34,000), and well within what it
/// handles at 64.
const FLOOD_RATE: f64 = 20_000.0;

/// Sends `REAL_FRAMES` frames over UDP to a receiver with `max-senders`,
/// while a flood of 1-byte frame starts comes from a new socket (a new
/// source port: a sender never heard) each. Returns the frames that came
/// out whole, the flood datagrams sent, and the depayloader's stats.
fn real_stream_under_a_sender_flood(max_senders: u32) -> (usize, u64, gst::Structure) {
    for f in ["udpsrc", "appsink"] {
        require(f);
    }
    let (pipeline, port) = udp_receiver(&format!(
        "udpsrc name=src address=127.0.0.1 port=0 buffer-size=1048576 ! \
         udpjpegdepay name=depay max-senders={max_senders} ! \
         appsink name=sink sync=false max-buffers=0"
    ));
    let frames: Vec<Vec<u8>> = (0..REAL_FRAMES)
        .map(|i| tag_frame(&FRAMES_360P[i % FRAMES_360P.len()], &format!("real {i}")))
        .collect();
    let done = AtomicBool::new(false);
    let flood_sent = std::thread::scope(|scope| {
        let flood = scope.spawn(|| flood_new_senders(port, &done));
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let start = Instant::now();
        for (i, f) in frames.iter().enumerate() {
            let due = start + Duration::from_millis(FRAME_MS * i as u64);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            for d in Plan::new(WireFormat::Sce, f.len(), 1400)
                .unwrap()
                .datagrams(i as u16, f)
            {
                socket.send_to(&d, ("127.0.0.1", port)).unwrap();
            }
        }
        done.store(true, Ordering::Relaxed);
        flood.join().unwrap()
    });
    // What the receiver has not handled a moment after the stream ends is late.
    std::thread::sleep(Duration::from_millis(300));
    let sink = by_name_as::<gst_app::AppSink>(&pipeline, "sink");
    let mut delivered = 0;
    while let Some(s) = sink.try_pull_sample(gst::ClockTime::ZERO) {
        let got = bytes(s.buffer().unwrap());
        delivered += usize::from(frames.contains(&got));
    }
    let stats = by_name(&pipeline, "depay").property::<gst::Structure>("stats");
    (delivered, flood_sent, stats)
}

/// Sends 1-byte frame starts to `port` at `FLOOD_RATE`, each from a socket of
/// its own, until `done` (at most 10 s); returns how many.
fn flood_new_senders(port: u16, done: &AtomicBool) -> u64 {
    let start = Instant::now();
    let mut sent = 0u64;
    while !done.load(Ordering::Relaxed) && start.elapsed() < Duration::from_secs(10) {
        if sent as f64 >= start.elapsed().as_secs_f64() * FLOOD_RATE {
            std::thread::sleep(Duration::from_micros(200));
            continue;
        }
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        // A full receive queue refuses some: that is part of a flood.
        let _ = socket.send_to(&tiny_start(sent as u16), ("127.0.0.1", port));
        sent += 1;
    }
    sent
}

#[test]
fn a_flood_of_new_senders_at_4096_does_not_stop_a_real_stream() {
    let _turn = TIMED.lock().unwrap_or_else(|e| e.into_inner());
    // Every flood datagram comes from a source port never heard, so each
    // one makes the receiver forget its least recently heard sender. That
    // must cost about as much with 4,096 senders remembered as with 64.
    let (at_64, sent_64, stats_64) = real_stream_under_a_sender_flood(64);
    let (at_4096, sent_4096, stats_4096) = real_stream_under_a_sender_flood(4096);
    eprintln!(
        "max-senders 64: {at_64} of {REAL_FRAMES} frames, {sent_64} flood datagrams, {stats_64}"
    );
    eprintln!(
        "max-senders 4096: {at_4096} of {REAL_FRAMES} frames, {sent_4096} flood datagrams, {stats_4096}"
    );
    // Within 10% of the frames sent.
    assert!(
        at_4096 + REAL_FRAMES / 10 >= at_64,
        "{at_4096} of {REAL_FRAMES} frames at 4,096 senders, {at_64} at 64"
    );
    assert!(
        at_64 >= REAL_FRAMES * 9 / 10,
        "{at_64} of {REAL_FRAMES} at 64 senders"
    );
    // And there was a flood: 3 s at FLOOD_RATE, most of it received.
    for sent in [sent_64, sent_4096] {
        assert!(sent >= 40_000, "{sent} flood datagrams sent");
    }
    let evicted = stats_64.get::<u64>("senders-evicted").unwrap();
    assert!(evicted >= 30_000, "{evicted} senders forgotten at 64");
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
    let mut rng = Rng::with_seed(11);
    for _ in 0..12_000 {
        let mut d = vec![b'C'];
        d.extend_from_slice(&rng.u16(..4).to_be_bytes());
        d.extend_from_slice(&rng.u16(1..=800).to_be_bytes());
        d.extend(random_bytes(&mut rng, 1395));
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
    let mut rng = Rng::with_seed(99);
    let start = std::time::Instant::now();
    const WARMUP: usize = 20_000;
    let mut after_warmup = 0;
    let mut done = 0;
    for i in 0..400_000 {
        if start.elapsed() > std::time::Duration::from_secs(16) {
            break;
        }
        let n = rng.u16(..5000);
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
    let mut rng = Rng::with_seed(3);
    // Random bytes.
    for _ in 0..200 {
        h.push(gst::Buffer::from_mut_slice(random_bytes(&mut rng, 4096)))
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
    // Segment lengths that point past the data: an APP0 declared 65,533
    // bytes long, cut after 3. The first good frame ends inside that
    // declared length, so it is taken for a thumbnail of the cut frame (the
    // documented cost of never emitting thumbnails); the ones that run past
    // it come out.
    assert!(good.len() < 65_533 && 2 * good.len() > 65_533);
    h.push(gst::Buffer::from_slice([
        0xFF, 0xD8, 0xFF, 0xE0, 0xFF, 0xFF, 1, 2, 3,
    ]))
    .unwrap();
    for _ in 0..3 {
        h.push(gst::Buffer::from_slice(good.clone())).unwrap();
    }
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
