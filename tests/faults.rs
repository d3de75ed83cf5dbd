// SPDX-License-Identifier: MPL-2.0
//! Real network faults between payloader and depayloader, made by the stock
//! `netsim` element: loss, delay with reordering, duplicates, in-process and
//! over UDP on 127.0.0.1.
//!
//! The oracle is exact: a probe after netsim records which datagrams got
//! through, so the test knows which frames arrived whole, and the
//! depayloader must deliver exactly those (each byte for byte, once). The
//! arithmetic (the sum over frames of (1-p)^chunks) is printed beside the
//! counts and checked loosely, to show netsim did drop at rate p.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use gst::prelude::*;
use gstudpjpeg::seal::{self, Key, Opener};
use gstudpjpeg::wire::{self, Kind, Plan, SceHeader, WireFormat};

const MTU: usize = 1400;
/// The key sealed runs share, as its hex digits.
const KEY_HEX: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

/// Reads plain headers, or opens sealed datagrams first (each probe with
/// its own opener, so that each sees every datagram once).
struct Reader(Option<Opener>);

impl Reader {
    fn new(sealed: bool) -> Reader {
        let key = || Key::from_hex(KEY_HEX).unwrap();
        let sessions = std::num::NonZeroUsize::new(4).unwrap();
        Reader(sealed.then(|| Opener::new(key(), sessions, None)))
    }

    /// The plain datagram's header, if it reads (and, sealed, opens).
    fn header(&mut self, datagram: &[u8]) -> Option<SceHeader> {
        match &mut self.0 {
            None => SceHeader::parse(datagram).ok().map(|(h, _)| h),
            Some(o) => {
                let mut copy = datagram.to_vec();
                let opened = o.open(&mut copy, seal::wall_seconds(), 0).ok()?;
                SceHeader::parse(opened.plaintext).ok().map(|(h, _)| h)
            }
        }
    }
}

/// A key file for sealed runs, and the property that names it.
fn key_property(dir: &TempDir) -> String {
    let path = dir.0.join("faults.key");
    std::fs::write(&path, KEY_HEX).unwrap();
    format!("key-file={}", path.display())
}

/// Frames 640x360 (about 36 KB, 27 datagrams each), unique.
fn frames(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| tag_frame(&FRAMES_360P[i % FRAMES_360P.len()], &format!("fault {i}")))
        .collect()
}

/// Records the (image id, chunk id) of every datagram passing `pad`, and the
/// id of each frame's first datagram in the order they pass.
#[derive(Default)]
struct Seen {
    chunks: BTreeMap<u16, BTreeSet<u16>>,
    parity: BTreeMap<u16, BTreeSet<u16>>,
}

fn record(pad: &gst::Pad, sealed: bool) -> Arc<Mutex<Seen>> {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s = seen.clone();
    let reader = Mutex::new(Reader::new(sealed));
    pad.add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
        move |_, info| {
            let mut s = s.lock().unwrap();
            let mut reader = reader.lock().unwrap();
            let mut note = |b: &gst::BufferRef| {
                let map = b.map_readable().unwrap();
                if let Some(h) = reader.header(&map) {
                    let set = if h.kind == Kind::Other(b'F') {
                        &mut s.parity
                    } else {
                        &mut s.chunks
                    };
                    set.entry(h.image_id).or_default().insert(h.chunk_id);
                }
            };
            match &info.data {
                Some(gst::PadProbeData::Buffer(b)) => note(b),
                Some(gst::PadProbeData::BufferList(l)) => l.iter().for_each(&mut note),
                _ => {}
            }
            gst::PadProbeReturn::Ok
        },
    );
    seen
}

struct Run {
    sent: Vec<Vec<u8>>,
    /// Index of each frame received, in order.
    received: Vec<usize>,
    /// Frames whose every data datagram got past netsim.
    whole: BTreeSet<usize>,
    /// Frames of which at least as many data and parity datagrams as data
    /// chunks got past netsim (parity could rebuild them).
    enough: BTreeSet<usize>,
    chunks: Vec<usize>,
    stats: gst::Structure,
}

impl Run {
    fn expected(&self, p: f64) -> (f64, f64) {
        let q: Vec<f64> = self
            .chunks
            .iter()
            .map(|&n| (1.0 - p).powi(n as i32))
            .collect();
        let mean = q.iter().sum::<f64>();
        let var = q.iter().map(|q| q * (1.0 - q)).sum::<f64>();
        (mean, var.sqrt())
    }

    fn report(&self, what: &str, p: f64) {
        let (mean, sd) = self.expected(p);
        eprintln!(
            "{what}: {} of {} frames delivered, {} arrived whole; arithmetic {mean:.1} +- {sd:.1}; {}",
            self.received.len(),
            self.sent.len(),
            self.whole.len(),
            self.stats
        );
    }
}

/// Sends `frames` at 30 fps of PTS through `udpjpegpay ! <middle> ! udpjpegdepay`
/// (or over UDP when `udp`), netsim configured by `netsim`.
fn run(frames: Vec<Vec<u8>>, netsim: &str, udp: bool, live: bool) -> Run {
    run_with(frames, "", netsim, None, udp, live)
}

/// As `run_with` in-process, sealed (both ends with one key file) or not;
/// paced at 30 fps when `live` (netsim's delays need a running clock).
fn run_sealed(frames: Vec<Vec<u8>>, pay: &str, netsim: &str, sealed: bool, live: bool) -> Run {
    let dir = TempDir::new("udpjpeg-faults-key");
    let pay = match sealed {
        true => format!("{pay} {}", key_property(&dir)),
        false => pay.to_string(),
    };
    run_with(frames, &pay, netsim, None, false, live)
}

/// Drops runs of `len` consecutive datagrams, starting one at each datagram
/// with probability `p` (a fixed pseudo-random sequence).
#[derive(Clone, Copy)]
struct Bursts {
    p: f64,
    len: usize,
}

fn run_with(
    frames: Vec<Vec<u8>>,
    pay: &str,
    netsim: &str,
    bursts: Option<Bursts>,
    udp: bool,
    live: bool,
) -> Run {
    for f in [
        "appsrc",
        "appsink",
        "netsim",
        "udpsrc",
        "udpsink",
        "clocksync",
    ] {
        require(f);
    }
    // Sealed runs pass the payloader's key-file to the depayloader; the
    // seal's 50 bytes come out of each datagram's payload.
    let key = pay.split_whitespace().find(|p| p.starts_with("key-file="));
    let sealed = key.is_some();
    let key = key.unwrap_or("");
    let mtu = if sealed { MTU - seal::OVERHEAD } else { MTU };
    let chunks: Vec<usize> = frames
        .iter()
        .map(|f| {
            if pay.contains("fec-percent") {
                Plan::with_payload(f.len(), wire::parity_payload(mtu).unwrap())
                    .unwrap()
                    .count
            } else {
                Plan::new(WireFormat::Sce, f.len(), mtu).unwrap().count
            }
        })
        .collect();
    let index: HashMap<Vec<u8>, usize> = frames
        .iter()
        .enumerate()
        .map(|(i, f)| (f.clone(), i))
        .collect();

    // Live runs are paced at 30 fps of wall time by clocksync.
    let pace = if live { "clocksync !" } else { "" };
    // Rebuilding a 1080p frame stalls this debug build's receiving thread
    // for several milliseconds, longer than a default socket buffer lasts at
    // 1080p: parity runs over UDP get a 4 MB buffer (root may force it).
    let rcvbuf = if pay.contains("fec-percent") {
        "buffer-size=4194304"
    } else {
        ""
    };
    let (sender, receiver) = if udp {
        let receiver = PipelineGuard(
            gst::parse::launch(&format!(
                "udpsrc name=udpsrc address=127.0.0.1 port=0 {rcvbuf} ! \
                     udpjpegdepay name=depay {key} ! appsink name=sink sync=false max-buffers=0"
            ))
            .unwrap(),
        );
        receiver.set_state(gst::State::Playing).unwrap();
        let port: i32 = by_name(&receiver, "udpsrc").property("port");
        let sender = PipelineGuard(
            gst::parse::launch(&format!(
                "appsrc name=src format=time caps=image/jpeg is-live={live} ! {pace} \
                 udpjpegpay name=pay mtu={MTU} {pay} ! netsim name=netsim {netsim} ! \
                 udpsink name=out host=127.0.0.1 port={port}"
            ))
            .unwrap(),
        );
        (sender, Some(receiver))
    } else {
        let sender = PipelineGuard(
            gst::parse::launch(&format!(
                "appsrc name=src format=time caps=image/jpeg is-live={live} ! {pace} \
                 udpjpegpay name=pay mtu={MTU} {pay} ! netsim name=netsim {netsim} ! \
                 udpjpegdepay name=depay {key} ! appsink name=sink sync=false max-buffers=0"
            ))
            .unwrap(),
        );
        (sender, None)
    };
    let rx = receiver.as_ref().map_or(&*sender, |r| &**r).clone();
    let seen = record(
        &by_name(&sender, "netsim").static_pad("src").unwrap(),
        sealed,
    );
    // Ids start at a random value: learn the first from the payloader.
    let first_id = Arc::new(Mutex::new(None::<u16>));
    let f = first_id.clone();
    let reader = Mutex::new(Reader::new(sealed));
    by_name(&sender, "pay")
        .static_pad("src")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER_LIST, move |_, info| {
            if let Some(gst::PadProbeData::BufferList(l)) = &info.data {
                let map = l.get(0).unwrap().map_readable().unwrap();
                let h = reader.lock().unwrap().header(&map).unwrap();
                f.lock().unwrap().get_or_insert(h.image_id);
            }
            gst::PadProbeReturn::Ok
        });

    if let Some(b) = bursts {
        // (rng, datagrams still to drop); datagrams are taken out of the
        // payloader's buffer lists, after the first-id probe has run.
        let state = Mutex::new((fastrand::Rng::with_seed(0x2545_F491_4F6C_DD1D), 0usize));
        by_name(&sender, "pay")
            .static_pad("src")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER_LIST, move |_, info| {
                let Some(gst::PadProbeData::BufferList(list)) = &mut info.data else {
                    return gst::PadProbeReturn::Ok;
                };
                let mut st = state.lock().unwrap();
                let (rng, dropping) = &mut *st;
                list.make_mut().foreach_mut(|buffer, _| {
                    if *dropping == 0 && rng.f64() < b.p {
                        *dropping = b.len;
                    }
                    if *dropping > 0 {
                        *dropping -= 1;
                        std::ops::ControlFlow::Continue(None)
                    } else {
                        std::ops::ControlFlow::Continue(Some(buffer))
                    }
                });
                if list.is_empty() {
                    gst::PadProbeReturn::Drop
                } else {
                    gst::PadProbeReturn::Ok
                }
            });
    }
    let appsrc = by_name_as::<gst_app::AppSrc>(&sender, "src");
    sender.set_state(gst::State::Playing).unwrap();
    for (i, f) in frames.iter().enumerate() {
        let mut b = gst::Buffer::from_slice(f.clone());
        b.get_mut()
            .unwrap()
            .set_pts(gst::ClockTime::from_nseconds(i as u64 * 1_000_000_000 / 30));
        appsrc.push_buffer(b).unwrap();
    }
    // netsim lets EOS overtake the buffers it still delays: wait for the
    // frames rather than for EOS.
    let sink = by_name(&rx, "sink").downcast::<gst_app::AppSink>().unwrap();
    let mut received = Vec::new();
    let mut quiet_since = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        match sink.try_pull_sample(gst::ClockTime::from_mseconds(50)) {
            Some(sample) => {
                let data = bytes(sample.buffer().unwrap());
                let i = *index
                    .get(&data)
                    .expect("every frame delivered is byte for byte a frame sent");
                received.push(i);
                quiet_since = Instant::now();
            }
            None => {
                let all_sent = appsrc.current_level_buffers() == 0;
                if all_sent && quiet_since.elapsed() > Duration::from_millis(1500) {
                    break;
                }
            }
        }
    }
    // Then EOS, which makes the depayloader count what it still holds as lost.
    appsrc.end_of_stream().unwrap();
    if !udp {
        wait_eos(&sender, "sender", 10);
    }
    for p in [Some(&*sender), receiver.as_deref()].into_iter().flatten() {
        if let Some(msg) = p.bus().unwrap().pop_filtered(&[gst::MessageType::Error]) {
            panic!("pipeline error: {msg:?}");
        }
    }
    let first = first_id.lock().unwrap().expect("the payloader sent frames");
    let seen = seen.lock().unwrap();
    let whole: BTreeSet<usize> = (0..frames.len())
        .filter(|&i| {
            let id = first.wrapping_add(i as u16);
            seen.chunks.get(&id).map_or(0, BTreeSet::len) == chunks[i]
        })
        .collect();
    let enough: BTreeSet<usize> = (0..frames.len())
        .filter(|&i| {
            let id = first.wrapping_add(i as u16);
            let data = seen.chunks.get(&id).map_or(0, BTreeSet::len);
            let parity = seen.parity.get(&id).map_or(0, BTreeSet::len);
            data + parity >= chunks[i]
        })
        .collect();
    let stats = by_name(&rx, "depay").property::<gst::Structure>("stats");
    Run {
        sent: frames,
        received,
        whole,
        enough,
        chunks,
        stats,
    }
}

fn assert_in_order_once(r: &Run) {
    assert!(
        r.received.windows(2).all(|w| w[0] < w[1]),
        "frames come out once each, in order: {:?}",
        r.received
    );
}

fn assert_loss_matches(r: &Run, p: f64) {
    assert_in_order_once(r);
    let received: BTreeSet<usize> = r.received.iter().copied().collect();
    // Exactly the frames that arrived whole: a frame is lost only when it lost
    // a datagram, never to bookkeeping.
    assert_eq!(
        received, r.whole,
        "delivered frames = frames that arrived whole"
    );
    let (mean, sd) = r.expected(p);
    let got = r.whole.len() as f64;
    assert!(
        (got - mean).abs() <= 5.0 * sd + 2.0,
        "netsim's loss matches p={p}: {got} whole frames, arithmetic {mean:.1} +- {sd:.1}"
    );
    let lost =
        r.stats.get::<u64>("frames-lost").unwrap() + r.stats.get::<u64>("ids-skipped").unwrap();
    assert_eq!(
        r.received.len() as u64 + lost,
        r.sent.len() as u64,
        "every frame is either delivered or counted lost: {}",
        r.stats
    );
}

#[test]
fn loss_1_percent_in_process() {
    let r = run(frames(300), "drop-probability=0.01", false, false);
    r.report("1% loss, in-process", 0.01);
    assert_loss_matches(&r, 0.01);
}

#[test]
fn loss_5_percent_in_process() {
    let r = run(frames(300), "drop-probability=0.05", false, false);
    r.report("5% loss, in-process", 0.05);
    assert_loss_matches(&r, 0.05);
}

#[test]
fn duplicates_10_percent_every_frame_once() {
    let r = run(frames(150), "duplicate-probability=0.1", false, false);
    r.report("10% duplicates, in-process", 0.0);
    assert_in_order_once(&r);
    assert_eq!(r.received, (0..150).collect::<Vec<_>>());
    assert!(r.stats.get::<u64>("chunks-duplicate").unwrap() > 0);
    assert_eq!(r.stats.get::<u64>("frames-lost").unwrap(), 0);
}

#[test]
fn delay_and_reorder_20_percent_at_30_fps() {
    let r = run(
        frames(120),
        "delay-probability=0.2 min-delay=1 max-delay=3 allow-reordering=true",
        false,
        true,
    );
    r.report("20% delayed 1-3 ms, reordered, in-process", 0.0);
    assert_in_order_once(&r);
    assert!(r.received.len() * 100 >= 120 * 99, "{}", r.stats);
    assert!(
        r.stats.get::<u64>("max-reorder").unwrap() > 0,
        "netsim did reorder: {}",
        r.stats
    );
}

/// Over UDP the kernel may drop a datagram of its own on a busy machine, so
/// the delivered frames are the whole ones, less at most 1% and one.
fn assert_udp_loss_matches(r: &Run) {
    assert_in_order_once(r);
    let received: BTreeSet<usize> = r.received.iter().copied().collect();
    assert!(received.is_subset(&r.whole), "only whole frames come out");
    assert!(
        r.whole.len() - received.len() <= r.whole.len() / 100 + 1,
        "{} whole, {} delivered: {}",
        r.whole.len(),
        received.len(),
        r.stats
    );
}

#[test]
fn loss_1_percent_over_udp_at_30_fps() {
    let r = run(frames(150), "drop-probability=0.01", true, true);
    r.report("1% loss over UDP", 0.01);
    assert_udp_loss_matches(&r);
}

#[test]
fn loss_5_percent_over_udp_at_30_fps() {
    let r = run(frames(150), "drop-probability=0.05", true, true);
    r.report("5% loss over UDP", 0.05);
    assert_udp_loss_matches(&r);
}

#[test]
fn delay_reorder_and_duplicates_over_udp_at_30_fps() {
    let r = run(
        frames(120),
        "delay-probability=0.2 min-delay=1 max-delay=3 allow-reordering=true duplicate-probability=0.1",
        true,
        true,
    );
    r.report("20% delayed, 10% duplicated, over UDP", 0.0);
    assert_in_order_once(&r);
    assert!(r.received.len() * 100 >= 120 * 99, "{}", r.stats);
}

/// 1080p frames of about 250 KB (180 datagrams at mtu 1400).
fn frames_1080p(n: usize) -> Vec<Vec<u8>> {
    let pictures = jpeg_frames(8, 1920, 1080);
    (0..n)
        .map(|i| tag_frame(&pictures[i % pictures.len()], &format!("fec {i}")))
        .collect()
}

/// Parity only ever adds frames: every frame that arrived whole comes out,
/// every frame that comes out had at least K of its K + m chunks arrive,
/// and the rest are the frames parity rebuilt.
fn assert_parity_oracle(r: &Run) {
    assert_in_order_once(r);
    let received: BTreeSet<usize> = r.received.iter().copied().collect();
    assert!(r.whole.is_subset(&received), "whole frames all come out");
    assert!(
        received.is_subset(&r.enough),
        "a frame comes out only when K chunks arrived"
    );
    let recovered = r.stats.get::<u64>("frames-recovered").unwrap() as usize;
    assert_eq!(received.len() - r.whole.len(), recovered, "{}", r.stats);
}

#[test]
fn parity_5_percent_at_1_percent_loss_delivers_99_percent() {
    let r = run_with(
        frames_1080p(150),
        "fec-percent=5",
        "drop-probability=0.01",
        None,
        false,
        false,
    );
    r.report("1080p, 1% loss, 5% parity", 0.01);
    assert_parity_oracle(&r);
    assert!(r.received.len() * 100 >= 150 * 99, "{}", r.stats);
}

#[test]
fn parity_20_percent_at_5_percent_loss_delivers_99_percent() {
    let r = run_with(
        frames_1080p(150),
        "fec-percent=20",
        "drop-probability=0.05",
        None,
        false,
        false,
    );
    r.report("1080p, 5% loss, 20% parity", 0.05);
    assert_parity_oracle(&r);
    assert!(r.received.len() * 100 >= 150 * 99, "{}", r.stats);
}

#[test]
fn parity_20_percent_survives_bursts_of_10() {
    // A burst of 10 consecutive datagrams every 400 datagrams on average
    // (2.5% loss, all of it in bursts): about one burst every other frame.
    let bursts = Bursts { p: 0.0025, len: 10 };
    let r = run_with(
        frames_1080p(150),
        "fec-percent=20",
        "",
        Some(bursts),
        false,
        false,
    );
    r.report("1080p, bursts of 10, 20% parity", 0.0);
    assert_parity_oracle(&r);
    assert!(r.received.len() * 100 >= 150 * 99, "{}", r.stats);
}

#[test]
fn parity_over_udp_at_30_fps() {
    let r = run_with(
        frames_1080p(90),
        "fec-percent=10",
        "drop-probability=0.01",
        None,
        true,
        true,
    );
    r.report("1080p over UDP, 1% loss, 10% parity", 0.01);
    assert_in_order_once(&r);
    let received: BTreeSet<usize> = r.received.iter().copied().collect();
    assert!(received.is_subset(&r.enough));
    assert!(r.received.len() * 100 >= 90 * 97, "{}", r.stats);
}

/// Loss, reordering and parity on sealed streams as on plain ones: the same
/// netsim setups side by side, each checked against its own arithmetic
/// (a sealed frame has a few more datagrams: 1,345 payload bytes each, not
/// 1,395), printed as a table with `--nocapture`.
#[test]
fn sealed_streams_meet_loss_reordering_and_parity_as_plain_ones() {
    let reorder = "delay-probability=0.2 min-delay=1 max-delay=3 allow-reordering=true";
    let setups: [(&str, &str, &str, f64); 3] = [
        ("5% loss", "", "drop-probability=0.05", 0.05),
        ("20% delayed 1-3 ms, reordered", "", reorder, 0.0),
        (
            "5% loss, 20% parity",
            "fec-percent=20",
            "drop-probability=0.05",
            0.05,
        ),
    ];
    eprintln!(
        "| setup | stream | datagrams/frame | delivered | arrived whole | arithmetic | recovered |"
    );
    for (what, pay, netsim, p) in setups {
        for sealed in [false, true] {
            let live = netsim == reorder;
            let r = run_sealed(frames(120), pay, netsim, sealed, live);
            let (mean, sd) = r.expected(p);
            let per_frame = r.chunks.iter().sum::<usize>() as f64 / r.chunks.len() as f64;
            eprintln!(
                "| {what} | {} | {per_frame:.1} | {} / 120 | {} | {mean:.1} +- {sd:.1} | {} |",
                if sealed { "sealed" } else { "plain" },
                r.received.len(),
                r.whole.len(),
                r.stats.get::<u64>("frames-recovered").unwrap()
            );
            if live {
                assert_in_order_once(&r);
                assert!(r.received.len() * 100 >= 120 * 99, "{what}: {}", r.stats);
                assert!(
                    r.stats.get::<u64>("max-reorder").unwrap() > 0,
                    "{}",
                    r.stats
                );
            } else if pay.is_empty() {
                assert_loss_matches(&r, p);
            } else {
                assert_parity_oracle(&r);
                assert!(r.received.len() * 100 >= 120 * 97, "{what}: {}", r.stats);
            }
            let refused = r.stats.get::<u64>("datagrams-unauthenticated").unwrap();
            assert_eq!(refused, 0, "{what}: netsim never changes a datagram");
        }
    }
}
