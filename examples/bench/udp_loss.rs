// SPDX-License-Identifier: MPL-2.0
//! Sections 3 and 3b: frame loss of live 1920x1080 video over real UDP on
//! 127.0.0.1, ours paced and unpaced against the RTP pair, with default and
//! 4 MB receive buffers; then the highest frame rate each sends without
//! loss.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gstudpjpeg::wire::{Plan, WireFormat};

use crate::Config;
use crate::frames::FrameSet;
use crate::harness::{
    BIG_RCVBUF, check_no_error, element, frame_pts, launch, median, receiver, set_state, stamped,
    wait_eos,
};
use crate::table::Section;

const RTP_CAPS: &str =
    "application/x-rtp,media=video,encoding-name=JPEG,clock-rate=90000,payload=26";

/// The senders of section 3, in the order of its columns.
const SENDERS: [Sender; 4] = [
    Sender::OursPaced,
    Sender::OursUnpaced,
    Sender::Rtp,
    Sender::OursPacedSyncFirst,
];
const RATES: [u32; 3] = [30, 60, 120];
/// Receive buffers of section 3: the system's default, and 4 MB.
const BUFFERS: [Option<u32>; 2] = [None, Some(BIG_RCVBUF)];

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
            // The socket's buffer as udpsrc makes it, as for RTP: at its
            // defaults udpjpegdepay would grow it (section 8).
            _ => "! udpjpegdepay receive-buffer-size=0".to_string(),
        }
    }
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

/// When each buffer or list reached udpsink, by PTS.
type Pushes = Arc<Mutex<Vec<(Option<gst::ClockTime>, Instant)>>>;

/// Records, on the sink pad of `udpsink`, when each buffer or list arrives.
fn record_pushes(udpsink: &gst::Element) -> Pushes {
    let pushes = Pushes::default();
    let p = pushes.clone();
    udpsink.static_pad("sink").unwrap().add_probe(
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
    pushes
}

/// The median gap between consecutive pushes of one frame, after its first
/// push returned (the first waits for its clock time inside udpsink).
fn burst_gap(pushes: &Pushes) -> Duration {
    let pushes = pushes.lock().unwrap();
    let gaps: Vec<f64> = pushes
        .windows(3)
        .filter(|w| w[0].0 == w[1].0 && w[1].0 == w[2].0)
        .map(|w| (w[2].1 - w[1].1).as_secs_f64())
        .collect();
    Duration::from_secs_f64(median(&gaps).max(0.0))
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
    let pushes = record_pushes(&element(&tx, "usink"));
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
    Loss {
        sent: count as u64,
        received,
        burst_gap: burst_gap(&pushes),
    }
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

/// One case of section 3: receive buffer size (None: the default), frame
/// rate, sender.
type Case = (Option<u32>, u32, Sender);

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for b in BUFFERS {
        for fps in RATES {
            for s in SENDERS {
                // The extra variant only with the default buffers.
                if b.is_none() || s != Sender::OursPacedSyncFirst {
                    cases.push((b, fps, s));
                }
            }
        }
    }
    cases
}

/// The payloader's pacing defaults, and what they make of a 1080p frame.
#[derive(Clone, Copy)]
struct Pacing {
    hd_datagrams: usize,
    burst: usize,
    interval_us: u32,
    expected_ms: f64,
    /// Datagrams a millisecond when paced.
    rate: f64,
    /// How long a receiver may stall before a default buffer overflows.
    stall_ms: f64,
}

impl Pacing {
    fn of_defaults(hd: &FrameSet) -> Self {
        let hd_datagrams = Plan::new(WireFormat::Sce, hd.mean_size() as usize, 1400)
            .unwrap()
            .count;
        let pay = gst::ElementFactory::make("udpjpegpay").build().unwrap();
        let burst = (pay.property::<u32>("burst-size") as usize).max(1);
        let interval_us = pay.property::<u32>("burst-interval");
        let expected_ms =
            (hd_datagrams.div_ceil(burst) - 1) as f64 * f64::from(interval_us) / 1000.0;
        let rate = burst as f64 * 1000.0 / f64::from(interval_us.max(1));
        Pacing {
            hd_datagrams,
            burst,
            interval_us,
            expected_ms,
            rate,
            stall_ms: 90.0 / rate,
        }
    }
}

/// A kernel setting from /proc/sys, "?" when it cannot be read.
fn sysctl(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Section 3.
pub fn section(cfg: &Config, hd: &FrameSet) -> Section {
    let cases = cases();
    let wake = wake_up_delays(Duration::from_secs(if cfg.quick { 2 } else { 5 }));
    let mut losses: Vec<Vec<Loss>> = cases.iter().map(|_| Vec::new()).collect();
    for round in 0..cfg.udp_rounds {
        eprintln!("UDP loss round {}/{} ...", round + 1, cfg.udp_rounds);
        for (k, &(b, fps, s)) in cases.iter().enumerate() {
            losses[k].push(udp_loss(s, hd, fps, cfg.udp_secs, b));
        }
    }
    let gap_us = |sender: Sender| {
        let v: Vec<f64> = cases
            .iter()
            .zip(&losses)
            .filter(|((_, _, s), _)| *s == sender)
            .flat_map(|(_, l)| l.iter().map(|l| l.burst_gap.as_secs_f64() * 1e6))
            .collect();
        median(&v)
    };
    let gaps = [
        gap_us(Sender::OursPaced),
        gap_us(Sender::OursPacedSyncFirst),
    ];
    let mut sec = loss_section(cfg, &Pacing::of_defaults(hd), &wake, gaps);
    for b in BUFFERS {
        for fps in RATES {
            let size = if b.is_none() { "default" } else { "4 MB" };
            let mut row = vec![size.to_string(), fps.to_string()];
            for s in SENDERS {
                let case = cases.iter().position(|&c| c == (b, fps, s));
                row.push(case.map_or_else(|| "-".into(), |k| loss_cell(&losses[k])));
            }
            sec.row(row);
        }
    }
    sec
}

/// Loss over all rounds (worst round in brackets), then received/sent.
fn loss_cell(l: &[Loss]) -> String {
    let sent: u64 = l.iter().map(|l| l.sent).sum();
    let rx: u64 = l.iter().map(|l| l.received).sum();
    let pct = 100.0 * (1.0 - rx as f64 / sent as f64);
    let worst = l.iter().map(Loss::percent).fold(0.0, f64::max);
    if l.len() > 1 {
        format!("{pct:.1}% ({worst:.1}%) {rx}/{sent}")
    } else {
        format!("{pct:.1}% {rx}/{sent}")
    }
}

/// Section 3 without its rows; `gaps_us`: the median burst gaps of ours
/// paced, and of ours paced with the clock wait first.
fn loss_section(cfg: &Config, pacing: &Pacing, wake: &str, gaps_us: [f64; 2]) -> Section {
    let Pacing {
        hd_datagrams,
        burst,
        interval_us,
        expected_ms,
        rate,
        stall_ms,
    } = *pacing;
    let rmem_max = sysctl("/proc/sys/net/core/rmem_max");
    let rmem_default = sysctl("/proc/sys/net/core/rmem_default");
    Section::new(
        "3. Frame loss over UDP on 127.0.0.1 (1920x1080)",
        &format!(
            "Live sender: `appsrc is-live=true` (PTS 1/fps apart) `! PAY ! udpsink` at its \
             defaults (sync=true), {:.0} s of video per case, {} round(s); receiver `udpsrc ! \
             DEPAY ! fakesink` in the same process; frames counted at the sink 0.5 s after the \
             sender's EOS. Loss = 1 - received / sent, over all rounds (worst round in \
             brackets), then frames received/sent. Default buffers: net.core.rmem_default = \
             {rmem_default} for both pairs (ours with `udpjpegdepay receive-buffer-size=0`, \
             which at its defaults grows udpsrc's buffer: section 8); 4 MB: udpsrc buffer-size={BIG_RCVBUF} (net.core.rmem_max = \
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
            if running_as_root() {
                "run as root, so udpsrc forces the size with SO_RCVBUFFORCE"
            } else {
                "not root, so the kernel caps it at rmem_max"
            },
            hd_datagrams.div_ceil(burst),
            gaps_us[0],
            gaps_us[1],
        ),
        &[
            "receive buffer",
            "fps",
            "ours paced",
            "ours unpaced",
            "RTP pair",
            "ours paced, clock wait first",
        ],
    )
}

/// Frame rates tried by the loss-free search, in order.
const SEARCH_RATES: [u32; 6] = [30, 60, 90, 120, 180, 240];

/// Section 3b: the loss-free rate search, default buffers.
pub fn search_section(cfg: &Config, hd: &FrameSet) -> Section {
    eprintln!("loss-free frame rate search ...");
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
        sec.row(search(cfg, hd, s));
    }
    sec
}

/// One sender's row of section 3b.
fn search(cfg: &Config, hd: &FrameSet, sender: Sender) -> Vec<String> {
    let mut best = None;
    let mut tried = Vec::new();
    let mut lossy_in_a_row = 0;
    for fps in SEARCH_RATES {
        let l = udp_loss(sender, hd, fps, cfg.search_secs, None);
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
        Some(f) if f == SEARCH_RATES[SEARCH_RATES.len() - 1] => format!(">= {f} fps"),
        Some(f) => format!("{f} fps"),
        None => format!("none (lossy at {} fps)", SEARCH_RATES[0]),
    };
    vec![sender.label().into(), best, tried.join(", ")]
}
