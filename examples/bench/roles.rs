// SPDX-License-Identifier: MPL-2.0
//! The child processes of sections 7 and 8: the bench binary started again
//! with a hidden `--role sender` or `--role receiver`, so that sender and
//! receiver run in separate processes, as a user runs them.
//!
//! ```text
//! bench --role receiver --pipeline 'udpsrc ... ! udpjpegdepay name=depay ! fakesink name=sink ...'
//! bench --role sender --pipeline 'appsrc name=src ... ! udpjpegpay name=pay ! udpsink ...' \
//!       --frames FILE --count 300 --fps 30
//! ```
//!
//! Each frame carries its number in its own bytes (see [`tag`]) and both
//! sides stamp it with `CLOCK_MONOTONIC`, the one clock that processes on a
//! machine share (`Instant` and GStreamer's clocks are not comparable across
//! processes). The sender stamps frames entering the element named `pay`;
//! the receiver stamps frames leaving the element named `depay` and
//! rendered by the `fakesink` named `sink` (`signal-handoffs=true`). Each
//! stamp is a line on stdout: `S n ns`, `D n ns`, `K n ns`. The receiver
//! prints `ready` once playing, and stops when its stdin closes.

use std::io::{BufRead, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;

use crate::harness::{element, launch, run_to_eos, set_state};

/// Which side of a stream this process runs.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    Sender,
    Receiver,
}

/// The hidden flags of a child process.
#[derive(clap::Args)]
pub struct RoleArgs {
    #[arg(long, hide = true)]
    pub role: Option<Role>,
    /// The whole pipeline, gst-launch syntax.
    #[arg(long, hide = true, default_value = "")]
    pub pipeline: String,
    /// Sender: the frames, as written by [`write_frames`].
    #[arg(long, hide = true)]
    pub frames: Option<PathBuf>,
    /// Sender: frames to send.
    #[arg(long, hide = true, default_value_t = 0)]
    pub count: usize,
    /// Sender: frames a second.
    #[arg(long, hide = true, default_value_t = 30)]
    pub fps: u32,
    /// Receiver: watch the reading thread of the `udpsrc` named `usrc`;
    /// sender: watch the bursts leaving `pay`.
    #[arg(long, hide = true)]
    pub watch: bool,
}

/// `CLOCK_MONOTONIC` in nanoseconds.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write, and CLOCK_MONOTONIC exists
    // on every Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Bytes of the frame number carried by a frame: "LT" and 8 digits.
const TAG_LEN: usize = 10;

/// `jpeg` (ending with EOI) with "LTnnnnnnnn" inserted before its EOI: at
/// the end of the scan data, where decoders skip it as padding. A COM
/// segment would not do: `rtpjpegpay` drops every header segment and
/// `rtpjpegdepay` rebuilds them, but both keep the scan data byte for byte.
pub fn tag(jpeg: &[u8], n: u32) -> Vec<u8> {
    assert!(jpeg.ends_with(&[0xFF, 0xD9]), "a frame ends with EOI");
    let mut out = Vec::with_capacity(jpeg.len() + TAG_LEN);
    out.extend_from_slice(&jpeg[..jpeg.len() - 2]);
    out.extend_from_slice(format!("LT{n:08}").as_bytes());
    out.extend_from_slice(&[0xFF, 0xD9]);
    out
}

/// The number [`tag`] put in a frame, reading only its last 12 bytes (a
/// map of the whole buffer could copy it).
pub fn read_tag(buffer: &gst::BufferRef) -> Option<u32> {
    let size = buffer.size();
    let mut end = [0u8; TAG_LEN + 2];
    buffer
        .copy_to_slice(size.checked_sub(end.len())?, &mut end)
        .ok()?;
    if &end[..2] != b"LT" || end[TAG_LEN..] != [0xFF, 0xD9] {
        return None;
    }
    std::str::from_utf8(&end[2..TAG_LEN]).ok()?.parse().ok()
}

/// Writes the frames for a sender: each as a 4-byte little-endian length
/// and its bytes.
pub fn write_frames(path: &std::path::Path, frames: &[gst::Buffer]) {
    let mut out = Vec::new();
    for f in frames {
        let map = f.map_readable().unwrap();
        out.extend_from_slice(&(map.len() as u32).to_le_bytes());
        out.extend_from_slice(&map);
    }
    std::fs::write(path, out).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn read_frames(path: &std::path::Path) -> Vec<Vec<u8>> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut frames = Vec::new();
    let mut rest = &data[..];
    while let Some((len, tail)) = rest.split_first_chunk::<4>() {
        let len = u32::from_le_bytes(*len) as usize;
        frames.push(tail[..len].to_vec());
        rest = &tail[len..];
    }
    frames
}

/// (frame number, CLOCK_MONOTONIC ns) per tagged buffer seen.
type Stamps = Arc<Mutex<Vec<(u32, u64)>>>;

/// Stamps every tagged buffer crossing `pad`.
fn stamp_at(pad: &gst::Pad) -> Stamps {
    let stamps = Stamps::default();
    let s = stamps.clone();
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let now = monotonic_ns();
        if let Some(gst::PadProbeData::Buffer(b)) = &info.data
            && let Some(n) = read_tag(b)
        {
            s.lock().unwrap().push((n, now));
        }
        gst::PadProbeReturn::Ok
    });
    stamps
}

/// Stamps every tagged buffer the fakesink `sink` renders (its handoff
/// comes after its clock wait).
fn stamp_renders(sink: &gst::Element) -> Stamps {
    let stamps = Stamps::default();
    let s = stamps.clone();
    sink.connect("handoff", false, move |args| {
        let now = monotonic_ns();
        if let Ok(b) = args[1].get::<gst::Buffer>()
            && let Some(n) = read_tag(&b)
        {
            s.lock().unwrap().push((n, now));
        }
        None
    });
    stamps
}

fn print_stamps(out: &mut impl Write, kind: char, stamps: &Stamps) {
    for (n, t) in stamps.lock().unwrap().iter() {
        writeln!(out, "{kind} {n} {t}").unwrap();
    }
}

/// Runs the role given on the command line, then exits the process.
pub fn run(args: &RoleArgs) -> ! {
    gst::init().expect("gst::init");
    gstudpjpeg::plugin_register_static().expect("register udpjpeg");
    match args.role {
        Some(Role::Sender) => sender(args),
        Some(Role::Receiver) => receiver(args),
        None => unreachable!("run is called with a role"),
    }
    std::process::exit(0)
}

/// How long the sender keeps playing after its last frame, before EOS.
const LINGER: Duration = Duration::from_secs(1);

/// Pushes `count` tagged frames at `fps` into appsrc `src`, then EOS.
fn sender(args: &RoleArgs) {
    let frames = read_frames(args.frames.as_deref().expect("--frames"));
    let pipeline = launch(&args.pipeline);
    let src: gst_app::AppSrc = element(&pipeline, "src");
    let pay: gst::Element = element(&pipeline, "pay");
    let stamps = stamp_at(&pay.static_pad("sink").expect("pay has a sink pad"));
    let sends = args
        .watch
        .then(|| watch_sends(&pay.static_pad("src").expect("pay has a src pad")));
    set_state(&pipeline, gst::State::Playing);
    let start = Instant::now();
    let period = Duration::from_secs(1) / args.fps;
    for i in 0..args.count {
        let due = start + period * i as u32;
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        let frame = tag(&frames[i % frames.len()], i as u32);
        if src.push_buffer(gst::Buffer::from_mut_slice(frame)).is_err() {
            break;
        }
    }
    // A stream goes on: SRT, which closes its socket without lingering on
    // EOS, would drop the frames still in its receiver's latency window.
    std::thread::sleep(LINGER);
    src.end_of_stream().expect("eos");
    let timeout = period * args.count as u32 + Duration::from_secs(30);
    if let Err(e) = run_to_eos(&pipeline, timeout) {
        eprintln!("sender: {e}");
    }
    set_state(&pipeline, gst::State::Null);
    let mut out = std::io::stdout().lock();
    print_stamps(&mut out, 'S', &stamps);
    if let Some(s) = sends {
        let s = s.lock().unwrap();
        writeln!(out, "P {} {} {}", s.bursts, s.back_to_back, s.max_gap).unwrap();
    }
}

/// The bursts of a frame after its second, as they leave the payloader.
#[derive(Default)]
struct Sends {
    last: u64,
    bursts: u64,
    /// Bursts that left within 50 µs of the previous one: the payloader
    /// catching up after its thread was kept off the CPU.
    back_to_back: u64,
    max_gap: u64,
    after_first: bool,
}

fn watch_sends(pad: &gst::Pad) -> Arc<Mutex<Sends>> {
    let sends = Arc::new(Mutex::new(Sends::default()));
    let s = sends.clone();
    pad.add_probe(gst::PadProbeType::BUFFER_LIST, move |_, info| {
        let now = monotonic_ns();
        let Some(gst::PadProbeData::BufferList(l)) = &info.data else {
            return gst::PadProbeReturn::Ok;
        };
        let mut kind = [0u8; 1];
        let _ = l.get(0).map(|b| b.copy_to_slice(0, &mut kind));
        let mut s = s.lock().unwrap();
        // After a frame's first burst the gap also holds udpsink's clock
        // wait: only later gaps are the payloader's own.
        if kind[0] != b'S' && s.last != 0 && !s.after_first {
            let gap = now - s.last;
            s.bursts += 1;
            s.back_to_back += u64::from(gap < 50_000);
            s.max_gap = s.max_gap.max(gap);
        }
        s.after_first = kind[0] == b'S';
        s.last = now;
        gst::PadProbeReturn::Ok
    });
    sends
}

/// Plays until stdin closes, then prints what it saw.
fn receiver(args: &RoleArgs) {
    let pipeline = launch(&args.pipeline);
    let depay: gst::Element = element(&pipeline, "depay");
    let out_stamps = stamp_at(&depay.static_pad("src").expect("depay has a src pad"));
    let renders = stamp_renders(&element(&pipeline, "sink"));
    let reads = args.watch.then(|| watch_reads(&element(&pipeline, "usrc")));
    let overruns = args.watch.then(|| count_overruns(&pipeline));
    set_state(&pipeline, gst::State::Playing);
    println!("ready");
    std::io::stdout().flush().unwrap();
    let errors = play_until_stdin_closes(&pipeline);
    let thread = reads.as_ref().map(|r| r.thread_line());
    set_state(&pipeline, gst::State::Null);
    let mut out = std::io::stdout().lock();
    print_stamps(&mut out, 'D', &out_stamps);
    print_stamps(&mut out, 'K', &renders);
    if let Some(r) = reads {
        writeln!(out, "{}", r.gaps_line()).unwrap();
        writeln!(out, "{}", thread.unwrap()).unwrap();
    }
    if let Some(Some(n)) = overruns {
        writeln!(out, "Q {}", n.load(Ordering::Relaxed)).unwrap();
    }
    for e in errors {
        writeln!(out, "E {e}").unwrap();
    }
}

/// Counts the times the `queue` named `q` (if any) was full, which blocks
/// the thread that pushes into it: with `udpsrc ! udpjpegdepay ! queue`,
/// the thread that reads the socket.
fn count_overruns(pipeline: &gst::Pipeline) -> Option<Arc<AtomicU64>> {
    let queue = pipeline.by_name("q")?;
    let count = Arc::new(AtomicU64::new(0));
    let c = count.clone();
    queue.connect("overrun", false, move |_| {
        c.fetch_add(1, Ordering::Relaxed);
        None
    });
    Some(count)
}

/// Handles the bus as gst-launch does (latency recalculated when asked)
/// until stdin closes; returns the errors posted.
fn play_until_stdin_closes(pipeline: &gst::Pipeline) -> Vec<String> {
    let closed = Arc::new(AtomicBool::new(false));
    let c = closed.clone();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::stdin().lock().read_to_end(&mut sink);
        c.store(true, Ordering::Release);
    });
    let bus = pipeline.bus().unwrap();
    let mut errors = Vec::new();
    while !closed.load(Ordering::Acquire) {
        let Some(msg) = bus.timed_pop_filtered(
            gst::ClockTime::from_mseconds(50),
            &[gst::MessageType::Error, gst::MessageType::Latency],
        ) else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Latency(_) => {
                let _ = pipeline.recalculate_latency();
            }
            gst::MessageView::Error(e) => errors.push(e.error().to_string()),
            _ => {}
        }
    }
    errors
}

/// How long datagrams waited in the socket buffer before udpsrc read them,
/// and the reading thread.
#[derive(Default)]
struct Reads {
    /// The longest wait, and how many datagrams waited over 1, 2 and 5 ms.
    max_wait: u64,
    over: [u64; 3],
    /// Datagrams without an arrival time (udpsrc socket-timestamp unset).
    untimed: u64,
    /// The streaming thread of udpsrc (Linux thread id).
    tid: i32,
}

const OVER_MS: [u64; 3] = [1, 2, 5];

struct ReadWatch(Arc<Mutex<Reads>>);

/// Watches the datagrams leaving `udpsrc socket-timestamp=realtime`, which
/// gives each the kernel's arrival time (SO_TIMESTAMPNS) as its DTS, in
/// running time: how long each waited in the socket buffer (the reading
/// thread kept off the CPU; a wait longer than the buffer covers loses
/// datagrams), and which thread reads.
fn watch_reads(udpsrc: &gst::Element) -> ReadWatch {
    let reads = Arc::new(Mutex::new(Reads::default()));
    let r = reads.clone();
    let pad = udpsrc.static_pad("src").expect("udpsrc has a src pad");
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let now = pad.parent_element().and_then(|e| e.current_running_time());
        let Some(gst::PadProbeData::Buffer(b)) = &info.data else {
            return gst::PadProbeReturn::Ok;
        };
        let arrived = b.dts().zip(now);
        let mut r = r.lock().unwrap();
        if r.tid == 0 {
            // SAFETY: gettid has no preconditions.
            r.tid = unsafe { libc::gettid() };
        }
        match arrived {
            Some((dts, now)) => {
                let wait = now.saturating_sub(dts).nseconds();
                r.max_wait = r.max_wait.max(wait);
                for (o, ms) in r.over.iter_mut().zip(OVER_MS) {
                    *o += u64::from(wait > ms * 1_000_000);
                }
            }
            None => r.untimed += 1,
        }
        gst::PadProbeReturn::Ok
    });
    ReadWatch(reads)
}

impl ReadWatch {
    /// `G max_wait_ns over_1ms over_2ms over_5ms untimed`
    fn gaps_line(&self) -> String {
        let r = self.0.lock().unwrap();
        let [a, b, c] = r.over;
        format!("G {} {a} {b} {c} {}", r.max_wait, r.untimed)
    }
    /// `T cpu_ns runqueue_wait_ns timeslices` of the reading thread, from
    /// /proc/self/task/TID/schedstat (empty fields when unknown).
    fn thread_line(&self) -> String {
        let tid = self.0.lock().unwrap().tid;
        let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat"));
        format!("T {}", stat.unwrap_or_default().trim())
    }
}

/// A child process's stdout, line by line.
pub fn lines(out: impl Read) -> impl Iterator<Item = String> {
    std::io::BufReader::new(out).lines().map_while(Result::ok)
}
