// SPDX-License-Identifier: MPL-2.0
//! Interoperability with Python peers written from docs/PROTOCOL.md alone
//! (tests/peers/*.py), over UDP on 127.0.0.1:
//!
//! - Python sender -> `udpsrc ! udpjpegdepay ! appsink`
//! - `appsrc ! udpjpegpay ! udpsink` -> Python receiver
//!
//! for both wire formats, parity, and sealed streams with both ciphers,
//! comparing every frame byte for byte. Senders are paced (a few ms between
//! frames) and the Python receivers ask for a 4 MiB socket buffer, so on
//! loopback nothing is lost: every frame is required. The one exception is
//! the countdown receiver, which copies the tutorial and throws away the
//! first frame it hears on purpose (it "drains" up to the first segment
//! numbered 1); it must get every frame after that one. A Python peer and
//! an element with different keys get no frame from each other.
//!
//! Every test here needs python3: the parity ones also the PyPI package
//! raptorq, the sealed ones the package cryptography (Debian's
//! python3-cryptography). Ignored by a plain `cargo test`, run by
//! scripts/test.sh.

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
/// byte for byte. Returns the depayloader's stats.
fn python_sender_to_depay(
    script: &str,
    depay_props: &str,
    sender_args: &[&str],
    frames: &[Vec<u8>],
) -> gst::Structure {
    let (got, stats) = python_sender_to_depay_got(script, depay_props, sender_args, frames);
    assert_eq!(got.len(), frames.len(), "every frame arrives; {stats}");
    for (i, (g, f)) in got.iter().zip(frames).enumerate() {
        assert!(g == f, "frame {i} arrives byte for byte; {stats}");
    }
    assert_eq!(stats.get::<u64>("chunks-invalid").unwrap(), 0, "{stats}");
    assert_eq!(stats.get::<u64>("frames-lost").unwrap(), 0, "{stats}");
    stats
}

/// Runs a Python sender (with `sender_args`) into udpsrc ! udpjpegdepay
/// (with `depay_props`) ! appsink: the frames that came out, in order, and
/// the depayloader's stats.
fn python_sender_to_depay_got(
    script: &str,
    depay_props: &str,
    sender_args: &[&str],
    frames: &[Vec<u8>],
) -> (Vec<Vec<u8>>, gst::Structure) {
    let dir = TempDir::new("udpjpeg-python-send");
    write_frames(&dir.0, frames);
    let (receiver, sink, port) = depay_receiver("buffer-size=4194304", depay_props);

    let started = Instant::now();
    let sender = Kill(Some(
        python(script)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(sender_args)
            .args(["--fps", "100", "--dir"])
            .arg(&dir.0)
            .spawn()
            .unwrap(),
    ));
    let out = wait(sender, Duration::from_secs(60));
    let said = check(&out, script);
    assert_eq!(said.trim(), format!("sent {} frames", frames.len()));

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
        "{script} {sender_args:?} -> udpjpegdepay {depay_props}: {} of {} frames in {:?}; {stats}",
        got.len(),
        frames.len(),
        started.elapsed()
    );
    (got, stats)
}

/// What a Python receiver got from `pay_to_python_receiver_with`.
struct Received {
    /// The frames it wrote, in order.
    frames: Vec<Vec<u8>>,
    /// Its closing line: "frames N lost L ... name value ...".
    said: String,
    pay_stats: gst::Structure,
}

impl Received {
    /// The number after `name` in the receiver's closing line.
    fn count(&self, name: &str) -> u64 {
        let words: Vec<&str> = self.said.split_whitespace().collect();
        words
            .windows(2)
            .find(|w| w[0] == name)
            .and_then(|w| w[1].parse().ok())
            .unwrap_or_else(|| panic!("no count {name:?} in {:?}", self.said))
    }
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
    let pay_props = format!("mtu={mtu} wire-format={wire_format}");
    pay_to_python_receiver_with(script, &pay_props, &[], 0, frames, expect).frames
}

/// appsrc ! udpjpegpay (with `pay_props`) ! udpsink -> Python receiver (with
/// `receiver_args`), with every `drop_every`-th datagram (0: none) taken out
/// before udpsink. The receiver must write `expect` frames; when that is 0
/// it listens for 10 s (long enough for every frame sent here).
fn pay_to_python_receiver_with(
    script: &str,
    pay_props: &str,
    receiver_args: &[&str],
    drop_every: usize,
    frames: &[Vec<u8>],
    expect: usize,
) -> Received {
    for f in ["appsrc", "udpsink"] {
        require(f);
    }
    let dir = TempDir::new("udpjpeg-python-recv");
    let timeout = if expect == 0 { "10" } else { "60" };
    let mut receiver = Kill(Some(
        python(script)
            .args(["--host", "127.0.0.1", "--port", "0", "--timeout", timeout])
            .args(["--count", &expect.to_string(), "--out-dir"])
            .arg(&dir.0)
            .args(receiver_args)
            .spawn()
            .unwrap(),
    ));
    let port = reported_port(&mut receiver, script);

    let started = Instant::now();
    let sender = PipelineGuard(
        gst::parse::launch(&format!(
            "appsrc name=src is-live=true format=time caps=image/jpeg ! \
             udpjpegpay name=pay {pay_props} ! udpsink host=127.0.0.1 port={port}"
        ))
        .unwrap(),
    );
    let appsrc = by_name_as::<gst_app::AppSrc>(&sender, "src");
    if drop_every > 0 {
        drop_datagrams(&by_name(&sender, "pay"), drop_every);
    }
    sender.set_state(gst::State::Playing).unwrap();
    // 100 frames a second, paced by udpsink's clock sync.
    send_all(&sender, &appsrc, frames, 10);
    let pay_stats: gst::Structure = by_name(&sender, "pay").property("stats");

    let out = wait(receiver, Duration::from_secs(90));
    let said = check(&out, script).lines().last().unwrap_or("").to_owned();
    let got = read_frames(&dir.0);
    eprintln!(
        "udpjpegpay {pay_props} -> {script} {receiver_args:?}: {} of {} frames in {:?}; \
         receiver: {said}; payloader: {pay_stats}",
        got.len(),
        frames.len(),
        started.elapsed(),
    );
    assert_eq!(
        got.len(),
        expect,
        "{script}: {said}; payloader: {pay_stats}"
    );
    Received {
        frames: got,
        said,
        pay_stats,
    }
}

/// The port a Python receiver prints ("port N") once its socket is bound.
fn reported_port(receiver: &mut Kill, script: &str) -> u16 {
    let mut line = String::new();
    BufReader::new(receiver.0.as_mut().unwrap().stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    line.trim()
        .strip_prefix("port ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{script} did not report its port: {line:?}"))
}

/// Takes every `drop_every`-th datagram out of what `pay` pushes.
fn drop_datagrams(pay: &gst::Element, drop_every: usize) {
    let n = std::sync::atomic::AtomicUsize::new(0);
    pay.static_pad("src")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER_LIST, move |_, info| {
            if let Some(gst::PadProbeData::BufferList(list)) = &mut info.data {
                list.make_mut().foreach_mut(|b, _| {
                    let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                    std::ops::ControlFlow::Continue((!i.is_multiple_of(drop_every)).then_some(b))
                });
                if list.is_empty() {
                    return gst::PadProbeReturn::Drop;
                }
            }
            gst::PadProbeReturn::Ok
        });
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
        "wire-format=sce",
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
    python_sender_to_depay(
        "sce_sender.py",
        "wire-format=sce",
        &["--packet-size", "60000"],
        &frames,
    );
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
    python_sender_to_depay("countdown_sender.py", "wire-format=countdown", &[], &frames);
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
        "wire-format=countdown",
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
        "wire-format=sce",
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
        "mtu=1400 fec-percent=20",
        &[],
        13,
        &frames,
        frames.len(),
    );
    assert_same(&got.frames, &frames);
}

// ---- Sealed streams (docs/PROTOCOL.md section 3) ----

/// Two different keys, as 64 hex digits.
const KEY_A: &str = "4a1f0c9e7d3b52a8e6f0918c2d4b7a35c1e8f2069db347ac5e10f98b6c2d3e4f";
const KEY_B: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Fails, naming the package, unless python3's `cryptography` has what the
/// sealed peers use (Debian: python3-cryptography, in
/// scripts/apt-packages-test.txt).
fn require_python_cryptography() {
    let imports = "from cryptography.hazmat.primitives.ciphers.aead import AESGCM, \
                   ChaCha20Poly1305; from cryptography.hazmat.primitives.kdf.hkdf import HKDF";
    assert!(
        Command::new("python3")
            .args(["-c", imports])
            .output()
            .is_ok_and(|o| o.status.success()),
        "the Python package cryptography (AESGCM, ChaCha20Poly1305, HKDF) is missing: install \
         the Debian package python3-cryptography (scripts/install-deps.sh --test does it)"
    );
}

/// A key file in `dir`: the 64 hex digits and a newline, readable by its
/// owner only (as the elements ask).
fn key_file(dir: &TempDir, name: &str, hex: &str) -> String {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.0.join(name);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .unwrap();
    writeln!(file, "{hex}").unwrap();
    path.to_str().unwrap().to_owned()
}

/// The sealed Python sender at mtu 1400, with `cipher`, the key in
/// `sender_key` and `more_args`, into udpjpegdepay with the key in
/// `depay_key`: the frames out and the depayloader's stats.
fn python_sealed_sender_to_depay(
    cipher: &str,
    sender_key: &str,
    depay_key: &str,
    more_args: &[&str],
    frames: &[Vec<u8>],
) -> (Vec<Vec<u8>>, gst::Structure) {
    require_python_cryptography();
    let keys = TempDir::new("udpjpeg-python-keys");
    let sender_key = key_file(&keys, "sender.key", sender_key);
    let depay_props = format!("key-file={}", key_file(&keys, "depay.key", depay_key));
    let mut args = vec![
        "--mtu",
        "1400",
        "--cipher",
        cipher,
        "--key-file",
        &sender_key,
    ];
    args.extend(more_args);
    python_sender_to_depay_got("sce_sender.py", &depay_props, &args, frames)
}

/// udpjpegpay at mtu 1400 with `cipher` and the key in `key` (and
/// `more_props`) into the sealed Python receiver with the key in
/// `receiver_key`, as `pay_to_python_receiver_with` runs it.
fn pay_sealed_to_python_receiver(
    cipher: &str,
    key: &str,
    receiver_key: &str,
    more_props: &str,
    drop_every: usize,
    frames: &[Vec<u8>],
    expect: usize,
) -> Received {
    require_python_cryptography();
    let keys = TempDir::new("udpjpeg-python-keys");
    let pay_props = format!(
        "mtu=1400 cipher={cipher} key-file={} {more_props}",
        key_file(&keys, "pay.key", key)
    );
    let receiver_key = key_file(&keys, "receiver.key", receiver_key);
    pay_to_python_receiver_with(
        "sce_receiver.py",
        &pay_props,
        &["--key-file", &receiver_key],
        drop_every,
        frames,
        expect,
    )
}

fn python_sealed_sender_to_udpjpegdepay(cipher: &str) {
    let frames = jpeg_frames(N, 640, 360);
    let (got, stats) = python_sealed_sender_to_depay(cipher, KEY_A, KEY_A, &[], &frames);
    assert_same(&got, &frames);
    for (name, want) in [
        ("datagrams-unauthenticated", 0),
        ("datagrams-replayed", 0),
        ("chunks-invalid", 0),
        ("frames-lost", 0),
        ("sessions-started", 1),
    ] {
        assert_eq!(stats.get::<u64>(name).unwrap(), want, "{name}; {stats}");
    }
}

#[test]
#[ignore = "needs python3 with cryptography: run scripts/test.sh"]
fn python_sealed_sender_aes_256_gcm_to_udpjpegdepay() {
    python_sealed_sender_to_udpjpegdepay("aes-256-gcm");
}

#[test]
#[ignore = "needs python3 with cryptography: run scripts/test.sh"]
fn python_sealed_sender_chacha20_poly1305_to_udpjpegdepay() {
    python_sealed_sender_to_udpjpegdepay("chacha20-poly1305");
}

fn udpjpegpay_sealed_to_python_receiver(cipher: &str) {
    let frames = jpeg_frames(N, 640, 360);
    let got = pay_sealed_to_python_receiver(cipher, KEY_A, KEY_A, "", 0, &frames, N);
    assert_same(&got.frames, &frames);
    assert_eq!(got.count("unauthenticated"), 0, "{}", got.said);
    assert_eq!(got.count("replayed"), 0, "{}", got.said);
    // The seal's 50 bytes come out of the payload: datagrams are still mtu
    // bytes at most, and full chunks exactly that.
    assert_eq!(got.count("largest-datagram"), 1400, "{}", got.said);
}

#[test]
#[ignore = "needs python3 with cryptography: run scripts/test.sh"]
fn udpjpegpay_sealed_aes_256_gcm_to_python_receiver() {
    udpjpegpay_sealed_to_python_receiver("aes-256-gcm");
}

#[test]
#[ignore = "needs python3 with cryptography: run scripts/test.sh"]
fn udpjpegpay_sealed_chacha20_poly1305_to_python_receiver() {
    udpjpegpay_sealed_to_python_receiver("chacha20-poly1305");
}

#[test]
#[ignore = "needs python3 with cryptography: run scripts/test.sh"]
fn python_receiver_refuses_a_stream_sealed_with_another_key() {
    let frames: Vec<Vec<u8>> = FRAMES_360P.iter().take(20).cloned().collect();
    let got = pay_sealed_to_python_receiver("aes-256-gcm", KEY_A, KEY_B, "", 0, &frames, 0);
    let sent = got.pay_stats.get::<u64>("datagrams-sent").unwrap();
    assert!(sent > 0);
    assert_eq!(got.count("unauthenticated"), sent, "{}", got.said);
}

#[test]
#[ignore = "needs python3 with cryptography: run scripts/test.sh"]
fn udpjpegdepay_refuses_the_python_sender_with_another_key() {
    let frames: Vec<Vec<u8>> = FRAMES_360P.iter().take(20).cloned().collect();
    let (got, stats) =
        python_sealed_sender_to_depay("chacha20-poly1305", KEY_B, KEY_A, &[], &frames);
    assert!(got.is_empty(), "no frame: {stats}");
    assert_eq!(stats.get::<u64>("frames-received").unwrap(), 0, "{stats}");
    assert_eq!(stats.get::<u64>("sessions-started").unwrap(), 0, "{stats}");
    assert!(
        stats.get::<u64>("datagrams-unauthenticated").unwrap() > 0,
        "{stats}"
    );
}

#[test]
#[ignore = "needs python3 with cryptography and raptorq: run scripts/test.sh"]
fn python_sealed_parity_sender_to_udpjpegdepay_rebuilds_lost_chunks() {
    require_python_raptorq();
    // Parity datagrams are sealed like data ones; with --mtu the sender
    // sizes chunks as the spec says (P = floor((1400 - 21 - 50) / 8) * 8).
    let frames: Vec<Vec<u8>> = FRAMES_360P.iter().take(20).cloned().collect();
    let drop = ["--fec-percent", "20", "--drop-chunks", "1,3"];
    let (got, stats) =
        python_sealed_sender_to_depay("chacha20-poly1305", KEY_A, KEY_A, &drop, &frames);
    assert_same(&got, &frames);
    assert_eq!(
        stats.get::<u64>("frames-recovered").unwrap(),
        frames.len() as u64,
        "{stats}"
    );
    assert_eq!(stats.get::<u64>("datagrams-unauthenticated").unwrap(), 0);
}

#[test]
#[ignore = "needs python3 with cryptography and raptorq: run scripts/test.sh"]
fn udpjpegpay_sealed_parity_to_python_receiver_rebuilds_lost_chunks() {
    require_python_raptorq();
    // Every 13th datagram lost between the payloader and udpsink.
    let frames: Vec<Vec<u8>> = FRAMES_360P.iter().take(30).cloned().collect();
    let got = pay_sealed_to_python_receiver(
        "aes-256-gcm",
        KEY_A,
        KEY_A,
        "fec-percent=20",
        13,
        &frames,
        frames.len(),
    );
    assert_same(&got.frames, &frames);
    assert_eq!(got.count("unauthenticated"), 0, "{}", got.said);
    // Parity datagrams are the largest: 21 + P + 50, P = 1,328.
    assert_eq!(got.count("largest-datagram"), 1399, "{}", got.said);
}
