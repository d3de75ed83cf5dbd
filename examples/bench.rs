//! Benchmark of `udpjpegpay`/`udpjpegdepay` and `mjpegsplit` against the
//! stock RTP pair and `jpegparse`, plus floors (plain UDP, memcpy, memchr).
//!
//! ```text
//! cargo run --release --example bench            # full run, ~4-5 minutes
//! cargo run --release --example bench -- --quick # fewer rounds, shorter
//! ```
//!
//! All JPEG frames are generated up front and held in memory; they are fed
//! with appsrc so no file reading is measured. Throughput figures are medians
//! over several rounds; in each round every case runs once, one after the
//! other (never two measurements at once). Pipelines are built and brought
//! to READY outside the timed region; the clock runs from PLAYING to EOS.
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
use gstudpjpeg::wire::{Plan, WireFormat};

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
            gst::MessageView::Eos(_) => return,
            gst::MessageView::Latency(_) => {
                let _ = pipeline.recalculate_latency();
            }
            gst::MessageView::Error(e) => panic!(
                "error from {:?}: {} ({:?})",
                msg.src().map(|s| s.path_string()),
                e.error(),
                e.debug()
            ),
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
        "appsrc name=src format=time block=true max-bytes=4000000 ! {chain} \
         ! fakesink name=sink sync=false enable-last-sample=false"
    ));
    let src: gst_app::AppSrc = element(&pipeline, "src");
    src.set_caps(Some(&set.caps()));
    let sink = count_at(&pipeline, "sink");
    set_state(&pipeline, gst::State::Ready);

    let mut bytes_in = 0u64;
    let start = Instant::now();
    set_state(&pipeline, gst::State::Playing);
    for i in 0..count {
        let frame = &set.frames[i % set.frames.len()];
        bytes_in += frame.size() as u64;
        src.push_buffer(stamped(frame, frame_pts(i, 30)))
            .expect("push");
    }
    src.end_of_stream().expect("eos");
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

/// `appsrc ! splitter ! fakesink` over the stream cut in `chunk`-byte buffers.
fn split(splitter: &str, chunks: &[gst::Buffer]) -> (f64, u64) {
    let pipeline = launch(&format!(
        "appsrc name=src format=time block=true max-bytes=4000000 ! {splitter} \
         ! fakesink name=sink sync=false enable-last-sample=false"
    ));
    let src: gst_app::AppSrc = element(&pipeline, "src");
    src.set_caps(Some(&gst::Caps::new_empty_simple("image/jpeg")));
    let sink = count_at(&pipeline, "sink");
    set_state(&pipeline, gst::State::Ready);

    let start = Instant::now();
    set_state(&pipeline, gst::State::Playing);
    for c in chunks {
        src.push_buffer(c.clone()).expect("push");
    }
    src.end_of_stream().expect("eos");
    wait_eos(&pipeline, Duration::from_secs(300));
    let secs = start.elapsed().as_secs_f64();
    set_state(&pipeline, gst::State::Null);
    (secs, sink.buffers())
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

fn memchr_floor(stream: &[u8]) -> (f64, usize) {
    let start = Instant::now();
    let n = memchr::memchr_iter(0xFF, std::hint::black_box(stream)).count();
    (start.elapsed().as_secs_f64(), std::hint::black_box(n))
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
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("usage: cargo run --release --example bench [-- --quick]");
        return;
    }
    if let Some(a) = args.iter().find(|a| *a != "--quick") {
        eprintln!("unknown argument {a}; usage: bench [--quick]");
        std::process::exit(2);
    }
    let cfg = Config::new(args.iter().any(|a| a == "--quick"));
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
    ]);
    let total = Instant::now();
    let load_before = load_average();
    let mut sections = Vec::new();

    eprintln!("generating frames ...");
    let sets = [
        generate("640x360", 640, 360, 78),
        generate("1280x720", 1280, 720, 94),
        generate("1920x1080", 1920, 1080, 97),
    ];
    let hd = &sets[2];
    if let Ok(p) = std::env::var("BENCH_PROFILE") {
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
    let mut ours_hd_1400_fps = f64::NAN;
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

    // ---- part 2
    eprintln!("splitters ...");
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
    let chunk_sizes = [4096usize, 65536];
    let splitters = ["mjpegsplit", "jpegparse"];
    let chunk_sets: Vec<Vec<gst::Buffer>> = chunk_sizes.iter().map(|&c| chunked(c)).collect();
    // [chunk][splitter] -> (MB/s per round, frames out per round)
    let mut split_runs = vec![vec![(Vec::new(), Vec::new()); 2]; 2];
    for _ in 0..cfg.rounds {
        for (c, chunks) in chunk_sets.iter().enumerate() {
            for (p, splitter) in splitters.iter().enumerate() {
                let (secs, frames) = split(splitter, chunks);
                split_runs[c][p].0.push(stream.len() as f64 / MB / secs);
                split_runs[c][p].1.push(frames);
            }
        }
    }
    let (memchr_mbs, _) = {
        let v: Vec<f64> = (0..cfg.rounds.max(5))
            .map(|_| stream.len() as f64 / MB / memchr_floor(&stream).0)
            .collect();
        (median(&v), ())
    };
    let mut sec = Section::new(
        "2. MJPEG stream splitting",
        &format!(
            "The same concatenated stream of {stream_frames} 1920x1080 frames ({:.1} MB) through \
             `appsrc ! mjpegsplit ! fakesink` and `appsrc ! jpegparse ! fakesink` in buffers of \
             the given size, medians. Frames out must equal frames in ({stream_frames}); the \
             column lists each round's count. Floor: `memchr_iter(0xFF, stream).count()`.",
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
    let mut split_64k = f64::NAN;
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
        ]);
    }
    sections.push(sec);

    // ---- part 4 (floors), measured before the long UDP part
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
    for _ in 0..cfg.rounds {
        floor_runs.push(udp_flat_out(Some(&lists), hd, cfg.floor_frames));
        ours_udp_runs.push(udp_flat_out(None, hd, cfg.floor_frames));
        let n = cfg.floor_frames * 10;
        memcpy_fps.push(n as f64 / memcpy_floor(&hd_bytes, n));
    }
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
        "memchr_iter(0xFF) count over the MJPEG stream".into(),
        String::new(),
        f0(memchr_mbs * MB / hd_mean),
        f0(memchr_mbs),
        String::new(),
        format!("mjpegsplit 64 KB: {}", ratio(split_64k, memchr_mbs)),
    ]);
    sections.push(sec);

    // ---- part 3
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
    let expected_ms = (hd_datagrams.div_ceil(32) - 1) as f64 * 0.5;
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
             consecutive bursts of a frame from its second burst on (burst-interval, 500 us \
             by default; {hd_datagrams} datagrams make {} bursts of 32 spread over \
             {expected_ms:.1} ms): ours paced (defaults) {:.0} us, with the clock wait before \
             udpjpegpay {:.0} us.",
            cfg.udp_secs,
            cfg.udp_rounds,
            if root {
                "run as root, so udpsrc forces the size with SO_RCVBUFFORCE"
            } else {
                "not root, so the kernel caps it at rmem_max"
            },
            hd_datagrams.div_ceil(32),
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
    // keep the documented order 1, 2, 3, 4
    sections.insert(2, sec);

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
    sections.insert(3, sec);

    // ---- output
    let command = format!(
        "cargo run --release --example bench{}",
        if cfg.quick { " -- --quick" } else { "" }
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
    let mut md = String::from("# Benchmark\n\n");
    md += &header.replace('\n', "  \n");
    md += "\n\nfps and MB/s are medians over the rounds; MB = 10^6 bytes. \
           Generated frames: `videotestsrc pattern=pinwheel horizontal-speed=3 ! \
           video/x-raw,format=I420 ! jpegenc quality=Q`, 60 distinct frames per size, cycled.\n\n";
    for s in &sections {
        md += &s.markdown();
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/benchmark.md");
    match std::fs::write(&path, md) {
        Ok(()) => eprintln!("wrote {}", path.display()),
        Err(e) => eprintln!("could not write {}: {e}", path.display()),
    }
}
