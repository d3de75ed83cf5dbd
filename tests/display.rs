// SPDX-License-Identifier: MPL-2.0
//! The display pipelines of README.md and docs/recipes.md, run as written
//! with `gst-launch-1.0` and `autovideosink` on an Xvfb display (where it
//! picks `ximagesink`), each fed by a sender on loopback: no "Pipeline
//! construction is invalid, please add queues" warning, no error, frames
//! rendered and (almost) none dropped late.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::process::{interrupt, plugin_dir, require_gst_launch, wait_exit};
use common::xvfb::Xvfb;
use common::{PipelineGuard, TempDir, free_tcp_port, free_udp_port, init, jpeg_frames};
use gst::prelude::*;

const UDP: &str = "gst-launch-1.0 udpsrc port=5000 ! udpjpegdepay ! queue ! jpegdec ! videoconvert ! autovideosink";
const MULTICAST: &str = "gst-launch-1.0 udpsrc address=239.255.42.42 port=5000 auto-multicast=true ! udpjpegdepay ! queue ! jpegdec ! videoconvert ! autovideosink";
const TCP_SERVER: &str = "gst-launch-1.0 tcpserversrc host=0.0.0.0 port=5001 ! mjpegsplit ! queue ! jpegdec ! videoconvert ! autovideosink";
const TCP_SERVER_15: &str = "gst-launch-1.0 tcpserversrc host=0.0.0.0 port=5001 ! mjpegsplit framerate=15/1 ! queue ! jpegdec ! videoconvert ! autovideosink";
const TCP_CLIENT: &str = "gst-launch-1.0 tcpclientsrc host=192.0.2.10 port=5001 ! mjpegsplit ! queue ! jpegdec ! videoconvert ! autovideosink";
const TCP_CLIENT_NOSYNC: &str = "gst-launch-1.0 tcpclientsrc host=192.0.2.10 port=5002 ! mjpegsplit ! queue ! jpegdec ! videoconvert ! autovideosink sync=false";
const FILE: &str = "gst-launch-1.0 filesrc location=capture.mjpeg ! mjpegsplit framerate=30/1 ! queue ! jpegdec ! videoconvert ! autovideosink";

/// The live picture every sender sends: 640x360 JPEG at 30 frames a second.
const CAMERA: &str = "videotestsrc is-live=true ! \
    video/x-raw,format=I420,width=640,height=360,framerate=30/1 ! jpegenc";

/// How long a receiver may take to show its frames (a slow machine
/// running other tests).
const LIMIT: Duration = Duration::from_secs(30);

/// The lines of the sink's debug output saying it shows a frame.
const RENDERING: &str = "rendering object";

#[test]
fn every_display_pipeline_is_in_the_docs() {
    let readme = std::fs::read_to_string("README.md").unwrap();
    let recipes = std::fs::read_to_string("docs/recipes.md").unwrap();
    for p in [UDP, TCP_SERVER, TCP_CLIENT, FILE] {
        assert!(readme.contains(p), "README.md shows `{p}`");
    }
    for p in [UDP, MULTICAST, TCP_SERVER_15, TCP_CLIENT_NOSYNC] {
        assert!(recipes.contains(p), "docs/recipes.md shows `{p}`");
    }
    let mut docs = vec![("README.md".to_string(), readme)];
    for entry in std::fs::read_dir("docs").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            let text = std::fs::read_to_string(&path).unwrap();
            docs.push((path.display().to_string(), text));
        }
    }
    for (name, doc) in &docs {
        let shown = doc
            .lines()
            .filter(|l| l.contains("jpegdec") && l.contains("autovideosink"));
        for line in shown {
            assert!(
                line.contains("queue ! jpegdec"),
                "{name}: no queue before the decoder: {line}"
            );
        }
    }
}

/// What the receiver printed: its stdout (`-m` messages, warnings) and
/// stderr (the sink's debug lines).
struct Run {
    out: String,
}

/// Starts `command` (a documented `gst-launch-1.0 ...` line, with
/// `replace` applied) on `x`, its output going to `log` (a file, not a
/// pipe: a pipe read only at the end would fill up and stall it).
fn run_receiver(
    x: &Xvfb,
    command: &str,
    replace: &[(&str, &str)],
    log: &std::path::Path,
) -> std::process::Child {
    require_gst_launch();
    let mut line = command.to_string();
    for (from, to) in replace {
        assert!(line.contains(from), "`{from}` in `{line}`");
        line = line.replace(from, to);
    }
    let args: Vec<&str> = line.split_whitespace().skip(1).collect();
    Command::new("gst-launch-1.0")
        .arg("-m")
        .args(args)
        .env("DISPLAY", &x.display)
        .env("GST_PLUGIN_PATH", plugin_dir())
        .env("GST_DEBUG", "basesink:5")
        .env("GST_DEBUG_NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(log).unwrap())
        .stderr(std::fs::File::create(log.with_extension("err")).unwrap())
        .spawn()
        .unwrap()
}

/// Waits until the sink's debug output (next to `log`) shows `min` frames,
/// the receiver could not open the display, or `LIMIT` passed (the caller's
/// checks then fail).
fn wait_for_frames(log: &std::path::Path, min: usize) {
    let start = std::time::Instant::now();
    while start.elapsed() < LIMIT {
        let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap_or_default();
        if read(&log.with_extension("err")).matches(RENDERING).count() >= min
            || read(log).contains(NO_DISPLAY)
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Stops the receiver with Ctrl+C and reads what it printed to `log`.
fn finish(child: std::process::Child, log: &std::path::Path) -> Run {
    interrupt(&child);
    let exited = wait_exit(child, Duration::from_secs(10), Duration::from_millis(50));
    assert!(exited.is_ok(), "the receiver ends on Ctrl+C");
    let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap();
    Run {
        out: read(log) + &read(&log.with_extension("err")),
    }
}

impl Run {
    /// Fails on a warning or error; returns (frames rendered, QoS drops).
    fn check(&self, what: &str) -> (usize, usize) {
        let log = &self.out;
        assert!(
            !log.contains("Pipeline construction is invalid"),
            "{what}: {log}"
        );
        assert!(!log.contains("WARNING:"), "{what}: a warning: {log}");
        assert!(!log.contains("ERROR:"), "{what}: an error: {log}");
        let rendered = log
            .lines()
            .filter(|l| l.contains("ximage") && l.contains(RENDERING))
            .count();
        let qos = log.lines().filter(|l| l.ends_with(": qos")).count();
        (rendered, qos)
    }
}

/// Runs the receiver `command` while what `send` starts sends, until it has
/// shown `min` frames (within `LIMIT`), and checks that at most 3 were
/// dropped late.
fn shows_frames(
    command: &str,
    replace: &[(&str, &str)],
    send: impl Fn() -> Option<PipelineGuard>,
    min: usize,
) {
    init();
    let x = Xvfb::start();
    let mut run = show_once(&x, command, replace, &send, min);
    // Xlib now and then fails to connect to a fresh Xvfb ("Could not open
    // display", from ximagesink before any frame): the X server's doing,
    // not the pipeline's, so the run is tried again.
    for _ in 0..2 {
        if !run.out.contains(NO_DISPLAY) {
            break;
        }
        run = show_once(&x, command, replace, &send, min);
    }
    let (rendered, qos) = run.check(command);
    assert!(
        rendered >= min,
        "{command}: {rendered} frames shown, wanted {min}"
    );
    assert!(qos <= 3, "{command}: {qos} frames dropped late");
}

/// What ximagesink says when Xlib cannot connect to the X server.
const NO_DISPLAY: &str = "Could not open display";

/// One run of the receiver on `x` until it showed `min` frames (or
/// `LIMIT` passed), with what `send` starts sending to it.
fn show_once(
    x: &Xvfb,
    command: &str,
    replace: &[(&str, &str)],
    send: &impl Fn() -> Option<PipelineGuard>,
    min: usize,
) -> Run {
    let dir = TempDir::new("display-log");
    let log = dir.0.join("receiver.log");
    let child = run_receiver(x, command, replace, &log);
    let sender = send();
    wait_for_frames(&log, min);
    drop(sender);
    finish(child, &log)
}

/// A live camera sending to `sink` until dropped; tried again for up to
/// 10 s, since a TCP receiver listens only once its gst-launch-1.0 has
/// started. None when it never started (a receiver that failed to start:
/// its own output says why).
fn camera_to(sink: &str) -> Option<PipelineGuard> {
    let desc = format!("{CAMERA} ! {sink}");
    for _ in 0..100 {
        let sender = PipelineGuard(gst::parse::launch(&desc).unwrap());
        if sender.set_state(gst::State::Playing).is_ok() {
            return Some(sender);
        }
        drop(sender);
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

#[test]
#[ignore = "needs Xvfb: run scripts/test.sh"]
fn the_udp_receiver_shows_frames_in_a_window() {
    for doc in [UDP, MULTICAST] {
        let port = free_udp_port().to_string();
        let mut replace = vec![("port=5000", format!("port={port}"))];
        if doc == MULTICAST {
            replace.push(("address=239.255.42.42", "address=127.0.0.1".to_string()));
        }
        let replace: Vec<(&str, &str)> = replace.iter().map(|(a, b)| (*a, b.as_str())).collect();
        let sink = format!("udpjpegpay ! udpsink host=127.0.0.1 port={port}");
        shows_frames(doc, &replace, || camera_to(&sink), 45);
    }
}

#[test]
#[ignore = "needs Xvfb: run scripts/test.sh"]
fn the_tcp_servers_show_frames_in_a_window() {
    for doc in [TCP_SERVER, TCP_SERVER_15] {
        let port = free_tcp_port().to_string();
        let replace = [
            ("host=0.0.0.0", "host=127.0.0.1"),
            ("port=5001", &format!("port={port}")),
        ];
        let sink = format!("tcpclientsink host=127.0.0.1 port={port}");
        shows_frames(doc, &replace, || camera_to(&sink), 45);
    }
}

#[test]
#[ignore = "needs Xvfb: run scripts/test.sh"]
fn the_tcp_clients_show_frames_in_a_window() {
    for (doc, old_port) in [(TCP_CLIENT, "port=5001"), (TCP_CLIENT_NOSYNC, "port=5002")] {
        init();
        let port = free_tcp_port();
        let server = PipelineGuard::playing(&format!(
            "{CAMERA} ! tcpserversink host=127.0.0.1 port={port}"
        ));
        let replace = [
            ("host=192.0.2.10", "host=127.0.0.1"),
            (old_port, &format!("port={port}")),
        ];
        shows_frames(doc, &replace, || None, 45);
        drop(server);
    }
}

#[test]
#[ignore = "needs Xvfb: run scripts/test.sh"]
fn the_file_player_shows_frames_in_a_window() {
    init();
    let dir = TempDir::new("display");
    let file = dir.0.join("capture.mjpeg");
    std::fs::write(&file, jpeg_frames(90, 640, 360).concat()).unwrap();
    let location = format!("location={}", file.display());
    shows_frames(FILE, &[("location=capture.mjpeg", &location)], || None, 80);
}
