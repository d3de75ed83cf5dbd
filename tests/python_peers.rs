// SPDX-License-Identifier: MPL-2.0
//! Interoperability with Python peers written from docs/PROTOCOL.md alone
//! (tests/peers/*.py, standard library only), over UDP on 127.0.0.1:
//!
//! - Python sender -> `udpsrc ! udpjpegdepay ! appsink`
//! - `appsrc ! udpjpegpay ! udpsink` -> Python receiver
//!
//! for both wire formats, comparing every frame byte for byte. Senders are
//! paced (a few ms between frames) and the Python receivers ask for a 4 MiB
//! socket buffer, so on loopback nothing is lost: every frame is required.
//! The one exception is the countdown receiver, which copies the tutorial
//! and throws away the first frame it hears on purpose (it "drains" up to
//! the first segment numbered 1); it must get every frame after that one.
//!
//! Every test here needs python3 (the parity ones also the PyPI package
//! raptorq): ignored by a plain `cargo test`, run by scripts/test.sh.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::process::Kill;
use common::*;
use gst::prelude::*;

/// Waits for a Python peer to exit within `limit` and returns its output.
fn wait(peer: Kill, limit: Duration) -> Output {
    peer.wait_exit(limit, Duration::from_millis(20))
        .unwrap_or_else(|out| {
            panic!(
                "a Python peer did not exit within {limit:?}; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
}

fn python(script: &str) -> Command {
    assert!(
        Command::new("python3")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success()),
        "python3 is missing: install the Debian package python3 (scripts/apt-packages.txt)"
    );
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers")
        .join(script);
    assert!(path.exists(), "{} is missing", path.display());
    let mut c = Command::new("python3");
    c.arg("-B").arg(path);
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Fails, naming the package, unless python3 can import `raptorq` (the
/// parity peers' RaptorQ coder, from PyPI; scripts/install-deps.sh --test
/// installs it).
fn require_python_raptorq() {
    assert!(
        Command::new("python3")
            .args(["-c", "import raptorq"])
            .output()
            .is_ok_and(|o| o.status.success()),
        "the Python package raptorq is missing: python3 -m pip install raptorq==2.0.0 \
         (scripts/install-deps.sh --test does it)"
    );
}

fn check(out: &Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed ({}): {stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Writes `frames` as 00000.jpg, 00001.jpg, ... for a Python sender.
fn write_frames(dir: &Path, frames: &[Vec<u8>]) {
    for (i, f) in frames.iter().enumerate() {
        std::fs::write(dir.join(format!("{i:05}.jpg")), f).unwrap();
    }
}

/// Python sender -> udpsrc ! udpjpegdepay ! appsink: every frame, in order,
/// byte for byte.
fn python_sender_to_depay(
    script: &str,
    wire_format: &str,
    size_args: &[&str],
    frames: &[Vec<u8>],
) -> gst::Structure {
    for f in ["udpsrc", "appsink"] {
        require(f);
    }
    let dir = TempDir::new("udpjpeg-python-send");
    write_frames(&dir.0, frames);

    let (receiver, port) = udp_receiver(&format!(
        "udpsrc name=src address=127.0.0.1 port=0 buffer-size=4194304 ! \
         udpjpegdepay name=depay wire-format={wire_format} ! \
         appsink name=sink sync=false max-buffers=0"
    ));

    let started = Instant::now();
    let sender = Kill(Some(
        python(script)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(size_args)
            .args(["--fps", "100", "--dir"])
            .arg(&dir.0)
            .spawn()
            .unwrap(),
    ));
    let out = wait(sender, Duration::from_secs(60));
    let said = check(&out, script);
    assert_eq!(said.trim(), format!("sent {} frames", frames.len()));

    let sink = by_name_as::<gst_app::AppSink>(&receiver, "sink");
    let mut got = Vec::new();
    while got.len() < frames.len() {
        let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(2)) else {
            break;
        };
        let caps = sample.caps().unwrap().structure(0).unwrap().to_owned();
        assert_eq!(caps.name(), "image/jpeg");
        got.push(bytes(sample.buffer().unwrap()));
    }
    assert_no_error(&receiver, "");
    let stats: gst::Structure = by_name(&receiver, "depay").property("stats");
    eprintln!(
        "{script} -> udpjpegdepay wire-format={wire_format}: {} of {} frames in {:?}; {stats}",
        got.len(),
        frames.len(),
        started.elapsed()
    );
    assert_eq!(got.len(), frames.len(), "every frame arrives; {stats}");
    for (i, (g, f)) in got.iter().zip(frames).enumerate() {
        assert!(g == f, "frame {i} arrives byte for byte; {stats}");
    }
    assert_eq!(stats.get::<u64>("chunks-invalid").unwrap(), 0, "{stats}");
    assert_eq!(stats.get::<u64>("frames-lost").unwrap(), 0, "{stats}");
    stats
}

/// appsrc ! udpjpegpay ! udpsink -> Python receiver. Returns the frames the
/// receiver wrote, in order.
fn pay_to_python_receiver(
    script: &str,
    wire_format: &str,
    mtu: u32,
    frames: &[Vec<u8>],
    expect: usize,
) -> Vec<Vec<u8>> {
    pay_to_python_receiver_with(script, wire_format, mtu, "", 0, frames, expect)
}

/// As `pay_to_python_receiver`, with more payloader properties and every
/// `drop_every`-th datagram (0: none) taken out before udpsink.
fn pay_to_python_receiver_with(
    script: &str,
    wire_format: &str,
    mtu: u32,
    pay_props: &str,
    drop_every: usize,
    frames: &[Vec<u8>],
    expect: usize,
) -> Vec<Vec<u8>> {
    for f in ["appsrc", "udpsink"] {
        require(f);
    }
    let dir = TempDir::new("udpjpeg-python-recv");
    let mut receiver = Kill(Some(
        python(script)
            .args(["--host", "127.0.0.1", "--port", "0", "--timeout", "60"])
            .args(["--count", &expect.to_string(), "--out-dir"])
            .arg(&dir.0)
            .spawn()
            .unwrap(),
    ));
    // The receiver prints "port N" once its socket is bound.
    let mut line = String::new();
    BufReader::new(receiver.0.as_mut().unwrap().stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line
        .trim()
        .strip_prefix("port ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{script} did not report its port: {line:?}"));

    let started = Instant::now();
    let sender = PipelineGuard(
        gst::parse::launch(&format!(
            "appsrc name=src is-live=true format=time caps=image/jpeg ! \
             udpjpegpay name=pay mtu={mtu} wire-format={wire_format} {pay_props} ! \
             udpsink host=127.0.0.1 port={port}"
        ))
        .unwrap(),
    );
    let appsrc = by_name_as::<gst_app::AppSrc>(&sender, "src");
    if drop_every > 0 {
        let n = std::sync::atomic::AtomicUsize::new(0);
        by_name(&sender, "pay")
            .static_pad("src")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER_LIST, move |_, info| {
                if let Some(gst::PadProbeData::BufferList(list)) = &mut info.data {
                    list.make_mut().foreach_mut(|b, _| {
                        let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                        std::ops::ControlFlow::Continue(
                            (!i.is_multiple_of(drop_every)).then_some(b),
                        )
                    });
                    if list.is_empty() {
                        return gst::PadProbeReturn::Drop;
                    }
                }
                gst::PadProbeReturn::Ok
            });
    }
    sender.set_state(gst::State::Playing).unwrap();
    // 100 frames a second, paced by udpsink's clock sync.
    send_all(&sender, &appsrc, frames, 10);
    let pay_stats: gst::Structure = by_name(&sender, "pay").property("stats");

    let out = wait(receiver, Duration::from_secs(90));
    let said = check(&out, script);
    let got = read_frames(&dir.0);
    eprintln!(
        "udpjpegpay wire-format={wire_format} mtu={mtu} -> {script}: {} of {} frames in {:?}; \
         receiver: {}; payloader: {pay_stats}",
        got.len(),
        frames.len(),
        started.elapsed(),
        said.lines().last().unwrap_or("")
    );
    assert_eq!(
        got.len(),
        expect,
        "{script}: {said}; payloader: {pay_stats}"
    );
    got
}

fn assert_same(got: &[Vec<u8>], sent: &[Vec<u8>]) {
    assert_eq!(got.len(), sent.len());
    for (i, (g, s)) in got.iter().zip(sent).enumerate() {
        assert!(
            g == s,
            "frame {i} arrives byte for byte ({} bytes, sent {})",
            g.len(),
            s.len()
        );
    }
}

/// The packet-size setting of the Python scripts: N payload bytes is mtu N + 5.
const PACKET_SIZE: u32 = 1024;
const N: usize = 60;

#[test]
#[ignore = "needs python3 for the Python peers: run scripts/test.sh"]
fn python_sce_sender_to_udpjpegdepay() {
    let frames = jpeg_frames(N, 640, 360);
    let packet_size = PACKET_SIZE.to_string();
    python_sender_to_depay(
        "sce_sender.py",
        "sce",
        &["--packet-size", &packet_size],
        &frames,
    );
}

#[test]
#[ignore = "needs python3 for the Python peers: run scripts/test.sh"]
fn python_sce_sender_one_chunk_frames_to_udpjpegdepay() {
    // A packet size larger than each frame: every frame is a single E chunk
    // with chunk id 0.
    let frames = jpeg_frames(20, 160, 120);
    assert!(frames.iter().all(|f| f.len() < 60_000));
    python_sender_to_depay("sce_sender.py", "sce", &["--packet-size", "60000"], &frames);
}

#[test]
#[ignore = "needs python3 for the Python peers: run scripts/test.sh"]
fn udpjpegpay_sce_to_python_receiver() {
    let frames = jpeg_frames(N, 640, 360);
    let got = pay_to_python_receiver("sce_receiver.py", "sce", PACKET_SIZE + 5, &frames, N);
    assert_same(&got, &frames);
}

#[test]
#[ignore = "needs python3 for the Python peers: run scripts/test.sh"]
fn python_countdown_sender_to_udpjpegdepay() {
    // 1280x720 frames are larger than one datagram of the tutorial's
    // default size (65,473 bytes), so each frame is two or more segments.
    let frames = jpeg_frames(N, 1280, 720);
    assert!(
        frames.iter().all(|f| f.len() > 65_472),
        "multi-segment frames"
    );
    // The sender's own default: --max-datagram 65473, as in the tutorial.
    python_sender_to_depay("countdown_sender.py", "countdown", &[], &frames);
}

#[test]
#[ignore = "needs python3 for the Python peers: run scripts/test.sh"]
fn python_countdown_sender_small_datagrams_to_udpjpegdepay() {
    // 1400-byte datagrams: about 27 segments per 640x360 frame, well under
    // the 255 the format allows.
    let frames = jpeg_frames(N, 640, 360);
    assert!(frames.iter().all(|f| f.len() < 255 * 1399));
    python_sender_to_depay(
        "countdown_sender.py",
        "countdown",
        &["--max-datagram", "1400"],
        &frames,
    );
}

#[test]
#[ignore = "needs python3 for the Python peers: run scripts/test.sh"]
fn udpjpegpay_countdown_to_python_receiver() {
    // A large mtu, as the tutorial uses: a countdown frame has at most 255
    // segments, so at mtu 65000 frames of up to 16.5 MB fit.
    let frames = jpeg_frames(N, 1280, 720);
    assert!(
        frames.iter().all(|f| f.len() > 64_999),
        "multi-segment frames"
    );
    // The receiver drains up to the end of the first frame it hears, as the
    // tutorial does, so it writes every frame but the first.
    let got = pay_to_python_receiver("countdown_receiver.py", "countdown", 65000, &frames, N - 1);
    assert_same(&got, &frames[1..]);
}

#[test]
#[ignore = "needs python3 and the PyPI package raptorq: run scripts/test.sh"]
fn python_parity_sender_to_udpjpegdepay_rebuilds_lost_chunks() {
    require_python_raptorq();
    // The Python sender leaves out data chunks 1 and 3 of every frame and
    // sends 20% parity: every frame must be rebuilt, byte for byte.
    let frames: Vec<Vec<u8>> = FRAMES_360P.iter().take(20).cloned().collect();
    let stats = python_sender_to_depay(
        "sce_sender.py",
        "sce",
        &[
            "--packet-size",
            "1376",
            "--fec-percent",
            "20",
            "--drop-chunks",
            "1,3",
        ],
        &frames,
    );
    assert_eq!(
        stats.get::<u64>("frames-recovered").unwrap(),
        frames.len() as u64,
        "{stats}"
    );
    assert_eq!(
        stats.get::<u64>("chunks-recovered").unwrap(),
        2 * frames.len() as u64
    );
}

#[test]
#[ignore = "needs python3 and the PyPI package raptorq: run scripts/test.sh"]
fn udpjpegpay_parity_to_python_receiver_rebuilds_lost_chunks() {
    require_python_raptorq();
    // Every 13th datagram lost between the payloader and udpsink; 20% parity
    // lets the Python receiver (the PyPI raptorq decoder) rebuild them all.
    let frames: Vec<Vec<u8>> = FRAMES_360P.iter().take(30).cloned().collect();
    let got = pay_to_python_receiver_with(
        "sce_receiver.py",
        "sce",
        1400,
        "fec-percent=20",
        13,
        &frames,
        frames.len(),
    );
    assert_same(&got, &frames);
}
