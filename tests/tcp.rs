// SPDX-License-Identifier: MPL-2.0
//! MJPEG over TCP on 127.0.0.1, as the systems that the plugin replaces do
//! it, with `mjpegsplit` cutting the byte stream back into frames:
//!
//! - a Raspberry-Pi-style client pushing MJPEG to a server
//!   (`tcpclientsink`, or a plain socket writing concatenated JPEGs, into
//!   `tcpserversrc ! mjpegsplit`), frames byte for byte;
//! - one server to many clients (`tcpserversink` to two
//!   `tcpclientsrc ! mjpegsplit ! jpegdec` at once), with a change of
//!   resolution mid-stream that the clients follow without configuration;
//! - end of stream on the sender (what Ctrl+C does in `gst-launch-1.0 -e`)
//!   stops the sender and the receivers cleanly, in process and with real
//!   `gst-launch-1.0` processes and SIGINT.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::process::{Kill, plugin_dir, require_gst_launch, wait_exit};
use common::*;
use gst::prelude::*;

/// `tcpserversrc ! mjpegsplit ! appsink` on 127.0.0.1 and the port it bound.
fn mjpeg_server() -> (PipelineGuard, gst_app::AppSink, u16) {
    for f in ["tcpserversrc", "appsink"] {
        require(f);
    }
    // tcpserversrc listens when it starts (READY -> PAUSED) and accepts the
    // first client in its streaming thread.
    let pipeline = PipelineGuard::playing(
        "tcpserversrc name=src host=127.0.0.1 port=0 ! mjpegsplit name=split ! \
         appsink name=sink sync=false max-buffers=0",
    );
    let port: i32 = by_name(&pipeline, "src").property("current-port");
    assert!(port > 0, "tcpserversrc reports the port it bound");
    let sink = by_name_as::<gst_app::AppSink>(&pipeline, "sink");
    (pipeline, sink, port as u16)
}

/// Every frame until end of stream (at most `limit`, within `secs`).
fn pull_all(sink: &gst_app::AppSink, limit: usize, secs: u64) -> Vec<gst::Sample> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut out = Vec::new();
    while out.len() < limit && Instant::now() < deadline {
        match sink.try_pull_sample(gst::ClockTime::from_mseconds(500)) {
            Some(s) => out.push(s),
            None if sink.is_eos() => break,
            None => {}
        }
    }
    out
}

fn assert_frames(samples: &[gst::Sample], sent: &[Vec<u8>], width: i32, height: i32) {
    assert_eq!(samples.len(), sent.len(), "every frame comes out");
    for (i, (s, f)) in samples.iter().zip(sent).enumerate() {
        assert!(
            bytes(s.buffer().unwrap()) == *f,
            "frame {i} comes out byte for byte"
        );
        let caps = s.caps().unwrap().structure(0).unwrap().to_owned();
        assert_eq!(caps.name(), "image/jpeg");
        assert_eq!(caps.get::<i32>("width").unwrap(), width, "{caps}");
        assert_eq!(caps.get::<i32>("height").unwrap(), height, "{caps}");
    }
}

/// An `appsrc ! tcpclientsink` sender connected to `port`.
fn tcp_client_sender(port: u16) -> (PipelineGuard, gst_app::AppSrc) {
    require("tcpclientsink");
    appsrc_sender(&format!(
        "appsrc name=src format=time caps=image/jpeg ! \
         tcpclientsink host=127.0.0.1 port={port} sync=false"
    ))
}

#[test]
fn pi_style_tcpclientsink_into_tcpserversrc_mjpegsplit() {
    let (receiver, sink, port) = mjpeg_server();
    let frames = jpeg_frames(60, 640, 360);
    let (sender, appsrc) = tcp_client_sender(port);
    for (i, f) in frames.iter().enumerate() {
        appsrc
            .push_buffer(buffer_with_pts(f.clone(), 33 * i as u64))
            .unwrap();
    }
    appsrc.end_of_stream().unwrap();
    wait_eos(&sender, "sender", 20);
    // Stopping the client closes the connection: the server sees EOS.
    sender.set_state(gst::State::Null).unwrap();
    let got = pull_all(&sink, frames.len() + 1, 20);
    assert_frames(&got, &frames, 640, 360);
    wait_eos(&receiver, "receiver", 5);
    let stats: gst::Structure = by_name(&receiver, "split").property("stats");
    assert_eq!(stats.get::<u64>("frames").unwrap(), 60, "{stats}");
    assert_eq!(stats.get::<u64>("frames-dropped").unwrap(), 0, "{stats}");
    assert_eq!(stats.get::<u64>("bytes-skipped").unwrap(), 0, "{stats}");
    assert_clean(&sender, "sender");
    assert_clean(&receiver, "receiver");
}

#[test]
fn plain_socket_writing_concatenated_jpegs_in_odd_pieces() {
    // What `raspivid -cd MJPEG -o - | nc server port` or a Python script
    // with socket.sendall(jpeg) does: JPEGs back to back, no framing, the
    // TCP stream cut anywhere.
    let (receiver, sink, port) = mjpeg_server();
    let frames = jpeg_frames(40, 320, 240);
    let stream: Vec<u8> = frames.concat();
    let mut socket = TcpStream::connect(("127.0.0.1", port)).unwrap();
    socket.set_nodelay(true).unwrap();
    let mut at = 0;
    for piece in [1usize, 7, 1000, 2, 65_536, 333].iter().cycle() {
        if at >= stream.len() {
            break;
        }
        let end = (at + piece).min(stream.len());
        socket.write_all(&stream[at..end]).unwrap();
        at = end;
    }
    drop(socket);
    let got = pull_all(&sink, frames.len() + 1, 20);
    assert_frames(&got, &frames, 320, 240);
    wait_eos(&receiver, "receiver", 5);
    assert_clean(&receiver, "receiver");
}

/// One client of a `tcpserversink`: `tcpclientsrc ! mjpegsplit ! jpegdec !
/// appsink`, recording the JPEG frames mjpegsplit cut.
struct Client {
    pipeline: PipelineGuard,
    sink: gst_app::AppSink,
    jpegs: Arc<Mutex<Vec<Vec<u8>>>>,
}

fn client(port: u16) -> Client {
    for f in ["tcpclientsrc", "jpegdec", "appsink"] {
        require(f);
    }
    let pipeline = PipelineGuard(
        gst::parse::launch(&format!(
            "tcpclientsrc host=127.0.0.1 port={port} ! mjpegsplit name=split ! jpegdec ! \
             appsink name=sink sync=false max-buffers=0"
        ))
        .unwrap(),
    );
    let jpegs = Arc::new(Mutex::new(Vec::new()));
    let record = jpegs.clone();
    by_name(&pipeline, "split")
        .static_pad("src")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(b) = info.buffer() {
                record.lock().unwrap().push(bytes(b));
            }
            gst::PadProbeReturn::Ok
        })
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let sink = by_name_as::<gst_app::AppSink>(&pipeline, "sink");
    Client {
        pipeline,
        sink,
        jpegs,
    }
}

#[test]
fn one_tcpserversink_two_clients_follow_a_resolution_change() {
    require("tcpserversink");
    let server = PipelineGuard::playing(
        "appsrc name=src format=time caps=image/jpeg ! \
         tcpserversink name=sink host=127.0.0.1 port=0 sync=false",
    );
    let port: i32 = by_name(&server, "sink").property("current-port");
    assert!(port > 0, "tcpserversink reports the port it bound");
    let clients = [client(port as u16), client(port as u16)];
    // Both clients are connected before the first frame is sent, so both
    // get the whole stream.
    let deadline = Instant::now() + Duration::from_secs(10);
    while by_name(&server, "sink").property::<u32>("num-handles") < 2 {
        assert!(
            Instant::now() < deadline,
            "both clients connect within 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let small = jpeg_frames(20, 320, 240);
    let large: Vec<Vec<u8>> = jpeg_frames(20, 640, 360)
        .iter()
        .enumerate()
        .map(|(i, f)| tag_frame(f, &format!("large {i}")))
        .collect();
    let sent: Vec<Vec<u8>> = small.iter().chain(&large).cloned().collect();
    let appsrc = by_name_as::<gst_app::AppSrc>(&server, "src");
    for (i, f) in sent.iter().enumerate() {
        appsrc
            .push_buffer(buffer_with_pts(f.clone(), 33 * i as u64))
            .unwrap();
    }

    for (k, c) in clients.iter().enumerate() {
        let got = pull_all(&c.sink, sent.len(), 30);
        let sizes: Vec<(i32, i32)> = got
            .iter()
            .map(|s| {
                let caps = s.caps().unwrap().structure(0).unwrap().to_owned();
                assert_eq!(caps.name(), "video/x-raw", "client {k} decodes");
                (
                    caps.get::<i32>("width").unwrap(),
                    caps.get::<i32>("height").unwrap(),
                )
            })
            .collect();
        let expected: Vec<(i32, i32)> = std::iter::repeat_n((320, 240), small.len())
            .chain(std::iter::repeat_n((640, 360), large.len()))
            .collect();
        assert_eq!(
            sizes, expected,
            "client {k} decodes every frame, and its caps follow the frames"
        );
        assert!(
            *c.jpegs.lock().unwrap() == sent,
            "client {k}: mjpegsplit cut every frame byte for byte"
        );
    }

    // The Ctrl+C path on the server: EOS into the pipeline, then stop it;
    // the clients see their connection close and end cleanly.
    assert!(server.send_event(gst::event::Eos::new()));
    wait_eos(&server, "server", 10);
    server.set_state(gst::State::Null).unwrap();
    for (k, c) in clients.iter().enumerate() {
        wait_eos(&c.pipeline, &format!("client {k}"), 10);
        assert_clean(&c.pipeline, &format!("client {k}"));
    }
    assert_clean(&server, "server");
}

#[test]
fn eos_on_a_live_sender_stops_sender_and_receiver_cleanly() {
    // A live camera-like sender (videotestsrc is-live) that only stops when
    // told to: EOS sent into the pipeline is what `gst-launch-1.0 -e` does
    // on Ctrl+C.
    for f in ["videotestsrc", "jpegenc"] {
        require(f);
    }
    let (receiver, sink, port) = mjpeg_server();
    let sender = PipelineGuard(
        gst::parse::launch(&format!(
            "videotestsrc is-live=true pattern=ball ! \
             video/x-raw,format=I420,width=320,height=240,framerate=30/1 ! jpegenc ! \
             tcpclientsink host=127.0.0.1 port={port}"
        ))
        .unwrap(),
    );
    sender.set_state(gst::State::Playing).unwrap();
    let mut got = Vec::new();
    while got.len() < 10 {
        let s = sink
            .try_pull_sample(gst::ClockTime::from_seconds(5))
            .expect("the live sender's frames arrive");
        got.push(s);
    }
    let started = Instant::now();
    assert!(sender.send_event(gst::event::Eos::new()));
    wait_eos(&sender, "sender", 5);
    sender.set_state(gst::State::Null).unwrap();
    got.extend(pull_all(&sink, 1000, 10));
    wait_eos(&receiver, "receiver", 5);
    eprintln!(
        "{} frames, receiver at EOS {:?} after the sender's EOS",
        got.len(),
        started.elapsed()
    );
    for s in &got {
        let data = bytes(s.buffer().unwrap());
        assert_eq!(&data[..2], &[0xFF, 0xD8]);
        assert_eq!(&data[data.len() - 2..], &[0xFF, 0xD9], "whole frames only");
    }
    let stats: gst::Structure = by_name(&receiver, "split").property("stats");
    assert_eq!(stats.get::<u64>("frames-dropped").unwrap(), 0, "{stats}");
    assert_clean(&sender, "sender");
    assert_clean(&receiver, "receiver");
}

// ---- the same with gst-launch-1.0 processes and a real SIGINT ----

/// A gst-launch-1.0 process; its stdout is collected by a thread, and it is
/// killed on drop.
struct Launch {
    child: Kill,
    stdout: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Launch {
    fn new(args: &str) -> Launch {
        require_gst_launch();
        let mut child = Command::new("gst-launch-1.0")
            .args(args.split_whitespace())
            .env("GST_PLUGIN_PATH", plugin_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = Arc::new(Mutex::new(String::new()));
        let out = stdout.clone();
        let pipe = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                let mut o = out.lock().unwrap();
                o.push_str(&line);
                o.push('\n');
            }
        });
        Launch {
            child: Kill(Some(child)),
            stdout,
            reader: Some(reader),
        }
    }

    fn wait_for(&self, text: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !self.stdout.lock().unwrap().contains(text) {
            assert!(
                Instant::now() < deadline,
                "no {text:?} within {secs} s: {}",
                self.stdout.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn interrupt(&self) {
        self.child.interrupt();
    }

    /// Waits for exit within `secs`; returns (output, everything on stdout).
    fn wait(mut self, secs: u64) -> (Output, String) {
        let child = self.child.0.take().unwrap();
        let out = wait_exit(child, Duration::from_secs(secs), Duration::from_millis(20))
            .unwrap_or_else(|out| {
                panic!(
                    "gst-launch-1.0 did not exit within {secs} s: {}{}",
                    self.stdout.lock().unwrap(),
                    String::from_utf8_lossy(&out.stderr)
                )
            });
        self.reader.take().unwrap().join().unwrap();
        let stdout = self.stdout.lock().unwrap().clone();
        (out, stdout)
    }
}

fn assert_clean_exit(out: &Output, stdout: &str, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{what} exits with status 0 ({}): {stdout}{stderr}",
        out.status
    );
    assert!(
        !stdout.contains("ERROR") && !stderr.contains("ERROR") && !stderr.contains("WARN"),
        "{what} ends without an error: {stdout}{stderr}"
    );
    assert!(
        stdout.contains("Got EOS from element"),
        "{what} ends on end of stream: {stdout}"
    );
}

#[test]
fn gst_launch_ctrl_c_on_a_tcpserversink_stops_the_server_and_two_clients() {
    // Recipe 5 of docs/recipes.md: JPEG over tcpserversink to many clients,
    // one Ctrl+C on the server (gst-launch-1.0 -e) ends everything cleanly.
    let port = free_tcp_port();
    let server = Launch::new(&format!(
        "-e videotestsrc is-live=true pattern=ball ! \
         video/x-raw,format=I420,width=320,height=240,framerate=30/1 ! jpegenc ! \
         tcpserversink host=127.0.0.1 port={port}"
    ));
    server.wait_for("Setting pipeline to PLAYING", 10);
    let clients: Vec<Launch> = (0..2)
        .map(|_| {
            Launch::new(&format!(
                "-v tcpclientsrc host=127.0.0.1 port={port} ! mjpegsplit ! jpegdec ! \
                 fakesink silent=false"
            ))
        })
        .collect();
    for c in &clients {
        // The decoder's output caps are printed once the first frame decodes.
        c.wait_for("GstJpegDec:jpegdec0.GstPad:src: caps = video/x-raw", 10);
        c.wait_for("width=(int)320, height=(int)240", 1);
    }
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    server.interrupt();
    let (out, stdout) = server.wait(10);
    assert_clean_exit(&out, &stdout, "the server");
    for (k, c) in clients.into_iter().enumerate() {
        let (out, stdout) = c.wait(10);
        assert_clean_exit(&out, &stdout, &format!("client {k}"));
        let decoded = stdout.matches("(fakesink0:sink) (115200 bytes").count();
        assert!(decoded >= 5, "client {k} decoded {decoded} 320x240 frames");
    }
    eprintln!(
        "server and both clients exited {:?} after Ctrl+C",
        started.elapsed()
    );
}

#[test]
fn gst_launch_ctrl_c_on_a_tcpclientsink_stops_the_tcpserversrc_receiver() {
    // Recipe 3 of docs/recipes.md, the Raspberry Pi way round: the camera
    // connects to the server. One Ctrl+C on the camera side ends both.
    let port = free_tcp_port();
    let dir = std::env::temp_dir().join(format!("udpjpeg-tcp-{}-{port}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let _remove = TempDir(dir.clone());
    let receiver = Launch::new(&format!(
        "tcpserversrc host=127.0.0.1 port={port} ! mjpegsplit ! \
         multifilesink location={}/frame-%05d.jpg",
        dir.display()
    ));
    // tcpserversrc listens once started, then prerolls on the first frame.
    receiver.wait_for("Pipeline is PREROLLING", 10);
    let sender = Launch::new(&format!(
        "-e videotestsrc is-live=true pattern=ball ! \
         video/x-raw,format=I420,width=320,height=240,framerate=30/1 ! jpegenc ! \
         tcpclientsink host=127.0.0.1 port={port}"
    ));
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_dir(&dir).unwrap().count() < 10 {
        assert!(Instant::now() < deadline, "frames arrive within 10 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    sender.interrupt();
    let (out, stdout) = sender.wait(10);
    assert_clean_exit(&out, &stdout, "the sender");
    let (out, stdout) = receiver.wait(10);
    assert_clean_exit(&out, &stdout, "the receiver");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        assert_eq!(&data[..2], &[0xFF, 0xD8]);
        assert_eq!(&data[data.len() - 2..], &[0xFF, 0xD9], "whole frames only");
        n += 1;
    }
    assert!(n >= 10, "{n} frames");
}
