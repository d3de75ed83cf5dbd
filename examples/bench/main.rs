// SPDX-License-Identifier: MPL-2.0
//! Benchmark of `udpjpegpay`/`udpjpegdepay` and `mjpegsplit` against the
//! stock RTP pair and `jpegparse`, plus floors (plain UDP, memcpy, memchr)
//! and parity (`fec-percent`) under loss, the cost of sealed streams,
//! latency between two processes against RTP and SRT, and loss on a busy
//! machine.
//!
//! ```text
//! cargo run --release --example bench             # full run, ~32 minutes
//! cargo run --release --example bench -- --quick  # fewer rounds, shorter
//! cargo run --release --example bench -- --only 7 # one section (1 to 8)
//! ```
//!
//! Sections 1 to 6 take about 5 minutes, section 7 (latency, with 7b) about
//! 10 (579 s in the last run) and section 8 (loss on a busy machine) about
//! 17 (1,034 s).
//!
//! `--only N` measures section N alone (3 with 3b, 5 with 5b, 6 with 6b, 7
//! with 7b) and replaces it in `docs/benchmark.md`, keeping the other
//! sections. Each section is a module of this folder; this file parses the
//! flags, runs the sections selected, and hands the tables to `report`.
//! Sections 7 and 8 run senders and receivers as child processes: this
//! binary again, with the hidden flag `--role` (see `roles`).
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

#[path = "../common/busy.rs"]
mod busy;
mod cpu;
mod floors;
mod frames;
mod harness;
mod latency;
mod load;
mod pair;
mod parity;
mod pay_depay;
mod report;
mod roles;
mod seal;
mod splitters;
mod table;
mod udp_loss;

use std::time::Instant;

use clap::Parser;

use floors::Compared;
use frames::{FrameSet, generate};
use pay_depay::HdFps;
use report::RunInfo;
use splitters::Stream;
use table::Section;

/// Benchmark of udpjpegpay/udpjpegdepay and mjpegsplit against the stock RTP
/// pair and jpegparse, plus floors and parity under loss; prints the tables
/// and writes them to docs/benchmark.md.
#[derive(Parser)]
#[command(
    name = "bench",
    override_usage = "cargo run --release --example bench [-- [--quick] [--only SECTION]]"
)]
struct Cli {
    /// Fewer rounds, shorter
    #[arg(long)]
    quick: bool,
    /// Measure one section alone: 1 (pay+depay), 2 (splitters), 3 (UDP
    /// loss, with 3b), 4 (floors), 5 (parity, with 5b), 6 (sealed, with
    /// 6b), 7 (latency between processes, with 7b), 8 (loss on a busy
    /// machine). That section is replaced in docs/benchmark.md; the others
    /// are kept
    #[arg(long, value_name = "SECTION", value_parser = clap::value_parser!(u32).range(1..=8))]
    only: Option<u32>,
    /// A child process of sections 7 and 8 (hidden flags)
    #[command(flatten)]
    role: roles::RoleArgs,
}

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
    /// Frames per cell of section 7.
    latency_frames: usize,
    /// Frames per case of section 8.
    load_frames: usize,
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
                latency_frames: 120,
                load_frames: 600,
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
                latency_frames: 300,
                load_frames: 3000,
            }
        }
    }
}

/// The elements every section needs; a missing one ends the run.
const REQUIRED: [&str; 14] = [
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
];

/// The frame sets: 640x360 and 1280x720 when `all_sizes` (sections 1 and 7,
/// and profiling), and always 1920x1080, last.
fn frame_sets(all_sizes: bool) -> Vec<FrameSet> {
    eprintln!("generating frames ...");
    let mut sets = Vec::new();
    if all_sizes {
        sets.push(generate("640x360", 640, 360, 78));
        sets.push(generate("1280x720", 1280, 720, 94));
    }
    sets.push(generate("1920x1080", 1920, 1080, 97));
    sets
}

/// Runs the sections selected by `only` (all when None), in the order that
/// keeps the long UDP part last, and returns them in the documented order:
/// 1, 2, 2b, 3, 3b, 4, 5, 5b, 6, 6b, 7, 7b, 8.
fn run_sections(cfg: &Config, only: Option<u32>, sets: &[FrameSet]) -> Vec<Section> {
    let selected = |n: u32| only.is_none_or(|o| o == n);
    let hd = sets.last().expect("the 1920x1080 frames");
    let mut sections = Vec::new();
    let mut compared = Compared {
        pay_depay: HdFps::NOT_MEASURED,
        split_64k: f64::NAN,
        memchr_mbs: f64::NAN,
    };
    if selected(1) {
        let (sec, hd_fps) = pay_depay::section(cfg, sets);
        sections.push(sec);
        compared.pay_depay = hd_fps;
    }
    // The stream's memchr floor is in sections 2 and 4.
    if selected(2) || selected(4) {
        let stream = Stream::new(cfg, hd);
        compared.memchr_mbs = stream.memchr_mbs(cfg);
        if selected(2) {
            let (sec, split_64k) = splitters::section(cfg, &stream, compared.memchr_mbs);
            sections.push(sec);
            compared.split_64k = split_64k;
            sections.push(splitters::nested_section(cfg, hd));
        }
    }
    // Floors and parity (in memory) before the long UDP part.
    if selected(4) {
        sections.push(floors::section(cfg, hd, &compared));
    }
    if selected(5) {
        sections.extend(parity::sections(cfg, hd));
    }
    if selected(6) {
        sections.extend(seal::sections(cfg, hd));
    }
    if selected(3) {
        sections.push(udp_loss::section(cfg, hd));
        sections.push(udp_loss::search_section(cfg, hd));
    }
    if selected(7) {
        sections.extend(latency::sections(cfg, sets));
    }
    if selected(8) {
        sections.push(load::section(cfg, hd));
    }
    sections.sort_by_key(|s| s.key());
    sections
}

fn main() {
    let cli = Cli::parse();
    if cli.role.role.is_some() {
        roles::run(&cli.role);
    }
    let cfg = Config::new(cli.quick);
    if cfg!(debug_assertions) {
        eprintln!("warning: debug build; run with `cargo run --release --example bench`");
    }
    gst::init().expect("gst::init");
    gstudpjpeg::plugin_register_static().expect("register udpjpeg");
    harness::require(&REQUIRED);
    let run = RunInfo {
        only: cli.only,
        started: Instant::now(),
        load_before: report::load_average(),
    };

    let profile = std::env::var("BENCH_PROFILE").ok();
    let all_sizes = cli.only.is_none_or(|o| o == 1 || o == 7) || profile.is_some();
    let sets = frame_sets(all_sizes);
    if let Some(p) = profile {
        pay_depay::profile(&p, &sets);
        return;
    }
    let sections = run_sections(&cfg, cli.only, &sets);
    report::report(&cfg, &run, sections);
}
