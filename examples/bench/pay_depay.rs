// SPDX-License-Identifier: MPL-2.0
//! Section 1: pay + depay in memory, ours against the stock RTP pair, at
//! three frame sizes and two MTUs; and `BENCH_PROFILE`, one long case to
//! run under a profiler.

use std::time::{Duration, Instant};

use crate::Config;
use crate::frames::FrameSet;
use crate::harness::{
    MB, appsrc_to_fakesink, frame_pts, median, queue_all, set_state, stamped, wait_eos,
};
use crate::table::{Section, f0, ratio};

#[derive(Clone, Copy, PartialEq)]
pub enum Pair {
    Ours,
    Rtp,
}

pub struct Run {
    pub secs: f64,
    pub frames_in: usize,
    pub bytes_in: u64,
    pub frames_out: u64,
    pub bytes_out: u64,
}

/// `appsrc ! pay ! depay ! fakesink` in memory, `count` frames, no pacing.
pub fn pay_depay(pair: Pair, set: &FrameSet, mtu: u32, count: usize) -> Run {
    let chain = match pair {
        Pair::Ours => format!("udpjpegpay burst-size=0 mtu={mtu} ! udpjpegdepay"),
        Pair::Rtp => format!("rtpjpegpay mtu={mtu} ! rtpjpegdepay"),
    };
    run_chain(&chain, set, count)
}

/// `appsrc ! {chain} ! fakesink` in memory, `count` frames of `set`.
pub fn run_chain(chain: &str, set: &FrameSet, count: usize) -> Run {
    let (pipeline, src, sink) = appsrc_to_fakesink(chain, &set.caps());
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

/// The 1920x1080, mtu 1400 frame rates of section 1, which section 4
/// compares with its floors (NaN when section 1 did not run).
pub struct HdFps {
    pub ours: f64,
    pub rtp: f64,
}

impl HdFps {
    pub const NOT_MEASURED: HdFps = HdFps {
        ours: f64::NAN,
        rtp: f64::NAN,
    };
}

const MTUS: [u32; 2] = [1400, 9000];

/// Section 1 over `sets` (the last one 1920x1080).
pub fn section(cfg: &Config, sets: &[FrameSet]) -> (Section, HdFps) {
    let mut cases = Vec::new(); // (set index, mtu, pair)
    for s in 0..sets.len() {
        for &mtu in &MTUS {
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
    let mut sec = empty_section();
    let mut hd = HdFps::NOT_MEASURED;
    for (k, &(s, mtu, pair)) in cases.iter().enumerate() {
        if pair != Pair::Ours {
            continue;
        }
        let (ofps, omb, oout) = summary(&runs[k]);
        let (rfps, rmb, rout) = summary(&runs[k + 1]);
        if s == 2 && mtu == 1400 {
            hd = HdFps {
                ours: ofps,
                rtp: rfps,
            };
        }
        let set = &sets[s];
        sec.row(vec![
            set.label.into(),
            format!("{:.1} KB (q{})", set.mean_size() / 1000.0, set.quality),
            mtu.to_string(),
            f0(ofps),
            f0(omb),
            oout,
            f0(rfps),
            f0(rmb),
            // RTP rebuilds the headers: its bytes differ by design.
            rout.replace(" (bytes differ)", ""),
            ratio(ofps, rfps),
        ]);
    }
    (sec, hd)
}

fn empty_section() -> Section {
    Section::new(
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
    )
}

/// Median fps and MB/s of one case's rounds, and "out/in" over all rounds.
pub fn summary(r: &[Run]) -> (f64, f64, String) {
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
    // Ours must return the frames byte for byte.
    let exact = if bytes_out == bytes_in {
        ""
    } else {
        " (bytes differ)"
    };
    (fps, mbs, format!("{out}/{inn}{exact}"))
}

/// `BENCH_PROFILE=ours360|rtp360|ours1080|rtp1080`: one long pay+depay case
/// (mtu 1400) over `sets` (640x360, 1280x720, 1920x1080), for a profiler.
pub fn profile(name: &str, sets: &[FrameSet]) {
    let (pair, s) = match name {
        "ours360" => (Pair::Ours, 0),
        "rtp360" => (Pair::Rtp, 0),
        "ours1080" => (Pair::Ours, 2),
        "rtp1080" => (Pair::Rtp, 2),
        _ => {
            eprintln!("BENCH_PROFILE is one of ours360, rtp360, ours1080, rtp1080, not {name}");
            std::process::exit(2);
        }
    };
    let r = pay_depay(pair, &sets[s], 1400, if s == 0 { 100000 } else { 20000 });
    eprintln!("{} fps", r.frames_in as f64 / r.secs);
}
