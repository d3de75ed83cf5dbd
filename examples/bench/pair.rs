// SPDX-License-Identifier: MPL-2.0
//! A sender and a receiver in two processes (see `roles`), on 127.0.0.1:
//! the receiver starts first and says `ready`, the sender sends its frames
//! and exits, and the receiver is stopped a grace period later. Collects
//! both sides' stamps and what the kernel says of the receiving socket.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use crate::roles::lines;

/// How long the receiver keeps playing after the sender exits: more than
/// the longest latency measured (RTP's default jitter buffer, 200 ms).
const GRACE: Duration = Duration::from_millis(1000);

/// One run: the two pipelines and what the sender sends.
pub struct Pair<'a> {
    pub sender: String,
    pub receiver: String,
    pub frames: &'a Path,
    pub count: usize,
    pub fps: u32,
    /// Watch the reads of the receiver's `udpsrc` named `usrc` and the
    /// bursts leaving the sender's `pay`.
    pub watch: bool,
    pub port: u16,
}

/// The receiving socket, as the kernel reports it.
#[derive(Clone, Copy, Default)]
pub struct Socket {
    /// Its receive buffer in bytes (`ss`: rb), twice what was asked.
    pub rb: Option<u64>,
    /// Datagrams it dropped for want of room (`/proc/net/udp`: drops).
    pub drops: Option<u64>,
}

/// How long datagrams waited in the socket buffer, and the reading thread.
#[derive(Clone, Copy, Default)]
pub struct Reads {
    pub max_wait_ns: u64,
    /// Datagrams that waited over 1, 2 and 5 ms.
    pub over: [u64; 3],
    /// Datagrams without an arrival time.
    pub untimed: u64,
    /// From /proc/.../schedstat: CPU time, time waiting to run, slices.
    pub cpu_ns: u64,
    pub wait_ns: u64,
    pub slices: u64,
}

/// The sender's bursts after a frame's first: how many, how many left back
/// to back (within 50 µs: pacing catching up), the longest gap.
#[derive(Clone, Copy, Default)]
pub struct Sends {
    pub bursts: u64,
    pub back_to_back: u64,
    pub max_gap_ns: u64,
}

/// Frame number -> CLOCK_MONOTONIC ns.
pub type Stamps = HashMap<u32, u64>;

pub struct Outcome {
    pub sent: Stamps,
    /// Leaving the depayloader.
    pub out: Stamps,
    /// Rendered by the syncing sink.
    pub rendered: Stamps,
    pub socket: Socket,
    pub reads: Option<Reads>,
    pub sends: Option<Sends>,
    /// UDP `RcvbufErrors` of /proc/net/snmp during the run (every socket
    /// of the machine).
    pub rcvbuf_errors: u64,
    /// Times the receiver's `queue name=q` was full, when it has one.
    pub queue_full: Option<u64>,
    pub errors: Vec<String>,
}

/// A UDP port free on 127.0.0.1 a moment ago.
pub fn free_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    s.local_addr().unwrap().port()
}

fn role(args: &[&str]) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("the bench binary"));
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    cmd
}

fn spawn_receiver(pair: &Pair) -> Child {
    let mut args = vec!["--role", "receiver", "--pipeline", &pair.receiver];
    if pair.watch {
        args.push("--watch");
    }
    role(&args).spawn().expect("start the receiver")
}

fn spawn_sender(pair: &Pair) -> Child {
    let count = pair.count.to_string();
    let fps = pair.fps.to_string();
    let frames = pair.frames.to_str().expect("a UTF-8 path");
    let mut args = vec![
        "--role",
        "sender",
        "--pipeline",
        &pair.sender,
        "--frames",
        frames,
        "--count",
        &count,
        "--fps",
        &fps,
    ];
    if pair.watch {
        args.push("--watch");
    }
    let mut cmd = role(&args);
    cmd.stdin(Stdio::null());
    cmd.spawn().expect("start the sender")
}

/// Waits for `child` until `timeout`, then kills it.
fn wait_bounded(child: &mut Child, timeout: Duration, what: &str) {
    let deadline = Instant::now() + timeout;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the {what} did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `pair` and collects what both sides saw.
pub fn run(pair: &Pair) -> Outcome {
    let mut rx = spawn_receiver(pair);
    let mut rx_lines = lines(rx.stdout.take().unwrap());
    match rx_lines.next() {
        Some(l) if l == "ready" => {}
        other => panic!("the receiver did not start ({other:?}): {}", pair.receiver),
    }
    let snmp_before = rcvbuf_errors();
    let mut tx = spawn_sender(pair);
    let tx_out = tx.stdout.take().unwrap();
    let sent_lines = std::thread::spawn(move || lines(tx_out).collect::<Vec<_>>());
    let secs = pair.count as f64 / f64::from(pair.fps);
    wait_bounded(&mut tx, Duration::from_secs_f64(secs + 60.0), "sender");
    std::thread::sleep(GRACE);
    let socket = socket(pair.port);
    let rcvbuf_errors = rcvbuf_errors().saturating_sub(snmp_before);
    stop(rx.stdin.take().unwrap());
    let mut outcome = parse(rx_lines.chain(sent_lines.join().unwrap()));
    wait_bounded(&mut rx, Duration::from_secs(20), "receiver");
    outcome.socket = socket;
    outcome.rcvbuf_errors = rcvbuf_errors;
    outcome
}

fn stop(mut stdin: ChildStdin) {
    let _ = stdin.flush();
    drop(stdin);
}

fn numbers<const N: usize>(rest: &str) -> [u64; N] {
    let mut out = [0; N];
    for (o, w) in out.iter_mut().zip(rest.split_whitespace()) {
        *o = w.parse().unwrap_or(0);
    }
    out
}

/// The stamps and statistics printed by both roles.
fn parse(lines: impl Iterator<Item = String>) -> Outcome {
    let mut o = Outcome {
        sent: Stamps::new(),
        out: Stamps::new(),
        rendered: Stamps::new(),
        socket: Socket::default(),
        reads: None,
        sends: None,
        rcvbuf_errors: 0,
        queue_full: None,
        errors: Vec::new(),
    };
    for line in lines {
        let (kind, rest) = line.split_once(' ').unwrap_or((&line, ""));
        let [n, t] = numbers::<2>(rest);
        match kind {
            "S" => drop(o.sent.insert(n as u32, t)),
            "D" => drop(o.out.entry(n as u32).or_insert(t)),
            "K" => drop(o.rendered.entry(n as u32).or_insert(t)),
            "G" => {
                let [max_wait_ns, a, b, c, untimed] = numbers::<5>(rest);
                let r = o.reads.get_or_insert_default();
                (r.max_wait_ns, r.over, r.untimed) = (max_wait_ns, [a, b, c], untimed);
            }
            "T" => {
                let [cpu_ns, wait_ns, slices] = numbers::<3>(rest);
                let r = o.reads.get_or_insert_default();
                (r.cpu_ns, r.wait_ns, r.slices) = (cpu_ns, wait_ns, slices);
            }
            "P" => {
                let [bursts, back_to_back, max_gap_ns] = numbers::<3>(rest);
                o.sends = Some(Sends {
                    bursts,
                    back_to_back,
                    max_gap_ns,
                });
            }
            "Q" => o.queue_full = Some(n),
            "E" => o.errors.push(rest.to_string()),
            _ => eprintln!("child: {line}"),
        }
    }
    o
}

/// The receive buffer and drops of the socket bound to 127.0.0.1:`port`.
fn socket(port: u16) -> Socket {
    Socket {
        rb: receive_buffer(port),
        drops: proc_net_udp_drops(port),
    }
}

/// `rb` of `ss -uamnH sport = :PORT` (iproute2), None without `ss`.
fn receive_buffer(port: u16) -> Option<u64> {
    let out = Command::new("ss")
        .args(["-uamnH", "sport", "=", &format!(":{port}")])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let rb = text.split("rb").nth(1)?;
    rb.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// The last column (drops) of the /proc/net/udp line of local `port`.
fn proc_net_udp_drops(port: u16) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/udp").ok()?;
    let local = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .find(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|a| a.ends_with(&local))
        })?
        .split_whitespace()
        .last()?
        .parse()
        .ok()
}

/// UDP `RcvbufErrors` from /proc/net/snmp (0 when unreadable).
pub fn rcvbuf_errors() -> u64 {
    let snmp = std::fs::read_to_string("/proc/net/snmp").unwrap_or_default();
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (udp.next(), udp.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "RcvbufErrors")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}
