// SPDX-License-Identifier: MPL-2.0
//! A receiving pipeline under a long flood from thousands of spoofed source
//! addresses, inside a network namespace this test creates (and removes
//! however it ends): its peak resident size stays flat, it keeps receiving
//! a real sender's frames, and it never dies.
//!
//! Needs root (network namespaces, raw sockets): ignored by a plain
//! `cargo test`, run by scripts/test.sh (`--include-ignored`) and CI as
//! root. Run without root, the test fails and says so.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::process::{
    Kill, Netns, example_or, headless_receiver, make_key, require_ip, require_root, spawn_piped,
};

fn example(name: &str) -> PathBuf {
    example_or(name, "run `cargo build --examples`")
}

fn require_root_and_ip() {
    require_root("create a network namespace and send raw packets");
    require_ip();
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|_| panic!("the receiver (pid {pid}) is still running"));
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

/// What a flood run measured.
struct Flooded {
    sent: u64,
    rss_warm: u64,
    peak: u64,
    frames: usize,
    summary: String,
}

/// A receiver and a sender (both with `key_args`) inside a namespace of
/// its own, with the flood (`flood_args`) from 5000 spoofed sources for
/// 12 s of the sender's 13.
fn flood_in_namespace(name: &str, key_args: &[&str], flood_args: &[&str]) -> Flooded {
    require_root_and_ip();
    let ns = Netns::new(format!("udpjpeg-{name}-{}", std::process::id()));
    let out_dir = std::env::temp_dir().join(format!("udpjpeg-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out_dir);
    let mut receiver_cmd = ns.cmd(example("receiver"));
    receiver_cmd.args([
        "--port",
        "5000",
        "--address",
        "127.0.0.1",
        "--duration",
        "16",
    ]);
    receiver_cmd.args(key_args);
    let mut receiver = Kill::spawn(headless_receiver(&mut receiver_cmd, &out_dir));
    let pid = receiver.0.as_ref().unwrap().id();
    std::thread::sleep(Duration::from_millis(1000));
    let sender_args = [
        "--port",
        "5000",
        "--width",
        "320",
        "--height",
        "240",
        "--duration",
        "13",
    ];
    let mut sender = Kill::spawn(ns.cmd(example("sender")).args(sender_args).args(key_args));
    let flood_script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/flood.py");
    let flood = spawn_piped(
        ns.cmd("python3")
            .arg(flood_script)
            .args(["--port", "5000", "--seconds", "12", "--sources", "5000"])
            .args(flood_args),
    );
    std::thread::sleep(Duration::from_secs(3));
    let rss_warm = status_kib(pid, "VmRSS:");
    let flood = flood.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&flood.stderr);
    assert!(flood.status.success(), "flood: {said}");
    let peak = status_kib(pid, "VmHWM:");
    let sent_line = String::from_utf8_lossy(&flood.stdout).trim().to_string();
    let sender = sender.0.take().unwrap().wait_with_output().unwrap();
    assert!(
        sender.status.success(),
        "sender: {}",
        String::from_utf8_lossy(&sender.stderr)
    );
    let receiver = receiver.0.take().unwrap().wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&receiver.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&receiver.stderr);
    assert!(
        receiver.status.success(),
        "the receiver lives through the flood: {stderr}"
    );
    let frames = std::fs::read_dir(&out_dir).map_or(0, |d| d.count());
    let _ = std::fs::remove_dir_all(&out_dir);
    let summary = stdout.lines().last().unwrap_or("").to_string();
    eprintln!(
        "{sent_line}; receiver RSS {rss_warm} KiB after 3 s, peak {peak} KiB; {frames} real frames received; {summary}"
    );
    let sent = sent_line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok());
    let sent = sent.expect("the flood reports what it sent");
    Flooded {
        sent,
        rss_warm,
        peak,
        frames,
        summary,
    }
}

impl Flooded {
    /// The flood was one (50,000 datagrams or more), the receiver's peak
    /// resident size stayed within `margin_kib` of its size after warm-up,
    /// and real frames kept coming: 13 s at 30 fps is 390 frames, and a
    /// flood of raw packets also fills the kernel's socket buffer, so some
    /// real datagrams are lost there.
    fn assert_survived(&self, margin_kib: u64) {
        assert!(self.sent >= 50_000, "the flood was a flood: {}", self.sent);
        assert!(
            self.peak <= self.rss_warm + margin_kib,
            "peak RSS {} KiB stays within {margin_kib} KiB of the {} KiB after warm-up",
            self.peak,
            self.rss_warm
        );
        assert!(
            self.frames >= 100,
            "real frames still come through the flood: {}",
            self.frames
        );
    }
}

#[test]
#[ignore = "needs root (a network namespace, raw sockets) and python3: run scripts/test.sh as root"]
fn receiver_stays_flat_under_a_spoofed_flood_in_a_namespace() {
    let f = flood_in_namespace("flood", &[], &[]);
    f.assert_survived(64 * 1024);
}

/// A flood of forged sealed datagrams (valid headers, random sessions)
/// against a sealed stream: nothing forged gets through, no session is made
/// for it, memory stays within the stated bound's share for sessions, and
/// the real frames keep coming.
#[test]
#[ignore = "needs root (a network namespace, raw sockets) and python3: run scripts/test.sh as root"]
fn a_sealed_receiver_stays_flat_under_a_forged_sealed_flood_in_a_namespace() {
    let dir = std::env::temp_dir().join(format!("udpjpeg-netns-key-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("cam.key");
    let _ = std::fs::remove_file(&key);
    let key = make_key(&key);
    let key_args = ["--key-file", key.as_str()];
    let f = flood_in_namespace("sealed-flood", &key_args, &["--sealed"]);
    let _ = std::fs::remove_dir_all(&dir);
    // Nothing forged is held: the receiver's memory barely moves.
    f.assert_survived(16 * 1024);
    let refused: u64 = f
        .summary
        .split("; ")
        .find_map(|p| p.strip_suffix(" datagrams refused by the seal"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the summary counts refused datagrams: {}", f.summary));
    assert!(
        refused >= f.sent / 4,
        "forged datagrams refused: {refused} of {}",
        f.sent
    );
}
