// SPDX-License-Identifier: MPL-2.0
//! Sections 7 and 7b: latency from sender to receiver, in two processes on
//! 127.0.0.1, ours against the RTP pair with `rtpjitterbuffer` and SRT,
//! at 360p, 720p and 1080p, 30 and 60 fps; 7 with the kernel's default
//! receive buffer, 7b with 4 MB.
//!
//! Sender: `appsrc is-live=true do-timestamp=true` pushing a frame every
//! 1/fps (a live camera) into the payloader and its sink at their defaults;
//! receiver: the source and depayloader, then `fakesink sync=true`. Each
//! frame is timed from entering the payloader to leaving the depayloader,
//! and to being rendered by the syncing sink (see `roles`, `pair`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::Config;
use crate::cpu::Mark;
use crate::frames::FrameSet;
use crate::harness::BIG_RCVBUF;
use crate::pair::{Outcome, Pair, Stamps, free_port, run};
use crate::report::load_average;
use crate::roles::write_frames;
use crate::table::Section;

const RATES: [u32; 2] = [30, 60];

const RTP_CAPS: &str =
    "application/x-rtp,media=video,encoding-name=JPEG,clock-rate=90000,payload=26";

/// The pairs compared, in the order of the rows.
#[derive(Clone, Copy, PartialEq)]
pub enum System {
    Ours,
    /// Ours with `udpjpegdepay receive-buffer-size=0`: the kernel's
    /// default receive buffer (section 7 only).
    OursKernelBuffer,
    RtpJitterBuffer,
    RtpJitterBuffer0,
    Srt,
    Srt20,
}

const SYSTEMS: [System; 6] = [
    System::Ours,
    System::OursKernelBuffer,
    System::RtpJitterBuffer,
    System::RtpJitterBuffer0,
    System::Srt,
    System::Srt20,
];

impl System {
    fn label(self) -> &'static str {
        match self {
            System::Ours => "ours (defaults)",
            System::OursKernelBuffer => "ours, receive-buffer-size=0",
            System::RtpJitterBuffer => "RTP + rtpjitterbuffer (default, 200 ms)",
            System::RtpJitterBuffer0 => "RTP + rtpjitterbuffer latency=0",
            System::Srt => "SRT (default, 125 ms)",
            System::Srt20 => "SRT latency=20",
        }
    }

    /// The sending element, named `pay`, after appsrc.
    fn sending(self, port: u16) -> String {
        match self {
            System::Ours | System::OursKernelBuffer => {
                format!("udpjpegpay name=pay ! udpsink host=127.0.0.1 port={port}")
            }
            System::RtpJitterBuffer | System::RtpJitterBuffer0 => {
                format!("rtpjpegpay name=pay ! udpsink host=127.0.0.1 port={port}")
            }
            System::Srt => format!("srtsink name=pay uri=srt://127.0.0.1:{port}"),
            System::Srt20 => format!("srtsink name=pay uri=srt://127.0.0.1:{port} latency=20"),
        }
    }

    /// The receiving chain up to the depayloader, named `depay`. `big`: a
    /// 4 MB receive buffer; otherwise nothing is set, so the kernel's
    /// default applies (SRT: libsrt's).
    fn receiving(self, port: u16, big: bool) -> String {
        let udpsrc = format!(
            "udpsrc name=usrc address=127.0.0.1 port={port}{}",
            if big {
                format!(" buffer-size={BIG_RCVBUF}")
            } else {
                String::new()
            }
        );
        let srt_uri = format!(
            "srt://127.0.0.1:{port}?mode=listener{}",
            if big {
                format!("&rcvbuf={BIG_RCVBUF}")
            } else {
                String::new()
            }
        );
        match self {
            System::Ours => format!("{udpsrc} ! udpjpegdepay name=depay"),
            System::OursKernelBuffer => {
                format!("{udpsrc} ! udpjpegdepay name=depay receive-buffer-size=0")
            }
            System::RtpJitterBuffer => {
                format!("{udpsrc} caps=\"{RTP_CAPS}\" ! rtpjitterbuffer ! rtpjpegdepay name=depay")
            }
            System::RtpJitterBuffer0 => format!(
                "{udpsrc} caps=\"{RTP_CAPS}\" ! rtpjitterbuffer latency=0 \
                 ! rtpjpegdepay name=depay"
            ),
            System::Srt => format!("srtsrc name=usrc uri=\"{srt_uri}\" ! mjpegsplit name=depay"),
            System::Srt20 => {
                format!("srtsrc name=usrc uri=\"{srt_uri}\" latency=20 ! mjpegsplit name=depay")
            }
        }
    }
}

/// The live sender: appsrc stamping frames as they are pushed.
pub fn sender_pipeline(set: &FrameSet, fps: u32, sending: &str) -> String {
    format!(
        "appsrc name=src is-live=true do-timestamp=true format=time \
         caps=\"image/jpeg,width={},height={},framerate={fps}/1\" ! {sending}",
        set.width, set.height
    )
}

/// The receiver's syncing sink, whose renders are stamped.
pub const SINK: &str = "fakesink name=sink sync=true signal-handoffs=true enable-last-sample=false";

/// `chain`, then a queue, so that the sink's clock wait never holds the
/// depayloader's thread (its output is stamped as it leaves), then the sink.
fn receiver_pipeline(chain: &str) -> String {
    format!("{chain} ! queue ! {SINK}")
}

/// The frames of each set written once for the sender processes, removed
/// when dropped.
pub struct FrameFiles(Vec<PathBuf>);

impl FrameFiles {
    pub fn write(sets: &[&FrameSet]) -> Self {
        let dir = std::env::temp_dir();
        let pid = std::process::id();
        FrameFiles(
            sets.iter()
                .map(|s| {
                    let path = dir.join(format!("udpjpeg-bench-{pid}-{}.frames", s.label));
                    write_frames(&path, &s.frames);
                    path
                })
                .collect(),
        )
    }
    pub fn path(&self, k: usize) -> &Path {
        &self.0[k]
    }
}

impl Drop for FrameFiles {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Milliseconds from each sent frame to its stamp in `seen`, sorted.
pub fn delays_ms(sent: &Stamps, seen: &Stamps) -> Vec<f64> {
    let mut d: Vec<f64> = sent
        .iter()
        .filter_map(|(n, t0)| seen.get(n).map(|t| (*t as f64 - *t0 as f64) / 1e6))
        .collect();
    d.sort_by(f64::total_cmp);
    d
}

/// The value at quantile `q` of sorted `v` (nearest rank), NaN if empty.
pub fn quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let rank = (q * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// Milliseconds, to 0.01 under 10 ms.
pub fn ms(x: f64) -> String {
    match x {
        x if !x.is_finite() => "-".into(),
        x if x < 10.0 => format!("{x:.2}"),
        x => format!("{x:.1}"),
    }
}

/// Median, p99, max of `d` as three cells.
fn spread_cells(d: &[f64]) -> [String; 3] {
    [
        ms(quantile(d, 0.5)),
        ms(quantile(d, 0.99)),
        ms(quantile(d, 1.0)),
    ]
}

/// One row: size, fps, pair, the two latencies, loss, receive buffer.
fn row(set: &FrameSet, fps: u32, system: System, o: &Outcome, others: f64) -> Vec<String> {
    let out = delays_ms(&o.sent, &o.out);
    let sink = delays_ms(&o.sent, &o.rendered);
    let lost = o.sent.len() - out.len();
    let mut lost_cell = format!("{lost}/{}", o.sent.len());
    if sink.len() < out.len() {
        lost_cell += &format!(" ({} not rendered)", out.len() - sink.len());
    }
    if !o.errors.is_empty() {
        eprintln!(
            "{} {fps} {}: {}",
            set.label,
            system.label(),
            o.errors.join("; ")
        );
    }
    let mut cells = vec![
        set.label.to_string(),
        fps.to_string(),
        system.label().into(),
    ];
    cells.extend(spread_cells(&out));
    cells.extend(spread_cells(&sink));
    cells.push(lost_cell);
    cells.push(o.socket.rb.map_or("?".into(), |b| b.to_string()));
    cells.push(format!("{others:.2}"));
    cells
}

/// Runs one cell; also returns the cores other work kept busy meanwhile.
fn cell(
    cfg: &Config,
    set: &FrameSet,
    frames: &Path,
    fps: u32,
    system: System,
    big: bool,
) -> (Outcome, f64) {
    let port = free_port();
    let mark = Mark::now();
    let outcome = run(&Pair {
        sender: sender_pipeline(set, fps, &system.sending(port)),
        receiver: receiver_pipeline(&system.receiving(port, big)),
        frames,
        count: cfg.latency_frames,
        fps,
        watch: false,
        port,
    });
    (outcome, mark.others())
}

pub fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Sections 7 (default receive buffer) and 7b (4 MB).
pub fn sections(cfg: &Config, sets: &[FrameSet]) -> Vec<Section> {
    crate::harness::require(&["rtpjitterbuffer", "srtsink", "srtsrc", "queue"]);
    let started = Instant::now();
    let load = load_average();
    let files = FrameFiles::write(&sets.iter().collect::<Vec<_>>());
    let mut rows: [Vec<Vec<String>>; 2] = Default::default();
    for (k, set) in sets.iter().enumerate() {
        for fps in RATES {
            eprintln!("latency {} at {fps} fps ...", set.label);
            for (b, rows) in rows.iter_mut().enumerate() {
                // With 4 MB asked of udpsrc, the depayloader leaves it.
                let systems = SYSTEMS
                    .iter()
                    .filter(|s| b == 0 || **s != System::OursKernelBuffer);
                for &system in systems {
                    let (o, others) = cell(cfg, set, files.path(k), fps, system, b == 1);
                    rows.push(row(set, fps, system, &o, others));
                }
            }
        }
    }
    let took = started.elapsed().as_secs_f64();
    let [default_rows, big_rows] = rows;
    vec![
        section(cfg, false, &load, took, default_rows),
        section(cfg, true, &load, took, big_rows),
    ]
}

fn sysctl(name: &str) -> String {
    std::fs::read_to_string(format!("/proc/sys/net/core/{name}"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

fn section(cfg: &Config, big: bool, load: &str, took: f64, rows: Vec<Vec<String>>) -> Section {
    let (title, buffers) = if big {
        (
            "7b. Latency between two processes, 4 MB receive buffer",
            format!(
                "udpsrc buffer-size={BIG_RCVBUF} (udpjpegdepay leaves a udpsrc buffer-size \
                 alone); SRT: `rcvbuf={BIG_RCVBUF}` in the srtsrc URI \
                 (SRTO_RCVBUF, libsrt's own buffer: 2849 packets instead of its default 8192; \
                 its UDP socket keeps libsrt's request)"
            ),
        )
    } else {
        (
            "7. Latency between two processes, default receive buffer",
            "nothing set on udpsrc: at its defaults udpjpegdepay asks udpsrc's socket for \
             212992 bytes (receive-buffer-size), which the kernel doubles; with \
             receive-buffer-size=0 and for RTP, udpsrc keeps net.core.rmem_default; SRT gets what libsrt asks for its \
             UDP socket (SRTO_UDP_RCVBUF, 8192 x 1500 = 12,288,000 bytes, which srtsrc does not \
             expose), capped at net.core.rmem_max"
                .to_string(),
        )
    };
    let mut sec = Section::new(title, &note(cfg, &buffers, load, took), &HEADER);
    for r in rows {
        sec.row(r);
    }
    sec
}

const HEADER: [&str; 12] = [
    "size",
    "fps",
    "pair",
    "to depay out: median ms",
    "p99",
    "max",
    "to sink render: median ms",
    "p99",
    "max",
    "lost",
    "socket rb",
    "others' CPU (cores)",
];

fn note(cfg: &Config, buffers: &str, load: &str, took: f64) -> String {
    format!(
        "Sender and receiver in two processes (the bench binary run again with a hidden \
         `--role`), on 127.0.0.1. Sender: `appsrc is-live=true do-timestamp=true` pushing a \
         frame every 1/fps (and playing on for 1 s after the last), then `udpjpegpay ! \
         udpsink`, `rtpjpegpay ! udpsink` or `srtsink` (the JPEG byte stream), all at their \
         defaults. Receiver: `udpsrc ! udpjpegdepay`, `udpsrc ! rtpjitterbuffer ! \
         rtpjpegdepay` or `srtsrc ! mjpegsplit`, then `queue ! fakesink sync=true` (the queue \
         keeps the sink's clock wait off the depayloader's thread). SRT latency is set on \
         both ends. Each frame carries its number in its scan data; both processes stamp it \
         with CLOCK_MONOTONIC: entering the payloader (`srtsink` for SRT), leaving the \
         depayloader (`mjpegsplit` for SRT), and rendered by the sink (its handoff, after its \
         clock wait). {} frames per row; median, 99th percentile and maximum over the frames \
         that arrived; lost = sent - left the depayloader. Receive buffer: {buffers}. \
         \"socket rb\" is the receiving socket's buffer as `ss -m` shows it (the kernel \
         doubles what is asked). This machine: net.core.rmem_default = {}, \
         net.core.rmem_max = {} (a stock Debian has 212992 for both: there udpsrc gets 4 MB \
         only as root, with SO_RCVBUFFORCE, an ordinary user's request and libsrt's are cut \
         to 212992, which the kernel doubles); run {}. Load \
         average before: {load}; sections 7 and 7b took {took:.0} s together.",
        cfg.latency_frames,
        sysctl("rmem_default"),
        sysctl("rmem_max"),
        if running_as_root() {
            "as root"
        } else {
            "as an ordinary user"
        },
    )
}
