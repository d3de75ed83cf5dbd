// SPDX-License-Identifier: MPL-2.0
//! Section 8: frames lost on a busy machine. 1920x1080 over 127.0.0.1,
//! sender and receiver in two processes (see `pair`), the receiver
//! decoding with the kernel's default receive buffer:
//!
//! ```text
//! udpsrc port=P ! udpjpegdepay ! queue ! jpegdec ! videoconvert ! fakesink
//! ```
//!
//! while two `yes` processes (output to /dev/null) keep both cores busy.
//! The benchmark starts them before each case and stops them after it;
//! each runs under `timeout`, so none outlives its bound even if the
//! benchmark dies. The cases: the defaults (udpjpegdepay asks udpsrc's
//! socket for `receive-buffer-size`, 212,992 bytes, which the kernel
//! doubles); the kernel's default receive buffer (`receive-buffer-size=0`)
//! with the payloader's `burst-interval` spreading a frame's bursts
//! further (latency added at the sender); and a `queue` right after
//! `udpsrc` (which udpjpegdepay cannot see past, so the socket keeps the
//! kernel's default).

use std::time::{Duration, Instant};

use gstudpjpeg::wire::{Plan, WireFormat};

use crate::Config;
use crate::busy::{Busy, CORES};
use crate::cpu::Mark;
use crate::frames::FrameSet;
use crate::latency::{FrameFiles, SINK, delays_ms, ms, quantile, sender_pipeline};
use crate::pair::{Outcome, Pair, free_port, run};
use crate::report::load_average;
use crate::table::Section;

const RATES: [u32; 2] = [30, 60];
/// The payloader's default burst-size.
const BURST: usize = 16;
/// The receiver in front of the decoder.
#[derive(Clone, Copy, PartialEq)]
enum Receiver {
    /// `udpsrc ! udpjpegdepay`, both at their defaults.
    Defaults,
    /// `udpsrc ! udpjpegdepay receive-buffer-size=0`: the kernel's default
    /// receive buffer.
    KernelBuffer,
    /// `udpsrc ! queue ! udpjpegdepay`.
    QueueFirst,
}

impl Receiver {
    fn label(self) -> &'static str {
        match self {
            Receiver::Defaults => "udpsrc ! udpjpegdepay",
            Receiver::KernelBuffer => "udpsrc ! udpjpegdepay receive-buffer-size=0",
            Receiver::QueueFirst => "udpsrc ! queue ! udpjpegdepay",
        }
    }

    fn chain(self, port: u16) -> String {
        let udpsrc =
            format!("udpsrc name=usrc address=127.0.0.1 port={port} socket-timestamp=realtime");
        match self {
            Receiver::Defaults => format!("{udpsrc} ! udpjpegdepay name=depay"),
            Receiver::KernelBuffer => {
                format!("{udpsrc} ! udpjpegdepay name=depay receive-buffer-size=0")
            }
            Receiver::QueueFirst => format!("{udpsrc} ! queue ! udpjpegdepay name=depay"),
        }
    }
}

/// One case: the payloader's burst-interval, and the receiver.
#[derive(Clone, Copy)]
struct Case {
    interval_us: u32,
    receiver: Receiver,
}

/// The cases at each frame rate, in the order of the rows: the defaults
/// first, then the kernel's buffer with the bursts spread further, then a
/// queue first.
const CASES: [Case; 6] = [
    Case::new(300, Receiver::Defaults),
    Case::new(1000, Receiver::Defaults),
    Case::new(300, Receiver::KernelBuffer),
    Case::new(1000, Receiver::KernelBuffer),
    Case::new(2000, Receiver::KernelBuffer),
    Case::new(300, Receiver::QueueFirst),
];

impl Case {
    const fn new(interval_us: u32, receiver: Receiver) -> Case {
        Case {
            interval_us,
            receiver,
        }
    }
}

/// How long the payloader spreads a mean 1080p frame's bursts: the latency
/// that pacing adds at the sender.
fn spread_ms(hd: &FrameSet, interval_us: u32) -> f64 {
    let datagrams = Plan::new(WireFormat::Sce, hd.mean_size() as usize, 1400)
        .unwrap()
        .count;
    (datagrams.div_ceil(BURST) - 1) as f64 * f64::from(interval_us) / 1000.0
}

fn receiver(case: Case, port: u16) -> String {
    format!(
        "{} ! queue name=q ! jpegdec ! videoconvert ! {SINK}",
        case.receiver.chain(port)
    )
}

/// One case at `fps`, with the cores kept busy; and the cores other work
/// kept busy meanwhile.
fn measure(
    cfg: &Config,
    hd: &FrameSet,
    frames: &FrameFiles,
    fps: u32,
    case: Case,
) -> (Outcome, f64) {
    let port = free_port();
    let sending = format!(
        "udpjpegpay name=pay burst-interval={} ! udpsink host=127.0.0.1 port={port}",
        case.interval_us
    );
    let secs = cfg.load_frames as f64 / f64::from(fps);
    let mark = Mark::now();
    let busy = Busy::start(Duration::from_secs_f64(secs + 30.0));
    let outcome = run(&Pair {
        sender: sender_pipeline(hd, fps, &sending),
        receiver: receiver(case, port),
        frames: frames.path(0),
        count: cfg.load_frames,
        fps,
        watch: true,
        port,
    });
    drop(busy);
    (outcome, mark.others())
}

/// Section 8.
pub fn section(cfg: &Config, hd: &FrameSet) -> Section {
    crate::harness::require(&["jpegdec", "videoconvert", "queue"]);
    let started = Instant::now();
    let load = load_average();
    let frames = FrameFiles::write(&[hd]);
    let mut sec = Section::new(
        "8. Frames lost on a busy machine (1920x1080, both cores busy)",
        "",
        &HEADER,
    );
    for fps in RATES {
        for case in CASES {
            let spread = spread_ms(hd, case.interval_us);
            if spread >= 1000.0 / f64::from(fps) {
                continue; // frames would leave slower than they come
            }
            eprintln!(
                "busy machine: {fps} fps, burst-interval {} ...",
                case.interval_us
            );
            let (o, others) = measure(cfg, hd, &frames, fps, case);
            sec.row(row(fps, case, spread, &o, others));
        }
    }
    sec.note = note(cfg, hd, &load, started.elapsed().as_secs_f64());
    sec
}

const HEADER: [&str; 14] = [
    "fps",
    "receiver",
    "burst-interval us",
    "spread ms",
    "to depay out: median ms",
    "p99",
    "lost",
    "per 1,000",
    "socket drops",
    "longest wait in the socket ms (datagrams > 1 / 2 / 5 ms)",
    "read thread: CPU us/frame, wait us/slice",
    "sender: bursts back to back, longest gap ms",
    "queue before jpegdec full (times)",
    "others' CPU (cores)",
];

fn row(fps: u32, case: Case, spread: f64, o: &Outcome, others: f64) -> Vec<String> {
    let d = delays_ms(&o.sent, &o.out);
    let sent = o.sent.len();
    let lost = sent - d.len();
    let r = o.reads.unwrap_or_default();
    if r.untimed > 0 {
        eprintln!(
            "{} datagrams had no arrival time (socket-timestamp)",
            r.untimed
        );
    }
    vec![
        fps.to_string(),
        case.receiver.label().into(),
        case.interval_us.to_string(),
        format!("{spread:.1}"),
        ms(quantile(&d, 0.5)),
        ms(quantile(&d, 0.99)),
        format!("{lost}/{sent}"),
        format!("{:.1}", 1000.0 * lost as f64 / sent.max(1) as f64),
        format!(
            "{} ({} all UDP)",
            o.socket.drops.map_or("?".into(), |d| d.to_string()),
            o.rcvbuf_errors
        ),
        format!(
            "{} ({} / {} / {})",
            ms(r.max_wait_ns as f64 / 1e6),
            r.over[0],
            r.over[1],
            r.over[2]
        ),
        format!(
            "{:.0}, {:.0}",
            r.cpu_ns as f64 / 1e3 / d.len().max(1) as f64,
            r.wait_ns as f64 / 1e3 / r.slices.max(1) as f64
        ),
        o.sends.map_or("?".into(), |s| {
            format!(
                "{}/{}, {}",
                s.back_to_back,
                s.bursts,
                ms(s.max_gap_ns as f64 / 1e6)
            )
        }),
        o.queue_full.map_or("?".into(), |n| n.to_string()),
        format!("{others:.2}"),
    ]
}

fn note(cfg: &Config, hd: &FrameSet, load: &str, took: f64) -> String {
    format!(
        "Sender `appsrc is-live=true do-timestamp=true ! udpjpegpay burst-interval=I ! \
         udpsink` (burst-size 16, the default) and receiver `RECEIVER ! queue ! jpegdec ! \
         videoconvert ! fakesink` in two processes on 127.0.0.1, while {CORES} `yes > \
         /dev/null` keep both cores busy (started before each case, stopped after it). \
         udpsrc has socket-timestamp=realtime (the kernel's arrival time of each datagram). \
         Receive buffer: at the defaults udpjpegdepay asks udpsrc's socket for 212992 bytes \
         (receive-buffer-size), which the kernel doubles to 425984 (184 datagrams of 1400 \
         bytes) on any machine whose net.core.rmem_max is at least that (a stock Debian's \
         is exactly that), as root or not; receive-buffer-size=0 and a queue before \
         udpjpegdepay leave the kernel's default (net.core.rmem_default, 212992 bytes \
         reported, 92 such datagrams). {} frames per case ({:.1} KB \
         mean, {} datagrams of 1400 bytes); lost = sent - left udpjpegdepay. Spread: how \
         long the payloader spreads a frame's bursts, (ceil(datagrams / 16) - 1) x \
         burst-interval, the latency pacing adds (cases whose spread exceeds the frame \
         interval are not run). Socket drops: the receiving socket's drops column in \
         /proc/net/udp (datagrams), then UDP RcvbufErrors of /proc/net/snmp over the case \
         (the whole machine). Wait in the socket: from a datagram's arrival to udpsrc \
         reading it, the longest, then how many datagrams waited over 1, 2 and 5 ms. Read \
         thread: udpsrc's streaming thread (which also runs udpjpegdepay unless a queue \
         follows udpsrc) from /proc/self/task/TID/schedstat: CPU time per frame delivered, \
         and mean time runnable but waiting for a core per time slice. Sender: bursts that \
         left within 50 us of the previous one (the payloader catching up after its thread \
         was kept off the CPU), of all bursts after a frame's second, and the longest gap \
         between them. Queue full: times the `queue` before jpegdec was full (its \
         `overrun` signal), which blocks the thread that reads the socket. Others' CPU: \
         cores that other work on the machine (and the kernel's network processing) kept \
         busy during the case, besides the benchmark, its children and the `yes`. Load average before the section (without the `yes`): {load}; the \
         section took {took:.0} s.",
        cfg.load_frames,
        hd.mean_size() / 1000.0,
        Plan::new(WireFormat::Sce, hd.mean_size() as usize, 1400)
            .unwrap()
            .count,
    )
}
