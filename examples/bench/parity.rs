// SPDX-License-Identifier: MPL-2.0
//! Sections 5 and 5b: parity (`fec-percent`) with 1920x1080 frames in
//! memory: the frames delivered under random and burst loss, ours at several
//! parity rates against the RTP pair and the arithmetic without parity; and
//! what encoding and decoding parity cost per frame.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gstudpjpeg::wire::{self, Plan, WireFormat};

use crate::Config;
use crate::frames::FrameSet;
use crate::harness::{
    appsrc_to_fakesink, count_at, element, frame_pts, median, queue_all, set_state, stamped,
    wait_eos,
};
use crate::pay_depay::Pair;
use crate::table::{Section, f0};

/// Seed of the pseudo-random burst starts.
const BURST_SEED: u64 = 0x2545_F491_4F6C_DD1D;

/// How datagrams are lost in section 5.
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
    rng: fastrand::Rng,
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
                // One draw per datagram, in a run or not, so that the runs
                // start at the same positions in every case.
                let starts = self.rng.f64() < p;
                if self.dropping == 0 && starts {
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
        rng: fastrand::Rng::with_seed(BURST_SEED),
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
    let (pipeline, src, sink) = appsrc_to_fakesink(&chain, &set.caps());
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

/// Parity rates of section 5, in the order of its columns.
const FECS: [u32; 4] = [0, 5, 10, 20];
/// Loss models of section 5, one row each.
const MODELS: [LossModel; 4] = [
    LossModel::Random(0.01),
    LossModel::Random(0.05),
    LossModel::Bursts { p: 0.005, len: 10 },
    LossModel::Bursts { p: 0.0025, len: 10 },
];
/// Parity rates of section 5b.
const COST_FECS: [u32; 3] = [0, 5, 20];

fn mean(v: &[usize]) -> f64 {
    v.iter().sum::<usize>() as f64 / v.len() as f64
}

fn percent(out: u64, inn: usize) -> f64 {
    100.0 * out as f64 / inn as f64
}

/// The chunks of the first `n` frames at mtu 1400: datagrams without
/// parity, and data chunks K of the parity payload.
struct Chunks {
    data: Vec<usize>,
    parity_k: Vec<usize>,
}

impl Chunks {
    fn new(hd: &FrameSet, n: usize) -> Self {
        let size = |i: usize| hd.frames[i % hd.frames.len()].size();
        let parity_payload = wire::parity_payload(1400).unwrap();
        Chunks {
            data: (0..n)
                .map(|i| Plan::new(WireFormat::Sce, size(i), 1400).unwrap().count)
                .collect(),
            parity_k: (0..n)
                .map(|i| Plan::with_payload(size(i), parity_payload).unwrap().count)
                .collect(),
        }
    }

    /// The mean parity chunks a frame gets at `fec` percent.
    fn parity_m(&self, fec: u32) -> f64 {
        let m: Vec<usize> = self
            .parity_k
            .iter()
            .map(|&k| wire::parity_count(k, fec, 1))
            .collect();
        mean(&m)
    }
}

/// Section 5 (delivered frames under loss with parity) and 5b (its cost).
pub fn sections(cfg: &Config, hd: &FrameSet) -> Vec<Section> {
    vec![delivered_section(cfg, hd), cost_section(cfg, hd)]
}

/// Section 5: delivered frames under loss with parity.
fn delivered_section(cfg: &Config, hd: &FrameSet) -> Section {
    let n = cfg.parity_frames;
    let chunks = Chunks::new(hd, n);
    let mut rows = Vec::new();
    let mut rtp_n = Vec::new();
    for (mi, &model) in MODELS.iter().enumerate() {
        eprintln!(
            "parity: {} ({}/{}) ...",
            model.label(),
            mi + 1,
            MODELS.len()
        );
        let (row, rtp_per_frame) = delivered_row(model, &chunks, hd, n);
        rows.push(row);
        rtp_n = rtp_per_frame;
    }
    let mut sec = delivered_header(n, &chunks, mean(&rtp_n));
    for row in rows {
        sec.row(row);
    }
    sec
}

/// One loss model's row of section 5, and the datagrams of each frame of
/// the RTP pair.
fn delivered_row(
    model: LossModel,
    chunks: &Chunks,
    hd: &FrameSet,
    n: usize,
) -> (Vec<String>, Vec<usize>) {
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
        format!("{:.1}%", arith(&chunks.data)),
    ];
    for f in FECS {
        let r = parity_run(Pair::Ours, f, netsim, cut, hd, n);
        if f == 0 {
            row[1] = format!(
                "{:.2}%",
                100.0 * (1.0 - r.datagrams_in as f64 / r.datagrams_sent as f64)
            );
        }
        row.push(format!(
            "{:.1}% ({} rebuilt)",
            percent(r.frames_out, r.frames_in),
            r.stat("frames-recovered")
        ));
    }
    let r = parity_run(Pair::Rtp, 0, netsim, cut, hd, n);
    row.push(format!("{:.1}%", percent(r.frames_out, r.frames_in)));
    row.push(format!("{:.1}%", arith(&r.per_frame)));
    (row, r.per_frame)
}

/// Section 5 without its rows; `rtp_n`: the RTP pair's mean datagrams a
/// frame.
fn delivered_header(n: usize, chunks: &Chunks, rtp_n: f64) -> Section {
    Section::new(
        "5. Parity (fec-percent): delivered frames under loss, 1920x1080",
        &format!(
            "`appsrc ! udpjpegpay burst-size=0 mtu=1400 fec-percent=F ! netsim \
             drop-probability=p ! udpjpegdepay ! fakesink` and `appsrc ! rtpjpegpay mtu=1400 ! \
             netsim drop-probability=p ! rtpjpegdepay ! fakesink`, in memory, non-live, {n} \
             frames per case, one run each; frames counted at the sink. Bursts: netsim drops \
             nothing; a pad probe on the payloader's src pad takes runs of 10 consecutive \
             datagrams out of what it pushes, a run starting at each datagram with probability \
             p (fixed fastrand seed), so the same datagram positions are hit in every case \
             (with parity on, the positions fall differently since frames are longer). Cells: \
             delivered % of frames, then frames-recovered (frames parity rebuilt) for ours. \
             Arithmetic, no parity: mean over the frames of the probability that a frame of n \
             datagrams loses none: (1-p)^n for random loss, (1-p)^n / (1 + 9p) for bursts \
             (its first datagram not inside a run, and no run starting in it); ours n = \
             {:.1} (mtu 1400), RTP n as rtpjpegpay sent them ({rtp_n:.1}). Parity: K = {:.1} data \
             chunks of 1,376 bytes, m = ceil(K F / 100) = {:.1} / {:.1} / {:.1} parity chunks \
             at F = 5 / 10 / 20. \"datagrams lost\" is measured at udpjpegdepay's sink pad in \
             the fec 0 case.",
            mean(&chunks.data),
            mean(&chunks.parity_k),
            chunks.parity_m(5),
            chunks.parity_m(10),
            chunks.parity_m(20),
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
    )
}

/// The runs of section 5b, by parity rate: without loss, and with one data
/// chunk dropped from every frame.
type CostRuns = Vec<[Vec<ParityRun>; 2]>;

fn measure_cost(cfg: &Config, hd: &FrameSet) -> CostRuns {
    let mut runs: CostRuns = COST_FECS.iter().map(|_| [Vec::new(), Vec::new()]).collect();
    // Cheap cases, differences of similar numbers: twice the usual rounds.
    let cost_rounds = cfg.rounds * 2;
    for round in 0..cost_rounds {
        eprintln!("parity cost round {}/{cost_rounds} ...", round + 1);
        for (fi, &f) in COST_FECS.iter().enumerate() {
            for (di, cut) in [Cut::Nothing, Cut::SecondOfFrame].into_iter().enumerate() {
                let run = parity_run(Pair::Ours, f, None, cut, hd, cfg.parity_cost_frames);
                runs[fi][di].push(run);
            }
        }
    }
    runs
}

fn median_fps(r: &[ParityRun]) -> f64 {
    median(
        &r.iter()
            .map(|r| r.frames_in as f64 / r.secs)
            .collect::<Vec<_>>(),
    )
}

/// Section 5b: what encoding and decoding parity cost per frame.
fn cost_section(cfg: &Config, hd: &FrameSet) -> Section {
    let chunks = Chunks::new(hd, cfg.parity_frames);
    let runs = measure_cost(cfg, hd);
    let mut sec = cost_header(cfg);
    let base_us = 1e6 / median_fps(&runs[0][0]);
    for (fi, &f) in COST_FECS.iter().enumerate() {
        let [clean_runs, dropped_runs] = &runs[fi];
        let (clean, dropped) = (median_fps(clean_runs), median_fps(dropped_runs));
        let clean_us = 1e6 / clean;
        let out: u64 = dropped_runs.iter().map(|r| r.frames_out).sum();
        let inn: usize = dropped_runs.iter().map(|r| r.frames_in).sum();
        let rec: u64 = dropped_runs
            .iter()
            .map(|r| r.stat("frames-recovered"))
            .sum();
        sec.row(vec![
            f.to_string(),
            format!("{:.1}", chunks.parity_m(f)),
            f0(clean),
            if f == 0 {
                "-".into()
            } else {
                format!("{:.0}", clean_us - base_us)
            },
            f0(dropped),
            format!("{out}/{inn}, {rec} rebuilt"),
            if f == 0 {
                "- (frames lost)".into()
            } else {
                format!("{:.0}", 1e6 / dropped - clean_us)
            },
        ]);
    }
    sec
}

fn cost_header(cfg: &Config) -> Section {
    let (cost_n, cost_rounds) = (cfg.parity_cost_frames, cfg.rounds * 2);
    Section::new(
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
    )
}
