// SPDX-License-Identifier: MPL-2.0
//! udpjpegdepay's `receive-buffer-size`: what the socket of the `udpsrc`
//! upstream gets, when it is left alone, and the warning when a frame does
//! not fit.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use gst::prelude::*;
use gst_net::gio::{self, prelude::*};
use gstudpjpeg::wire::{Plan, WireFormat};

/// What the default asks for: net.core.rmem_max of a stock system.
const DEFAULT_REQUEST: usize = 212_992;

/// `SO_RCVBUF` of the socket `udpsrc name=src` in `pipeline` uses, as the
/// kernel reports it.
fn socket_buffer(pipeline: &gst::Element) -> usize {
    let socket: gio::Socket = by_name(pipeline, "src")
        .property::<Option<gio::Socket>>("used-socket")
        .expect("udpsrc has a socket once playing");
    socket.option(libc::SOL_SOCKET, libc::SO_RCVBUF).unwrap() as usize
}

/// `SO_RCVBUF` of a fresh UDP socket: the kernel's default.
fn kernel_default() -> usize {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
    s.recv_buffer_size().unwrap()
}

/// net.core.rmem_max: the cap on what SO_RCVBUF may ask.
fn rmem_max() -> usize {
    std::fs::read_to_string("/proc/sys/net/core/rmem_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// The `receive-buffer-size` stat of the depayloader named `depay`.
fn stat_of(pipeline: &gst::Element) -> usize {
    stat_of_named(pipeline, "depay")
}

fn stat_of_named(pipeline: &gst::Element, name: &str) -> usize {
    let s = by_name(pipeline, name).property::<gst::Structure>("stats");
    s.get::<u64>("receive-buffer-size").unwrap() as usize
}

fn receiver(udpsrc_props: &str, depay_props: &str) -> (PipelineGuard, gst_app::AppSink, u16) {
    depay_receiver(udpsrc_props, depay_props)
}

/// `udpsrc name=src` with `udpsrc_props` `! udpjpegdepay name=NAME !
/// appsink`, playing.
fn named_receiver(udpsrc_props: &str, name: &str) -> (PipelineGuard, gst_app::AppSink, u16) {
    let (pipeline, port) = udp_receiver(&format!(
        "udpsrc name=src address=127.0.0.1 port=0 {udpsrc_props} ! \
         udpjpegdepay name={name} ! appsink name=sink sync=false max-buffers=0"
    ));
    let sink = by_name_as(&pipeline, "sink");
    (pipeline, sink, port)
}

#[test]
fn the_default_gives_udpsrc_a_buffer_that_holds_a_1080p_frame() {
    let (pipeline, _sink, _) = receiver("", "");
    // The kernel doubles what it is asked, capped at rmem_max.
    let expected = 2 * DEFAULT_REQUEST.min(rmem_max());
    assert!(expected > kernel_default(), "{expected}");
    assert_eq!(socket_buffer(&pipeline), expected);
    assert_eq!(stat_of(&pipeline), expected);
}

#[test]
fn a_larger_request_is_capped_by_rmem_max() {
    let (pipeline, _sink, _) = receiver("", "receive-buffer-size=8388608");
    let expected = 2 * 8_388_608usize.min(rmem_max());
    assert_eq!(socket_buffer(&pipeline), expected);
    assert_eq!(stat_of(&pipeline), expected);
}

#[test]
fn zero_leaves_the_kernels_default() {
    let (pipeline, _sink, _) = receiver("", "receive-buffer-size=0");
    assert_eq!(socket_buffer(&pipeline), kernel_default());
    assert_eq!(stat_of(&pipeline), 0, "not looked at: unknown");
}

#[test]
fn udpsrcs_own_buffer_size_is_left_as_it_is() {
    let (pipeline, _sink, _) = receiver("buffer-size=100000", "receive-buffer-size=1000000");
    let theirs = socket_buffer(&pipeline);
    assert_eq!(
        theirs, 200_000,
        "udpsrc asked 100000, doubled by the kernel"
    );
    assert_eq!(stat_of(&pipeline), theirs);
}

#[test]
fn a_udpsrc_inside_a_bin_is_found_through_its_ghost_pad() {
    init();
    let pipeline = PipelineGuard::playing(
        "bin. ( udpsrc name=src address=127.0.0.1 port=0 ) ! udpjpegdepay name=depay ! fakesink",
    );
    let expected = 2 * DEFAULT_REQUEST.min(rmem_max());
    assert_eq!(socket_buffer(&pipeline), expected);
    assert_eq!(stat_of(&pipeline), expected);
}

#[test]
fn another_element_upstream_is_left_alone() {
    init();
    let pipeline = PipelineGuard::playing(
        "udpsrc name=src address=127.0.0.1 port=0 ! queue ! udpjpegdepay name=depay ! fakesink",
    );
    assert_eq!(socket_buffer(&pipeline), kernel_default());
    assert_eq!(stat_of(&pipeline), 0);
}

/// The warning lines of the element named `name`, from now until the
/// returned guard's `take`.
struct Warnings {
    lines: Arc<Mutex<Vec<String>>>,
    log: Option<gst::log::DebugLogFunction>,
}

impl Warnings {
    fn of(name: &'static str) -> Warnings {
        gst::log::set_threshold_for_name("udpjpegdepay", gst::DebugLevel::Warning);
        let lines = Arc::new(Mutex::new(Vec::new()));
        let seen = lines.clone();
        let log = gst::log::add_log_function(move |_, level, _, _, _, object, message| {
            let ours = object.is_some_and(|o| o.to_string().contains(name));
            if level == gst::DebugLevel::Warning && ours {
                let text = message.get().map(|m| m.to_string()).unwrap_or_default();
                seen.lock().unwrap().push(text);
            }
        });
        Warnings {
            lines,
            log: Some(log),
        }
    }

    fn take(mut self) -> Vec<String> {
        gst::log::remove_log_function(self.log.take().unwrap());
        std::mem::take(&mut *self.lines.lock().unwrap())
    }
}

/// Sends `frames` frames of `len` bytes to `port`, a datagram every 5 ms
/// (so that a buffer of two datagrams never overflows), and waits for
/// each frame to come out of `sink`.
fn send_frames(port: u16, sink: &gst_app::AppSink, frames: u16, len: usize) {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for id in 0..frames {
        let frame = fake_jpeg(len, id as u8);
        for d in Plan::new(WireFormat::Sce, len, 1400)
            .unwrap()
            .datagrams(id, &frame)
        {
            socket.send_to(&d, ("127.0.0.1", port)).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let sample = sink.try_pull_sample(gst::ClockTime::from_seconds(5));
        assert!(sample.is_some(), "frame {id} came out");
    }
}

#[test]
fn a_frame_larger_than_the_socket_buffer_is_one_warning() {
    init();
    let warnings = Warnings::of("small-buffer-depay");
    // udpsrc's own smallest buffer (the kernel raises tiny requests to its
    // minimum), which the depayloader leaves as it is and reads.
    let (pipeline, sink, port) = named_receiver("buffer-size=1", "small-buffer-depay");
    let buffer = stat_of_named(&pipeline, "small-buffer-depay");
    assert!(buffer > 0 && buffer < 16_384, "{buffer}");
    send_frames(port, &sink, 3, buffer);
    let lines = warnings.take();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("does not fit") && lines[0].contains("receive-buffer-size"),
        "{lines:?}"
    );
}

#[test]
fn frames_that_fit_are_no_warning() {
    init();
    let warnings = Warnings::of("large-buffer-depay");
    let (_pipeline, sink, port) = named_receiver("", "large-buffer-depay");
    send_frames(port, &sink, 3, 30_000);
    let lines = warnings.take();
    assert!(lines.is_empty(), "{lines:?}");
}
