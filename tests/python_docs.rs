// SPDX-License-Identifier: MPL-2.0
//! Runs every Python snippet of docs/python.md (the files in docs/python/)
//! with Debian's /usr/bin/python3, python3-opencv and python3-gi, against
//! the plugin under test (GST_PLUGIN_PATH = `plugin_dir()`), over UDP on
//! 127.0.0.1, and checks that the doc's code blocks are those files.
//!
//! Every test but the doc check needs those packages: ignored by a plain
//! `cargo test`, run by scripts/test.sh.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::process::{Kill, plugin_dir, text};
use common::*;

const PYTHON: &str = "/usr/bin/python3";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Fails, naming the packages, unless Debian's Python has OpenCV, PyGObject
/// and numpy.
fn require_python_modules() {
    let ok = Command::new(PYTHON)
        .args(["-c", "import cv2, gi, numpy"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{PYTHON} cannot import cv2, gi and numpy: install python3-opencv and \
         python3-gi (scripts/install-deps.sh --test)"
    );
}

/// Held by each test that runs Python: one snippet at a time, because
/// receive_opencv.py gives the first frame 1 s (its watchdog) and several
/// Pythons starting at once on a loaded machine can take longer than that.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// `/usr/bin/python3 -B docs/python/<snippet> <args>`, finding the plugin
/// under test.
fn snippet(name: &str, args: &[&str]) -> Command {
    require_python_modules();
    let path = root().join("docs/python").join(name);
    assert!(path.exists(), "{} is missing", path.display());
    let mut c = Command::new(PYTHON);
    c.arg("-B").arg(path).args(args);
    c.env("GST_PLUGIN_PATH", plugin_dir());
    c
}

/// Runs `cmd` and returns its output and how long it ran, failing when it
/// does not exit within `limit`.
fn run(cmd: &mut Command, limit: Duration) -> (Output, Duration) {
    let start = Instant::now();
    let out = Kill::spawn(cmd)
        .wait_exit(limit, Duration::from_millis(20))
        .unwrap_or_else(|out| {
            panic!(
                "did not exit within {limit:?}; stdout: {} stderr: {}",
                text(&out.stdout),
                text(&out.stderr)
            )
        });
    (out, start.elapsed())
}

fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}; stdout: {} stderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// Asserts that `out` is a failure whose stderr holds `message`.
fn assert_fails_with(out: &Output, message: &str) {
    assert_eq!(out.status.code(), Some(1), "stderr: {}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(message),
        "stderr lacks {message:?}: {}",
        text(&out.stderr)
    );
}

/// A live 320x240 udpjpeg stream to 127.0.0.1:`port` from our payloader,
/// `frames` frames at 30 fps (-1: until dropped).
fn live_sender(port: u16, frames: i32) -> PipelineGuard {
    PipelineGuard::playing(&format!(
        "videotestsrc is-live=true num-buffers={frames} ! \
         video/x-raw,width=320,height=240,framerate=30/1 ! jpegenc ! \
         udpjpegpay ! udpsink host=127.0.0.1 port={port}"
    ))
}

/// `udpsrc ! udpjpegdepay ! jpegdec ! appsink` on 127.0.0.1, any port.
fn decoding_receiver() -> (PipelineGuard, gst_app::AppSink, u16) {
    let (pipeline, port) = udp_receiver(
        "udpsrc name=src address=127.0.0.1 port=0 buffer-size=4194304 ! \
         udpjpegdepay ! jpegdec ! appsink name=sink sync=false max-buffers=0",
    );
    let sink = by_name_as(&pipeline, "sink");
    (pipeline, sink, port)
}

/// The frames `sink` received (waiting up to 2 s after the last one), each
/// checked to be 320x240.
fn count_320x240(sink: &gst_app::AppSink) -> usize {
    let mut n = 0;
    while let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(2)) {
        let caps = sample.caps().unwrap().structure(0).unwrap().to_owned();
        assert_eq!(caps.get::<i32>("width").unwrap(), 320, "{caps}");
        assert_eq!(caps.get::<i32>("height").unwrap(), 240, "{caps}");
        n += 1;
    }
    n
}

/// Lines `frame <i>: (240, 320, 3) uint8` for i in 1..=n, then the total.
fn assert_numpy_frames(out: &Output, n: usize) {
    let stdout = text(&out.stdout);
    for i in 1..=n {
        let line = format!("frame {i}: (240, 320, 3) uint8\n");
        assert!(stdout.contains(&line), "no {line:?} in {stdout}");
    }
    assert!(
        stdout.ends_with(&format!("received {n} frames\n")),
        "{stdout}"
    );
}

/// A plugin path and registry that see every system plugin but ours, so
/// that the not-found path runs even where the plugin is installed.
fn without_our_plugin(cmd: &mut Command, dir: &Path) {
    let system = pkg_config_pluginsdir();
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    for entry in std::fs::read_dir(&system).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != "libgstudpjpeg.so" {
            std::os::unix::fs::symlink(entry.path(), plugins.join(entry.file_name())).unwrap();
        }
    }
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    cmd.env("GST_PLUGIN_PATH", &empty)
        .env("GST_PLUGIN_SYSTEM_PATH_1_0", &plugins)
        .env("GST_REGISTRY_1_0", dir.join("registry.bin"));
}

fn pkg_config_pluginsdir() -> PathBuf {
    let out = Command::new("pkg-config")
        .args(["--variable=pluginsdir", "gstreamer-1.0"])
        .output()
        .expect("pkg-config runs (scripts/apt-packages.txt)");
    assert!(out.status.success(), "{}", text(&out.stderr));
    PathBuf::from(text(&out.stdout).trim())
}

#[test]
#[ignore = "needs python3-opencv and python3-gi: run scripts/test.sh"]
fn check_opencv_finds_gstreamer_in_debians_opencv() {
    let _one = one_at_a_time();
    let (out, _) = run(
        &mut snippet("check_opencv.py", &[]),
        Duration::from_secs(20),
    );
    assert_success(&out);
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("OpenCV ") && stdout.contains("GStreamer:") && stdout.contains("YES"),
        "{stdout}"
    );
}

/// Runs receiving snippet `name` against a live sender: 30 numpy frames.
fn assert_receives_numpy_frames(name: &str) {
    let _one = one_at_a_time();
    init();
    let port = free_udp_port();
    let _sender = live_sender(port, -1);
    let args = [
        "--address",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--frames",
        "30",
    ];
    let (out, _) = run(&mut snippet(name, &args), Duration::from_secs(30));
    assert_success(&out);
    assert_numpy_frames(&out, 30);
}

/// Runs receiving snippet `name` with no sender: it fails within 5 s with
/// `message(port)`.
fn assert_fails_fast_without_sender(name: &str, message: impl Fn(&str) -> String) {
    let _one = one_at_a_time();
    let port = free_udp_port().to_string();
    let args = ["--address", "127.0.0.1", "--port", &port];
    let (out, took) = run(&mut snippet(name, &args), Duration::from_secs(20));
    assert_fails_with(&out, &message(&port));
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

/// Runs receiving snippet `name` where our plugin cannot be found: it fails
/// with `message`, which names GST_PLUGIN_PATH.
fn assert_names_gst_plugin_path(name: &str, message: &str) {
    let _one = one_at_a_time();
    let dir = TempDir::new(&format!("python-docs-noplugin-{name}"));
    let mut cmd = snippet(name, &["--address", "127.0.0.1", "--port", "9"]);
    without_our_plugin(&mut cmd, &dir.0);
    let (out, took) = run(&mut cmd, Duration::from_secs(60));
    assert_fails_with(&out, message);
    assert!(took < Duration::from_secs(30), "took {took:?}");
}

#[test]
#[ignore = "needs python3-opencv and python3-gi: run scripts/test.sh"]
fn receive_opencv_reads_numpy_frames() {
    assert_receives_numpy_frames("receive_opencv.py");
}

#[test]
#[ignore = "needs python3-opencv and python3-gi: run scripts/test.sh"]
fn receive_opencv_fails_fast_without_sender() {
    assert_fails_fast_without_sender("receive_opencv.py", |port| {
        format!("no frame within 1 s on port {port}: is the sender running?")
    });
}

#[test]
#[ignore = "needs python3-opencv and python3-gi: run scripts/test.sh"]
fn receive_opencv_names_gst_plugin_path_when_plugin_missing() {
    assert_names_gst_plugin_path(
        "receive_opencv.py",
        "udpjpegdepay not found: set GST_PLUGIN_PATH",
    );
}

/// The trap docs/python.md names: once opened, `read()` does not return
/// when the sender stops, even with the watchdog.
#[test]
#[ignore = "needs python3-opencv and python3-gi: run scripts/test.sh"]
fn receive_opencv_read_waits_on_after_the_sender_stops() {
    let _one = one_at_a_time();
    init();
    let port = free_udp_port();
    let args = ["--address", "127.0.0.1", "--port", &port.to_string()];
    // Three seconds of stream, so that the receiver opens while it runs.
    let sender = live_sender(port, 90);
    let receiver = Kill::spawn(&mut snippet("receive_opencv.py", &args));
    wait_eos(&sender, "sender", 10);
    let out = receiver
        .wait_exit(Duration::from_secs(3), Duration::from_millis(20))
        .expect_err("read() returned after the sender stopped");
    assert!(
        text(&out.stdout).contains("frame 1: (240, 320, 3) uint8"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
#[ignore = "needs python3-opencv and python3-gi: run scripts/test.sh"]
fn receive_gi_reads_numpy_frames() {
    assert_receives_numpy_frames("receive_gi.py");
}

#[test]
#[ignore = "needs python3-opencv and python3-gi: run scripts/test.sh"]
fn receive_gi_fails_fast_on_udpsrc_timeout() {
    assert_fails_fast_without_sender("receive_gi.py", |port| {
        format!("no datagram for 1 s on port {port}: is the sender running?")
    });
}

#[test]
#[ignore = "needs python3-opencv and python3-gi: run scripts/test.sh"]
fn receive_gi_names_gst_plugin_path_when_plugin_missing() {
    assert_names_gst_plugin_path(
        "receive_gi.py",
        "no element \"udpjpegdepay\": set GST_PLUGIN_PATH",
    );
}

/// Runs a sending snippet to our receiver: every frame arrives, 320x240.
fn assert_sender_delivers(name: &str, frames: usize) {
    init();
    let (_pipeline, sink, port) = decoding_receiver();
    let args = [
        "--host",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--frames",
        &frames.to_string(),
    ];
    let (out, _) = run(&mut snippet(name, &args), Duration::from_secs(60));
    assert_success(&out);
    assert_eq!(text(&out.stdout), format!("sent {frames} frames\n"));
    assert_eq!(count_320x240(&sink), frames, "{name}");
}

#[test]
#[ignore = "needs python3-opencv and python3-gi: run scripts/test.sh"]
fn send_opencv_delivers_every_frame() {
    let _one = one_at_a_time();
    assert_sender_delivers("send_opencv.py", 60);
}

#[test]
#[ignore = "needs python3-opencv and python3-gi: run scripts/test.sh"]
fn send_gi_delivers_every_frame() {
    let _one = one_at_a_time();
    assert_sender_delivers("send_gi.py", 60);
}

/// The rewritten webcam server, with a videotestsrc pipeline for camera 0.
#[test]
#[ignore = "needs python3-opencv and python3-gi: run scripts/test.sh"]
fn webcam_server_sends_every_camera_frame() {
    let _one = one_at_a_time();
    init();
    let (_pipeline, sink, port) = decoding_receiver();
    let camera = "videotestsrc num-buffers=45 ! video/x-raw,width=320,height=240,framerate=30/1 \
                  ! videoconvert ! video/x-raw,format=BGR ! appsink";
    let args = [
        "--camera",
        camera,
        "--host",
        "127.0.0.1",
        "--port",
        &port.to_string(),
    ];
    let (out, _) = run(
        &mut snippet("webcam_server.py", &args),
        Duration::from_secs(60),
    );
    assert_success(&out);
    assert_eq!(text(&out.stdout), "sent 45 frames of 320x240\n");
    assert_eq!(count_320x240(&sink), 45);
}

/// The code blocks of docs/python.md: each after a `<!-- file: PATH -->`
/// line is that file, each after `<!-- excerpt: PATH -->` is part of it,
/// and every file of docs/python/ is shown.
#[test]
fn python_doc_blocks_are_the_files() {
    let doc = std::fs::read_to_string(root().join("docs/python.md")).unwrap();
    let mut shown = Vec::new();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        let Some(marker) = line
            .strip_prefix("<!-- ")
            .and_then(|l| l.strip_suffix(" -->"))
        else {
            continue;
        };
        let (kind, path) = marker
            .split_once(": ")
            .expect("<!-- file|excerpt: PATH -->");
        assert_eq!(
            lines.next(),
            Some("```python"),
            "a python block after {line}"
        );
        let block: String = lines
            .by_ref()
            .take_while(|l| *l != "```")
            .map(|l| format!("{l}\n"))
            .collect();
        let file =
            std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        match kind {
            "file" => assert_eq!(block, file, "docs/python.md shows {path} as it is"),
            "excerpt" => assert!(file.contains(&block), "{path} holds the block:\n{block}"),
            _ => panic!("unknown marker {line}"),
        }
        shown.push(path.to_string());
    }
    for entry in std::fs::read_dir(root().join("docs/python")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if !name.ends_with(".py") {
            continue; // __pycache__ from a run by hand
        }
        let path = format!("docs/python/{name}");
        assert!(shown.contains(&path), "docs/python.md shows {path}");
    }
}

#[test]
#[ignore = "needs python3-opencv and python3-gi: run scripts/test.sh"]
fn receive_gi_fails_fast_when_the_sender_stops() {
    let _one = one_at_a_time();
    init();
    let port = free_udp_port();
    let args = ["--address", "127.0.0.1", "--port", &port.to_string()];
    let receiver = Kill::spawn(&mut snippet("receive_gi.py", &args));
    std::thread::sleep(Duration::from_millis(300));
    let sender = live_sender(port, 30);
    wait_eos(&sender, "sender", 10);
    let stopped = Instant::now();
    let out = receiver
        .wait_exit(Duration::from_secs(10), Duration::from_millis(20))
        .unwrap_or_else(|out| panic!("still running: {}", text(&out.stdout)));
    assert!(
        stopped.elapsed() < Duration::from_secs(5),
        "took {:?}",
        stopped.elapsed()
    );
    assert_fails_with(&out, &format!("no datagram for 1 s on port {port}"));
    assert!(
        text(&out.stdout).contains("frame 1: (240, 320, 3) uint8"),
        "{}",
        text(&out.stdout)
    );
}

/// `cv2.VideoCapture(<pipeline>, cv2.CAP_GSTREAMER)` without the watchdog,
/// run by Debian's Python: the trap docs/python.md describes.
fn bare_video_capture(pipeline: &str) -> Command {
    require_python_modules();
    let code = format!(
        "import cv2\ncap = cv2.VideoCapture({pipeline:?}, cv2.CAP_GSTREAMER)\nprint('returned')"
    );
    let mut c = Command::new(PYTHON);
    c.args(["-B", "-c", &code]);
    c.env("GST_PLUGIN_PATH", plugin_dir());
    c
}

/// Asserts that `cmd` is still running after 3 s (and kills it).
fn assert_still_running_after_3_s(cmd: &mut Command) {
    let out = Kill::spawn(cmd)
        .wait_exit(Duration::from_secs(3), Duration::from_millis(20))
        .expect_err("VideoCapture returned");
    assert!(!text(&out.stdout).contains("returned"));
}

#[test]
#[ignore = "needs python3-opencv and python3-gi: run scripts/test.sh"]
fn trap_video_capture_waits_without_sender() {
    let _one = one_at_a_time();
    let port = free_udp_port();
    assert_still_running_after_3_s(&mut bare_video_capture(&format!(
        "udpsrc address=127.0.0.1 port={port} ! udpjpegdepay ! jpegdec ! videoconvert ! appsink"
    )));
}

#[test]
#[ignore = "needs python3-opencv and python3-gi: run scripts/test.sh"]
fn trap_video_capture_waits_when_the_plugin_is_missing() {
    let _one = one_at_a_time();
    let dir = TempDir::new("python-docs-trap-noplugin");
    let port = free_udp_port();
    let mut cmd = bare_video_capture(&format!(
        "udpsrc address=127.0.0.1 port={port} ! udpjpegdepay ! jpegdec ! videoconvert ! appsink"
    ));
    without_our_plugin(&mut cmd, &dir.0);
    // The first scan of a fresh registry takes a while: it must not count.
    let scan = Command::new("gst-inspect-1.0")
        .arg("udpsrc")
        .envs(cmd.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .output()
        .expect("gst-inspect-1.0 runs (gstreamer1.0-tools)");
    assert!(scan.status.success(), "{}", text(&scan.stderr));
    assert_still_running_after_3_s(&mut cmd);
}

/// `gst-inspect-1.0 --exists` alone says no for our elements: it wants the
/// plugin's version (0.1.0) to be at least GStreamer's.
#[test]
fn trap_gst_inspect_exists_needs_atleast_version() {
    let exists = |extra: &[&str]| {
        Command::new("gst-inspect-1.0")
            .arg("--exists")
            .args(extra)
            .arg("udpjpegdepay")
            .env("GST_PLUGIN_PATH", plugin_dir())
            .status()
            .expect("gst-inspect-1.0 runs (gstreamer1.0-tools)")
            .code()
    };
    assert_eq!(exists(&[]), Some(1));
    assert_eq!(exists(&["--atleast-version=0.1.0"]), Some(0));
}
