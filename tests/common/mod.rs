// SPDX-License-Identifier: MPL-2.0
//! Shared test helpers: plugin registration, real JPEG frames, pipeline guards,
//! bus checks, free ports, temp dirs and Harness helpers; `process` has the
//! helpers for child processes.
#![allow(dead_code)]

pub mod process;
pub mod viewer;
pub mod xvfb;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Once};
use std::thread::JoinHandle;

use gst::prelude::*;
use gst_check::Harness;

pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().expect("GStreamer initialises");
        gstudpjpeg::plugin_register_static().expect("the udpjpeg plugin registers");
    });
}

/// Fails the test, with a clear message, when a stock element is missing.
pub fn require(factory: &str) {
    init();
    assert!(
        gst::ElementFactory::find(factory).is_some(),
        "the stock element {factory} is missing: install the GStreamer packages listed in \
         scripts/apt-packages.txt"
    );
}

/// A thread that runs until the guard is dropped: `work` gets the stop
/// flag, looks at it often, and returns soon after it is set; dropping
/// the guard sets the flag and joins the thread.
pub struct Background {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Background {
    pub fn spawn(work: impl FnOnce(&AtomicBool) + Send + 'static) -> Background {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || work(&flag));
        Background {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Sets the pipeline to NULL however the test ends.
pub struct PipelineGuard(pub gst::Element);

impl Drop for PipelineGuard {
    fn drop(&mut self) {
        let _ = self.0.set_state(gst::State::Null);
    }
}

impl PipelineGuard {
    /// Launches `desc` (which must parse) and sets it PLAYING.
    pub fn playing(desc: &str) -> PipelineGuard {
        let pipeline = PipelineGuard(
            gst::parse::launch(desc).unwrap_or_else(|e| panic!("cannot launch `{desc}`: {e}")),
        );
        pipeline.set_state(gst::State::Playing).unwrap();
        pipeline
    }
}

impl std::ops::Deref for PipelineGuard {
    type Target = gst::Element;
    fn deref(&self) -> &gst::Element {
        &self.0
    }
}

/// Launches `desc`, whose `appsrc name=src` feeds it, sets it PLAYING and
/// returns it with its appsrc.
pub fn appsrc_sender(desc: &str) -> (PipelineGuard, gst_app::AppSrc) {
    let pipeline = PipelineGuard::playing(desc);
    let appsrc = by_name_as(&pipeline, "src");
    (pipeline, appsrc)
}

/// Launches `desc`, whose `udpsrc name=src` listens on 127.0.0.1 port 0,
/// sets it PLAYING and returns it with the port udpsrc bound.
pub fn udp_receiver(desc: &str) -> (PipelineGuard, u16) {
    let pipeline = PipelineGuard::playing(desc);
    let port: i32 = by_name(&pipeline, "src").property("port");
    assert_ne!(port, 0, "udpsrc reports the port it bound");
    (pipeline, port as u16)
}

/// `udpsrc` on 127.0.0.1, any free port (with `udpsrc_props`), `!
/// udpjpegdepay` (with `depay_props`) `! appsink`, playing: the pipeline,
/// its appsink and the port.
pub fn depay_receiver(
    udpsrc_props: &str,
    depay_props: &str,
) -> (PipelineGuard, gst_app::AppSink, u16) {
    for f in ["udpsrc", "appsink"] {
        require(f);
    }
    let (pipeline, port) = udp_receiver(&format!(
        "udpsrc name=src address=127.0.0.1 port=0 {udpsrc_props} ! \
         udpjpegdepay name=depay {depay_props} ! appsink name=sink sync=false max-buffers=0"
    ));
    let sink = by_name_as(&pipeline, "sink");
    (pipeline, sink, port)
}

/// Inserts a COM segment holding `tag` right after the SOI, so that every
/// frame is unique and still a valid JPEG.
pub fn tag_frame(jpeg: &[u8], tag: &str) -> Vec<u8> {
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
    let len = (tag.len() + 2) as u16;
    let mut out = Vec::with_capacity(jpeg.len() + tag.len() + 4);
    out.extend_from_slice(&[0xFF, 0xD8, 0xFF, 0xFE]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(tag.as_bytes());
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// `n` real JPEG frames of `width` x `height` from videotestsrc and jpegenc
/// (format I420), each made unique with a COM segment.
pub fn jpeg_frames(n: usize, width: u32, height: u32) -> Vec<Vec<u8>> {
    require("videotestsrc");
    require("jpegenc");
    require("appsink");
    // Encode at most 30 distinct pictures and tag copies: encoding is slow in
    // debug builds and the pictures only need to be real JPEGs.
    let distinct = n.clamp(1, 30);
    let pipeline = PipelineGuard::playing(&format!(
        "videotestsrc num-buffers={distinct} pattern=pinwheel ! \
         video/x-raw,format=I420,width={width},height={height} ! \
         jpegenc ! appsink name=sink sync=false"
    ));
    let sink: gst_app::AppSink = by_name_as(&pipeline, "sink");
    let mut pictures = Vec::new();
    while let Ok(sample) = sink.pull_sample() {
        let buffer = sample.buffer().unwrap();
        pictures.push(buffer.map_readable().unwrap().to_vec());
    }
    assert_eq!(pictures.len(), distinct, "jpegenc made every picture");
    (0..n)
        .map(|i| tag_frame(&pictures[i % distinct], &format!("frame {i:06}")))
        .collect()
}

/// 640x360 test frames, made once per test binary.
pub static FRAMES_360P: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| jpeg_frames(30, 640, 360));

/// A JPEG-shaped frame of exactly `len` bytes (FF D8 ... FF D9), not decodable.
pub fn fake_jpeg(len: usize, seed: u8) -> Vec<u8> {
    assert!(len >= 4);
    let mut v: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(13).wrapping_add(seed))
        .collect();
    v[..2].copy_from_slice(&[0xFF, 0xD8]);
    v[len - 2..].copy_from_slice(&[0xFF, 0xD9]);
    v
}

/// `n` bytes from `rng` (a `fastrand::Rng::with_seed`, so that every run
/// sees the same bytes).
pub fn random_bytes(rng: &mut fastrand::Rng, n: usize) -> Vec<u8> {
    let mut v = vec![0; n];
    rng.fill(&mut v);
    v
}

pub fn buffer_with_pts(data: Vec<u8>, pts_ms: u64) -> gst::Buffer {
    let mut b = gst::Buffer::from_mut_slice(data);
    b.get_mut()
        .unwrap()
        .set_pts(gst::ClockTime::from_mseconds(pts_ms));
    b
}

pub fn bytes(b: &gst::BufferRef) -> Vec<u8> {
    b.map_readable().unwrap().to_vec()
}

/// The first error or warning message posted on `bus`, if any.
pub fn first_message(bus: &gst::Bus, kind: gst::MessageType) -> Option<gst::Message> {
    bus.iter().find(|m| m.type_() == kind)
}

/// The element called `name` in the bin `bin`.
pub fn by_name(bin: &gst::Element, name: &str) -> gst::Element {
    bin.downcast_ref::<gst::Bin>()
        .unwrap()
        .by_name(name)
        .unwrap_or_else(|| panic!("no element {name}"))
}

/// The element called `name` in the bin `bin`, as a `T` (an AppSrc, ...).
pub fn by_name_as<T: IsA<gst::Element>>(bin: &gst::Element, name: &str) -> T {
    by_name(bin, name).downcast::<T>().unwrap()
}

/// The first sample reaching `appsink name=sink` of the playing `pipeline`
/// within 10 s, if any; the pipeline is then stopped.
pub fn first_sample(pipeline: &gst::Element) -> Option<gst::Sample> {
    let sink: gst_app::AppSink = by_name_as(pipeline, "sink");
    let sample = sink.try_pull_sample(gst::ClockTime::from_seconds(10));
    pipeline.set_state(gst::State::Null).unwrap();
    sample
}

/// Fails on any error message left on `pipeline`'s bus; `what` (when not
/// empty) names the pipeline in the message.
pub fn assert_no_error(pipeline: &gst::Element, what: &str) {
    check_bus(pipeline, what, false);
}

/// Fails on any error or warning message left on `pipeline`'s bus.
pub fn assert_clean(pipeline: &gst::Element, what: &str) {
    check_bus(pipeline, what, true);
}

fn check_bus(pipeline: &gst::Element, what: &str, warnings: bool) {
    let prefix = if what.is_empty() {
        String::new()
    } else {
        format!("{what}: ")
    };
    let bus = pipeline.bus().unwrap();
    while let Some(msg) = bus.pop() {
        match msg.view() {
            gst::MessageView::Error(e) => panic!(
                "{prefix}error from {:?}: {} ({:?})",
                msg.src().map(|s| s.path_string()),
                e.error(),
                e.debug()
            ),
            gst::MessageView::Warning(w) if warnings => panic!(
                "{prefix}warning from {:?}: {} ({:?})",
                msg.src().map(|s| s.path_string()),
                w.error(),
                w.debug()
            ),
            _ => {}
        }
    }
}

/// Waits for EOS on `pipeline` (called `what` in a failure), failing on
/// an error or after `secs`.
pub fn wait_eos(pipeline: &gst::Element, what: &str, secs: u64) {
    let msg = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(secs),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .unwrap_or_else(|| panic!("{what}: no end of stream within {secs} s"));
    if let gst::MessageView::Error(e) = msg.view() {
        panic!("{what}: {} ({:?})", e.error(), e.debug());
    }
}

/// Pushes `frames` `ms` apart (paced by the sink's clock sync) and waits for
/// the end of stream.
pub fn send_all(pipeline: &gst::Element, appsrc: &gst_app::AppSrc, frames: &[Vec<u8>], ms: u64) {
    for (i, f) in frames.iter().enumerate() {
        appsrc
            .push_buffer(buffer_with_pts(f.clone(), ms * i as u64))
            .unwrap();
    }
    appsrc.end_of_stream().unwrap();
    wait_eos(pipeline, "sender", 30);
}

pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A folder removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh, empty `<prefix>-<pid>-<n>` under the temp dir.
    pub fn new(prefix: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "{prefix}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The files in `dir` (frames written by a receiver), in name order.
pub fn read_frames(dir: &Path) -> Vec<Vec<u8>> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    names.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

// ---- Harness helpers ----

/// A Harness around a fresh `factory` element with `props` set from strings.
pub fn harness_with(factory: &str, props: &[(&str, &str)]) -> Harness {
    init();
    let mut e = gst::ElementFactory::make(factory);
    for (k, v) in props {
        e = e.property_from_str(k, v);
    }
    Harness::with_element(&e.build().unwrap(), Some("sink"), Some("src"))
}

/// What a bare source (udpsrc, tcpserversrc) sends before data: stream-start
/// and a TIME segment, no caps. With `check`, each event must be accepted.
pub fn start_stream(h: &mut Harness, stream_id: &str, check: bool) {
    let accepted = h.push_event(gst::event::StreamStart::new(stream_id));
    assert!(accepted || !check, "stream-start is accepted");
    let accepted = h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
        gst::ClockTime,
    >::new()));
    assert!(accepted || !check, "the segment is accepted");
}

/// A playing udpjpegdepay with `props`, after stream-start and a segment
/// as from a bare udpsrc (each checked to be accepted).
pub fn depay(props: &[(&str, &str)]) -> Harness {
    depay_with(props, true)
}

/// As `depay`, without checking that the first events are accepted.
pub fn depay_unchecked(props: &[(&str, &str)]) -> Harness {
    depay_with(props, false)
}

fn depay_with(props: &[(&str, &str)], check: bool) -> Harness {
    let mut h = harness_with("udpjpegdepay", props);
    h.play();
    start_stream(&mut h, "udp", check);
    h
}

/// The element's `stats` structure.
pub fn stats(h: &Harness) -> gst::Structure {
    h.element().unwrap().property::<gst::Structure>("stats")
}

/// One counter of the element's `stats`.
pub fn stat(h: &Harness, name: &str) -> u64 {
    let s = stats(h);
    s.get::<u64>(name)
        .unwrap_or_else(|_| panic!("stats has no {name}: {s}"))
}

/// Every buffer waiting at the harness sink.
pub fn pull_all(h: &mut Harness) -> Vec<gst::Buffer> {
    std::iter::from_fn(|| h.try_pull()).collect()
}

/// Every event waiting at the harness sink, in order.
pub fn events(h: &mut Harness) -> Vec<gst::Event> {
    std::iter::from_fn(|| h.try_pull_event()).collect()
}

/// The caps of the caps events among `events`.
pub fn caps_events(events: &[gst::Event]) -> Vec<gst::Caps> {
    events
        .iter()
        .filter_map(|e| match e.view() {
            gst::EventView::Caps(c) => Some(c.caps_owned()),
            _ => None,
        })
        .collect()
}
