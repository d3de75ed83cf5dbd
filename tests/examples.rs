// SPDX-License-Identifier: MPL-2.0
//! The sender and receiver example programs, run as a user would run them:
//! a round trip over 127.0.0.1, a taken port, Ctrl+C, bad flags.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::free_udp_port;
use common::process::{example, headless_receiver, interrupt, spawn_piped, text, wait_exit};

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().unwrap()
}

/// Waits for `child` to exit within `limit`, killing it otherwise.
fn wait(child: std::process::Child, limit: Duration) -> Output {
    let id = child.id();
    wait_exit(child, limit, Duration::from_millis(50))
        .unwrap_or_else(|_| panic!("{id:?} did not exit within {limit:?}"))
}

/// N from the summary line `<verb> N frames ...` in `stdout`.
fn frames_in_summary(stdout: &str, verb: &str) -> u64 {
    let line = stdout
        .lines()
        .find(|l| l.starts_with(verb))
        .unwrap_or_else(|| panic!("no '{verb}' summary in: {stdout}"));
    line[verb.len()..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no frame count in: {line}"))
}

fn round_trip(wire_format: &str) {
    round_trip_with(wire_format, &[], &[], true);
}

/// A round trip with extra flags; with `arrives` false, not one frame may
/// arrive. Returns the receiver's stdout.
fn round_trip_with(
    wire_format: &str,
    sender_args: &[&str],
    receiver_args: &[&str],
    arrives: bool,
) -> String {
    let port = free_udp_port().to_string();
    let dir = std::env::temp_dir().join(format!("udpjpeg-example-{wire_format}-{port}"));
    let _ = std::fs::remove_dir_all(&dir);
    let mut receiver = Command::new(example("receiver"));
    receiver.args([
        "--port",
        &port,
        "--duration",
        "5",
        "--wire-format",
        wire_format,
    ]);
    receiver.args(receiver_args);
    let receiver = spawn_piped(headless_receiver(&mut receiver, &dir));
    std::thread::sleep(Duration::from_millis(700));
    let sender = run(Command::new(example("sender"))
        .args([
            "--port",
            &port,
            "--duration",
            "2",
            "--wire-format",
            wire_format,
            "--width",
            "320",
            "--height",
            "240",
        ])
        .args(sender_args));
    assert!(sender.status.success(), "sender: {}", text(&sender.stderr));
    let sent = frames_in_summary(&text(&sender.stdout), "sent ");
    assert!(sent >= 30, "about 60 frames in 2 s at 30 fps: {sent}");
    let out = wait(receiver, Duration::from_secs(20));
    assert!(out.status.success(), "receiver: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.lines().any(|l| l.starts_with("stats: ")),
        "a stats line each second: {stdout}"
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.sort();
    if !arrives {
        assert!(files.is_empty(), "no frame arrives: {stdout}");
        return stdout;
    }
    assert!(
        files.len() >= 30,
        "about 60 frames in 2 s at 30 fps: {}",
        files.len()
    );
    let received = frames_in_summary(&stdout, "received ");
    assert_eq!(
        received,
        files.len() as u64,
        "the summary counts every file"
    );
    for f in &files {
        let data = std::fs::read(f).unwrap();
        assert!(data.starts_with(&[0xFF, 0xD8]) && data.ends_with(&[0xFF, 0xD9]));
    }
    let _ = std::fs::remove_dir_all(&dir);
    stdout
}

/// `sender --make-key` writes a key only its owner can read, and never
/// over an existing file.
fn make_key(dir: &common::TempDir, name: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.0.join(name);
    let out = run(Command::new(example("sender")).arg("--make-key").arg(&path));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("--key-file"), "says what next");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let text_ = std::fs::read_to_string(&path).unwrap();
    assert!(text_.len() == 65 && text_.ends_with('\n'), "{text_:?}");
    let again = run(Command::new(example("sender")).arg("--make-key").arg(&path));
    assert!(!again.status.success(), "an existing key file is kept");
    path.to_str().unwrap().to_owned()
}

#[test]
fn sealed_sender_to_receiver_with_key_files() {
    let dir = common::TempDir::new("udpjpeg-example-keys");
    let key = make_key(&dir, "cam.key");
    let other = make_key(&dir, "other.key");
    for cipher in ["aes-256-gcm", "chacha20-poly1305"] {
        let sender = ["--key-file", &key, "--cipher", cipher];
        round_trip_with("sce", &sender, &["--key-file", &key], true);
    }
    let stdout = round_trip_with("sce", &["--key-file", &key], &["--key-file", &other], false);
    assert!(stdout.contains("received 0 frames"), "{stdout}");
}

#[test]
fn sender_to_receiver_over_loopback_sce() {
    round_trip("sce");
}

#[test]
fn sender_to_receiver_over_loopback_countdown() {
    round_trip("countdown");
}

#[test]
fn a_taken_port_is_a_clear_error() {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    let port = socket.local_addr().unwrap().port().to_string();
    let out =
        run(Command::new(example("receiver")).args(["--port", &port, "--output-dir", "/tmp"]));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).trim(),
        format!("error: UDP port {port} is already in use; pick another with --port")
    );
}

#[test]
fn one_ctrl_c_stops_each_program_cleanly() {
    let port = free_udp_port().to_string();
    let dir = std::env::temp_dir().join(format!("udpjpeg-example-int-{port}"));
    let receiver = spawn_piped(
        Command::new(example("receiver"))
            .args(["--port", &port])
            .arg("--output-dir")
            .arg(&dir),
    );
    let sender = spawn_piped(
        Command::new(example("sender"))
            .args(["--port", &port, "--width", "160", "--height", "120"]),
    );
    std::thread::sleep(Duration::from_millis(1500));
    interrupt(&sender);
    let out = wait(sender, Duration::from_secs(10));
    assert!(out.status.success(), "sender: {}", text(&out.stderr));
    assert!(frames_in_summary(&text(&out.stdout), "sent ") > 0);
    interrupt(&receiver);
    let out = wait(receiver, Duration::from_secs(10));
    assert!(out.status.success(), "receiver: {}", text(&out.stderr));
    assert!(frames_in_summary(&text(&out.stdout), "received ") > 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_flags_exit_2_with_usage() {
    for (prog, args) in [
        ("sender", vec!["--bogus"]),
        ("sender", vec!["--port", "70000"]),
        ("sender", vec!["--wire-format", "foo"]),
        ("sender", vec!["--mtu", "10"]),
        ("sender", vec!["--pattern", "nope"]),
        ("receiver", vec!["--address", "foo"]),
        ("receiver", vec!["--wire-format", "rtp"]),
    ] {
        let out = run(Command::new(example(prog)).args(&args));
        assert_eq!(
            out.status.code(),
            Some(2),
            "{prog} {args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains("usage:"),
            "{prog} {args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn a_missing_camera_says_what_to_do() {
    let out = run(Command::new(example("sender")).args(["--device", "/dev/video-none"]));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("does not exist") && err.contains("--test-pattern"),
        "{err}"
    );
}

#[test]
fn help_lists_the_flags() {
    for (prog, flags) in [
        (
            "sender",
            &[
                "--host",
                "--port",
                "--mtu",
                "--wire-format",
                "--device",
                "--test-pattern",
                "--width",
                "--height",
                "--fps",
            ][..],
        ),
        (
            "receiver",
            &["--port", "--wire-format", "--output-dir", "--duration"][..],
        ),
    ] {
        let out = run(Command::new(example(prog)).arg("--help"));
        assert!(out.status.success());
        let help = text(&out.stdout) + &text(&out.stderr);
        for f in flags {
            assert!(help.contains(f), "{prog} --help mentions {f}");
        }
    }
}
