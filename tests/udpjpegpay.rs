// SPDX-License-Identifier: MPL-2.0
//! Harness tests of udpjpegpay: caps, datagrams, headers, zero copy,
//! timestamps, flags and every property.

mod common;
#[path = "common/stats_blurb.rs"]
mod stats_blurb;

use std::sync::{Arc, Mutex};

use common::*;
use gst::prelude::*;
use gst_check::Harness;

fn pay(props: &[(&str, &str)]) -> (Harness, gst::Bus) {
    let mut h = harness_with("udpjpegpay", props);
    let element = h.element().unwrap();
    let bus = gst::Bus::new();
    element.set_bus(Some(&bus));
    h.set_src_caps_str("image/jpeg");
    h.play();
    (h, bus)
}

/// Counts the buffer lists leaving the element's src pad.
fn count_lists(h: &Harness) -> Arc<Mutex<Vec<usize>>> {
    let lists = Arc::new(Mutex::new(Vec::new()));
    let l = lists.clone();
    let src = h.element().unwrap().static_pad("src").unwrap();
    src.add_probe(gst::PadProbeType::BUFFER_LIST, move |_, info| {
        if let Some(gst::PadProbeData::BufferList(list)) = &info.data {
            l.lock().unwrap().push(list.len());
        }
        gst::PadProbeReturn::Ok
    });
    src.add_probe(gst::PadProbeType::BUFFER, |_, _| {
        panic!("udpjpegpay pushed a lone buffer, not a list");
    });
    lists
}

#[test]
fn caps_are_application_x_udpjpeg() {
    let (mut h, _bus) = pay(&[]);
    h.push(buffer_with_pts(fake_jpeg(100, 1), 0)).unwrap();
    let caps = h.sinkpad().unwrap().current_caps().unwrap();
    assert_eq!(
        caps.to_string(),
        "application/x-udpjpeg, wire-format=(string)sce"
    );

    let (mut h, _bus) = pay(&[("wire-format", "countdown")]);
    h.push(buffer_with_pts(fake_jpeg(100, 1), 0)).unwrap();
    let caps = h.sinkpad().unwrap().current_caps().unwrap();
    assert_eq!(
        caps.to_string(),
        "application/x-udpjpeg, wire-format=(string)countdown"
    );
}

#[test]
fn one_list_per_frame_with_exact_headers_and_pts() {
    let (mut h, _bus) = pay(&[("mtu", "1400")]);
    let lists = count_lists(&h);
    let frame = fake_jpeg(4000, 7);
    h.push(buffer_with_pts(frame.clone(), 40)).unwrap();
    let frame2 = fake_jpeg(1395, 8);
    h.push(buffer_with_pts(frame2.clone(), 80)).unwrap();
    let out = pull_all(&mut h);
    // 4000 bytes at P = 1395: 1395 + 1395 + 1210; then one 1395-byte E.
    assert_eq!(*lists.lock().unwrap(), vec![3, 1]);
    assert_eq!(out.len(), 4);
    let d: Vec<Vec<u8>> = out.iter().map(|b| bytes(b)).collect();
    assert_eq!(
        d.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![1400, 1400, 1215, 1400]
    );
    let id = u16::from_be_bytes([d[0][1], d[0][2]]);
    assert_eq!(d[0][..5], [b'S', d[0][1], d[0][2], 0, 0]);
    assert_eq!(d[1][..5], [b'C', d[0][1], d[0][2], 0, 1]);
    assert_eq!(d[2][..5], [b'E', d[0][1], d[0][2], 0, 2]);
    let id2 = id.wrapping_add(1);
    assert_eq!(d[3][..5], [b'E', (id2 >> 8) as u8, id2 as u8, 0, 0]);
    let joined: Vec<u8> = d[..3].iter().flat_map(|x| x[5..].to_vec()).collect();
    assert_eq!(joined, frame);
    assert_eq!(d[3][5..], frame2[..]);
    for b in &out[..3] {
        assert_eq!(b.pts(), Some(gst::ClockTime::from_mseconds(40)));
    }
    assert_eq!(out[3].pts(), Some(gst::ClockTime::from_mseconds(80)));
}

#[test]
fn payload_shares_the_input_memory() {
    let (mut h, _bus) = pay(&[("mtu", "1000")]);
    let input = gst::Buffer::from_mut_slice(fake_jpeg(5000, 3));
    let base = input.map_readable().unwrap().as_ptr() as usize;
    h.push(input).unwrap();
    let out = pull_all(&mut h);
    assert_eq!(out.len(), 6);
    for (i, b) in out.iter().enumerate() {
        assert_eq!(b.n_memory(), 2, "header memory + shared payload memory");
        let payload = b.peek_memory(1).map_readable().unwrap();
        assert_eq!(
            payload.as_ptr() as usize,
            base + i * 995,
            "datagram {i} payload is the input's own bytes, not a copy"
        );
        assert_eq!(b.peek_memory(0).size(), 5);
    }
}

#[test]
fn a_frame_in_several_memories_is_cut_right_and_shared() {
    let (mut h, _bus) = pay(&[("mtu", "1000")]);
    let frame = fake_jpeg(5000, 4);
    let mut input = gst::Buffer::new();
    {
        let b = input.get_mut().unwrap();
        b.append_memory(gst::Memory::from_slice(frame[..2500].to_vec()));
        b.append_memory(gst::Memory::from_slice(frame[2500..].to_vec()));
    }
    let second = input.peek_memory(1).map_readable().unwrap().as_ptr() as usize;
    h.push(input).unwrap();
    let out = pull_all(&mut h);
    // Datagram 3 (bytes 2985..3980) lies in the second memory, shared.
    // (Checked before mapping: mapping a buffer of two memories merges them.)
    assert_eq!(out[3].n_memory(), 2);
    let payload = out[3].peek_memory(1).map_readable().unwrap().as_ptr() as usize;
    assert_eq!(payload, second + (2985 - 2500));
    let joined: Vec<u8> = out.iter().flat_map(|b| bytes(b)[5..].to_vec()).collect();
    assert_eq!(joined, frame);
}

#[test]
fn image_ids_go_up_by_one_and_wrap() {
    let (mut h, _bus) = pay(&[]);
    let mut ids = Vec::new();
    for i in 0..5u8 {
        h.push(buffer_with_pts(fake_jpeg(50, i), 0)).unwrap();
        let d = bytes(&h.pull().unwrap());
        ids.push(u16::from_be_bytes([d[1], d[2]]));
    }
    for w in ids.windows(2) {
        assert_eq!(w[1], w[0].wrapping_add(1));
    }
}

#[test]
fn discont_flag_is_carried_to_the_first_datagram() {
    let (mut h, _bus) = pay(&[("mtu", "100")]);
    let mut b = buffer_with_pts(fake_jpeg(300, 1), 0);
    b.get_mut().unwrap().set_flags(gst::BufferFlags::DISCONT);
    h.push(b).unwrap();
    let out = pull_all(&mut h);
    assert_eq!(out.len(), 4);
    assert!(out[0].flags().contains(gst::BufferFlags::DISCONT));
    assert!(
        out[1..]
            .iter()
            .all(|b| !b.flags().contains(gst::BufferFlags::DISCONT))
    );
}

#[test]
fn countdown_headers() {
    let (mut h, _bus) = pay(&[("wire-format", "countdown"), ("mtu", "100")]);
    let frame = fake_jpeg(250, 2);
    h.push(buffer_with_pts(frame.clone(), 0)).unwrap();
    let d: Vec<Vec<u8>> = pull_all(&mut h).iter().map(|b| bytes(b)).collect();
    assert_eq!(d.iter().map(|x| x[0]).collect::<Vec<_>>(), vec![3, 2, 1]);
    assert_eq!(
        d.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![100, 100, 53]
    );
    let joined: Vec<u8> = d.iter().flat_map(|x| x[1..].to_vec()).collect();
    assert_eq!(joined, frame);
}

#[test]
fn countdown_frame_over_255_segments_is_dropped_with_a_warning() {
    let (mut h, bus) = pay(&[("wire-format", "countdown"), ("mtu", "1400")]);
    // 356,745 bytes is the most that fits at mtu 1400; one more does not.
    h.push(buffer_with_pts(fake_jpeg(356_745, 1), 0)).unwrap();
    assert_eq!(pull_all(&mut h).len(), 255);
    h.push(buffer_with_pts(fake_jpeg(356_746, 1), 0)).unwrap();
    assert!(h.try_pull().is_none(), "the oversized frame is dropped");
    let msg = first_message(&bus, gst::MessageType::Warning).expect("an element warning");
    let gst::MessageView::Warning(w) = msg.view() else {
        unreachable!()
    };
    let text = w.error().to_string();
    assert!(text.contains("356746"), "names the frame size: {text}");
    assert!(text.contains("mtu 1400"), "names the mtu: {text}");
    assert!(text.contains("356745"), "names the limit: {text}");
    assert!(text.contains("raise mtu"), "says what to change: {text}");
    // The stream goes on.
    h.push(buffer_with_pts(fake_jpeg(500, 1), 0)).unwrap();
    assert_eq!(pull_all(&mut h).len(), 1);
    let stats = h.element().unwrap().property::<gst::Structure>("stats");
    assert_eq!(stats.get::<u64>("frames-dropped").unwrap(), 1);
    assert_eq!(stats.get::<u64>("frames-sent").unwrap(), 2);
}

#[test]
fn frame_without_soi_is_dropped_with_a_warning() {
    let (mut h, bus) = pay(&[]);
    h.push(buffer_with_pts(vec![0x00, 0x11, 0x22, 0x33], 0))
        .unwrap();
    h.push(buffer_with_pts(vec![0xFF], 0)).unwrap();
    h.push(buffer_with_pts(vec![], 0)).unwrap();
    assert!(h.try_pull().is_none());
    let msg = first_message(&bus, gst::MessageType::Warning).expect("an element warning");
    let gst::MessageView::Warning(w) = msg.view() else {
        unreachable!()
    };
    let text = w.error().to_string();
    assert!(text.contains("4 bytes") && text.contains("FF D8"), "{text}");
    let stats = h.element().unwrap().property::<gst::Structure>("stats");
    assert_eq!(stats.name(), "udpjpegpay-stats");
    assert_eq!(stats.get::<u64>("frames-dropped").unwrap(), 3);
    assert_eq!(stats.get::<u64>("frames-sent").unwrap(), 0);
    h.push(buffer_with_pts(fake_jpeg(10, 0), 0)).unwrap();
    assert!(h.try_pull().is_some(), "the stream goes on");
}

#[test]
fn sce_frame_over_65536_chunks_is_dropped() {
    let (mut h, bus) = pay(&[("mtu", "64")]);
    // P = 59: 65536 * 59 = 3,866,624 bytes fit.
    h.push(buffer_with_pts(fake_jpeg(3_866_625, 0), 0)).unwrap();
    assert!(h.try_pull().is_none());
    let msg = first_message(&bus, gst::MessageType::Warning).expect("an element warning");
    let gst::MessageView::Warning(w) = msg.view() else {
        unreachable!()
    };
    assert!(w.error().to_string().contains("3866624"));
}

#[test]
fn stats_count_datagrams_and_bytes() {
    let (mut h, _bus) = pay(&[("mtu", "105")]);
    h.push(buffer_with_pts(fake_jpeg(250, 0), 0)).unwrap();
    h.push(buffer_with_pts(fake_jpeg(100, 0), 0)).unwrap();
    assert_eq!(pull_all(&mut h).len(), 4);
    let s = h.element().unwrap().property::<gst::Structure>("stats");
    assert_eq!(s.get::<u64>("frames-sent").unwrap(), 2);
    assert_eq!(s.get::<u64>("datagrams-sent").unwrap(), 4);
    assert_eq!(s.get::<u64>("bytes-sent").unwrap(), 350 + 4 * 5);
}

#[test]
fn mtu_can_change_while_playing() {
    let (mut h, _bus) = pay(&[("mtu", "100")]);
    h.push(buffer_with_pts(fake_jpeg(190, 0), 0)).unwrap();
    assert_eq!(pull_all(&mut h).len(), 2);
    h.element().unwrap().set_property("mtu", 200u32);
    h.push(buffer_with_pts(fake_jpeg(190, 0), 0)).unwrap();
    assert_eq!(pull_all(&mut h).len(), 1);
}

#[test]
fn property_specs_state_ranges_and_defaults() {
    init();
    let e = gst::ElementFactory::make("udpjpegpay").build().unwrap();
    let mtu = e.find_property("mtu").unwrap();
    let mtu = mtu.downcast_ref::<glib::ParamSpecUInt>().unwrap();
    assert_eq!(
        (mtu.minimum(), mtu.maximum(), mtu.default_value()),
        (64, 65507, 1400)
    );
    assert!(mtu.blurb().unwrap().contains("header included"));
    assert_eq!(e.property::<u32>("mtu"), 1400);
    assert_eq!(
        e.property_value("wire-format")
            .serialize()
            .unwrap()
            .as_str(),
        "sce"
    );
    let factory = e.factory().unwrap();
    assert_eq!(factory.rank(), gst::Rank::NONE);
    assert_eq!(factory.metadata("klass"), Some("Codec/Payloader/Network"));
}

#[test]
fn real_frames_round_trip_through_the_depayloader() {
    init();
    let mut h = Harness::new_parse("udpjpegpay mtu=1400 ! udpjpegdepay");
    h.set_src_caps_str("image/jpeg");
    for (i, f) in FRAMES_360P.iter().take(10).enumerate() {
        h.push(buffer_with_pts(f.clone(), i as u64 * 33)).unwrap();
        let out = h.pull().unwrap();
        assert_eq!(bytes(&out), *f);
        assert_eq!(
            out.pts(),
            Some(gst::ClockTime::from_mseconds(i as u64 * 33))
        );
    }
}

#[test]
fn pacing_sends_bursts_spaced_by_the_interval() {
    let (mut h, _bus) = pay(&[]);
    let times = Arc::new(Mutex::new(Vec::new()));
    let t = times.clone();
    h.element().unwrap().static_pad("src").unwrap().add_probe(
        gst::PadProbeType::BUFFER_LIST,
        move |_, info| {
            if let Some(gst::PadProbeData::BufferList(list)) = &info.data {
                t.lock()
                    .unwrap()
                    .push((std::time::Instant::now(), list.len()));
            }
            gst::PadProbeReturn::Ok
        },
    );
    h.set_upstream_latency(gst::ClockTime::from_mseconds(10));
    // A 1080p-sized frame: 250,000 bytes in 180 datagrams at mtu 1400.
    h.push(buffer_with_pts(fake_jpeg(250_000, 1), 0)).unwrap();
    let times = times.lock().unwrap().clone();
    let sizes: Vec<usize> = times.iter().map(|(_, n)| *n).collect();
    let mut want = vec![16; 11];
    want.push(4);
    assert_eq!(sizes, want);
    let spread = times.last().unwrap().0 - times[0].0;
    assert!(
        spread >= std::time::Duration::from_micros(11 * 300),
        "bursts start at least burst-interval apart: {spread:?}"
    );
    assert_eq!(pull_all(&mut h).len(), 180);
    // The pacing delay of the largest frame so far is added to the latency.
    assert_eq!(
        h.query_latency(),
        Some(gst::ClockTime::from_mseconds(10) + gst::ClockTime::from_useconds(3300))
    );
}

#[test]
fn burst_size_zero_sends_each_frame_as_one_list() {
    let (mut h, _bus) = pay(&[("burst-size", "0")]);
    let lists = count_lists(&h);
    h.set_upstream_latency(gst::ClockTime::from_mseconds(10));
    h.push(buffer_with_pts(fake_jpeg(250_000, 1), 0)).unwrap();
    assert_eq!(*lists.lock().unwrap(), vec![180]);
    assert_eq!(h.query_latency(), Some(gst::ClockTime::from_mseconds(10)));
}

#[test]
fn burst_settings_shape_the_bursts() {
    let (mut h, _bus) = pay(&[("burst-size", "50"), ("burst-interval", "0")]);
    let lists = count_lists(&h);
    h.push(buffer_with_pts(fake_jpeg(250_000, 1), 0)).unwrap();
    assert_eq!(*lists.lock().unwrap(), vec![50, 50, 50, 30]);
    assert_eq!(h.element().unwrap().property::<u32>("burst-size"), 50);
    assert_eq!(h.element().unwrap().property::<u32>("burst-interval"), 0);
    assert_eq!(pull_all(&mut h).len(), 180);
}

use gst::glib;

#[test]
fn fec_percent_adds_parity_datagrams_that_fit_the_mtu() {
    let (mut h, _bus) = pay(&[("fec-percent", "10"), ("burst-size", "0")]);
    let lists = count_lists(&h);
    let frame = fake_jpeg(250_000, 3);
    h.push(buffer_with_pts(frame.clone(), 7)).unwrap();
    let out = pull_all(&mut h);
    // P = 1400 - 21 rounded down to a multiple of 8 = 1376: 182 data chunks,
    // then ceil(18.2) = 19 parity chunks.
    let (data, parity): (Vec<_>, Vec<_>) = out.iter().map(|b| bytes(b)).partition(|d| d[0] != b'F');
    assert_eq!((data.len(), parity.len()), (182, 19));
    assert_eq!(*lists.lock().unwrap(), vec![201]);
    assert!(data[..181].iter().all(|d| d.len() == 5 + 1376));
    assert!(
        parity
            .iter()
            .all(|d| d.len() == 21 + 1376 && d.len() <= 1400)
    );
    assert!(
        out.iter()
            .all(|b| b.pts() == Some(gst::ClockTime::from_mseconds(7)))
    );
    let joined: Vec<u8> = data.iter().flat_map(|d| d[5..].to_vec()).collect();
    assert_eq!(joined, frame);
    let s = h.element().unwrap().property::<gst::Structure>("stats");
    assert_eq!(s.get::<u64>("parity-sent").unwrap(), 19);
    // Small frames get fec-min-parity.
    h.element().unwrap().set_property("fec-min-parity", 3u32);
    h.push(buffer_with_pts(fake_jpeg(100, 1), 8)).unwrap();
    let out = pull_all(&mut h);
    assert_eq!(out.len(), 1 + 3);
}

#[test]
fn fec_with_countdown_is_a_clear_error() {
    init();
    let e = gst::ElementFactory::make("udpjpegpay")
        .property_from_str("wire-format", "countdown")
        .property("fec-percent", 10u32)
        .build()
        .unwrap();
    let bus = gst::Bus::new();
    e.set_bus(Some(&bus));
    assert!(e.set_state(gst::State::Paused).is_err());
    let msg = first_message(&bus, gst::MessageType::Error).expect("an error");
    let gst::MessageView::Error(err) = msg.view() else {
        unreachable!()
    };
    let text = err.error().to_string();
    assert!(
        text.contains("fec-percent") && text.contains("wire-format=sce"),
        "{text}"
    );
    let _ = e.set_state(gst::State::Null);
}

#[test]
fn parity_rebuilds_lost_chunks_in_the_depayloader() {
    init();
    let mut h = Harness::new_parse(
        "udpjpegpay fec-percent=5 burst-size=0 ! identity name=drop ! udpjpegdepay",
    );
    h.set_src_caps_str("image/jpeg");
    // Drop the 3rd and 50th datagram of every frame, E included for small ones.
    let n = Arc::new(Mutex::new(0usize));
    let pipeline_drop = h.element().unwrap();
    let drop_pad = pipeline_drop
        .downcast_ref::<gst::Bin>()
        .unwrap()
        .by_name("drop")
        .unwrap()
        .static_pad("src")
        .unwrap();
    let c = n.clone();
    drop_pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        let mut c = c.lock().unwrap();
        *c += 1;
        if *c % 47 == 3 {
            gst::PadProbeReturn::Drop
        } else {
            gst::PadProbeReturn::Ok
        }
    });
    for (i, f) in FRAMES_360P.iter().take(10).enumerate() {
        h.push(buffer_with_pts(f.clone(), i as u64)).unwrap();
        let out = h.pull().unwrap();
        assert_eq!(bytes(&out), *f);
    }
    let depay = h
        .element()
        .unwrap()
        .downcast_ref::<gst::Bin>()
        .unwrap()
        .iterate_elements()
        .into_iter()
        .flatten()
        .find(|e| e.factory().is_some_and(|f| f.name() == "udpjpegdepay"))
        .unwrap();
    let s = depay.property::<gst::Structure>("stats");
    assert!(s.get::<u64>("frames-recovered").unwrap() >= 5, "{s}");
    assert_eq!(s.get::<u64>("frames-lost").unwrap(), 0, "{s}");
}

/// The DTS of each burst of `out` (datagrams of `burst` each), in µs, and
/// checks that every datagram kept the frame's PTS, `pts_us`.
fn burst_dts_us(out: &[gst::Buffer], burst: usize, pts_us: u64) -> Vec<u64> {
    assert!(
        out.iter()
            .all(|b| b.pts() == Some(gst::ClockTime::from_useconds(pts_us)))
    );
    out.chunks(burst)
        .map(|c| {
            let dts = c[0].dts().unwrap();
            assert!(c.iter().all(|b| b.dts() == Some(dts)), "one DTS a burst");
            dts.useconds()
        })
        .collect()
}

#[test]
fn each_burst_carries_the_time_to_send_it_as_dts() {
    // A syncing sink sends a buffer at its DTS (else PTS) plus the
    // pipeline's latency, which holds the 3.3 ms of pacing: burst k is
    // stamped frame time - 3.3 ms + k x 300 µs, so the first burst is sent
    // at once and the last at the frame's time plus the latency.
    let (mut h, _bus) = pay(&[]);
    h.push(buffer_with_pts(fake_jpeg(250_000, 1), 100)).unwrap();
    let out = pull_all(&mut h);
    let want: Vec<u64> = (0..12).map(|k| 100_000 - 3300 + 300 * k).collect();
    assert_eq!(burst_dts_us(&out, 16, 100_000), want);
    // A smaller frame starts as early: the latency is that of the largest.
    h.push(buffer_with_pts(fake_jpeg(30_000, 2), 200)).unwrap();
    let out = pull_all(&mut h);
    assert_eq!(burst_dts_us(&out, 16, 200_000), [196_700, 197_000]);
}

#[test]
fn no_burst_is_stamped_before_the_segment_starts() {
    let (mut h, _bus) = pay(&[]);
    // 1 ms into the segment, 3.3 ms of pacing: the first bursts at 0.
    h.push(buffer_with_pts(fake_jpeg(250_000, 1), 1)).unwrap();
    let dts = burst_dts_us(&pull_all(&mut h), 16, 1000);
    assert_eq!(dts, [0, 0, 0, 0, 0, 0, 0, 0, 100, 400, 700, 1000]);
    // A segment from 10 s: nothing before 10 s (basesink would drop it).
    let mut segment = gst::FormattedSegment::<gst::ClockTime>::new();
    segment.set_start(gst::ClockTime::from_seconds(10));
    segment.set_time(gst::ClockTime::from_seconds(10));
    assert!(h.push_event(gst::event::Segment::new(&segment)));
    h.push(buffer_with_pts(fake_jpeg(250_000, 1), 10_001))
        .unwrap();
    let dts = burst_dts_us(&pull_all(&mut h), 16, 10_001_000);
    assert_eq!(dts[0], 10_000_000);
    assert_eq!(dts[11], 10_001_000);
}

#[test]
fn one_burst_is_stamped_with_the_frames_time() {
    let (mut h, _bus) = pay(&[("burst-size", "0")]);
    h.push(buffer_with_pts(fake_jpeg(250_000, 1), 100)).unwrap();
    assert_eq!(burst_dts_us(&pull_all(&mut h), 180, 100_000), [100_000]);
}

#[test]
fn pacing_counts_from_when_the_first_burst_left() {
    // A sink that holds the first burst (as udpsink holds a frame until its
    // clock time) must not make the later bursts go out back to back.
    let (mut h, _bus) = pay(&[]);
    let left = Arc::new(Mutex::new(Vec::new()));
    let l = left.clone();
    h.element().unwrap().static_pad("src").unwrap().add_probe(
        gst::PadProbeType::BUFFER_LIST,
        move |_, _| {
            let mut l = l.lock().unwrap();
            if l.is_empty() {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            l.push(std::time::Instant::now());
            gst::PadProbeReturn::Ok
        },
    );
    h.push(buffer_with_pts(fake_jpeg(250_000, 1), 0)).unwrap();
    let left = left.lock().unwrap().clone();
    assert_eq!(left.len(), 12);
    for (k, t) in left.iter().enumerate().skip(1) {
        let gap = *t - left[0];
        assert!(
            gap >= std::time::Duration::from_micros(300 * k as u64),
            "burst {k} left {gap:?} after the first"
        );
    }
}

#[test]
fn many_dropped_frames_are_one_bus_warning_per_cause() {
    // At mtu 64, countdown carries at most 255 x 63 = 16065 bytes a frame.
    let (mut h, bus) = pay(&[("wire-format", "countdown"), ("mtu", "64")]);
    for _ in 0..20 {
        h.push(buffer_with_pts(fake_jpeg(16_066, 0), 0)).unwrap();
        h.push(buffer_with_pts(vec![0x00, 0x11, 0x22, 0x33], 0))
            .unwrap();
    }
    assert!(h.try_pull().is_none());
    let warnings: Vec<String> = bus
        .iter()
        .filter_map(|m| match m.view() {
            gst::MessageView::Warning(w) => Some(w.error().to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].contains("16066"), "{warnings:?}");
    assert!(warnings[1].contains("FF D8"), "{warnings:?}");
    let stats = h.element().unwrap().property::<gst::Structure>("stats");
    assert_eq!(stats.get::<u64>("frames-dropped").unwrap(), 40);
    // The stream goes on.
    h.push(buffer_with_pts(fake_jpeg(500, 1), 0)).unwrap();
    assert_eq!(pull_all(&mut h).len(), 8);
}

#[test]
fn stats_blurb_names_exactly_the_stats_fields() {
    init();
    let element = gst::ElementFactory::make("udpjpegpay").build().unwrap();
    stats_blurb::assert_stats_blurb_names_every_field(&element);
}

#[test]
fn going_back_to_ready_resets_the_stats() {
    let (mut h, _bus) = pay(&[]);
    h.push(buffer_with_pts(fake_jpeg(500, 0), 0)).unwrap();
    h.push(buffer_with_pts(vec![0x00; 4], 0)).unwrap();
    let stats = h.element().unwrap().property::<gst::Structure>("stats");
    assert_eq!(stats.get::<u64>("frames-sent").unwrap(), 1);
    assert_eq!(stats.get::<u64>("frames-dropped").unwrap(), 1);
    h.element().unwrap().set_state(gst::State::Ready).unwrap();
    let stats = h.element().unwrap().property::<gst::Structure>("stats");
    for field in stats.fields() {
        assert_eq!(stats.get::<u64>(field).unwrap(), 0, "{field}");
    }
}
