// SPDX-License-Identifier: MPL-2.0
//! Several senders on one port over real UDP on 127.0.0.1: the same image ids
//! never mix, a restarted sender is followed at once, and `source` filters.

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use common::*;
use gst::prelude::*;
use gstudpjpeg::wire::{Plan, WireFormat};

struct Receiver {
    pipeline: PipelineGuard,
    sink: gst_app::AppSink,
    port: u16,
}

fn receiver(depay_props: &str) -> Receiver {
    let (pipeline, sink, port) = depay_receiver("", depay_props);
    Receiver {
        pipeline,
        sink,
        port,
    }
}

impl Receiver {
    fn frames(&self) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| {
            self.sink
                .try_pull_sample(gst::ClockTime::from_mseconds(300))
        })
        .map(|s| bytes(s.buffer().unwrap()))
        .collect()
    }

    fn stats(&self) -> gst::Structure {
        by_name(&self.pipeline, "depay").property("stats")
    }
}

fn socket() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").unwrap()
}

/// Sends one frame, then leaves the receiver time to drain its socket.
fn send(socket: &UdpSocket, port: u16, frame: &[u8], id: u16) {
    for d in cut(frame, id) {
        socket.send_to(&d, ("127.0.0.1", port)).unwrap();
    }
    std::thread::sleep(Duration::from_millis(5));
}

fn cut(frame: &[u8], id: u16) -> Vec<Vec<u8>> {
    Plan::new(WireFormat::Sce, frame.len(), 1400)
        .unwrap()
        .datagrams(id, frame)
}

#[test]
fn two_senders_with_the_same_ids_never_mix() {
    let rx = receiver("");
    let (a, b) = (socket(), socket());
    let mut sent_a = Vec::new();
    let mut sent_b = Vec::new();
    for i in 0..10u16 {
        let fa = tag_frame(&FRAMES_360P[i as usize], &format!("sender a {i}"));
        let fb = tag_frame(&FRAMES_360P[i as usize + 10], &format!("sender b {i}"));
        // Both senders use ids 500, 501, ... and their chunks interleave.
        let (da, db) = (cut(&fa, 500 + i), cut(&fb, 500 + i));
        for k in 0..da.len().max(db.len()) {
            if let Some(d) = da.get(k) {
                a.send_to(d, ("127.0.0.1", rx.port)).unwrap();
            }
            if let Some(d) = db.get(k) {
                b.send_to(d, ("127.0.0.1", rx.port)).unwrap();
            }
        }
        sent_a.push(fa);
        sent_b.push(fb);
        std::thread::sleep(Duration::from_millis(5));
    }
    let got = rx.frames();
    let from_a: Vec<usize> = got
        .iter()
        .filter_map(|f| sent_a.iter().position(|x| x == f))
        .collect();
    let from_b: Vec<usize> = got
        .iter()
        .filter_map(|f| sent_b.iter().position(|x| x == f))
        .collect();
    assert_eq!(
        from_a.len() + from_b.len(),
        got.len(),
        "nothing else comes out"
    );
    assert_eq!(from_a, (0..10).collect::<Vec<_>>(), "{}", rx.stats());
    assert_eq!(from_b, (0..10).collect::<Vec<_>>(), "{}", rx.stats());
    assert_eq!(rx.stats().get::<u64>("senders").unwrap(), 2);
}

#[test]
fn a_restarted_sender_is_followed_at_once() {
    let rx = receiver("source=first");
    let first = socket();
    for i in 0..3u16 {
        send(&first, rx.port, &FRAMES_360P[i as usize], 30_000 + i);
    }
    drop(first);
    // The sender restarts: a new socket (new port, same host) and a fresh id
    // that is not the next one.
    let second = socket();
    for i in 0..3u16 {
        send(&second, rx.port, &FRAMES_360P[3 + i as usize], 7 + i);
    }
    let got: Vec<Option<usize>> = rx
        .frames()
        .iter()
        .map(|f| FRAMES_360P.iter().position(|x| x == f))
        .collect();
    let stats = rx.stats();
    assert_eq!(
        got,
        (0..6).map(Some).collect::<Vec<_>>(),
        "all six frames, none lost to the restart: {stats}"
    );
    assert_eq!(stats.get::<u64>("frames-lost").unwrap(), 0, "{stats}");
    assert_eq!(
        stats.get::<u64>("datagrams-rejected").unwrap(),
        0,
        "{stats}"
    );
}

#[test]
fn source_address_rejects_other_senders_over_udp() {
    let wanted = socket();
    let other = socket();
    let rx = receiver(&format!("source={}", wanted.local_addr().unwrap()));
    let f1 = tag_frame(&FRAMES_360P[0], "wanted");
    let f2 = tag_frame(&FRAMES_360P[1], "other");
    send(&other, rx.port, &f2, 1);
    send(&wanted, rx.port, &f1, 1);
    let got = rx.frames();
    assert!(
        got.len() == 1 && got[0] == f1,
        "only the wanted sender's frame: {}",
        rx.stats()
    );
    let stats = rx.stats();
    assert_eq!(
        stats.get::<u64>("datagrams-rejected").unwrap(),
        cut(&f2, 1).len() as u64
    );
    assert_eq!(stats.get::<u64>("senders-rejected").unwrap(), 1);
}
