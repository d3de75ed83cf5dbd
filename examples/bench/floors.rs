// SPDX-License-Identifier: MPL-2.0
//! Section 4: the floors under our figures, with 1920x1080 frames: plain UDP
//! on 127.0.0.1 with pre-cut datagrams, ours over UDP unpaced, a memcpy of
//! each frame, building and freeing the datagram buffers udpjpegpay makes,
//! and memchr over the MJPEG stream.

use std::time::{Duration, Instant};

use gstudpjpeg::wire::{self, Plan, WireFormat};

use crate::Config;
use crate::frames::FrameSet;
use crate::harness::{
    BIG_RCVBUF, MB, check_no_error, element, frame_pts, launch, median, receiver, set_state,
    stamped, wait_eos,
};
use crate::pay_depay::HdFps;
use crate::table::{Section, f0, ratio};

struct FloorRun {
    secs: f64,
    sent: u64,
    received: u64,
}

/// Unpaced, as fast as possible, over UDP on 127.0.0.1 with a 4 MB receive
/// buffer: either pre-cut datagrams (`lists`, no payloader) or frames through
/// `udpjpegpay burst-size=0` and `udpjpegdepay`. `sent` and `received` are
/// datagrams for the former and frames for the latter.
fn udp_flat_out(lists: Option<&[gst::BufferList]>, set: &FrameSet, frames: usize) -> FloorRun {
    let (rx, counter, port) = match lists {
        Some(_) => receiver("", Some(BIG_RCVBUF)),
        None => receiver("! udpjpegdepay", Some(BIG_RCVBUF)),
    };
    let pay = if lists.is_some() {
        ""
    } else {
        "udpjpegpay burst-size=0 mtu=1400 ! "
    };
    let tx = launch(&format!(
        "appsrc name=src format=time block=true max-bytes=4000000 \
         ! {pay}udpsink host=127.0.0.1 port={port} sync=false"
    ));
    let src: gst_app::AppSrc = element(&tx, "src");
    if lists.is_none() {
        src.set_caps(Some(&set.caps()));
    }
    set_state(&tx, gst::State::Ready);

    let mut sent = 0u64;
    let start = Instant::now();
    set_state(&tx, gst::State::Playing);
    for i in 0..frames {
        match lists {
            Some(lists) => {
                let list = &lists[i % lists.len()];
                sent += list.len() as u64;
                src.push_buffer_list(list.clone()).expect("push");
            }
            None => {
                sent += 1;
                src.push_buffer(stamped(&set.frames[i % set.frames.len()], frame_pts(i, 30)))
                    .expect("push");
            }
        }
    }
    src.end_of_stream().expect("eos");
    wait_eos(&tx, Duration::from_secs(300));
    let secs = start.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(500));
    check_no_error(&rx);
    let received = counter.buffers();
    set_state(&tx, gst::State::Null);
    set_state(&rx, gst::State::Null);
    FloorRun {
        secs,
        sent,
        received,
    }
}

/// Copies every frame into a preallocated buffer; returns seconds.
fn memcpy_floor(frames: &[Vec<u8>], count: usize) -> f64 {
    let max = frames.iter().map(Vec::len).max().unwrap();
    let mut dst = vec![0u8; max];
    let start = Instant::now();
    for i in 0..count {
        let f = &frames[i % frames.len()];
        dst[..f.len()].copy_from_slice(std::hint::black_box(f));
        std::hint::black_box(&mut dst);
    }
    start.elapsed().as_secs_f64()
}

/// Builds and frees, `count` times, a frame's datagrams as udpjpegpay hands
/// them to udpsink: a buffer list with one buffer per datagram, each holding
/// a shared slice of one header memory and a shared slice of the frame's
/// memory (mtu 1400). No pipeline, no element: the GStreamer cost any
/// zero-copy payloader of one buffer per datagram pays. Returns seconds.
fn datagram_buffers_floor(frames: &[gst::Buffer], count: usize) -> f64 {
    let start = Instant::now();
    for i in 0..count {
        let frame = frames[i % frames.len()].peek_memory(0);
        let plan = Plan::new(WireFormat::Sce, frame.size(), 1400).unwrap();
        let hlen = wire::SCE_HEADER_LEN;
        let mut headers = Vec::with_capacity(plan.count * hlen);
        for d in 0..plan.count {
            headers.extend_from_slice(&plan.header(i as u16, d).0);
        }
        let headers = gst::Memory::from_mut_slice(headers);
        let mut list = gst::BufferList::new_sized(plan.count);
        {
            let l = list.get_mut().unwrap();
            for d in 0..plan.count {
                let mut b = gst::Buffer::new();
                {
                    let b = b.get_mut().unwrap();
                    b.append_memory(headers.share(d * hlen..(d + 1) * hlen));
                    b.append_memory(frame.share(plan.range(d)));
                }
                l.add(b);
            }
        }
        drop(std::hint::black_box(list));
    }
    start.elapsed().as_secs_f64()
}

/// What section 4 compares its floors with, measured by other sections
/// (NaN for a section that did not run).
pub struct Compared {
    /// Section 1, 1920x1080 at mtu 1400.
    pub pay_depay: HdFps,
    /// Section 2: mjpegsplit's MB/s in 64 KB buffers.
    pub split_64k: f64,
    /// Sections 2 and 4: memchr over the MJPEG stream, MB/s.
    pub memchr_mbs: f64,
}

/// Each 1920x1080 frame cut into its mtu-1400 datagrams, one buffer list
/// per frame, as udpjpegpay would send them.
fn datagram_lists(hd_bytes: &[Vec<u8>]) -> Vec<gst::BufferList> {
    hd_bytes
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let plan = Plan::new(WireFormat::Sce, f.len(), 1400).unwrap();
            let mut list = gst::BufferList::new_sized(plan.count);
            {
                let l = list.get_mut().unwrap();
                for d in plan.datagrams(i as u16, f) {
                    l.add(gst::Buffer::from_mut_slice(d));
                }
            }
            list
        })
        .collect()
}

/// The measurements of section 4, every round.
#[derive(Default)]
struct Rounds {
    floor: Vec<FloorRun>,
    ours_udp: Vec<FloorRun>,
    memcpy_fps: Vec<f64>,
    buffers_fps: Vec<f64>,
}

impl Rounds {
    fn measure(
        cfg: &Config,
        hd: &FrameSet,
        hd_bytes: &[Vec<u8>],
        lists: &[gst::BufferList],
    ) -> Self {
        let mut r = Rounds::default();
        for _ in 0..cfg.rounds {
            r.floor
                .push(udp_flat_out(Some(lists), hd, cfg.floor_frames));
            r.ours_udp.push(udp_flat_out(None, hd, cfg.floor_frames));
            let n = cfg.floor_frames * 10;
            r.memcpy_fps.push(n as f64 / memcpy_floor(hd_bytes, n));
            r.buffers_fps
                .push(n as f64 / datagram_buffers_floor(&hd.frames, n));
        }
        r
    }
}

/// The median rate of sent items per second, and received / sent in %.
fn rate_and_delivered(runs: &[FloorRun]) -> (f64, f64) {
    let rate = median(
        &runs
            .iter()
            .map(|r| r.sent as f64 / r.secs)
            .collect::<Vec<_>>(),
    );
    let rx: u64 = runs.iter().map(|r| r.received).sum();
    let tx: u64 = runs.iter().map(|r| r.sent).sum();
    (rate, 100.0 * rx as f64 / tx as f64)
}

/// Section 4.
pub fn section(cfg: &Config, hd: &FrameSet, compared: &Compared) -> Section {
    eprintln!("floors ...");
    let hd_bytes: Vec<Vec<u8>> = (0..hd.frames.len()).map(|i| hd.bytes(i)).collect();
    let lists = datagram_lists(&hd_bytes);
    let per_frame = lists.iter().map(|l| l.len() as f64).sum::<f64>() / lists.len() as f64;
    let rounds = Rounds::measure(cfg, hd, &hd_bytes, &lists);
    let mut sec = floors_section(per_frame);
    let mb = |fps: f64| f0(fps * hd.mean_size() / MB);
    let in_memory = compared.pay_depay.ours;

    let (floor_dps, floor_delivered) = rate_and_delivered(&rounds.floor);
    let floor_fps = floor_dps / per_frame;
    sec.row(vec![
        "UDP floor: appsrc ! udpsink, udpsrc ! fakesink".into(),
        f0(floor_dps),
        f0(floor_fps),
        mb(floor_fps),
        format!("{floor_delivered:.1}% of datagrams"),
        String::new(),
    ]);
    let (ours_fps, ours_delivered) = rate_and_delivered(&rounds.ours_udp);
    sec.row(vec![
        "ours over UDP: udpjpegpay burst-size=0 ! udpsink, udpsrc ! udpjpegdepay".into(),
        f0(ours_fps * per_frame),
        f0(ours_fps),
        mb(ours_fps),
        format!("{ours_delivered:.1}% of frames"),
        ratio(ours_fps, floor_fps),
    ]);
    let memcpy_fps = median(&rounds.memcpy_fps);
    sec.row(vec![
        "memcpy of each frame into a preallocated buffer".into(),
        String::new(),
        f0(memcpy_fps),
        mb(memcpy_fps),
        String::new(),
        format!(
            "in-memory pay+depay (mtu 1400): {}",
            ratio(in_memory, memcpy_fps)
        ),
    ]);
    sec.row(buffers_row(
        median(&rounds.buffers_fps),
        per_frame,
        hd,
        compared,
    ));
    sec.row(vec![
        "memchr_iter(0xFF) count over the MJPEG stream".into(),
        String::new(),
        f0(compared.memchr_mbs * MB / hd.mean_size()),
        f0(compared.memchr_mbs),
        String::new(),
        format!(
            "mjpegsplit 64 KB: {}",
            ratio(compared.split_64k, compared.memchr_mbs)
        ),
    ]);
    sec
}

/// The row of the datagram-buffer floor, with what 5x the RTP pair needs.
fn buffers_row(fps: f64, per_frame: f64, hd: &FrameSet, compared: &Compared) -> Vec<String> {
    let HdFps { ours, rtp } = compared.pay_depay;
    vec![
        "datagram buffers of each frame (mtu 1400) built and freed, as udpjpegpay makes \
         them: a buffer per datagram with a shared header slice and a shared frame slice"
            .into(),
        f0(fps * per_frame),
        f0(fps),
        f0(fps * hd.mean_size() / MB),
        String::new(),
        format!(
            "in-memory pay+depay (mtu 1400): {}; 5x the RTP pair would need {} fps, {} \
             this floor",
            ratio(ours, fps),
            f0(5.0 * rtp),
            ratio(5.0 * rtp, fps)
        ),
    ]
}

fn floors_section(datagrams_per_frame: f64) -> Section {
    Section::new(
        "4. Floors (1920x1080 frames)",
        &format!(
            "UDP: unpaced, as fast as the sender goes, 127.0.0.1, udpsrc buffer-size={BIG_RCVBUF}; \
             rate = items sent / sender wall time (PLAYING to EOS), \"delivered\" = received / \
             sent over all rounds. The floor pushes the pre-cut mtu-1400 datagrams \
             ({datagrams_per_frame:.1} a frame) as one buffer list per frame through \
             `appsrc ! udpsink sync=false` / `udpsrc ! fakesink`. \"ours / floor\" compares frames/s."
        ),
        &[
            "measurement",
            "datagrams/s",
            "frames/s",
            "MB/s",
            "delivered",
            "ours / floor",
        ],
    )
}
