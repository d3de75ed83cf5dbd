// SPDX-License-Identifier: MPL-2.0
//! What every section of the benchmark builds on: launching pipelines,
//! counting buffers at a pad, running to end-of-stream, stamping and
//! queueing frames, a loopback UDP receiver, and the median.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gst::prelude::*;

/// Bytes in a megabyte, as the tables count them (10^6).
pub const MB: f64 = 1e6;
/// Udpsrc receive buffer of the "4 MB" UDP cases (capped at
/// net.core.rmem_max unless run as root).
pub const BIG_RCVBUF: u32 = 4_194_304;

/// The median of the finite values, NaN when there are none.
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

pub fn element<T: IsA<gst::Element>>(pipeline: &gst::Pipeline, name: &str) -> T {
    pipeline
        .by_name(name)
        .unwrap_or_else(|| panic!("no element {name}"))
        .downcast::<T>()
        .unwrap_or_else(|_| panic!("{name} has an unexpected type"))
}

pub fn launch(desc: &str) -> gst::Pipeline {
    gst::parse::launch(desc)
        .unwrap_or_else(|e| panic!("cannot build `{desc}`: {e}"))
        .downcast::<gst::Pipeline>()
        .expect("a pipeline")
}

/// Buffers and bytes seen on a pad (buffer lists counted item by item).
#[derive(Default)]
pub struct Counter {
    buffers: AtomicU64,
    bytes: AtomicU64,
}

impl Counter {
    pub fn buffers(&self) -> u64 {
        self.buffers.load(Ordering::Relaxed)
    }
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

pub fn count_at(pipeline: &gst::Pipeline, name: &str) -> Arc<Counter> {
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

/// `appsrc name=src ! {chain} ! fakesink name=sink`, the source set to
/// `caps`, buffers counted at the sink.
pub fn appsrc_to_fakesink(
    chain: &str,
    caps: &gst::Caps,
) -> (gst::Pipeline, gst_app::AppSrc, Arc<Counter>) {
    let pipeline = launch(&format!(
        "appsrc name=src format=time max-bytes=0 ! {chain} \
         ! fakesink name=sink sync=false enable-last-sample=false"
    ));
    let src: gst_app::AppSrc = element(&pipeline, "src");
    src.set_caps(Some(caps));
    let sink = count_at(&pipeline, "sink");
    (pipeline, src, sink)
}

pub fn set_state(pipeline: &gst::Pipeline, state: gst::State) {
    pipeline
        .set_state(state)
        .unwrap_or_else(|e| panic!("cannot set {state:?}: {e}"));
    if state <= gst::State::Ready {
        let _ = pipeline.state(gst::ClockTime::from_seconds(10));
    }
}

/// Waits for EOS; panics on an error message; recalculates latency when
/// asked (udpjpegpay posts a latency message when pacing adds latency).
pub fn wait_eos(pipeline: &gst::Pipeline, timeout: Duration) {
    if let Err(e) = run_to_eos(pipeline, timeout) {
        panic!("{e}");
    }
}

/// Waits for EOS; returns the first error posted instead, if any.
pub fn run_to_eos(pipeline: &gst::Pipeline, timeout: Duration) -> Result<(), String> {
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
pub fn check_no_error(pipeline: &gst::Pipeline) {
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
pub fn stamped(frame: &gst::Buffer, pts: gst::ClockTime) -> gst::Buffer {
    let mut b = frame.copy();
    b.get_mut().unwrap().set_pts(pts);
    b
}

pub fn frame_pts(i: usize, fps: u32) -> gst::ClockTime {
    gst::ClockTime::from_nseconds(i as u64 * 1_000_000_000 / u64::from(fps))
}

pub fn require(factories: &[&str]) {
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

/// Queues every buffer and the EOS in `src` (max-bytes=0, still READY)
/// before the clock starts, so that no pushing thread competes with the
/// streaming thread for the CPUs while it runs: the timed part is appsrc's
/// own streaming thread through the elements measured. The buffers share
/// the frames' memory; nothing is copied.
pub fn queue_all(src: &gst_app::AppSrc, buffers: impl IntoIterator<Item = gst::Buffer>) {
    for b in buffers {
        src.push_buffer(b).expect("queue a buffer in appsrc");
    }
    src.end_of_stream().expect("queue the EOS in appsrc");
}

/// A receiver on 127.0.0.1 (ephemeral port) that counts what reaches its sink.
pub fn receiver(tail: &str, buffer_size: Option<u32>) -> (gst::Pipeline, Arc<Counter>, i32) {
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
