// SPDX-License-Identifier: MPL-2.0
//! Pacing over UDP on 127.0.0.1, timed at each end: when the last datagram
//! of a frame leaves udpjpegpay's pipeline (pacing paid once), whether a
//! syncing sink after udpjpegdepay gets every frame before its time to
//! render, and how fast a flush, a stop or end-of-stream ends the pacing.
//!
//! ```text
//! appsrc ! udpjpegpay ! udpsink host=127.0.0.1 port=P   (datagrams caught by a socket)
//! udpsrc port=P ! udpjpegdepay ! queue ! fakesink sync=true
//! ```
//!
//! Timing medians allow the 1 ms the pacing may cost beyond itself, each
//! over one of at most 5 runs (2 s apart); the tests run one at a time,
//! datagrams are timed by the kernel as they come, and the printed figures
//! (`-- --nocapture`) are the README's.

mod common;

use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use common::*;
use gst::prelude::*;
use gst_base::prelude::*;

/// The tests run one at a time, so that they do not time each other.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The system clock's time (the pipelines' clock), in nanoseconds.
fn now_ns() -> u64 {
    gst::SystemClock::obtain().time().nseconds()
}

/// A 1080p-sized frame: 250,000 bytes, 180 datagrams at mtu 1400, 12
/// bursts of 16 at the defaults, so 3.3 ms of pacing.
const FRAME_1080P: usize = 250_000;
const PACING_1080P_NS: u64 = 3_300_000;

/// When a datagram came (system clock, ns) and its S/C/E header.
type Caught = (u64, [u8; 5]);

/// When a buffer entered an element (system clock, ns) and its PTS.
type Entry = (u64, Option<gst::ClockTime>);

/// Datagrams caught on 127.0.0.1, each timed by the kernel as it came
/// (SO_TIMESTAMPNS), so that what is timed is the sender and not how soon
/// this thread got to read it.
struct Catcher {
    port: u16,
    caught: Arc<Mutex<Vec<Caught>>>,
    _reader: Background,
}

impl Catcher {
    fn new() -> Catcher {
        init();
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
        socket.set_recv_buffer_size(4 << 20).unwrap();
        let address: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
        socket.bind(&address.into()).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let on: libc::c_int = 1;
        let set = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPNS,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of_val(&on) as libc::socklen_t,
            )
        };
        assert_eq!(set, 0, "SO_TIMESTAMPNS");
        let socket: UdpSocket = socket.into();
        let port = socket.local_addr().unwrap().port();
        let caught = Arc::new(Mutex::new(Vec::new()));
        let c = caught.clone();
        let reader = Background::spawn(move |stop| {
            let offset = realtime_minus_monotonic();
            let mut buf = vec![0u8; 65_536];
            while !stop.load(Ordering::Relaxed) {
                if let Some((n, at)) = recv_stamped(&socket, &mut buf)
                    && n >= 5
                {
                    let at = (at as i64 - offset) as u64;
                    c.lock().unwrap().push((at, buf[..5].try_into().unwrap()));
                }
            }
        });
        Catcher {
            port,
            caught,
            _reader: reader,
        }
    }

    fn caught(&self) -> Vec<Caught> {
        self.caught.lock().unwrap().clone()
    }

    /// When the `E` datagram of each frame came, in order of arrival.
    fn frame_ends(&self) -> Vec<u64> {
        self.caught()
            .iter()
            .filter(|(_, h)| h[0] == b'E')
            .map(|(t, _)| *t)
            .collect()
    }
}

/// CLOCK_REALTIME (the kernel's receive timestamps) minus the system
/// clock's time (CLOCK_MONOTONIC), in nanoseconds.
fn realtime_minus_monotonic() -> i64 {
    let realtime = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    realtime.as_nanos() as i64 - now_ns() as i64
}

/// Receives a datagram into `buf`: its length and when the kernel received
/// it (CLOCK_REALTIME, ns); `None` on the read timeout.
fn recv_stamped(socket: &UdpSocket, buf: &mut [u8]) -> Option<(usize, u64)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // u64s: the control buffer is aligned for a cmsghdr.
    let mut control = [0u64; 16];
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    let n = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut msg, 0) };
    let n = usize::try_from(n).ok()?;
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !cmsg.is_null() {
        let header = unsafe { &*cmsg };
        if header.cmsg_level == libc::SOL_SOCKET && header.cmsg_type == libc::SCM_TIMESTAMPNS {
            let ts: libc::timespec =
                unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast()) };
            return Some((n, ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64));
        }
        cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
    }
    panic!("a datagram without its SO_TIMESTAMPNS time");
}

/// Records when each buffer enters `element`'s sink pad (system clock) and
/// its PTS.
fn entries(element: &gst::Element) -> Arc<Mutex<Vec<Entry>>> {
    let entries = Arc::new(Mutex::new(Vec::new()));
    let e = entries.clone();
    element
        .static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(b) = info.buffer() {
                e.lock().unwrap().push((now_ns(), b.pts()));
            }
            gst::PadProbeReturn::Ok
        });
    entries
}

/// Recalculates the pipeline's latency whenever an element posts that its
/// own changed, as gst-launch-1.0 does, on a thread of its own until the
/// guard is dropped.
struct LatencyFollower {
    _thread: Background,
}

impl LatencyFollower {
    fn new(pipeline: &gst::Element) -> LatencyFollower {
        let bin = pipeline.clone().downcast::<gst::Bin>().unwrap();
        let bus = pipeline.bus().unwrap();
        LatencyFollower {
            _thread: Background::spawn(move |stop| {
                while !stop.load(Ordering::Relaxed) {
                    let msg = bus.timed_pop_filtered(
                        gst::ClockTime::from_mseconds(20),
                        &[gst::MessageType::Latency],
                    );
                    if msg.is_some() {
                        let _ = bin.recalculate_latency();
                    }
                }
            }),
        }
    }
}

/// A sender from `appsrc name=src {appsrc}` through `udpjpegpay name=pay`
/// to `udpsink {udpsink}` towards `catcher`, fed `frames` 1080p-sized
/// frames 33 ms apart; returns, per frame, when it entered the payloader,
/// its PTS, and when its last datagram came, with the sink's latency at
/// the end.
struct SenderRun {
    entered: Vec<Entry>,
    ends: Vec<u64>,
    base_time: u64,
    latency: u64,
}

fn run_sender(appsrc: &str, udpsink: &str, frames: usize) -> SenderRun {
    init();
    let catcher = Catcher::new();
    let desc = format!(
        "appsrc name=src format=time caps=image/jpeg {appsrc} ! udpjpegpay name=pay \
         ! udpsink name=sink host=127.0.0.1 port={} {udpsink}",
        catcher.port
    );
    let (pipeline, src) = appsrc_sender(&desc);
    let _latency = LatencyFollower::new(&pipeline);
    let entered = entries(&by_name(&pipeline, "pay"));
    for i in 0..frames {
        let frame = fake_jpeg(FRAME_1080P, i as u8);
        src.push_buffer(gst::Buffer::from_mut_slice(frame)).unwrap();
        std::thread::sleep(Duration::from_millis(33));
    }
    std::thread::sleep(Duration::from_millis(100));
    let sink = by_name_as::<gst_base::BaseSink>(&pipeline, "sink");
    let run = SenderRun {
        entered: entered.lock().unwrap().clone(),
        ends: catcher.frame_ends(),
        base_time: pipeline.base_time().unwrap().nseconds(),
        latency: sink.latency().nseconds(),
    };
    assert_no_error(&pipeline, "sender");
    assert_eq!(run.entered.len(), frames);
    let caught = catcher.caught();
    assert_eq!(caught.len(), frames * 180, "every datagram came");
    assert_eq!(run.ends.len(), frames, "every frame's last datagram came");
    run
}

/// Whether the median of `late` (ns, per frame) is within `floor..=bound`;
/// prints the median and the worst.
fn check_median(what: &str, late: &[i64], floor: i64, bound: i64) -> Result<(), String> {
    let mut v = late.to_vec();
    v.sort_unstable();
    let (median, worst) = (v[v.len() / 2], v[v.len() - 1]);
    eprintln!(
        "{what}: median {:.2} ms, worst {:.2} ms over {} frames",
        median as f64 / 1e6,
        worst as f64 / 1e6,
        v.len()
    );
    if (floor..=bound).contains(&median) {
        return Ok(());
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    Err(format!(
        "{what}: median {median} ns, not within {floor}..={bound} (load average {})",
        load.trim()
    ))
}

/// Runs of a measurement at most: a failed run is followed by a pause
/// and another run.
const RUNS: usize = 5;
/// The pause after a failed run, so that a slow spell of the machine (a
/// virtual machine's host taking the cores for a few seconds: CI once saw
/// three runs in a row at 4.5 to 9.8 ms where 4.0 is usual) can pass.
const PAUSE_AFTER_A_FAILED_RUN: Duration = Duration::from_secs(2);

/// Passes if one of at most `RUNS` runs of `measure` does. A machine whose
/// cores another program keeps busy can wake the pacing thread (or the
/// source's) late by more than the 1 ms allowed for a whole run; paying
/// the pacing twice costs 3.3 ms in every run.
fn in_one_of_the_runs(measure: impl Fn() -> Result<(), String>) {
    let mut failures = Vec::new();
    for _ in 0..RUNS {
        match measure() {
            Ok(()) => return,
            Err(e) => failures.push(e),
        }
        std::thread::sleep(PAUSE_AFTER_A_FAILED_RUN);
    }
    panic!("{RUNS} runs failed: {failures:#?}");
}

/// From entering the payloader to the last datagram, per frame, but the
/// first two (the sink's latency is still being set).
fn entry_to_last(run: &SenderRun) -> Vec<i64> {
    run.entered
        .iter()
        .zip(&run.ends)
        .skip(2)
        .map(|((at, _), end)| *end as i64 - *at as i64)
        .collect()
}

/// From the frame's time plus the sink's latency to its last datagram,
/// per frame, but the first two.
fn due_to_last(run: &SenderRun) -> Vec<i64> {
    run.entered
        .iter()
        .zip(&run.ends)
        .skip(2)
        .map(|((_, pts), end)| {
            let due = run.base_time + pts.unwrap().nseconds() + run.latency;
            *end as i64 - due as i64
        })
        .collect()
}

/// Without a clock wait before the first burst, the last datagram of a
/// 1080p frame leaves within the pacing time plus 1 ms of the frame
/// entering the payloader.
fn assert_paced_once_from_entry(what: &str, appsrc: &str, udpsink: &str) {
    let pacing = PACING_1080P_NS as i64;
    in_one_of_the_runs(|| {
        let run = run_sender(appsrc, udpsink, 30);
        check_median(what, &entry_to_last(&run), pacing, pacing + 1_000_000)
    });
}

#[test]
fn do_timestamp_and_a_syncing_udpsink_pay_the_pacing_once() {
    let _serial = one_at_a_time();
    // Not live: the sink adds no latency and sends each burst when it
    // comes; the payloader's own wait paces them.
    assert_paced_once_from_entry(
        "appsrc do-timestamp=true, udpsink: entry to last datagram",
        "do-timestamp=true",
        "",
    );
}

#[test]
fn udpsink_sync_false_pays_the_pacing_once() {
    let _serial = one_at_a_time();
    assert_paced_once_from_entry(
        "appsrc is-live=true do-timestamp=true, udpsink sync=false: entry to last datagram",
        "is-live=true do-timestamp=true",
        "sync=false",
    );
}

#[test]
fn a_live_source_and_a_syncing_udpsink_pay_the_pacing_once() {
    let _serial = one_at_a_time();
    // The pipeline's latency is the payloader's pacing exactly (a live
    // appsrc adds none): the sink sends the first burst as the frame
    // comes and the last at the frame's time plus that latency.
    let pacing = PACING_1080P_NS as i64;
    in_one_of_the_runs(|| {
        let run = run_sender("is-live=true do-timestamp=true", "", 30);
        assert_eq!(
            run.latency, PACING_1080P_NS,
            "the payloader adds its pacing"
        );
        check_median(
            "live appsrc, udpsink: last datagram after the frame's time + latency",
            &due_to_last(&run),
            -1_000_000,
            1_000_000,
        )?;
        check_median(
            "live appsrc, udpsink: entry to last datagram",
            &entry_to_last(&run),
            pacing,
            pacing + 1_000_000,
        )
    });
}

// ---- The receiver's latency ----

/// Frames reaching a syncing sink after udpjpegdepay, each as how long
/// before (negative) or after (positive) its time to render (its running
/// time plus the sink's latency) it came; with the sink's latency at the
/// end and the depayloader's stats.
struct ReceiverRun {
    late: Vec<i64>,
    latency: u64,
    stats: gst::Structure,
}

/// `frames` frames of `len` bytes, pushed `gap_ms` apart by a live sender
/// through `udpjpegpay {pay}` and `udpsink sync=false` to `udpsrc !
/// udpjpegdepay ! queue ! fakesink sync=true`, whose latency is
/// recalculated on every latency message as gst-launch-1.0 does. The queue is there
/// as in the README's receivers: udpsrc reports a maximum latency of 0,
/// which without a queue leaves the sink no room for its processing
/// deadline (20 ms for the time a frame takes from the depayloader to it).
fn run_receiver(pay: &str, len: usize, frames: usize, gap_ms: u64) -> ReceiverRun {
    init();
    let (receiver, port) = udp_receiver(
        "udpsrc name=src address=127.0.0.1 port=0 buffer-size=4194304 \
         ! udpjpegdepay name=depay ! queue ! fakesink name=sink sync=true",
    );
    let _latency = LatencyFollower::new(&receiver);
    let sink = by_name_as::<gst_base::BaseSink>(&receiver, "sink");
    let late = time_renders(&sink);
    let (sender, src) = appsrc_sender(&format!(
        "appsrc name=src is-live=true do-timestamp=true format=time caps=image/jpeg \
         ! udpjpegpay {pay} ! udpsink host=127.0.0.1 port={port} sync=false"
    ));
    for i in 0..frames {
        src.push_buffer(gst::Buffer::from_mut_slice(fake_jpeg(len, i as u8)))
            .unwrap();
        std::thread::sleep(Duration::from_millis(gap_ms));
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_no_error(&sender, "sender");
    assert_no_error(&receiver, "receiver");
    let run = ReceiverRun {
        late: late.lock().unwrap().clone(),
        latency: sink.latency().nseconds(),
        stats: by_name(&receiver, "depay").property("stats"),
    };
    assert_eq!(run.late.len(), frames, "every frame came: {}", run.stats);
    run
}

/// For each frame `sink` renders, how long after its time to render (its
/// running time plus the sink's latency then, negative if before) it came
/// to the sink. Read at render: a live sink prerolls its first frame and
/// only then is the pipeline's latency set.
fn time_renders(sink: &gst_base::BaseSink) -> Arc<Mutex<Vec<i64>>> {
    let came = Arc::new(Mutex::new(std::collections::VecDeque::new()));
    let c = came.clone();
    sink.static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            c.lock().unwrap().push_back(now_ns());
            gst::PadProbeReturn::Ok
        });
    let late = Arc::new(Mutex::new(Vec::new()));
    let l = late.clone();
    sink.set_property("signal-handoffs", true);
    sink.connect("handoff", false, move |args| {
        let sink = args[0].get::<gst_base::BaseSink>().unwrap();
        let buffer = args[1].get::<gst::Buffer>().unwrap();
        let due = sink.base_time().unwrap() + buffer.pts().unwrap() + sink.latency();
        let came = came.lock().unwrap().pop_front().unwrap();
        l.lock().unwrap().push(came as i64 - due.nseconds() as i64);
        None
    });
    late
}

fn report(what: &str, run: &ReceiverRun) {
    let late: Vec<String> = run
        .late
        .iter()
        .map(|l| format!("{:.1}", *l as f64 / 1e6))
        .collect();
    eprintln!(
        "{what}: sink latency {:.2} ms; each frame came (ms, + is late): {}",
        run.latency as f64 / 1e6,
        late.join(" ")
    );
}

#[test]
fn a_syncing_sink_after_the_depayloader_gets_every_frame_in_time() {
    let _serial = one_at_a_time();
    // 1080p at the default pacing: 3.3 ms from first to last datagram.
    let run = run_receiver("", FRAME_1080P, 30, 33);
    report("1080p, default pacing", &run);
    let late = run.late.iter().filter(|&&l| l > 0).count();
    assert_eq!(late, 0, "frames late: {:?}", run.late);
}

#[test]
fn a_frame_paced_over_more_than_the_sinks_deadline_is_on_time() {
    let _serial = one_at_a_time();
    // 20 datagrams 2 ms apart: 38 ms from first to last datagram, more
    // than the 20 ms a live sink allows for processing (processing-deadline).
    let run = run_receiver("burst-size=1 burst-interval=2000", 20 * 1395, 20, 100);
    report("38 ms of pacing", &run);
    let late = run.late.iter().filter(|&&l| l > 0).count();
    assert_eq!(late, 0, "frames late: {:?}", run.late);
}

// ---- Pacing that yields ----

/// One datagram every 100 ms: a frame of 20 takes 1.9 s to leave.
const SLOW: &str = "burst-size=1 burst-interval=100000";
/// 20 datagrams at mtu 1400.
const SLOW_FRAME: usize = 20 * 1395;

/// A sender pacing one datagram every 100 ms towards `catcher`, through
/// `udpsink sync=false`, from an appsrc that takes seeks if `seekable`.
fn slow_sender(catcher: &Catcher, seekable: bool) -> (PipelineGuard, gst_app::AppSrc) {
    init();
    let pipeline = PipelineGuard(
        gst::parse::launch(&format!(
            "appsrc name=src format=time caps=image/jpeg ! udpjpegpay {SLOW} \
             ! udpsink host=127.0.0.1 port={} sync=false",
            catcher.port
        ))
        .unwrap(),
    );
    let src: gst_app::AppSrc = by_name_as(&pipeline, "src");
    if seekable {
        // appsrc seeks when its application says it can.
        src.set_stream_type(gst_app::AppStreamType::Seekable);
        src.set_callbacks(
            gst_app::AppSrcCallbacks::builder()
                .seek_data(|_, _| true)
                .build(),
        );
    }
    pipeline.set_state(gst::State::Playing).unwrap();
    (pipeline, src)
}

/// Waits (at most 5 s) until `catcher` has `n` datagrams.
fn wait_caught(catcher: &Catcher, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while catcher.caught().len() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "{n} datagrams within 5 s"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Sends a slow frame, and once its second datagram has left (the
/// payloader then waits 100 ms for the third), times `stop`; checks that
/// the rest of the frame is dropped. Returns how long `stop` took.
fn time_stop(seekable: bool, stop: impl FnOnce(&gst::Element)) -> Duration {
    let catcher = Catcher::new();
    let (pipeline, src) = slow_sender(&catcher, seekable);
    src.push_buffer(gst::Buffer::from_mut_slice(fake_jpeg(SLOW_FRAME, 1)))
        .unwrap();
    wait_caught(&catcher, 2);
    let start = std::time::Instant::now();
    stop(&pipeline);
    let took = start.elapsed();
    std::thread::sleep(Duration::from_millis(250));
    let sent = catcher.caught().len();
    assert!(
        sent < 5,
        "the rest of the frame is dropped: {sent} of 20 sent"
    );
    assert_no_error(&pipeline, "sender");
    took
}

/// Runs `time_stop` 3 times; each must take under 20 ms.
fn assert_stops_at_once(what: &str, seekable: bool, stop: impl Fn(&gst::Element)) {
    let took: Vec<Duration> = (0..3).map(|_| time_stop(seekable, &stop)).collect();
    eprintln!("{what} while pacing took {took:?}");
    for t in took {
        assert!(t < Duration::from_millis(20), "{what} took {t:?}");
    }
}

#[test]
fn going_to_ready_ends_the_wait_between_bursts() {
    let _serial = one_at_a_time();
    assert_stops_at_once("PLAYING -> READY", false, |p| {
        p.set_state(gst::State::Ready).unwrap();
    });
}

#[test]
fn going_to_null_ends_the_wait_between_bursts() {
    let _serial = one_at_a_time();
    assert_stops_at_once("PLAYING -> NULL", false, |p| {
        p.set_state(gst::State::Null).unwrap();
    });
}

#[test]
fn a_flushing_seek_ends_the_wait_between_bursts() {
    let _serial = one_at_a_time();
    assert_stops_at_once("A flushing seek", true, |p| {
        p.seek_simple(gst::SeekFlags::FLUSH, gst::ClockTime::ZERO)
            .expect("appsrc takes the seek");
    });
}

#[test]
fn end_of_stream_after_a_paced_frame_sends_every_datagram() {
    let _serial = one_at_a_time();
    let catcher = Catcher::new();
    let (pipeline, src) = slow_sender(&catcher, false);
    // 4 datagrams: 300 ms of pacing, with EOS queued right behind.
    src.push_buffer(gst::Buffer::from_mut_slice(fake_jpeg(4 * 1395, 1)))
        .unwrap();
    src.end_of_stream().unwrap();
    wait_eos(&pipeline, "sender", 5);
    std::thread::sleep(Duration::from_millis(50));
    let kinds: Vec<u8> = catcher.caught().iter().map(|(_, h)| h[0]).collect();
    assert_eq!(kinds, b"SCCE", "every datagram, in order");
    let caught = catcher.caught();
    let spread = caught[3].0 - caught[0].0;
    assert!(spread >= 300_000_000, "paced: {spread} ns");
}
