// SPDX-License-Identifier: MPL-2.0
//! Pacing over UDP on 127.0.0.1: how fast a flush, a stop or
//! end-of-stream ends the wait between bursts.
//!
//! ```text
//! appsrc ! udpjpegpay burst-size=1 burst-interval=100000 \
//!     ! udpsink host=127.0.0.1 port=P sync=false   (datagrams caught by a socket)
//! ```

mod common;

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use common::*;
use gst::prelude::*;

/// The system clock's time (the pipelines' clock), in nanoseconds.
fn now_ns() -> u64 {
    gst::SystemClock::obtain().time().nseconds()
}

/// When a datagram came (system clock, ns) and its S/C/E header.
type Caught = (u64, [u8; 5]);

/// Datagrams caught on 127.0.0.1.
struct Catcher {
    port: u16,
    stop: Arc<AtomicBool>,
    caught: Arc<Mutex<Vec<Caught>>>,
    thread: Option<JoinHandle<()>>,
}

impl Catcher {
    fn new() -> Catcher {
        // A 4 MB buffer: what is timed is the sender, not this thread's luck.
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
        socket.set_recv_buffer_size(4 << 20).unwrap();
        socket
            .bind(
                &"127.0.0.1:0"
                    .parse::<std::net::SocketAddr>()
                    .unwrap()
                    .into(),
            )
            .unwrap();
        let socket: UdpSocket = socket.into();
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let port = socket.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let caught = Arc::new(Mutex::new(Vec::new()));
        let (s, c) = (stop.clone(), caught.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 65_536];
            while !s.load(Ordering::Relaxed) {
                if let Ok(n) = socket.recv(&mut buf)
                    && n >= 5
                {
                    let at = now_ns();
                    c.lock().unwrap().push((at, buf[..5].try_into().unwrap()));
                }
            }
        });
        Catcher {
            port,
            stop,
            caught,
            thread: Some(thread),
        }
    }

    fn caught(&self) -> Vec<Caught> {
        self.caught.lock().unwrap().clone()
    }
}

impl Drop for Catcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

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
    assert_stops_at_once("PLAYING -> READY", false, |p| {
        p.set_state(gst::State::Ready).unwrap();
    });
}

#[test]
fn going_to_null_ends_the_wait_between_bursts() {
    assert_stops_at_once("PLAYING -> NULL", false, |p| {
        p.set_state(gst::State::Null).unwrap();
    });
}

#[test]
fn a_flushing_seek_ends_the_wait_between_bursts() {
    assert_stops_at_once("A flushing seek", true, |p| {
        p.seek_simple(gst::SeekFlags::FLUSH, gst::ClockTime::ZERO)
            .expect("appsrc takes the seek");
    });
}

#[test]
fn end_of_stream_after_a_paced_frame_sends_every_datagram() {
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
