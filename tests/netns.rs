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
    Kill, Netns, example_or, headless_receiver, require_ip, require_root, spawn_piped,
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

#[test]
#[ignore = "needs root (a network namespace, raw sockets) and python3: run scripts/test.sh as root"]
fn receiver_stays_flat_under_a_spoofed_flood_in_a_namespace() {
    require_root_and_ip();
    let ns = Netns::new(format!("udpjpeg-flood-{}", std::process::id()));
    let out_dir = std::env::temp_dir().join(format!("udpjpeg-flood-{}", std::process::id()));
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
    let mut receiver = Kill::spawn(headless_receiver(&mut receiver_cmd, &out_dir));
    let pid = receiver.0.as_ref().unwrap().id();
    std::thread::sleep(Duration::from_millis(1000));
    let mut sender = Kill::spawn(ns.cmd(example("sender")).args([
        "--port",
        "5000",
        "--width",
        "320",
        "--height",
        "240",
        "--duration",
        "13",
    ]));
    let flood_script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/flood.py");
    let flood = spawn_piped(ns.cmd("python3").args([
        flood_script,
        "--port",
        "5000",
        "--seconds",
        "12",
        "--sources",
        "5000",
    ]));
    std::thread::sleep(Duration::from_secs(3));
    let rss_warm = status_kib(pid, "VmRSS:");
    let flood = flood.wait_with_output().unwrap();
    assert!(
        flood.status.success(),
        "flood: {}",
        String::from_utf8_lossy(&flood.stderr)
    );
    let rss_end = status_kib(pid, "VmRSS:");
    let peak = status_kib(pid, "VmHWM:");
    let sent = String::from_utf8_lossy(&flood.stdout).trim().to_string();

    let sender = sender.0.take().unwrap().wait_with_output().unwrap();
    assert!(
        sender.status.success(),
        "sender: {}",
        String::from_utf8_lossy(&sender.stderr)
    );
    let receiver = receiver.0.take().unwrap().wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&receiver.stdout).into_owned();
    assert!(
        receiver.status.success(),
        "the receiver lives through the flood: {}",
        String::from_utf8_lossy(&receiver.stderr)
    );
    let frames = std::fs::read_dir(&out_dir).map_or(0, |d| d.count());
    let _ = std::fs::remove_dir_all(&out_dir);
    eprintln!(
        "{sent}; receiver RSS {rss_warm} KiB after 3 s, {rss_end} KiB at the end, peak {peak} KiB; \
         {frames} real frames received; {}",
        stdout.lines().last().unwrap_or("")
    );
    let datagrams: u64 = sent
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("the flood reports what it sent");
    assert!(datagrams >= 50_000, "the flood was a flood: {sent}");
    assert!(
        peak <= rss_warm + 64 * 1024,
        "peak RSS {peak} KiB stays within 64 MiB of the {rss_warm} KiB after warm-up"
    );
    // 13 s at 30 fps is 390 frames; a flood of raw packets also fills the
    // kernel's socket buffer, so some real datagrams are lost there.
    assert!(
        frames >= 100,
        "real frames still come through the flood: {frames}"
    );
}
