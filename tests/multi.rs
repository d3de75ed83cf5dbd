// SPDX-License-Identifier: MPL-2.0
//! One to many and many to one, byte for byte:
//!
//! - `udpjpegpay ! multiudpsink` to two receivers on 127.0.0.1;
//! - several senders into one receiver on 127.0.0.1, and `source=` keeping
//!   only one of them;
//! - multicast between network namespaces this test creates (a bridge
//!   namespace and a sender and two receivers joined to it by veth pairs),
//!   with `gst-launch-1.0` processes; the namespaces, veths and bridge are
//!   removed however the test ends. Multicast never touches the machine's
//!   own namespace. Needs root: ignored by a plain `cargo test`,
//!   run by scripts/test.sh (`--include-ignored`), where it fails saying so
//!   without root.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::process::{Kill, Netns, plugin_dir, require_gst_launch, require_ip, require_root};
use common::*;
use gst::prelude::*;

/// `udpsrc address=127.0.0.1 port=0 ! udpjpegdepay ! appsink`.
struct Receiver {
    pipeline: PipelineGuard,
    sink: gst_app::AppSink,
    port: u16,
}

impl Receiver {
    fn new(depay_props: &str) -> Receiver {
        let (pipeline, sink, port) = depay_receiver("buffer-size=4194304", depay_props);
        Receiver {
            pipeline,
            sink,
            port,
        }
    }

    /// Frames until none came for 1 s (at most `limit`).
    fn frames(&self, limit: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while out.len() < limit {
            let Some(s) = self.sink.try_pull_sample(gst::ClockTime::from_seconds(1)) else {
                break;
            };
            out.push(bytes(s.buffer().unwrap()));
        }
        assert_no_error(&self.pipeline, "receiver");
        out
    }

    fn stats(&self) -> gst::Structure {
        by_name(&self.pipeline, "depay").property("stats")
    }
}

/// `appsrc ! udpjpegpay ! <sink>`, playing.
fn sender(sink: &str) -> (PipelineGuard, gst_app::AppSrc) {
    require("appsrc");
    appsrc_sender(&format!(
        "appsrc name=src is-live=true format=time caps=image/jpeg ! \
         udpjpegpay mtu=1400 ! {sink}"
    ))
}

fn tagged(n: usize, tag: &str) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| tag_frame(&FRAMES_360P[i % FRAMES_360P.len()], &format!("{tag} {i}")))
        .collect()
}

fn assert_exact(got: &[Vec<u8>], sent: &[Vec<u8>], what: &str) {
    assert_eq!(got.len(), sent.len(), "{what}: every frame arrives");
    for (i, (g, s)) in got.iter().zip(sent).enumerate() {
        assert!(g == s, "{what}: frame {i} arrives byte for byte");
    }
}

#[test]
fn multiudpsink_to_two_receivers_every_frame_exact() {
    require("multiudpsink");
    let (a, b) = (Receiver::new(""), Receiver::new(""));
    let frames = tagged(60, "multiudpsink");
    let (pipeline, appsrc) = sender(&format!(
        "multiudpsink clients=127.0.0.1:{},127.0.0.1:{}",
        a.port, b.port
    ));
    send_all(&pipeline, &appsrc, &frames, 10);
    assert_exact(&a.frames(frames.len()), &frames, "receiver a");
    assert_exact(&b.frames(frames.len()), &frames, "receiver b");
    for r in [&a, &b] {
        let stats = r.stats();
        assert_eq!(stats.get::<u64>("frames-lost").unwrap(), 0, "{stats}");
        assert_eq!(stats.get::<u64>("senders").unwrap(), 1, "{stats}");
    }
}

/// Three senders at once into one receiver, each from its own port on
/// 127.0.0.1 (`bind-port`, so that `source=` can name one). Returns what
/// came out and what each sender sent.
fn three_senders_into(rx: &Receiver, ports: [u16; 3]) -> (Vec<Vec<u8>>, Vec<Vec<Vec<u8>>>) {
    require("udpsink");
    let sent: Vec<Vec<Vec<u8>>> = (0..3).map(|k| tagged(20, &format!("sender {k}"))).collect();
    let threads: Vec<_> = ports
        .iter()
        .zip(&sent)
        .map(|(&bind_port, frames)| {
            let (frames, port) = (frames.clone(), rx.port);
            std::thread::spawn(move || {
                let (pipeline, appsrc) = sender(&format!(
                    "udpsink host=127.0.0.1 port={port} bind-address=127.0.0.1 \
                     bind-port={bind_port}"
                ));
                send_all(&pipeline, &appsrc, &frames, 30);
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a sender failed");
    }
    (rx.frames(60), sent)
}

#[test]
fn three_senders_into_one_receiver_never_mix() {
    let rx = Receiver::new("");
    let (got, sent) = three_senders_into(&rx, [free_udp_port(), free_udp_port(), free_udp_port()]);
    let stats = rx.stats();
    for (k, sent) in sent.iter().enumerate() {
        let from_k: Vec<Vec<u8>> = got.iter().filter(|g| sent.contains(g)).cloned().collect();
        assert_exact(&from_k, sent, &format!("sender {k} ({stats})"));
    }
    assert_eq!(got.len(), 60, "nothing else comes out: {stats}");
    assert_eq!(stats.get::<u64>("senders").unwrap(), 3, "{stats}");
    assert_eq!(stats.get::<u64>("frames-lost").unwrap(), 0, "{stats}");
}

#[test]
fn source_keeps_only_one_of_three_senders() {
    let ports = [free_udp_port(), free_udp_port(), free_udp_port()];
    let rx = Receiver::new(&format!("source=127.0.0.1:{}", ports[1]));
    let (got, sent) = three_senders_into(&rx, ports);
    let stats = rx.stats();
    assert_exact(&got, &sent[1], &format!("the chosen sender ({stats})"));
    assert!(
        stats.get::<u64>("datagrams-rejected").unwrap() > 0,
        "the others are rejected: {stats}"
    );
    assert_eq!(stats.get::<u64>("senders").unwrap(), 1, "{stats}");
}

// ---- multicast between network namespaces ----

fn require_root_and_tools() {
    require_root("create network namespaces, a bridge and veth pairs");
    require_ip();
    require_gst_launch();
}

/// Waits up to `secs` for the child to exit, which it must with status 0.
fn wait(child: Kill, secs: u64, what: &str) -> Output {
    let out = child
        .wait_exit(Duration::from_secs(secs), Duration::from_millis(20))
        .unwrap_or_else(|out| {
            panic!(
                "{what} did not exit within {secs} s: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
    assert!(
        out.status.success(),
        "{what} exits with status 0 ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| d.count())
}

const GROUP: &str = "239.255.42.42";
const MC_PORT: &str = "5004";
const VETH: &str = "veth0";

#[test]
#[ignore = "needs root (network namespaces, a bridge, veth pairs), iproute2 and gst-launch-1.0: run scripts/test.sh as root"]
fn multicast_to_two_receivers_in_network_namespaces() {
    require_root_and_tools();
    let plugin_dir = plugin_dir();
    let pid = std::process::id();
    let started = Instant::now();

    // bridge namespace: br0; sender .1, receivers .2 and .3, each with a
    // veth0 whose peer is a port of br0. The veth pairs are created inside
    // the bridge namespace and their far ends moved straight into the
    // others: nothing appears in the machine's own namespace.
    let mut bridge = Netns::new(format!("ujm-br-{pid}"));
    bridge.ip(&[
        "link",
        "add",
        "br0",
        "type",
        "bridge",
        "mcast_snooping",
        "0",
    ]);
    bridge.links.push("br0".into());
    bridge.ip(&["link", "set", "br0", "up"]);
    let mut spaces = Vec::new();
    for (role, addr) in [("tx", 1), ("rx1", 2), ("rx2", 3)] {
        let ns = Netns::new(format!("ujm-{role}-{pid}"));
        let port = format!("b-{role}");
        bridge.ip(&[
            "link", "add", &port, "type", "veth", "peer", "name", VETH, "netns", &ns.name,
        ]);
        bridge.links.push(port.clone());
        bridge.ip(&["link", "set", &port, "master", "br0", "up"]);
        ns.ip(&["addr", "add", &format!("10.231.0.{addr}/24"), "dev", VETH]);
        ns.ip(&["link", "set", VETH, "up"]);
        ns.ip(&["route", "add", "224.0.0.0/4", "dev", VETH]);
        spaces.push(ns);
    }
    // With STP off a bridge port forwards as soon as its link is up.
    let deadline = Instant::now() + Duration::from_secs(10);
    for role in ["tx", "rx1", "rx2"] {
        loop {
            let out = Command::new("ip")
                .args([
                    "-n",
                    &bridge.name,
                    "-d",
                    "link",
                    "show",
                    &format!("b-{role}"),
                ])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            if text.contains("state UP") && text.contains("state forwarding") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "bridge port b-{role} forwards within 10 s: {text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    let frames = jpeg_frames(30, 640, 360);
    let base = std::env::temp_dir().join(format!("udpjpeg-multicast-{pid}"));
    let _ = std::fs::remove_dir_all(&base);
    let _remove = TempDir(base.clone());
    let src_dir = base.join("sent");
    std::fs::create_dir_all(&src_dir).unwrap();
    for (i, f) in frames.iter().enumerate() {
        std::fs::write(src_dir.join(format!("{i:05}.jpg")), f).unwrap();
    }

    let launch = |ns: &Netns, pipeline: String| {
        let mut c = ns.cmd("gst-launch-1.0");
        c.args(pipeline.split_whitespace())
            .env("GST_PLUGIN_PATH", &plugin_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Kill(Some(c.spawn().unwrap()))
    };

    let mut receivers = Vec::new();
    for ns in &spaces[1..] {
        let dir = base.join(&ns.name);
        std::fs::create_dir_all(&dir).unwrap();
        let rx = launch(
            ns,
            format!(
                "-e udpsrc address={GROUP} port={MC_PORT} auto-multicast=true \
                 multicast-iface={VETH} buffer-size=4194304 ! udpjpegdepay ! \
                 multifilesink sync=false location={}/frame-%05d.jpg",
                dir.display()
            ),
        );
        receivers.push((rx, dir));
    }
    // A receiver is ready when its veth has joined the group.
    let deadline = Instant::now() + Duration::from_secs(15);
    for ns in &spaces[1..] {
        loop {
            let out = Command::new("ip")
                .args(["-n", &ns.name, "maddr", "show", "dev", VETH])
                .output()
                .unwrap();
            if String::from_utf8_lossy(&out.stdout).contains(GROUP) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver in {} joins {GROUP} within 15 s",
                ns.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    // The sender: the frames from files, 20 ms apart, to the group.
    let sender = launch(
        &spaces[0],
        format!(
            "multifilesrc location={}/%05d.jpg stop-index={} caps=image/jpeg ! \
             identity sleep-time=20000 ! udpjpegpay mtu=1400 ! \
             udpsink host={GROUP} port={MC_PORT} auto-multicast=true \
             multicast-iface={VETH} ttl-mc=1 sync=false",
            src_dir.display(),
            frames.len() - 1
        ),
    );
    wait(sender, 30, "the multicast sender");

    let deadline = Instant::now() + Duration::from_secs(10);
    while receivers
        .iter()
        .any(|(_, dir)| count_files(dir) < frames.len())
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    for (rx, dir) in receivers {
        rx.interrupt();
        wait(rx, 10, "a multicast receiver");
        let got = read_frames(&dir);
        assert_exact(&got, &frames, &format!("receiver {}", dir.display()));
    }
    eprintln!(
        "multicast {GROUP}: {} frames to two namespaces in {:?}",
        frames.len(),
        started.elapsed()
    );
    drop(spaces);
    drop(bridge);
}
