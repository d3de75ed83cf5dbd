//! Benchmark of `udpjpegpay`/`udpjpegdepay` and `mjpegsplit` against the
//! stock RTP pair and `jpegparse`, plus floors (plain UDP, memcpy, memchr)
//! and parity (`fec-percent`) under loss.
//!
//! ```text
//! cargo run --release --example bench             # full run, ~5 minutes
//! cargo run --release --example bench -- --quick  # fewer rounds, shorter
//! cargo run --release --example bench -- --only 5 # one section (1 to 5)
//! ```
//!
//! `--only N` measures section N alone (3 with 3b, 5 with 5b) and replaces
//! it in `docs/benchmark.md`, keeping the other sections.
//!
//! All JPEG frames are generated up front and held in memory; they are fed
//! with appsrc so no file reading is measured. Throughput figures are medians
//! over several rounds; in each round every case runs once, one after the
//! other (never two measurements at once). Pipelines are built and brought
//! to READY outside the timed region; in-memory cases queue every buffer in
//! appsrc before the clock starts (no pushing thread competes for the two
//! CPUs); the clock runs from PLAYING to EOS.
//!
//! The table is printed and written as Markdown to `docs/benchmark.md`.
//!
//! For profiling, `BENCH_PROFILE=ours360|rtp360|ours1080|rtp1080` runs only
//! one long pay+depay case (mtu 1400), e.g. under `perf record -g`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gstudpjpeg::wire::{self, Plan, WireFormat};

const MB: f64 = 1e6;
/// Udpsrc receive buffer of the "4 MB" UDP cases (capped at
/// net.core.rmem_max unless run as root).
const BIG_RCVBUF: u32 = 4_194_304;
const RTP_CAPS: &str =
    "application/x-rtp,media=video,encoding-name=JPEG,clock-rate=90000,payload=26";
/// Distinct frames generated per size; runs cycle through them.
const DISTINCT_FRAMES: usize = 60;

struct Config {
    quick: bool,
    /// Rounds of the in-memory measurements (parts 1, 2 and 4).
    rounds: usize,
    /// Rounds of the UDP loss measurements (part 3).
    udp_rounds: usize,
    /// JPEG bytes pushed per pay+depay case and round.
    bytes_per_round: usize,
    /// Size of the concatenated MJPEG stream of part 2.
    stream_bytes: usize,
    /// Seconds of video per UDP loss case.
    udp_secs: f64,
    /// Seconds of video per step of the loss-free frame rate search.
    search_secs: f64,
    /// 1080p frames per UDP floor case.
    floor_frames: usize,
    /// 1080p frames per loss case of part 5.
    parity_frames: usize,
    /// 1080p frames per cost case and round of part 5.
    parity_cost_frames: usize,
}

impl Config {
    fn new(quick: bool) -> Self {
        if quick {
            Config {
                quick,
                rounds: 3,
                udp_rounds: 1,
                bytes_per_round: 40_000_000,
                stream_bytes: 20_000_000,
                udp_secs: 2.0,
                search_secs: 1.5,
                floor_frames: 300,
                parity_frames: 150,
                parity_cost_frames: 120,
            }
        } else {
            Config {
                quick,
                rounds: 5,
                udp_rounds: 2,
                bytes_per_round: 150_000_000,
                stream_bytes: 60_000_000,
                udp_secs: 4.0,
                search_secs: 3.0,
                floor_frames: 1000,
                parity_frames: 300,
                parity_cost_frames: 300,
            }
        }
    }
}

// ---------------------------------------------------------------- helpers

fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn element<T: IsA<gst::Element>>(pipeline: &gst::Pipeline, name: &str) -> T {
    pipeline
        .by_name(name)
        .unwrap_or_else(|| panic!("no element {name}"))
        .downcast::<T>()
        .unwrap_or_else(|_| panic!("{name} has an unexpected type"))
}

fn launch(desc: &str) -> gst::Pipeline {
    gst::parse::launch(desc)
        .unwrap_or_else(|e| panic!("cannot build `{desc}`: {e}"))
        .downcast::<gst::Pipeline>()
        .expect("a pipeline")
}

/// Buffers and bytes seen on a pad (buffer lists counted item by item).
#[derive(Default)]
struct Counter {
    buffers: AtomicU64,
    bytes: AtomicU64,
}

impl Counter {
    fn buffers(&self) -> u64 {
        self.buffers.load(Ordering::Relaxed)
    }
    fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

fn count_at(pipeline: &gst::Pipeline, name: &str) -> Arc<Counter> {
    let pad = element::<gst::Element>(pipeline, name)
        .static_pad("sink")
        .expect("sink pad");
    let counter = Arc::new(Counter::default());
    let c = counter.clone();
    pad.add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
        move |_, info| {
            match &info.data {
                Some(gst::PadProbeData::Buffer(b)) => {
                    c.buffers.fetch_add(1, Ordering::Relaxed);
                    c.bytes.fetch_add(b.size() as u64, Ordering::Relaxed);
                }
                Some(gst::PadProbeData::BufferList(l)) => {
                    c.buffers.fetch_add(l.len() as u64, Ordering::Relaxed);
                    c.bytes
                        .fetch_add(l.iter().map(|b| b.size() as u64).sum(), Ordering::Relaxed);
                }
                _ => {}
            }
            gst::PadProbeReturn::Ok
        },
    );
    counter
}

fn set_state(pipeline: &gst::Pipeline, state: gst::State) {
    pipeline
        .set_state(state)
        .unwrap_or_else(|e| panic!("cannot set {state:?}: {e}"));
    if state <= gst::State::Ready {
        let _ = pipeline.state(gst::ClockTime::from_seconds(10));
    }
}

/// Waits for EOS; panics on an error message; recalculates latency when
/// asked (udpjpegpay posts a latency message when pacing adds latency).
fn wait_eos(pipeline: &gst::Pipeline, timeout: Duration) {
    if let Err(e) = run_to_eos(pipeline, timeout) {
        panic!("{e}");
    }
}

/// Waits for EOS; returns the first error posted instead, if any.
fn run_to_eos(pipeline: &gst::Pipeline, timeout: Duration) -> Result<(), String> {
    let bus = pipeline.bus().unwrap();
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            panic!("no EOS within {timeout:?}");
        }
        let Some(msg) = bus.timed_pop_filtered(
            gst::ClockTime::from_nseconds(left.as_nanos() as u64),
            &[
                gst::MessageType::Eos,
                gst::MessageType::Error,
                gst::MessageType::Latency,
            ],
        ) else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Eos(_) => return Ok(()),
            gst::MessageView::Latency(_) => {
                let _ = pipeline.recalculate_latency();
            }
            gst::MessageView::Error(e) => {
                return Err(format!(
                    "error from {:?}: {} ({:?})",
                    msg.src().map(|s| s.path_string()),
                    e.error(),
                    e.debug()
                ));
            }
            _ => {}
        }
    }
}

/// Panics if an error was posted (for pipelines that never see EOS).
fn check_no_error(pipeline: &gst::Pipeline) {
    let bus = pipeline.bus().unwrap();
    while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
        if let gst::MessageView::Error(e) = msg.view() {
            panic!(
                "error from {:?}: {} ({:?})",
                msg.src().map(|s| s.path_string()),
                e.error(),
                e.debug()
            );
        }
    }
}

/// A shallow copy of `frame` (memory shared) with its PTS set.
fn stamped(frame: &gst::Buffer, pts: gst::ClockTime) -> gst::Buffer {
    let mut b = frame.copy();
    b.get_mut().unwrap().set_pts(pts);
    b
}

fn frame_pts(i: usize, fps: u32) -> gst::ClockTime {
    gst::ClockTime::from_nseconds(i as u64 * 1_000_000_000 / u64::from(fps))
}

fn require(factories: &[&str]) {
    let missing: Vec<&str> = factories
        .iter()
        .copied()
        .filter(|f| gst::ElementFactory::find(f).is_none())
        .collect();
    if !missing.is_empty() {
        eprintln!("missing GStreamer elements: {}", missing.join(", "));
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------- frames

struct FrameSet {
    label: &'static str,
    width: u32,
    height: u32,
    quality: u32,
    frames: Vec<gst::Buffer>,
}

impl FrameSet {
    fn mean_size(&self) -> f64 {
        self.frames.iter().map(|f| f.size() as f64).sum::<f64>() / self.frames.len() as f64
    }
    fn caps(&self) -> gst::Caps {
        gst::Caps::builder("image/jpeg")
            .field("width", self.width as i32)
            .field("height", self.height as i32)
            .field("framerate", gst::Fraction::new(30, 1))
            .build()
    }
    fn bytes(&self, i: usize) -> Vec<u8> {
        self.frames[i % self.frames.len()]
            .map_readable()
            .unwrap()
            .to_vec()
    }
}

/// JPEG frames of a moving pinwheel, I420 (4:2:0) so rtpjpegpay takes them.
fn generate(label: &'static str, width: u32, height: u32, quality: u32) -> FrameSet {
    let pipeline = launch(&format!(
        "videotestsrc pattern=pinwheel horizontal-speed=3 num-buffers={DISTINCT_FRAMES} \
         ! video/x-raw,format=I420,width={width},height={height},framerate=30/1 \
         ! jpegenc quality={quality} ! appsink name=sink sync=false"
    ));
    let sink: gst_app::AppSink = element(&pipeline, "sink");
    set_state(&pipeline, gst::State::Playing);
    let mut frames = Vec::new();
    while let Ok(sample) = sink.pull_sample() {
        let map = sample.buffer().unwrap().map_readable().unwrap();
        frames.push(gst::Buffer::from_mut_slice(map.to_vec()));
    }
    set_state(&pipeline, gst::State::Null);
    assert_eq!(frames.len(), DISTINCT_FRAMES, "jpegenc made every frame");
    FrameSet {
        label,
        width,
        height,
        quality,
        frames,
    }
}

/// Queues every buffer and the EOS in `src` (max-bytes=0, still READY)
/// before the clock starts, so that no pushing thread competes with the
/// streaming thread for the CPUs while it runs: the timed part is appsrc's
/// own streaming thread through the elements measured. The buffers share
/// the frames' memory; nothing is copied.
fn queue_all(src: &gst_app::AppSrc, buffers: impl IntoIterator<Item = gst::Buffer>) {
    for b in buffers {
        src.push_buffer(b).expect("queue a buffer in appsrc");
    }
    src.end_of_stream().expect("queue the EOS in appsrc");
}

// ------------------------------------------------- part 1: pay + depay

#[derive(Clone, Copy, PartialEq)]
enum Pair {
    Ours,
    Rtp,
}

struct Run {
    secs: f64,
    frames_in: usize,
    bytes_in: u64,
    frames_out: u64,
    bytes_out: u64,
}

/// `appsrc ! pay ! depay ! fakesink` in memory, `count` frames, no pacing.
fn pay_depay(pair: Pair, set: &FrameSet, mtu: u32, count: usize) -> Run {
    let chain = match pair {
        Pair::Ours => format!("udpjpegpay burst-size=0 mtu={mtu} ! udpjpegdepay"),
        Pair::Rtp => format!("rtpjpegpay mtu={mtu} ! rtpjpegdepay"),
    };
    let pipeline = launch(&format!(
        "appsrc name=src format=time max-bytes=0 ! {chain} \
         ! fakesink name=sink sync=false enable-last-sample=false"
    ));
    let src: gst_app::AppSrc = element(&pipeline, "src");
    src.set_caps(Some(&set.caps()));
    let sink = count_at(&pipeline, "sink");
    set_state(&pipeline, gst::State::Ready);

    let mut bytes_in = 0u64;
    queue_all(
        &src,
        (0..count).map(|i| {
            let frame = &set.frames[i % set.frames.len()];
            bytes_in += frame.size() as u64;
            stamped(frame, frame_pts(i, 30))
        }),
    );
    let start = Instant::now();
    set_state(&pipeline, gst::State::Playing);
    wait_eos(&pipeline, Duration::from_secs(300));
    let secs = start.elapsed().as_secs_f64();
    set_state(&pipeline, gst::State::Null);
    Run {
        secs,
        frames_in: count,
        bytes_in,
        frames_out: sink.buffers(),
        bytes_out: sink.bytes(),
    }
}

// ------------------------------------------------- part 2: splitters

/// The pass-through "splitter" whose sink pad counts the 0xFF bytes of each
/// buffer: the appsrc harness plus a memchr, the floor of any splitter fed
/// this way.
const MEMCHR_PROBE: &str = "identity name=probe";

/// `appsrc ! splitter ! fakesink` over the stream cut in `chunk`-byte buffers.
fn split(splitter: &str, chunks: &[gst::Buffer]) -> (f64, u64) {
    split_or_error(splitter, chunks).unwrap_or_else(|e| panic!("{e}"))
}

/// [`split`], or the error the splitter posted.
fn split_or_error(splitter: &str, chunks: &[gst::Buffer]) -> Result<(f64, u64), String> {
    let pipeline = launch(&format!(
        "appsrc name=src format=time max-bytes=0 ! {splitter} \
         ! fakesink name=sink sync=false enable-last-sample=false"
    ));
    let src: gst_app::AppSrc = element(&pipeline, "src");
    src.set_caps(Some(&gst::Caps::new_empty_simple("image/jpeg")));
    let sink = count_at(&pipeline, "sink");
    if splitter == MEMCHR_PROBE {
        // Every buffer read once, as a splitter must: memchr for 0xFF.
        element::<gst::Element>(&pipeline, "sink")
            .static_pad("sink")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, |_, info| {
                if let Some(gst::PadProbeData::Buffer(b)) = &info.data {
                    let map = b.map_readable().unwrap();
                    std::hint::black_box(memchr::memchr_iter(0xFF, &map).count());
                }
                gst::PadProbeReturn::Ok
            });
    }
    set_state(&pipeline, gst::State::Ready);

    queue_all(&src, chunks.iter().cloned());
    let start = Instant::now();
    set_state(&pipeline, gst::State::Playing);
    let done = run_to_eos(&pipeline, Duration::from_secs(300));
    let secs = start.elapsed().as_secs_f64();
    set_state(&pipeline, gst::State::Null);
    done.map(|()| (secs, sink.buffers()))
}

/// Section 2b: the crafted stream of nested frame candidates (8 MB, then 30
/// frames) against an ordinary stream of as many bytes, in 4 KB buffers.
fn nested_section(cfg: &Config, hd: &FrameSet) -> Section {
    const TAIL: usize = 30;
    let tail: Vec<u8> = (0..TAIL).flat_map(|i| hd.bytes(i)).collect();
    let crafted = [gstudpjpeg::scanner::crafted::nested_candidates(128), tail].concat();
    let mut ordinary = Vec::with_capacity(crafted.len() + 300_000);
    let mut ordinary_frames = 0;
    while ordinary.len() < crafted.len() {
        ordinary.extend_from_slice(&hd.bytes(ordinary_frames));
        ordinary_frames += 1;
    }
    let in_4k = |s: &[u8]| -> Vec<gst::Buffer> {
        s.chunks(4096)
            .map(|c| gst::Buffer::from_slice(c.to_vec()))
            .collect()
    };
    let (crafted_in, ordinary_in) = (in_4k(&crafted), in_4k(&ordinary));
    let mut sec = Section::new(
        "2b. Nested frame candidates",
        &format!(
            "`appsrc ! SPLITTER ! fakesink` in 4 KB buffers, medians of {} rounds: an ordinary \
             stream of {ordinary_frames} 1920x1080 frames ({:.1} MB), and as many bytes of a \
             crafted stream: one SOI, then 128 COM segments packed with 6-byte `FF D8 FF E0 len` \
             gadgets whose APP0 segments end where the next COM starts (every gadget is a frame \
             candidate that walks to the end of the stream), then {TAIL} 1920x1080 frames, \
             which must come out.",
            cfg.rounds,
            ordinary.len() as f64 / MB
        ),
        &[
            "splitter",
            "ordinary ms",
            "frames out",
            "crafted ms",
            "frames out",
            "crafted / ordinary",
        ],
    );
    for splitter in ["mjpegsplit", "jpegparse"] {
        let (o, o_out) = timed_splits(cfg, splitter, &ordinary_in);
        let (c, c_out) = timed_splits(cfg, splitter, &crafted_in);
        let cell = |r: &Result<f64, String>| match r {
            Ok(ms) => f0(*ms),
            // "error from SRC: MESSAGE (DEBUG)": the message.
            Err(e) => {
                let head = e.split(" (").next().unwrap_or(e);
                format!("stops: {}", head.rsplit("): ").next().unwrap_or(head))
            }
        };
        let crafted_ratio = match (&c, &o) {
            (Ok(c), Ok(o)) => ratio(*c, *o),
            _ => "-".into(),
        };
        let frames = |r: &Result<f64, String>, out: u64, of: usize| match r {
            Ok(_) => format!("{out} of {of}"),
            Err(_) => "-".into(),
        };
        sec.row(vec![
            splitter.to_string(),
            cell(&o),
            frames(&o, o_out, ordinary_frames),
            cell(&c),
            frames(&c, c_out, TAIL),
            crafted_ratio,
        ]);
    }
    sec
}

/// The median milliseconds of `cfg.rounds` runs of `splitter` over
/// `chunks` and the frames out of the last, or the first error.
fn timed_splits(
    cfg: &Config,
    splitter: &str,
    chunks: &[gst::Buffer],
) -> (Result<f64, String>, u64) {
    let mut ms = Vec::new();
    let mut out = 0;
    for _ in 0..cfg.rounds {
        match split_or_error(splitter, chunks) {
            Ok((secs, frames)) => {
                ms.push(secs * 1000.0);
                out = frames;
            }
            Err(e) => return (Err(e), out),
        }
    }
    (Ok(median(&ms)), out)
}

// ------------------------------------------------- part 3: UDP loss

#[derive(Clone, Copy, PartialEq)]
enum Sender {
    OursPaced,
    OursUnpaced,
    Rtp,
    /// Ours paced, with the clock wait moved before the payloader.
    OursPacedSyncFirst,
}

impl Sender {
    fn label(self) -> &'static str {
        match self {
            Sender::OursPaced => "ours paced (defaults)",
            Sender::OursUnpaced => "ours unpaced (burst-size=0)",
            Sender::Rtp => "RTP pair",
            Sender::OursPacedSyncFirst => "ours paced, clock wait before udpjpegpay",
        }
    }
    /// Everything between appsrc and udpsink host=... port=...
    fn sender(self) -> &'static str {
        match self {
            Sender::OursPaced => "udpjpegpay name=pay ! udpsink",
            Sender::OursUnpaced => "udpjpegpay name=pay burst-size=0 ! udpsink",
            Sender::Rtp => "rtpjpegpay name=pay ! udpsink",
            Sender::OursPacedSyncFirst => {
                "identity sync=true ! udpjpegpay name=pay ! udpsink sync=false"
            }
        }
    }
    fn receiver(self) -> String {
        match self {
            Sender::Rtp => format!("caps=\"{RTP_CAPS}\" ! rtpjpegdepay"),
            _ => "! udpjpegdepay".to_string(),
        }
    }
}

/// A receiver on 127.0.0.1 (ephemeral port) that counts what reaches its sink.
fn receiver(tail: &str, buffer_size: Option<u32>) -> (gst::Pipeline, Arc<Counter>, i32) {
    let buf = buffer_size.map_or(String::new(), |b| format!(" buffer-size={b}"));
    let pipeline = launch(&format!(
        "udpsrc name=usrc address=127.0.0.1 port=0{buf} {tail} \
         ! fakesink name=sink sync=false enable-last-sample=false"
    ));
    let counter = count_at(&pipeline, "sink");
    set_state(&pipeline, gst::State::Playing);
    let port: i32 = element::<gst::Element>(&pipeline, "usrc").property("port");
    assert_ne!(port, 0, "udpsrc bound a port");
    (pipeline, counter, port)
}

struct Loss {
    sent: u64,
    received: u64,
    /// Median gap between consecutive bursts of a frame reaching udpsink,
    /// from the second burst on (pacing: burst-interval).
    burst_gap: Duration,
}

impl Loss {
    fn percent(&self) -> f64 {
        100.0 * (1.0 - self.received as f64 / self.sent as f64)
    }
}

/// Live 1080p video at `fps` for `secs` over real UDP on 127.0.0.1.
fn udp_loss(sender: Sender, set: &FrameSet, fps: u32, secs: f64, rcvbuf: Option<u32>) -> Loss {
    let (rx, frames_rx, port) = receiver(&sender.receiver(), rcvbuf);
    let tx = launch(&format!(
        "appsrc name=src is-live=true format=time block=true max-bytes=8000000 \
         ! {} name=usink host=127.0.0.1 port={port}",
        sender.sender()
    ));
    let src: gst_app::AppSrc = element(&tx, "src");
    src.set_caps(Some(&set.caps()));
    // When each buffer or list reaches udpsink, by PTS.
    let pushes = Arc::new(Mutex::new(Vec::<(Option<gst::ClockTime>, Instant)>::new()));
    let p = pushes.clone();
    element::<gst::Element>(&tx, "usink")
        .static_pad("sink")
        .unwrap()
        .add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
            move |_, info| {
                let pts = match &info.data {
                    Some(gst::PadProbeData::Buffer(b)) => b.pts(),
                    Some(gst::PadProbeData::BufferList(l)) => l.get(0).and_then(|b| b.pts()),
                    _ => None,
                };
                p.lock().unwrap().push((pts, Instant::now()));
                gst::PadProbeReturn::Ok
            },
        );
    set_state(&tx, gst::State::Ready);

    let count = (secs * f64::from(fps)).round() as usize;
    set_state(&tx, gst::State::Playing);
    for i in 0..count {
        let frame = &set.frames[i % set.frames.len()];
        src.push_buffer(stamped(frame, frame_pts(i, fps)))
            .expect("push");
    }
    src.end_of_stream().expect("eos");
    wait_eos(&tx, Duration::from_secs_f64(secs * 3.0 + 30.0));
    if sender != Sender::Rtp {
        let stats: gst::Structure = element::<gst::Element>(&tx, "pay").property("stats");
        let sent = stats.get::<u64>("frames-sent").unwrap();
        assert_eq!(sent, count as u64, "udpjpegpay sent every frame: {stats}");
    }
    std::thread::sleep(Duration::from_millis(500));
    check_no_error(&rx);
    let received = frames_rx.buffers();
    set_state(&tx, gst::State::Null);
    set_state(&rx, gst::State::Null);

    // Gaps between consecutive pushes of one frame, after its first push
    // returned (the first waits for its clock time inside udpsink).
    let pushes = pushes.lock().unwrap();
    let gaps: Vec<f64> = pushes
        .windows(3)
        .filter(|w| w[0].0 == w[1].0 && w[1].0 == w[2].0)
        .map(|w| (w[2].1 - w[1].1).as_secs_f64())
        .collect();
    Loss {
        sent: count as u64,
        received,
        burst_gap: Duration::from_secs_f64(median(&gaps).max(0.0)),
    }
}

// ------------------------------------------------- part 4: floors

struct FloorRun {
    secs: f64,
    sent: u64,
    received: u64,
}

/// Unpaced, as fast as possible, over UDP on 127.0.0.1 with a 4 MB receive
/// buffer: either pre-cut datagrams (`lists`, no payloader) or frames through
/// `udpjpegpay burst-size=0` and `udpjpegdepay`. `sent` and `received` are
/// datagrams for the former and frames for the latter.
fn udp_flat_out(lists: Option<&[gst::BufferList]>, set: &FrameSet, frames: usize) -> FloorRun {
    let (rx, counter, port) = match lists {
        Some(_) => receiver("", Some(BIG_RCVBUF)),
        None => receiver("! udpjpegdepay", Some(BIG_RCVBUF)),
    };
    let pay = if lists.is_some() {
        ""
    } else {
        "udpjpegpay burst-size=0 mtu=1400 ! "
    };
    let tx = launch(&format!(
        "appsrc name=src format=time block=true max-bytes=4000000 \
         ! {pay}udpsink host=127.0.0.1 port={port} sync=false"
    ));
    let src: gst_app::AppSrc = element(&tx, "src");
    if lists.is_none() {
        src.set_caps(Some(&set.caps()));
    }
    set_state(&tx, gst::State::Ready);

    let mut sent = 0u64;
    let start = Instant::now();
    set_state(&tx, gst::State::Playing);
    for i in 0..frames {
        match lists {
            Some(lists) => {
                let list = &lists[i % lists.len()];
                sent += list.len() as u64;
                src.push_buffer_list(list.clone()).expect("push");
            }
            None => {
                sent += 1;
                src.push_buffer(stamped(&set.frames[i % set.frames.len()], frame_pts(i, 30)))
                    .expect("push");
            }
        }
    }
    src.end_of_stream().expect("eos");
    wait_eos(&tx, Duration::from_secs(300));
    let secs = start.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(500));
    check_no_error(&rx);
    let received = counter.buffers();
    set_state(&tx, gst::State::Null);
    set_state(&rx, gst::State::Null);
    FloorRun {
        secs,
        sent,
        received,
    }
}

/// Copies every frame into a preallocated buffer; returns seconds.
fn memcpy_floor(frames: &[Vec<u8>], count: usize) -> f64 {
    let max = frames.iter().map(Vec::len).max().unwrap();
    let mut dst = vec![0u8; max];
    let start = Instant::now();
    for i in 0..count {
        let f = &frames[i % frames.len()];
        dst[..f.len()].copy_from_slice(std::hint::black_box(f));
        std::hint::black_box(&mut dst);
    }
    start.elapsed().as_secs_f64()
}

/// Builds and frees, `count` times, a frame's datagrams as udpjpegpay hands
/// them to udpsink: a buffer list with one buffer per datagram, each holding
/// a shared slice of one header memory and a shared slice of the frame's
/// memory (mtu 1400). No pipeline, no element: the GStreamer cost any
/// zero-copy payloader of one buffer per datagram pays. Returns seconds.
fn datagram_buffers_floor(frames: &[gst::Buffer], count: usize) -> f64 {
    let start = Instant::now();
    for i in 0..count {
        let frame = frames[i % frames.len()].peek_memory(0);
        let plan = Plan::new(WireFormat::Sce, frame.size(), 1400).unwrap();
        let hlen = wire::SCE_HEADER_LEN;
        let mut headers = Vec::with_capacity(plan.count * hlen);
        for d in 0..plan.count {
            headers.extend_from_slice(&plan.header(i as u16, d).0);
        }
        let headers = gst::Memory::from_mut_slice(headers);
        let mut list = gst::BufferList::new_sized(plan.count);
        {
            let l = list.get_mut().unwrap();
            for d in 0..plan.count {
                let mut b = gst::Buffer::new();
                {
                    let b = b.get_mut().unwrap();
                    b.append_memory(headers.share(d * hlen..(d + 1) * hlen));
                    b.append_memory(frame.share(plan.range(d)));
                }
                l.add(b);
            }
        }
        drop(std::hint::black_box(list));
    }
    start.elapsed().as_secs_f64()
}

/// How late a thread wakes from 100 µs sleeps over `span`, on an otherwise
/// idle process: the stalls a receiving thread suffers on this machine.
fn wake_up_delays(span: Duration) -> String {
    let mut late = Vec::new();
    let end = Instant::now() + span;
    while Instant::now() < end {
        let t = Instant::now();
        std::thread::sleep(Duration::from_micros(100));
        late.push(t.elapsed().saturating_sub(Duration::from_micros(100)));
    }
    late.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let over = |ms: u64| {
        late.iter()
            .filter(|d| **d > Duration::from_millis(ms))
            .count()
    };
    format!(
        "a thread sleeping 100 us woke late by {:.0} us (median), {:.0} us (99.9th \
         percentile), {:.0} us at worst, {} times over 1 ms and {} over 2 ms in {} s",
        us(late[late.len() / 2]),
        us(late[late.len() * 999 / 1000]),
        us(*late.last().unwrap()),
        over(1),
        over(2),
        span.as_secs()
    )
}

fn memchr_floor(stream: &[u8]) -> (f64, usize) {
    let start = Instant::now();
    let n = memchr::memchr_iter(0xFF, std::hint::black_box(stream)).count();
    (start.elapsed().as_secs_f64(), std::hint::black_box(n))
}

// ------------------------------------------------- part 5: parity

/// Seed of the pseudo-random burst starts (xorshift64, as in tests/faults.rs).
const BURST_SEED: u64 = 0x2545_F491_4F6C_DD1D;

/// How datagrams are lost in part 5.
#[derive(Clone, Copy, PartialEq)]
enum LossModel {
    /// netsim drop-probability=p.
    Random(f64),
    /// Runs of `len` consecutive datagrams taken out of the payloader's
    /// output, one starting at each datagram (not already in a run) with
    /// probability `p`.
    Bursts { p: f64, len: usize },
}

impl LossModel {
    /// Fraction of datagrams lost in the long run.
    fn rate(self) -> f64 {
        match self {
            LossModel::Random(p) => p,
            LossModel::Bursts { p, len } => {
                let l = len as f64;
                l * p / (1.0 + (l - 1.0) * p)
            }
        }
    }
    fn label(self) -> String {
        match self {
            LossModel::Random(p) => format!("{:.0}% random", p * 100.0),
            LossModel::Bursts { p, len } => {
                format!("bursts of {len}, p={p} ({:.1}%)", self.rate() * 100.0)
            }
        }
    }
    /// Probability that a frame sent as `n` datagrams loses none of them.
    /// For bursts: its first datagram is not inside a run (probability
    /// 1 / (1 + (len-1) p) in the long run) and no run starts at any of its
    /// datagrams.
    fn whole(self, n: usize) -> f64 {
        match self {
            LossModel::Random(p) => (1.0 - p).powi(n as i32),
            LossModel::Bursts { p, len } => {
                (1.0 - p).powi(n as i32) / (1.0 + (len as f64 - 1.0) * p)
            }
        }
    }
}

/// What the probe on the payloader's src pad takes out.
#[derive(Clone, Copy, PartialEq)]
enum Cut {
    Nothing,
    Bursts {
        p: f64,
        len: usize,
    },
    /// The second datagram of every frame (a data chunk: data goes first).
    SecondOfFrame,
}

struct CutState {
    rng: u64,
    dropping: usize,
    pts: Option<gst::ClockTime>,
    /// Datagrams each frame was sent as (grouped by PTS), before any cut.
    per_frame: Vec<usize>,
}

impl CutState {
    /// Whether to keep the next datagram, of PTS `pts`.
    fn keep(&mut self, pts: Option<gst::ClockTime>, cut: Cut) -> bool {
        if self.per_frame.is_empty() || pts != self.pts {
            self.pts = pts;
            self.per_frame.push(0);
        }
        let n = self.per_frame.last_mut().unwrap();
        let index = *n;
        *n += 1;
        match cut {
            Cut::Nothing => true,
            Cut::SecondOfFrame => index != 1,
            Cut::Bursts { p, len } => {
                self.rng ^= self.rng << 13;
                self.rng ^= self.rng >> 7;
                self.rng ^= self.rng << 17;
                if self.dropping == 0 && (self.rng % 1_000_000) as f64 / 1e6 < p {
                    self.dropping = len;
                }
                if self.dropping > 0 {
                    self.dropping -= 1;
                    false
                } else {
                    true
                }
            }
        }
    }
}

/// A probe on the src pad of the element named "pay" that applies `cut` to
/// the datagrams it pushes, as buffer lists (edited in place, as
/// tests/faults.rs does) or as single buffers, and counts them per frame.
fn cut_after_payloader(pipeline: &gst::Pipeline, cut: Cut) -> Arc<Mutex<CutState>> {
    let state = Arc::new(Mutex::new(CutState {
        rng: BURST_SEED,
        dropping: 0,
        pts: None,
        per_frame: Vec::new(),
    }));
    let s = state.clone();
    element::<gst::Element>(pipeline, "pay")
        .static_pad("src")
        .expect("src pad")
        .add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
            move |_, info| {
                let mut st = s.lock().unwrap();
                match &mut info.data {
                    Some(gst::PadProbeData::Buffer(b)) => {
                        if st.keep(b.pts(), cut) {
                            gst::PadProbeReturn::Ok
                        } else {
                            gst::PadProbeReturn::Drop
                        }
                    }
                    Some(gst::PadProbeData::BufferList(list)) => {
                        list.make_mut().foreach_mut(|buffer, _| {
                            let keep = st.keep(buffer.pts(), cut);
                            std::ops::ControlFlow::Continue(keep.then_some(buffer))
                        });
                        if list.is_empty() {
                            gst::PadProbeReturn::Drop
                        } else {
                            gst::PadProbeReturn::Ok
                        }
                    }
                    _ => gst::PadProbeReturn::Ok,
                }
            },
        );
    state
}

struct ParityRun {
    secs: f64,
    frames_in: usize,
    frames_out: u64,
    /// Datagrams sent by the payloader, and those reaching the depayloader.
    datagrams_sent: u64,
    datagrams_in: u64,
    per_frame: Vec<usize>,
    /// udpjpegdepay's stats (None for the RTP pair).
    stats: Option<gst::Structure>,
}

impl ParityRun {
    fn stat(&self, field: &str) -> u64 {
        self.stats
            .as_ref()
            .and_then(|s| s.get::<u64>(field).ok())
            .unwrap_or(0)
    }
}

/// `appsrc ! PAY (mtu 1400, unpaced) [! netsim drop-probability=p] ! DEPAY
/// ! fakesink` in memory, non-live, `count` frames, `cut` applied after PAY.
fn parity_run(
    pair: Pair,
    fec: u32,
    netsim: Option<f64>,
    cut: Cut,
    set: &FrameSet,
    count: usize,
) -> ParityRun {
    let netsim = netsim.map_or(String::new(), |p| format!("netsim drop-probability={p} ! "));
    let chain = match pair {
        Pair::Ours => format!(
            "udpjpegpay name=pay burst-size=0 mtu=1400 fec-percent={fec} ! {netsim}\
             udpjpegdepay name=depay"
        ),
        Pair::Rtp => format!("rtpjpegpay name=pay mtu=1400 ! {netsim}rtpjpegdepay name=depay"),
    };
    let pipeline = launch(&format!(
        "appsrc name=src format=time max-bytes=0 ! {chain} \
         ! fakesink name=sink sync=false enable-last-sample=false"
    ));
    let src: gst_app::AppSrc = element(&pipeline, "src");
    src.set_caps(Some(&set.caps()));
    let sink = count_at(&pipeline, "sink");
    let depay_in = count_at(&pipeline, "depay");
    let cuts = cut_after_payloader(&pipeline, cut);
    set_state(&pipeline, gst::State::Ready);

    queue_all(
        &src,
        (0..count).map(|i| stamped(&set.frames[i % set.frames.len()], frame_pts(i, 30))),
    );
    let start = Instant::now();
    set_state(&pipeline, gst::State::Playing);
    wait_eos(&pipeline, Duration::from_secs(300));
    let secs = start.elapsed().as_secs_f64();
    let stats = (pair == Pair::Ours)
        .then(|| element::<gst::Element>(&pipeline, "depay").property::<gst::Structure>("stats"));
    set_state(&pipeline, gst::State::Null);
    let per_frame = std::mem::take(&mut cuts.lock().unwrap().per_frame);
    ParityRun {
        secs,
        frames_in: count,
        frames_out: sink.buffers(),
        datagrams_sent: per_frame.iter().map(|&n| n as u64).sum(),
        datagrams_in: depay_in.buffers(),
        per_frame,
        stats,
    }
}

/// Section 5: delivered frames under loss with parity, and its cost.
fn parity_sections(cfg: &Config, hd: &FrameSet) -> Vec<Section> {
    let fecs = [0u32, 5, 10, 20];
    let models = [
        LossModel::Random(0.01),
        LossModel::Random(0.05),
        LossModel::Bursts { p: 0.005, len: 10 },
        LossModel::Bursts { p: 0.0025, len: 10 },
    ];
    let n = cfg.parity_frames;
    let data_chunks: Vec<usize> = (0..n)
        .map(|i| {
            Plan::new(WireFormat::Sce, hd.frames[i % hd.frames.len()].size(), 1400)
                .unwrap()
                .count
        })
        .collect();
    let parity_k: Vec<usize> = (0..n)
        .map(|i| {
            let size = hd.frames[i % hd.frames.len()].size();
            Plan::with_payload(size, wire::parity_payload(1400).unwrap())
                .unwrap()
                .count
        })
        .collect();
    let mean = |v: &[usize]| v.iter().sum::<usize>() as f64 / v.len() as f64;
    let parity_m = |f: u32| {
        let m: Vec<usize> = parity_k
            .iter()
            .map(|&k| wire::parity_count(k, f, 1))
            .collect();
        mean(&m)
    };
    let pct = |out: u64, inn: usize| 100.0 * out as f64 / inn as f64;

    // (a) delivered frames
    let mut sec = Section::new(
        "5. Parity (fec-percent): delivered frames under loss, 1920x1080",
        &format!(
            "`appsrc ! udpjpegpay burst-size=0 mtu=1400 fec-percent=F ! netsim \
             drop-probability=p ! udpjpegdepay ! fakesink` and `appsrc ! rtpjpegpay mtu=1400 ! \
             netsim drop-probability=p ! rtpjpegdepay ! fakesink`, in memory, non-live, {n} \
             frames per case, one run each; frames counted at the sink. Bursts: netsim drops \
             nothing; a pad probe on the payloader's src pad takes runs of 10 consecutive \
             datagrams out of what it pushes, a run starting at each datagram with probability \
             p (fixed xorshift seed), so the same datagram positions are hit in every case \
             (with parity on, the positions fall differently since frames are longer). Cells: \
             delivered % of frames, then frames-recovered (frames parity rebuilt) for ours. \
             Arithmetic, no parity: mean over the frames of the probability that a frame of n \
             datagrams loses none: (1-p)^n for random loss, (1-p)^n / (1 + 9p) for bursts \
             (its first datagram not inside a run, and no run starting in it); ours n = \
             {:.1} (mtu 1400), RTP n as rtpjpegpay sent them ({}). Parity: K = {:.1} data \
             chunks of 1,376 bytes, m = ceil(K F / 100) = {:.1} / {:.1} / {:.1} parity chunks \
             at F = 5 / 10 / 20. \"datagrams lost\" is measured at udpjpegdepay's sink pad in \
             the fec 0 case.",
            mean(&data_chunks),
            "see the RTP arithmetic column",
            mean(&parity_k),
            parity_m(5),
            parity_m(10),
            parity_m(20),
        ),
        &[
            "loss",
            "datagrams lost",
            "arithmetic, no parity",
            "ours fec 0",
            "fec 5",
            "fec 10",
            "fec 20",
            "RTP pair",
            "RTP arithmetic",
        ],
    );
    let mut rtp_n = Vec::new();
    for (mi, &model) in models.iter().enumerate() {
        eprintln!(
            "parity: {} ({}/{}) ...",
            model.label(),
            mi + 1,
            models.len()
        );
        let (netsim, cut) = match model {
            LossModel::Random(p) => (Some(p), Cut::Nothing),
            LossModel::Bursts { p, len } => (Some(0.0), Cut::Bursts { p, len }),
        };
        let arith = |per_frame: &[usize]| {
            100.0 * per_frame.iter().map(|&n| model.whole(n)).sum::<f64>() / per_frame.len() as f64
        };
        let mut row = vec![
            model.label(),
            String::new(),
            format!("{:.1}%", arith(&data_chunks)),
        ];
        for &f in &fecs {
            let r = parity_run(Pair::Ours, f, netsim, cut, hd, n);
            if f == 0 {
                row[1] = format!(
                    "{:.2}%",
                    100.0 * (1.0 - r.datagrams_in as f64 / r.datagrams_sent as f64)
                );
            }
            row.push(format!(
                "{:.1}% ({} rebuilt)",
                pct(r.frames_out, r.frames_in),
                r.stat("frames-recovered")
            ));
        }
        let r = parity_run(Pair::Rtp, 0, netsim, cut, hd, n);
        row.push(format!("{:.1}%", pct(r.frames_out, r.frames_in)));
        row.push(format!("{:.1}%", arith(&r.per_frame)));
        rtp_n = r.per_frame;
        sec.row(row);
    }
    sec.note = sec.note.replace(
        "see the RTP arithmetic column",
        &format!("{:.1}", mean(&rtp_n)),
    );
    let mut out = vec![sec];

    // (b) cost
    let cost_fecs = [0u32, 5, 20];
    let cost_n = cfg.parity_cost_frames;
    // [fec][drop one] -> runs
    let mut runs: Vec<[Vec<ParityRun>; 2]> =
        cost_fecs.iter().map(|_| [Vec::new(), Vec::new()]).collect();
    // Cheap cases, differences of similar numbers: twice the usual rounds.
    let cost_rounds = cfg.rounds * 2;
    for round in 0..cost_rounds {
        eprintln!("parity cost round {}/{cost_rounds} ...", round + 1);
        for (fi, &f) in cost_fecs.iter().enumerate() {
            for (di, cut) in [Cut::Nothing, Cut::SecondOfFrame].into_iter().enumerate() {
                runs[fi][di].push(parity_run(Pair::Ours, f, None, cut, hd, cost_n));
            }
        }
    }
    let fps = |r: &[ParityRun]| {
        median(
            &r.iter()
                .map(|r| r.frames_in as f64 / r.secs)
                .collect::<Vec<_>>(),
        )
    };
    let out_in = |r: &[ParityRun]| {
        let out: u64 = r.iter().map(|r| r.frames_out).sum();
        let inn: usize = r.iter().map(|r| r.frames_in).sum();
        let rec: u64 = r.iter().map(|r| r.stat("frames-recovered")).sum();
        format!("{out}/{inn}, {rec} rebuilt")
    };
    let base_us = 1e6 / fps(&runs[0][0]);
    let mut sec = Section::new(
        "5b. Parity cost in memory, 1920x1080",
        &format!(
            "`appsrc ! udpjpegpay burst-size=0 mtu=1400 fec-percent=F ! udpjpegdepay ! \
             fakesink`, {cost_n} frames per case, medians over {cost_rounds} rounds. \"no loss\": nothing \
             is rebuilt, so the difference to F = 0 is the encoding (parity made by the \
             payloader; the depayloader drops parity it does not need). \"1 dropped\": a pad \
             probe takes the second datagram (a data chunk) out of every frame, so every frame \
             is decoded (F = 0: every frame is lost instead). Encode = 1/fps(F, no loss) - \
             1/fps(0, no loss); decode = 1/fps(F, 1 dropped) - 1/fps(F, no loss). The same \
             probe (dropping nothing) is on in the no-loss runs.",
        ),
        &[
            "fec-percent",
            "parity chunks/frame",
            "no loss fps",
            "encode µs/frame",
            "1 dropped fps",
            "1 dropped: out/in",
            "decode µs/frame",
        ],
    );
    for (fi, &f) in cost_fecs.iter().enumerate() {
        let clean = fps(&runs[fi][0]);
        let dropped = fps(&runs[fi][1]);
        let clean_us = 1e6 / clean;
        sec.row(vec![
            f.to_string(),
            format!("{:.1}", parity_m(f)),
            f0(clean),
            if f == 0 {
                "-".into()
            } else {
                format!("{:.0}", clean_us - base_us)
            },
            f0(dropped),
            out_in(&runs[fi][1]),
            if f == 0 {
                "- (frames lost)".into()
            } else {
                format!("{:.0}", 1e6 / dropped - clean_us)
            },
        ]);
    }
    out.push(sec);
    out
}

// ---------------------------------------------------------------- table

struct Section {
    title: String,
    note: String,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Section {
    fn new(title: &str, note: &str, header: &[&str]) -> Self {
        Section {
            title: title.to_string(),
            note: note.to_string(),
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
        }
    }
    /// "3b." of "3b. Highest ...": the order of sections in the document.
    fn key(&self) -> String {
        heading_key(&self.title)
    }
    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }
    fn text(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut s = String::new();
            for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
                let pad = w - c.chars().count();
                if i == 0 {
                    let _ = write!(s, "{c}{}", " ".repeat(pad));
                } else {
                    let _ = write!(s, "  {}{c}", " ".repeat(pad));
                }
            }
            s.trim_end().to_string() + "\n"
        };
        let mut out = format!("\n== {} ==\n", self.title);
        if !self.note.is_empty() {
            out += &format!("{}\n", self.note);
        }
        out += &line(&self.header);
        out += &(widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("  ")
            + "\n");
        for r in &self.rows {
            out += &line(r);
        }
        out
    }
    fn markdown(&self) -> String {
        let mut out = format!("## {}\n\n", self.title);
        if !self.note.is_empty() {
            out += &format!("{}\n\n", self.note);
        }
        out += &format!("| {} |\n", self.header.join(" | "));
        out += &format!(
            "|{}\n",
            self.header
                .iter()
                .enumerate()
                .map(|(i, _)| if i == 0 { "---|" } else { "---:|" })
                .collect::<String>()
        );
        for r in &self.rows {
            out += &format!("| {} |\n", r.join(" | "));
        }
        out + "\n"
    }
}

/// The number of a section title or Markdown heading ("3b." of "3b. Highest").
fn heading_key(title: &str) -> String {
    title.split_whitespace().next().unwrap_or("").to_string()
}

/// `old` (a docs/benchmark.md) with the sections numbered `n` (`n.`, `nb.`,
/// ...) replaced by `sections`, the other sections kept, in key order.
fn splice(old: &str, n: u32, sections: &[Section]) -> String {
    let mut parts = old.split("\n## ");
    let mut preamble = parts.next().unwrap_or("").trim_end().to_string();
    if preamble.is_empty() {
        preamble = "# Benchmark".into();
    }
    let number = |key: &str| -> Option<u32> {
        key.trim_end_matches(|c: char| !c.is_ascii_digit())
            .parse()
            .ok()
    };
    let mut blocks: Vec<(String, String)> = parts
        .map(|b| (heading_key(b), format!("## {}\n\n", b.trim_end())))
        .filter(|(key, _)| number(key) != Some(n))
        .collect();
    blocks.extend(sections.iter().map(|s| (s.key(), s.markdown())));
    blocks.sort_by(|a, b| a.0.cmp(&b.0));
    let mut md = preamble + "\n\n";
    for (_, b) in blocks {
        md += &b;
    }
    md
}

fn f0(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.0}")
    } else {
        "-".into()
    }
}

fn ratio(a: f64, b: f64) -> String {
    if a.is_finite() && b.is_finite() && b > 0.0 {
        format!("{:.2}x", a / b)
    } else {
        "-".into()
    }
}

fn shell(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The 1-minute load average: other processes on the machine skew results.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

// ---------------------------------------------------------------- main

fn main() {
    const USAGE: &str = "usage: cargo run --release --example bench [-- [--quick] [--only SECTION]]\n\
        SECTION: 1 (pay+depay), 2 (splitters), 3 (UDP loss, with 3b), 4 (floors), \
        5 (parity, with 5b). With --only, that section alone is measured and replaced in \
        docs/benchmark.md; the others are kept.";
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut quick = false;
    let mut only: Option<u32> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            "--quick" => quick = true,
            "--only" => {
                match it
                    .next()
                    .and_then(|v| v.parse::<u32>().ok())
                    .filter(|n| (1..=5).contains(n))
                {
                    Some(n) => only = Some(n),
                    None => {
                        eprintln!("--only needs a section number 1 to 5\n{USAGE}");
                        std::process::exit(2);
                    }
                }
            }
            _ => {
                eprintln!("unknown argument {a}\n{USAGE}");
                std::process::exit(2);
            }
        }
    }
    let selected = |n: u32| only.is_none_or(|o| o == n);
    let cfg = Config::new(quick);
    if cfg!(debug_assertions) {
        eprintln!("warning: debug build; run with `cargo run --release --example bench`");
    }

    gst::init().expect("gst::init");
    gstudpjpeg::plugin_register_static().expect("register udpjpeg");
    require(&[
        "appsrc",
        "appsink",
        "fakesink",
        "videotestsrc",
        "jpegenc",
        "jpegparse",
        "rtpjpegpay",
        "rtpjpegdepay",
        "udpsrc",
        "udpsink",
        "udpjpegpay",
        "udpjpegdepay",
        "mjpegsplit",
        "netsim",
    ]);
    let total = Instant::now();
    let load_before = load_average();
    let mut sections = Vec::new();

    eprintln!("generating frames ...");
    // Parts other than 1 use only the 1080p frames.
    let profile = std::env::var("BENCH_PROFILE").ok();
    let mut sets = Vec::new();
    if selected(1) || profile.is_some() {
        sets.push(generate("640x360", 640, 360, 78));
        sets.push(generate("1280x720", 1280, 720, 94));
    }
    sets.push(generate("1920x1080", 1920, 1080, 97));
    let hd = sets.last().unwrap();
    if let Some(p) = profile {
        let (pair, s, mtu) = match p.as_str() {
            "ours360" => (Pair::Ours, 0, 1400),
            "rtp360" => (Pair::Rtp, 0, 1400),
            "ours1080" => (Pair::Ours, 2, 1400),
            "rtp1080" => (Pair::Rtp, 2, 1400),
            _ => panic!(),
        };
        let r = pay_depay(pair, &sets[s], mtu, if s == 0 { 100000 } else { 20000 });
        eprintln!("{} fps", r.frames_in as f64 / r.secs);
        return;
    }

    // ---- part 1
    let mut ours_hd_1400_fps = f64::NAN;
    let mut rtp_hd_1400_fps = f64::NAN;
    if selected(1) {
        let mtus = [1400u32, 9000];
        let mut cases = Vec::new(); // (set index, mtu, pair)
        for s in 0..sets.len() {
            for &mtu in &mtus {
                for pair in [Pair::Ours, Pair::Rtp] {
                    cases.push((s, mtu, pair));
                }
            }
        }
        let mut runs: Vec<Vec<Run>> = cases.iter().map(|_| Vec::new()).collect();
        for round in 0..cfg.rounds {
            eprintln!("pay+depay round {}/{} ...", round + 1, cfg.rounds);
            for (k, &(s, mtu, pair)) in cases.iter().enumerate() {
                let set = &sets[s];
                let count = ((cfg.bytes_per_round as f64 / set.mean_size()) as usize).max(100);
                runs[k].push(pay_depay(pair, set, mtu, count));
            }
        }
        let mut sec = Section::new(
            "1. Pay + depay in memory",
            "`appsrc ! udpjpegpay burst-size=0 mtu=M ! udpjpegdepay ! fakesink` versus \
         `appsrc ! rtpjpegpay mtu=M ! rtpjpegdepay ! fakesink`, frames held in memory, medians. \
         Pacing is off (burst-size=0): pacing exists for real networks and would only add \
         sleeps here. MB/s counts JPEG bytes in. \"out/in\" is frames at the sink / frames \
         pushed (all rounds).",
            &[
                "size",
                "mean frame",
                "mtu",
                "ours fps",
                "ours MB/s",
                "ours out/in",
                "RTP fps",
                "RTP MB/s",
                "RTP out/in",
                "ours / RTP",
            ],
        );
        for (k, &(s, mtu, pair)) in cases.iter().enumerate() {
            if pair != Pair::Ours {
                continue;
            }
            let stat = |r: &[Run]| {
                let fps = median(
                    &r.iter()
                        .map(|r| r.frames_in as f64 / r.secs)
                        .collect::<Vec<_>>(),
                );
                let mbs = median(
                    &r.iter()
                        .map(|r| r.bytes_in as f64 / MB / r.secs)
                        .collect::<Vec<_>>(),
                );
                let out: u64 = r.iter().map(|r| r.frames_out).sum();
                let inn: usize = r.iter().map(|r| r.frames_in).sum();
                let bytes_out: u64 = r.iter().map(|r| r.bytes_out).sum();
                let bytes_in: u64 = r.iter().map(|r| r.bytes_in).sum();
                // Ours must return the frames byte for byte; RTP rebuilds headers.
                let exact = if bytes_out == bytes_in {
                    ""
                } else {
                    " (bytes differ)"
                };
                (fps, mbs, format!("{out}/{inn}{exact}"))
            };
            let (ofps, omb, oout) = stat(&runs[k]);
            let (rfps, rmb, mut rout) = stat(&runs[k + 1]);
            rout = rout.replace(" (bytes differ)", "");
            if s == 2 && mtu == 1400 {
                ours_hd_1400_fps = ofps;
                rtp_hd_1400_fps = rfps;
            }
            sec.row(vec![
                sets[s].label.into(),
                format!(
                    "{:.1} KB (q{})",
                    sets[s].mean_size() / 1000.0,
                    sets[s].quality
                ),
                mtu.to_string(),
                f0(ofps),
                f0(omb),
                oout,
                f0(rfps),
                f0(rmb),
                rout,
                ratio(ofps, rfps),
            ]);
        }
        sections.push(sec);
    }

    // ---- part 2 (the stream's memchr floor is also part 4's)
    let mut stream = Vec::with_capacity(cfg.stream_bytes + 300_000);
    let mut stream_frames = 0u64;
    while stream.len() < cfg.stream_bytes {
        stream.extend_from_slice(&hd.bytes(stream_frames as usize));
        stream_frames += 1;
    }
    let stream_buf = gst::Buffer::from_slice(stream.clone());
    let chunked = |size: usize| -> Vec<gst::Buffer> {
        (0..stream.len())
            .step_by(size)
            .map(|o| {
                stream_buf
                    .copy_region(
                        gst::BufferCopyFlags::MEMORY,
                        o..(o + size).min(stream.len()),
                    )
                    .unwrap()
            })
            .collect()
    };
    let memchr_mbs = {
        let v: Vec<f64> = (0..cfg.rounds.max(5))
            .map(|_| stream.len() as f64 / MB / memchr_floor(&stream).0)
            .collect();
        median(&v)
    };
    let mut split_64k = f64::NAN;
    if selected(2) {
        eprintln!("splitters ...");
        let chunk_sizes = [4096usize, 65536];
        // identity: the same appsrc harness passing the buffers through,
        // the floor any element fed this way can reach.
        let splitters = ["mjpegsplit", "jpegparse", "identity", MEMCHR_PROBE];
        let chunk_sets: Vec<Vec<gst::Buffer>> = chunk_sizes.iter().map(|&c| chunked(c)).collect();
        // [chunk][splitter] -> (MB/s per round, frames out per round)
        let mut split_runs = vec![vec![(Vec::new(), Vec::new()); splitters.len()]; 2];
        for _ in 0..cfg.rounds {
            for (c, chunks) in chunk_sets.iter().enumerate() {
                for (p, splitter) in splitters.iter().enumerate() {
                    let (secs, frames) = split(splitter, chunks);
                    split_runs[c][p].0.push(stream.len() as f64 / MB / secs);
                    split_runs[c][p].1.push(frames);
                }
            }
        }
        let mut sec = Section::new(
            "2. MJPEG stream splitting",
            &format!(
                "The same concatenated stream of {stream_frames} 1920x1080 frames ({:.1} MB) through \
             `appsrc ! mjpegsplit ! fakesink` and `appsrc ! jpegparse ! fakesink` in buffers of \
             the given size, medians. Frames out must equal frames in ({stream_frames}); the \
             column lists each round's count. Floors: `memchr_iter(0xFF, stream).count()`, and \
             the same buffers through `appsrc ! identity ! fakesink` (what the appsrc harness \
             itself allows: appsrc's queue and one pad push per buffer), and the same with a \
             pad probe that runs the memchr count over each buffer (the harness plus reading \
             every byte once: what a splitter with no cost of its own would reach).",
                stream.len() as f64 / MB
            ),
            &[
                "input buffers",
                "mjpegsplit MB/s",
                "frames out",
                "jpegparse MB/s",
                "frames out",
                "mjpegsplit / jpegparse",
                "mjpegsplit / memchr floor",
                "pass-through MB/s",
                "mjpegsplit / pass-through",
                "pass-through + memchr MB/s",
                "mjpegsplit / pass-through + memchr",
            ],
        );
        let frames_col = |v: &[u64]| {
            if v.iter().all(|&f| f == stream_frames) {
                format!("{stream_frames} (all)")
            } else {
                format!(
                    "{} (expected {stream_frames})",
                    v.iter()
                        .map(|f| f.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        };
        for (c, &size) in chunk_sizes.iter().enumerate() {
            let ours = median(&split_runs[c][0].0);
            let theirs = median(&split_runs[c][1].0);
            if size == 65536 {
                split_64k = ours;
            }
            sec.row(vec![
                format!("{} KB", size / 1024),
                f0(ours),
                frames_col(&split_runs[c][0].1),
                f0(theirs),
                frames_col(&split_runs[c][1].1),
                ratio(ours, theirs),
                ratio(ours, memchr_mbs),
                f0(median(&split_runs[c][2].0)),
                ratio(ours, median(&split_runs[c][2].0)),
                f0(median(&split_runs[c][3].0)),
                ratio(ours, median(&split_runs[c][3].0)),
            ]);
        }
        sections.push(sec);
        eprintln!("nested frame candidates ...");
        sections.push(nested_section(&cfg, hd));
    }

    // ---- part 4 (floors), measured before the long UDP part
    if selected(4) {
        eprintln!("floors ...");
        let hd_bytes: Vec<Vec<u8>> = (0..hd.frames.len()).map(|i| hd.bytes(i)).collect();
        let lists: Vec<gst::BufferList> = hd_bytes
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let plan = Plan::new(WireFormat::Sce, f.len(), 1400).unwrap();
                let mut list = gst::BufferList::new_sized(plan.count);
                {
                    let l = list.get_mut().unwrap();
                    for d in plan.datagrams(i as u16, f) {
                        l.add(gst::Buffer::from_mut_slice(d));
                    }
                }
                list
            })
            .collect();
        let datagrams_per_frame =
            lists.iter().map(|l| l.len() as f64).sum::<f64>() / lists.len() as f64;
        let mut floor_runs = Vec::new();
        let mut ours_udp_runs = Vec::new();
        let mut memcpy_fps = Vec::new();
        let mut buffers_fps = Vec::new();
        for _ in 0..cfg.rounds {
            floor_runs.push(udp_flat_out(Some(&lists), hd, cfg.floor_frames));
            ours_udp_runs.push(udp_flat_out(None, hd, cfg.floor_frames));
            let n = cfg.floor_frames * 10;
            memcpy_fps.push(n as f64 / memcpy_floor(&hd_bytes, n));
            buffers_fps.push(n as f64 / datagram_buffers_floor(&hd.frames, n));
        }
        let buffers_fps = median(&buffers_fps);
        let floor_dps = median(
            &floor_runs
                .iter()
                .map(|r| r.sent as f64 / r.secs)
                .collect::<Vec<_>>(),
        );
        let floor_fps = floor_dps / datagrams_per_frame;
        let floor_rx: u64 = floor_runs.iter().map(|r| r.received).sum();
        let floor_tx: u64 = floor_runs.iter().map(|r| r.sent).sum();
        let ours_udp_fps = median(
            &ours_udp_runs
                .iter()
                .map(|r| r.sent as f64 / r.secs)
                .collect::<Vec<_>>(),
        );
        let ours_rx: u64 = ours_udp_runs.iter().map(|r| r.received).sum();
        let ours_tx: u64 = ours_udp_runs.iter().map(|r| r.sent).sum();
        let memcpy_fps = median(&memcpy_fps);
        let hd_mean = hd.mean_size();
        let mut sec = Section::new(
            "4. Floors (1920x1080 frames)",
            &format!(
                "UDP: unpaced, as fast as the sender goes, 127.0.0.1, udpsrc buffer-size={BIG_RCVBUF}; \
             rate = items sent / sender wall time (PLAYING to EOS), \"delivered\" = received / \
             sent over all rounds. The floor pushes the pre-cut mtu-1400 datagrams \
             ({datagrams_per_frame:.1} a frame) as one buffer list per frame through \
             `appsrc ! udpsink sync=false` / `udpsrc ! fakesink`. \"ours / floor\" compares frames/s."
            ),
            &[
                "measurement",
                "datagrams/s",
                "frames/s",
                "MB/s",
                "delivered",
                "ours / floor",
            ],
        );
        sec.row(vec![
            "UDP floor: appsrc ! udpsink, udpsrc ! fakesink".into(),
            f0(floor_dps),
            f0(floor_fps),
            f0(floor_fps * hd_mean / MB),
            format!(
                "{:.1}% of datagrams",
                100.0 * floor_rx as f64 / floor_tx as f64
            ),
            String::new(),
        ]);
        sec.row(vec![
            "ours over UDP: udpjpegpay burst-size=0 ! udpsink, udpsrc ! udpjpegdepay".into(),
            f0(ours_udp_fps * datagrams_per_frame),
            f0(ours_udp_fps),
            f0(ours_udp_fps * hd_mean / MB),
            format!("{:.1}% of frames", 100.0 * ours_rx as f64 / ours_tx as f64),
            ratio(ours_udp_fps, floor_fps),
        ]);
        sec.row(vec![
            "memcpy of each frame into a preallocated buffer".into(),
            String::new(),
            f0(memcpy_fps),
            f0(memcpy_fps * hd_mean / MB),
            String::new(),
            format!(
                "in-memory pay+depay (mtu 1400): {}",
                ratio(ours_hd_1400_fps, memcpy_fps)
            ),
        ]);
        sec.row(vec![
            "datagram buffers of each frame (mtu 1400) built and freed, as udpjpegpay makes \
             them: a buffer per datagram with a shared header slice and a shared frame slice"
                .into(),
            f0(buffers_fps * datagrams_per_frame),
            f0(buffers_fps),
            f0(buffers_fps * hd_mean / MB),
            String::new(),
            format!(
                "in-memory pay+depay (mtu 1400): {}; 5x the RTP pair would need {} fps, {} \
                 this floor",
                ratio(ours_hd_1400_fps, buffers_fps),
                f0(5.0 * rtp_hd_1400_fps),
                ratio(5.0 * rtp_hd_1400_fps, buffers_fps)
            ),
        ]);
        sec.row(vec![
            "memchr_iter(0xFF) count over the MJPEG stream".into(),
            String::new(),
            f0(memchr_mbs * MB / hd_mean),
            f0(memchr_mbs),
            String::new(),
            format!("mjpegsplit 64 KB: {}", ratio(split_64k, memchr_mbs)),
        ]);
        sections.push(sec);
    }

    // ---- part 5 (in memory), before the long UDP part
    if selected(5) {
        sections.extend(parity_sections(&cfg, hd));
    }

    // ---- part 3
    if selected(3) {
        let senders = [
            Sender::OursPaced,
            Sender::OursUnpaced,
            Sender::Rtp,
            Sender::OursPacedSyncFirst,
        ];
        let rates = [30u32, 60, 120];
        let bufs = [None, Some(BIG_RCVBUF)];
        let mut loss_cases = Vec::new();
        for &b in &bufs {
            for &fps in &rates {
                for &s in &senders {
                    // The extra variant only with the default buffers.
                    if b.is_none() || s != Sender::OursPacedSyncFirst {
                        loss_cases.push((b, fps, s));
                    }
                }
            }
        }
        let wake = wake_up_delays(Duration::from_secs(if cfg.quick { 2 } else { 5 }));
        let mut losses: Vec<Vec<Loss>> = loss_cases.iter().map(|_| Vec::new()).collect();
        for round in 0..cfg.udp_rounds {
            eprintln!("UDP loss round {}/{} ...", round + 1, cfg.udp_rounds);
            for (k, &(b, fps, s)) in loss_cases.iter().enumerate() {
                losses[k].push(udp_loss(s, hd, fps, cfg.udp_secs, b));
            }
        }
        let gap_us = |sender: Sender| {
            let v: Vec<f64> = loss_cases
                .iter()
                .zip(&losses)
                .filter(|((_, _, s), _)| *s == sender)
                .flat_map(|(_, l)| l.iter().map(|l| l.burst_gap.as_secs_f64() * 1e6))
                .collect();
            median(&v)
        };
        let hd_datagrams = Plan::new(WireFormat::Sce, hd.mean_size() as usize, 1400)
            .unwrap()
            .count;
        // The payloader's own defaults.
        let pay = gst::ElementFactory::make("udpjpegpay").build().unwrap();
        let burst = (pay.property::<u32>("burst-size") as usize).max(1);
        let interval_us = pay.property::<u32>("burst-interval");
        let expected_ms =
            (hd_datagrams.div_ceil(burst) - 1) as f64 * f64::from(interval_us) / 1000.0;
        let rate = burst as f64 * 1000.0 / f64::from(interval_us.max(1));
        let stall_ms = 90.0 / rate;
        let rmem_max = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "?".into());
        let rmem_default = std::fs::read_to_string("/proc/sys/net/core/rmem_default")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "?".into());
        let root = shell("id", &["-u"]) == "0";
        let mut sec = Section::new(
            "3. Frame loss over UDP on 127.0.0.1 (1920x1080)",
            &format!(
                "Live sender: `appsrc is-live=true` (PTS 1/fps apart) `! PAY ! udpsink` at its \
             defaults (sync=true), {:.0} s of video per case, {} round(s); receiver `udpsrc ! \
             DEPAY ! fakesink` in the same process; frames counted at the sink 0.5 s after the \
             sender's EOS. Loss = 1 - received / sent, over all rounds (worst round in \
             brackets), then frames received/sent. Default buffers: net.core.rmem_default = \
             {rmem_default}; 4 MB: udpsrc buffer-size={BIG_RCVBUF} (net.core.rmem_max = \
             {rmem_max}; {}). Last column (not in the brief, default buffers only): \
             `appsrc ! identity sync=true ! udpjpegpay ! udpsink sync=false`, the clock wait \
             moved before the payloader. Pacing as seen at udpsink, median gap between \
             consecutive bursts of a frame from its second burst on (burst-interval, \
             {interval_us} us by default; {hd_datagrams} datagrams make {} bursts of {burst} \
             spread over {expected_ms:.1} ms): ours paced (defaults) {:.0} us, with the clock wait before \
             udpjpegpay {:.0} us. The machine's scheduling, measured just before: {wake}. A \
             default buffer holds about 90 datagrams of 1400 bytes, so a receiver kept off the \
             CPU for more than about {stall_ms:.1} ms while a 1080p frame arrives ({rate:.0} \
             datagrams a ms when paced) loses it, whatever the software.",
                cfg.udp_secs,
                cfg.udp_rounds,
                if root {
                    "run as root, so udpsrc forces the size with SO_RCVBUFFORCE"
                } else {
                    "not root, so the kernel caps it at rmem_max"
                },
                hd_datagrams.div_ceil(burst),
                gap_us(Sender::OursPaced),
                gap_us(Sender::OursPacedSyncFirst),
            ),
            &[
                "receive buffer",
                "fps",
                "ours paced",
                "ours unpaced",
                "RTP pair",
                "ours paced, clock wait first",
            ],
        );
        for &b in &bufs {
            for &fps in &rates {
                let mut row = vec![
                    match b {
                        None => "default".into(),
                        Some(_) => "4 MB".into(),
                    },
                    fps.to_string(),
                ];
                for &s in &senders {
                    let Some(k) = loss_cases
                        .iter()
                        .position(|&(cb, cf, cs)| cb == b && cf == fps && cs == s)
                    else {
                        row.push("-".into());
                        continue;
                    };
                    let l = &losses[k];
                    let sent: u64 = l.iter().map(|l| l.sent).sum();
                    let rx: u64 = l.iter().map(|l| l.received).sum();
                    let pct = 100.0 * (1.0 - rx as f64 / sent as f64);
                    let worst = l.iter().map(Loss::percent).fold(0.0, f64::max);
                    row.push(if l.len() > 1 {
                        format!("{pct:.1}% ({worst:.1}%) {rx}/{sent}")
                    } else {
                        format!("{pct:.1}% {rx}/{sent}")
                    });
                }
                sec.row(row);
            }
        }
        sections.push(sec);

        // loss-free rate search, default buffers
        eprintln!("loss-free frame rate search ...");
        let search_rates = [30u32, 60, 90, 120, 180, 240];
        let mut sec = Section::new(
            "3b. Highest loss-free frame rate, 1920x1080, default receive buffer",
            &format!(
                "Rates tried in order, {:.1} s of video each, stopping after two lossy rates in a \
             row; the highest rate with zero loss is reported.",
                cfg.search_secs
            ),
            &["sender", "highest loss-free", "loss at each rate tried"],
        );
        for s in [Sender::OursPaced, Sender::Rtp, Sender::OursPacedSyncFirst] {
            let mut best = None;
            let mut tried = Vec::new();
            let mut lossy_in_a_row = 0;
            for &fps in &search_rates {
                let l = udp_loss(s, hd, fps, cfg.search_secs, None);
                tried.push(format!("{fps}: {:.1}%", l.percent()));
                if l.received >= l.sent {
                    best = Some(fps);
                    lossy_in_a_row = 0;
                } else {
                    lossy_in_a_row += 1;
                    if lossy_in_a_row >= 2 {
                        break;
                    }
                }
            }
            let best = match best {
                Some(f) if f == *search_rates.last().unwrap() => format!(">= {f} fps"),
                Some(f) => format!("{f} fps"),
                None => format!("none (lossy at {} fps)", search_rates[0]),
            };
            sec.row(vec![s.label().into(), best, tried.join(", ")]);
        }
        sections.push(sec);
    }
    // The documented order: 1, 2, 3, 3b, 4, 5, 5b.
    sections.sort_by_key(|s| s.key());

    // ---- output
    let mut flags = Vec::new();
    if cfg.quick {
        flags.push("--quick".to_string());
    }
    if let Some(n) = only {
        flags.push(format!("--only {n}"));
    }
    let command = format!(
        "cargo run --release --example bench{}",
        if flags.is_empty() {
            String::new()
        } else {
            format!(" -- {}", flags.join(" "))
        }
    );
    let header = format!(
        "Machine: {} CPUs (nproc), {}; {}; {}\nCommand: `{command}` ({} rounds in memory, {} \
         UDP round(s); total {:.0} s; load average before: {load_before}, after: {})",
        shell("nproc", &[]),
        cpu_model(),
        gst::version_string(),
        shell("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        cfg.rounds,
        cfg.udp_rounds,
        total.elapsed().as_secs_f64(),
        load_average(),
    );
    println!("{header}");
    for s in &sections {
        print!("{}", s.text());
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/benchmark.md");
    if let Some(n) = only {
        // Replace that section in the existing file, keep the rest.
        let old = std::fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmark\n\n".into());
        let rerun = format!(
            " (Rerun alone: `{command}`, {}, {:.0} s, load average before: {load_before}, \
             after: {}.)",
            shell("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
            total.elapsed().as_secs_f64(),
            load_average(),
        );
        for s in &mut sections {
            s.note += &rerun;
        }
        let md = splice(&old, n, &sections);
        match std::fs::write(&path, md) {
            Ok(()) => eprintln!("replaced section {n} in {}", path.display()),
            Err(e) => eprintln!("could not write {}: {e}", path.display()),
        }
        return;
    }
    let mut md = String::from("# Benchmark\n\n");
    md += &header.replace('\n', "  \n");
    md += "\n\nfps and MB/s are medians over the rounds; MB = 10^6 bytes. \
           Generated frames: `videotestsrc pattern=pinwheel horizontal-speed=3 ! \
           video/x-raw,format=I420 ! jpegenc quality=Q`, 60 distinct frames per size, cycled. \
           In-memory cases (parts 1, 2 and 5) queue all their buffers and the EOS in appsrc \
           (max-bytes=0) before PLAYING, then time PLAYING to EOS: only appsrc's streaming \
           thread runs while the clock runs.\n\n";
    for s in &sections {
        md += &s.markdown();
    }
    match std::fs::write(&path, md) {
        Ok(()) => eprintln!("wrote {}", path.display()),
        Err(e) => eprintln!("could not write {}: {e}", path.display()),
    }
}
