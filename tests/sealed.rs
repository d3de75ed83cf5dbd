// SPDX-License-Identifier: MPL-2.0
//! Sealed streams (docs/PROTOCOL.md section 3) through the elements: what
//! a key holder sends arrives byte for byte with either cipher, and an
//! attacker who knows everything but the key gets nothing on screen —
//! forged datagrams, every single-bit flip, replays inside and past the
//! window, from other addresses, interleaved with the live stream or after
//! a restart, many recorded sessions at once, and another key on the same
//! port. Each attack also checks that the live stream goes on and that no
//! state is created for what does not authenticate.

mod common;

use std::time::Duration;

use common::process::text;
use common::*;
use gst::prelude::*;
use gst_check::Harness;
use gst_net::gio;

/// A key file of 64 hex digits and a newline, mode 0600, in `dir`.
fn key_file(dir: &TempDir, name: &str, byte: u8) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.0.join(name);
    std::fs::write(&path, format!("{}\n", format!("{byte:02x}").repeat(32))).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path.to_str().unwrap().to_owned()
}

/// A playing udpjpegpay with `props` (a new session each).
fn pay(props: &[(&str, &str)]) -> Harness {
    let mut h = harness_with("udpjpegpay", props);
    h.set_src_caps_str("image/jpeg");
    h.play();
    h
}

/// The datagrams `pay` makes of `frames`.
fn datagrams(pay: &mut Harness, frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        pay.push(buffer_with_pts(f.clone(), i as u64 * 33)).unwrap();
        out.extend(pull_all(pay).iter().map(|b| bytes(b)));
    }
    out
}

fn from(data: &[u8], port: u16) -> gst::Buffer {
    let mut b = gst::Buffer::from_slice(data.to_vec());
    let addr = gio::InetSocketAddress::from_string("127.0.0.1", port.into()).unwrap();
    gst_net::NetAddressMeta::add(b.get_mut().unwrap(), &addr);
    b
}

/// Pushes `datagrams` from 127.0.0.1:`port`; returns the frames that came out.
fn push_all(depay: &mut Harness, datagrams: &[Vec<u8>], port: u16) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for d in datagrams {
        depay.push(from(d, port)).unwrap();
        out.extend(pull_all(depay).iter().map(|b| bytes(b)));
    }
    out
}

/// `got` is `want`, frame for frame (without printing megabytes when not).
#[track_caller]
fn assert_frames(got: &[Vec<u8>], want: &[Vec<u8>], what: &str) {
    let differ = got.iter().zip(want).position(|(g, w)| g != w);
    assert!(
        got.len() == want.len() && differ.is_none(),
        "{what}: {} frames for {}, first difference at {differ:?}",
        got.len(),
        want.len()
    );
}

/// The counters an attack moves, for the log.
fn seal_counts(h: &Harness) -> String {
    let names = [
        "frames-received",
        "datagrams-unauthenticated",
        "datagrams-replayed",
    ];
    let more = ["datagrams-session-too-old", "sessions", "senders"];
    let fields: Vec<String> = names
        .iter()
        .chain(&more)
        .map(|n| format!("{n} {}", stat(h, n)))
        .collect();
    fields.join(", ")
}

fn frames(n: usize, tag: &str) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| tag_frame(&FRAMES_360P[i % FRAMES_360P.len()], &format!("{tag} {i}")))
        .collect()
}

/// A sender with key `byte` and `cipher`, its keys' folder, and a receiver
/// with key `byte` and `props`.
struct Link {
    dir: TempDir,
    key: String,
}

impl Link {
    fn new() -> Link {
        let dir = TempDir::new("udpjpeg-sealed");
        let key = key_file(&dir, "cam.key", 0x5a);
        Link { dir, key }
    }

    fn pay(&self, cipher: &str) -> Harness {
        pay(&[("key-file", &self.key), ("cipher", cipher)])
    }

    fn depay(&self, props: &[(&str, &str)]) -> Harness {
        let mut all = vec![("key-file", self.key.as_str())];
        all.extend_from_slice(props);
        depay(&all)
    }
}

#[test]
fn both_ciphers_carry_every_frame_byte_for_byte_and_hide_it() {
    let link = Link::new();
    for cipher in ["aes-256-gcm", "chacha20-poly1305", "auto"] {
        let sent = frames(12, cipher);
        let d = datagrams(&mut link.pay(cipher), &sent);
        assert!(
            d.iter().all(|d| d[0] == b'K' && d.len() <= 1400),
            "{cipher}"
        );
        // The cipher id on the wire: auto is AES-256-GCM on a CPU with AES
        // instructions (this x86-64 machine has AES-NI), else ChaCha20.
        let id = match cipher {
            "chacha20-poly1305" => 2,
            "aes-256-gcm" => 1,
            _ => gstudpjpeg::seal::Cipher::auto().id(),
        };
        assert!(d.iter().all(|d| d[1] == id), "{cipher}");
        // No run of 24 frame bytes appears in any datagram.
        for f in &sent {
            let probe = &f[f.len() / 2..f.len() / 2 + 24];
            assert!(
                !d.iter().any(|d| d.windows(24).any(|w| w == probe)),
                "{cipher}"
            );
        }
        let mut depay = link.depay(&[]);
        assert_frames(&push_all(&mut depay, &d, 9000), &sent, cipher);
        assert_eq!(stat(&depay, "sessions-started"), 1);
        assert_eq!(stat(&depay, "datagrams-unauthenticated"), 0);
        assert_eq!(stat(&depay, "frames-lost"), 0);
    }
}

#[test]
fn forged_and_plain_datagrams_give_nothing_and_create_no_state() {
    let link = Link::new();
    let real = datagrams(&mut link.pay("auto"), &frames(4, "real"));
    let mut rng = fastrand::Rng::with_seed(12);
    let mut depay = link.depay(&[]);
    let mut forged = Vec::new();
    for i in 0..2000 {
        // Valid headers: a real one (known session, fresh counters), or a
        // random session id; random ciphertext and tag.
        let mut d = real[i % real.len()][..34].to_vec();
        if i % 2 == 0 {
            rng.fill(&mut d[2..18]);
        }
        d[26..34].copy_from_slice(&(1000 + i as u64).to_be_bytes());
        let n = 17 + rng.usize(..1350);
        d.extend(random_bytes(&mut rng, n));
        forged.push(d);
    }
    // Plain S/C/E frames, as an attacker without the key would inject.
    let mut plain = harness_with("udpjpegpay", &[]);
    plain.set_src_caps_str("image/jpeg");
    plain.play();
    forged.extend(datagrams(&mut plain, &frames(4, "forged")));
    assert!(push_all(&mut depay, &forged, 9000).is_empty());
    eprintln!(
        "forged: {} datagrams; {}",
        forged.len(),
        seal_counts(&depay)
    );
    assert_eq!(
        stat(&depay, "datagrams-unauthenticated"),
        forged.len() as u64
    );
    assert_eq!(stat(&depay, "sessions"), 0, "no session from a forgery");
    assert_eq!(stat(&depay, "senders"), 0, "no sender entry from a forgery");
    assert_eq!(stat(&depay, "chunks-received"), 0);
    // The real stream after all that (once the budget for new sessions,
    // spent on forged ones, has filled again).
    std::thread::sleep(Duration::from_millis(40));
    assert_eq!(push_all(&mut depay, &real, 9000).len(), 4);
}

#[test]
fn empty_and_tiny_datagrams_are_dropped_with_a_key_and_without() {
    let link = Link::new();
    let tiny: Vec<Vec<u8>> = vec![vec![], vec![b'K'], vec![b'K'; 50], vec![b'S']];
    let mut keyed = link.depay(&[]);
    assert!(push_all(&mut keyed, &tiny, 9000).is_empty());
    assert_eq!(stat(&keyed, "datagrams-unauthenticated"), tiny.len() as u64);
    let mut plain = depay(&[]);
    assert!(push_all(&mut plain, &tiny, 9000).is_empty());
    assert_eq!(stat(&plain, "datagrams-sealed-no-key"), 2);
}

#[test]
fn every_single_bit_flip_of_a_sealed_datagram_is_refused() {
    let link = Link::new();
    for cipher in ["aes-256-gcm", "chacha20-poly1305"] {
        let frame = fake_jpeg(300, 1);
        let d = datagrams(&mut link.pay(cipher), std::slice::from_ref(&frame));
        assert_eq!(d.len(), 1);
        let mut depay = link.depay(&[]);
        let flips: Vec<Vec<u8>> = (0..d[0].len() * 8)
            .map(|bit| {
                let mut f = d[0].clone();
                f[bit / 8] ^= 1 << (bit % 8);
                f
            })
            .collect();
        assert!(
            push_all(&mut depay, &flips, 9000).is_empty(),
            "{cipher}, session unknown"
        );
        // The flips of the session id spent the budget for new sessions
        // (2,000 a second): the real one waits for it to fill again.
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(push_all(&mut depay, &d, 9000), vec![frame.clone()]);
        assert!(
            push_all(&mut depay, &flips, 9000).is_empty(),
            "{cipher}, session known"
        );
        let refused =
            stat(&depay, "datagrams-unauthenticated") + stat(&depay, "datagrams-replayed");
        eprintln!(
            "{cipher}: {} flips of a {}-byte datagram, twice: {refused} refused",
            flips.len(),
            d[0].len()
        );
        assert_eq!(
            refused,
            2 * flips.len() as u64,
            "{cipher}: {}",
            stats(&depay)
        );
        assert_eq!(stat(&depay, "sessions"), 1);
    }
}

#[test]
fn replays_inside_and_past_the_window_and_from_other_addresses_give_nothing() {
    let link = Link::new();
    let mut cam = link.pay("auto");
    let sent = frames(10, "live");
    let recorded = datagrams(&mut cam, &sent);
    let mut depay = link.depay(&[]);
    assert_frames(&push_all(&mut depay, &recorded, 9000), &sent, "first pass");
    // Inside the window, from the same and from another address.
    assert!(push_all(&mut depay, &recorded, 9000).is_empty());
    assert!(push_all(&mut depay, &recorded, 40_000).is_empty());
    assert_eq!(
        stat(&depay, "datagrams-replayed"),
        2 * recorded.len() as u64
    );
    // Past the window: more than 4,032 datagrams later (5 MB frames).
    let big: Vec<Vec<u8>> = (0..2).map(|i| fake_jpeg(3_000_000, i)).collect();
    let later = datagrams(&mut cam, &big);
    assert!(later.len() > 4032);
    assert_frames(&push_all(&mut depay, &later, 9000), &big, "5 MB frames");
    assert!(push_all(&mut depay, &recorded, 9000).is_empty());
    eprintln!(
        "replays: {} recorded datagrams, 3 times, after {} more; {}",
        recorded.len(),
        later.len(),
        seal_counts(&depay)
    );
    assert_eq!(stat(&depay, "senders"), 1, "a replay makes no sender entry");
}

#[test]
fn replays_interleaved_with_the_live_stream_never_re_emit_a_frame() {
    let link = Link::new();
    let mut cam = link.pay("auto");
    let first = frames(10, "first");
    let recorded = datagrams(&mut cam, &first);
    let mut depay = link.depay(&[]);
    assert_frames(&push_all(&mut depay, &recorded, 9000), &first, "first");
    let next = frames(10, "next");
    let live = datagrams(&mut cam, &next);
    let mut got = Vec::new();
    for (i, d) in live.iter().enumerate() {
        got.extend(push_all(&mut depay, std::slice::from_ref(d), 9000));
        got.extend(push_all(
            &mut depay,
            std::slice::from_ref(&recorded[i % recorded.len()]),
            9001,
        ));
    }
    assert_frames(
        &got,
        &next,
        "the live frames, each once, and nothing replayed",
    );
}

#[test]
fn a_restarted_receiver_refuses_old_sessions_with_max_session_age() {
    let link = Link::new();
    let sent = frames(3, "old");
    let recorded = datagrams(&mut link.pay("auto"), &sent);
    std::thread::sleep(Duration::from_millis(2100));
    // A new receiver (restarted) with max-session-age=1: refused.
    let mut strict = link.depay(&[("max-session-age", "1")]);
    assert!(push_all(&mut strict, &recorded, 9000).is_empty());
    assert_eq!(
        stat(&strict, "datagrams-session-too-old"),
        recorded.len() as u64
    );
    assert_eq!(stat(&strict, "sessions"), 0);
    // With it off (the default), the recording is taken as live: what the
    // README says it does.
    let mut open = link.depay(&[]);
    assert_frames(
        &push_all(&mut open, &recorded, 9000),
        &sent,
        "max-session-age off",
    );
    // A live session of the same age limit is taken.
    let live = frames(3, "live");
    let fresh = datagrams(&mut link.pay("auto"), &live);
    assert_frames(
        &push_all(&mut strict, &fresh, 9000),
        &live,
        "a live session",
    );
}

#[test]
fn many_recorded_sessions_cannot_push_out_the_live_one() {
    let link = Link::new();
    // Ten sessions recorded before the receiver heard anything, then two
    // that it hears, then the live one once those two are idle.
    let old: Vec<Vec<Vec<u8>>> = (0..10)
        .map(|i| datagrams(&mut link.pay("auto"), &frames(2, &format!("never {i}"))))
        .collect();
    let heard: Vec<Vec<Vec<u8>>> = (0..2)
        .map(|i| datagrams(&mut link.pay("auto"), &frames(2, &format!("heard {i}"))))
        .collect();
    let mut depay = link.depay(&[("max-senders", "2")]);
    for h in &heard {
        assert_eq!(push_all(&mut depay, h, 9000).len(), 2);
    }
    std::thread::sleep(Duration::from_millis(5200));
    let mut cam = link.pay("auto");
    let live = frames(20, "live");
    let live_datagrams = datagrams(&mut cam, &live);
    // Each recording whole, in order, from one address, two replayed
    // datagrams after each live one.
    let replays: Vec<Vec<u8>> = heard.iter().chain(&old).flatten().cloned().collect();
    let mut replayed = replays.chunks(2);
    let mut got = Vec::new();
    for d in &live_datagrams {
        got.extend(push_all(&mut depay, std::slice::from_ref(d), 9000));
        got.extend(push_all(
            &mut depay,
            replayed.next().unwrap_or_default(),
            9100,
        ));
    }
    got.extend(push_all(&mut depay, &replays, 9200));
    assert_frames(
        &got,
        &live,
        &format!("the live frames, each once; {}", stats(&depay)),
    );
    assert!(stat(&depay, "datagrams-replayed") > 0);
    assert!(stat(&depay, "sessions") <= 2);
    eprintln!(
        "{} sessions replayed ({} datagrams, twice) beside {} live frames; {}",
        old.len() + heard.len(),
        replays.len(),
        live.len(),
        seal_counts(&depay)
    );
}

#[test]
fn a_second_sender_with_another_key_gets_nothing_through() {
    let link = Link::new();
    let other_key = key_file(&link.dir, "other.key", 0x77);
    let intruder = datagrams(
        &mut pay(&[("key-file", &other_key)]),
        &frames(5, "intruder"),
    );
    let live = frames(5, "live");
    let real = datagrams(&mut link.pay("auto"), &live);
    let mut depay = link.depay(&[]);
    let mut got = Vec::new();
    for (i, d) in real.iter().enumerate() {
        got.extend(push_all(&mut depay, std::slice::from_ref(d), 9000));
        got.extend(push_all(
            &mut depay,
            &intruder[i % intruder.len()..][..1],
            9000,
        ));
    }
    got.extend(push_all(&mut depay, &intruder, 9000));
    assert_frames(&got, &live, "the live stream beside another key");
    assert!(stat(&depay, "datagrams-unauthenticated") >= intruder.len() as u64);
    assert_eq!(stat(&depay, "sessions"), 1);
}

#[test]
fn parity_recovers_sealed_frames_as_plain_ones() {
    let link = Link::new();
    let sent = frames(10, "parity");
    let mut cam = pay(&[("key-file", &link.key), ("fec-percent", "20")]);
    let d = datagrams(&mut cam, &sent);
    // Drop every tenth datagram: parity rebuilds the frames.
    let kept: Vec<Vec<u8>> = d
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 10 != 3)
        .map(|(_, d)| d.clone())
        .collect();
    let mut depay = link.depay(&[]);
    assert_frames(
        &push_all(&mut depay, &kept, 9000),
        &sent,
        &stats(&depay).to_string(),
    );
    assert!(stat(&depay, "frames-recovered") > 0);
}

/// The error `factory` with `props` posts going to PAUSED, which fails.
fn error_at_start(factory: &str, props: &[(&str, &str)]) -> String {
    let e = make(factory, props);
    let bus = gst::Bus::new();
    e.set_bus(Some(&bus));
    assert!(
        e.set_state(gst::State::Paused).is_err(),
        "{factory} {props:?}"
    );
    let msg = first_message(&bus, gst::MessageType::Error).expect("an error message");
    e.set_state(gst::State::Null).unwrap();
    match msg.view() {
        gst::MessageView::Error(err) => err.error().to_string(),
        _ => unreachable!("filtered on errors"),
    }
}

#[test]
fn key_settings_that_cannot_work_are_errors_naming_the_property() {
    let link = Link::new();
    let bad = key_file(&link.dir, "short.key", 0x11);
    std::fs::write(&bad, "abcd\n").unwrap();
    let hex = "ab".repeat(32);
    let says = |factory, props: &[(&str, &str)], what: &str| {
        let err = error_at_start(factory, props);
        assert!(err.contains(what), "{factory} {props:?}: {err}");
    };
    says("udpjpegpay", &[("key", "xyz")], "key property");
    says("udpjpegdepay", &[("key-file", &bad)], "key-file property");
    let missing = [("key-file", "/nonexistent/cam.key")];
    says(
        "udpjpegdepay",
        &missing,
        "cannot read the key file /nonexistent/cam.key",
    );
    let both = [("key", hex.as_str()), ("key-file", &link.key)];
    says("udpjpegpay", &both, "both key and key-file");
    let countdown = [
        ("key-file", link.key.as_str()),
        ("wire-format", "countdown"),
    ];
    says("udpjpegdepay", &countdown, "wire-format=sce");
    says("udpjpegpay", &countdown, "wire-format=sce");
}

#[test]
fn a_key_file_others_can_read_is_a_warning_and_still_works() {
    use std::os::unix::fs::PermissionsExt;
    let link = Link::new();
    let open = key_file(&link.dir, "open.key", 0x11);
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = make("udpjpegdepay", &[("key-file", &open)]);
    let bus = gst::Bus::new();
    e.set_bus(Some(&bus));
    e.set_state(gst::State::Paused).unwrap();
    let msg = first_message(&bus, gst::MessageType::Warning).expect("a warning");
    let gst::MessageView::Warning(w) = msg.view() else {
        unreachable!("filtered on warnings")
    };
    assert!(w.error().to_string().contains("chmod 600"), "{}", w.error());
    e.set_state(gst::State::Null).unwrap();
}

fn make(factory: &str, props: &[(&str, &str)]) -> gst::Element {
    init();
    let mut b = gst::ElementFactory::make(factory);
    for (k, v) in props {
        b = b.property_from_str(k, v);
    }
    b.build().unwrap()
}

#[test]
fn the_key_is_write_only_and_changes_only_in_null_or_ready() {
    let link = Link::new();
    let e = make("udpjpegpay", &[("key", &"cd".repeat(32))]);
    let pspec = e.find_property("key").unwrap();
    assert!(!pspec.flags().contains(gst::glib::ParamFlags::READABLE));
    assert!(pspec.flags().contains(gst::glib::ParamFlags::WRITABLE));
    e.set_property("key", None::<&str>);
    e.set_property("key-file", &link.key);
    e.set_state(gst::State::Paused).unwrap();
    e.set_property("key-file", "/elsewhere.key");
    assert_eq!(
        e.property::<Option<String>>("key-file").as_deref(),
        Some(link.key.as_str())
    );
    e.set_state(gst::State::Null).unwrap();
    e.set_property("key-file", "/elsewhere.key");
    assert_eq!(
        e.property::<Option<String>>("key-file").as_deref(),
        Some("/elsewhere.key")
    );
}

#[test]
fn without_a_key_a_sealed_stream_is_named_once_and_dropped() {
    let link = Link::new();
    let d = datagrams(&mut link.pay("auto"), &frames(3, "sealed"));
    let mut depay = depay(&[]);
    let bus = gst::Bus::new();
    depay.element().unwrap().set_bus(Some(&bus));
    assert!(push_all(&mut depay, &d, 9000).is_empty());
    assert_eq!(stat(&depay, "datagrams-sealed-no-key"), d.len() as u64);
    let warnings: Vec<_> =
        std::iter::from_fn(|| bus.pop_filtered(&[gst::MessageType::Warning])).collect();
    assert_eq!(warnings.len(), 1, "said once");
    let gst::MessageView::Warning(w) = warnings[0].view() else {
        unreachable!()
    };
    assert!(w.error().to_string().contains("key-file"), "{}", w.error());
}

/// The README's sealed-stream commands, run as written but for the
/// address, the port, the key file's folder and the video sink: the key
/// made by the shell line, the sender and the receiver pipelines.
#[test]
fn the_readme_sealed_stream_commands_run_as_written() {
    for f in [
        "videotestsrc",
        "jpegenc",
        "udpsrc",
        "udpsink",
        "jpegdec",
        "videoconvert",
    ] {
        require(f);
    }
    let readme = std::fs::read_to_string("README.md").unwrap();
    let section = readme
        .split("## Sealed streams: a key on both ends")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("the README has the sealed streams section");
    let make = section
        .lines()
        .find_map(|l| l.trim().strip_prefix("(or `")?.strip_suffix("`)."))
        .expect("the shell line that makes a key");
    let dir = TempDir::new("udpjpeg-readme-key");
    let made = std::process::Command::new("sh")
        .arg("-c")
        .arg(make)
        .current_dir(&dir.0)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{make}: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let key = dir.0.join("cam.key");
    let port = free_udp_port().to_string();
    let launch = |l: &str| {
        l.trim_start_matches("gst-launch-1.0 ")
            .replace("192.0.2.10", "127.0.0.1")
            .replace("port=5000", &format!("port={port}"))
            .replace("key-file=cam.key", &format!("key-file={}", key.display()))
            .replace("autovideosink", "fakesink")
    };
    let lines: Vec<&str> = section
        .lines()
        .filter(|l| l.starts_with("gst-launch-1.0 "))
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let receiver = PipelineGuard::playing(&launch(lines[1]));
    let _sender = PipelineGuard::playing(&launch(lines[0]));
    std::thread::sleep(Duration::from_secs(2));
    assert_no_error(&receiver, "receiver");
    let depay = receiver
        .downcast_ref::<gst::Bin>()
        .unwrap()
        .iterate_elements()
        .find(|e| e.factory().is_some_and(|f| f.name() == "udpjpegdepay"))
        .expect("the receiver has a udpjpegdepay");
    let stats = depay.property::<gst::Structure>("stats");
    assert!(
        stats.get::<u64>("frames-received").unwrap() >= 20,
        "{stats}"
    );
    assert_eq!(stats.get::<u64>("sessions-started").unwrap(), 1, "{stats}");
}

/// The key never reaches the elements' logs, at the most verbose level,
/// nor gst-inspect: set with `key=` (and with a file, whose digits are the
/// same), through a whole sealed run.
#[test]
fn the_key_never_appears_in_the_elements_logs_or_gst_inspect() {
    common::process::require_gst_launch();
    let hex = "c0ffee00".repeat(8);
    let dir = TempDir::new("udpjpeg-key-log");
    let file = dir.0.join("cam.key");
    std::fs::write(&file, &hex).unwrap();
    let line = format!(
        "videotestsrc num-buffers=10 ! jpegenc ! udpjpegpay key={hex} ! udpjpegdepay key-file={} \
         ! fakesink",
        file.display()
    );
    let out = std::process::Command::new("gst-launch-1.0")
        .args(line.split_whitespace())
        .env("GST_PLUGIN_PATH", common::process::plugin_dir())
        .env("GST_DEBUG", "udpjpegpay:9,udpjpegdepay:9")
        .env("GST_DEBUG_NO_COLOR", "1")
        .output()
        .unwrap();
    let log = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("Sealing: session"),
        "the log is verbose: {log}"
    );
    assert!(
        !log.to_lowercase().contains("c0ffee00"),
        "the key is in the log"
    );
    for element in ["udpjpegpay", "udpjpegdepay"] {
        let inspect = std::process::Command::new("gst-inspect-1.0")
            .arg(element)
            .env("GST_PLUGIN_PATH", common::process::plugin_dir())
            .output()
            .unwrap();
        let shown = text(&inspect.stdout);
        assert!(
            shown.contains("Write only"),
            "{element}: the key is write-only"
        );
    }
}

/// `source=first` locks onto the first address whose datagram
/// authenticates: forgeries from another address, sent first, take nothing.
#[test]
fn forgeries_sent_first_do_not_take_the_source_first_lock() {
    let link = Link::new();
    let mut other = pay(&[("key-file", &key_file(&link.dir, "other.key", 0x33))]);
    let forged = datagrams(&mut other, &frames(2, "forged"));
    let live = frames(3, "live");
    let real = datagrams(&mut link.pay("auto"), &live);
    let mut depay = link.depay(&[("source", "first")]);
    assert!(push_all(&mut depay, &forged, 7000).is_empty());
    let from = |d: &[u8]| {
        let mut b = gst::Buffer::from_slice(d.to_vec());
        let addr = gio::InetSocketAddress::from_string("127.0.0.2", 9000).unwrap();
        gst_net::NetAddressMeta::add(b.get_mut().unwrap(), &addr);
        b
    };
    let mut got = Vec::new();
    for d in &real {
        depay.push(from(d)).unwrap();
        got.extend(pull_all(&mut depay).iter().map(|b| bytes(b)));
    }
    assert_frames(
        &got,
        &live,
        "the real sender, from another address, is taken",
    );
    assert_eq!(
        stat(&depay, "datagrams-rejected"),
        0,
        "nothing was refused by the lock"
    );
}

/// `session-lifetime`: a new session (new id) between frames once the
/// last is that old; the receiver takes it at once, and no frame is lost.
#[test]
fn a_new_session_starts_after_session_lifetime() {
    let link = Link::new();
    let mut cam = pay(&[("key-file", &link.key), ("session-lifetime", "1")]);
    let sent = frames(3, "lifetime");
    let mut d = datagrams(&mut cam, &sent[..2]);
    std::thread::sleep(Duration::from_millis(1100));
    let after = datagrams(&mut cam, &sent[2..]);
    assert_ne!(d[0][2..18], after[0][2..18], "a new session id");
    d.extend(after);
    let mut depay = link.depay(&[]);
    assert_frames(&push_all(&mut depay, &d, 9000), &sent, "both sessions");
    assert_eq!(stat(&depay, "sessions-started"), 2);
}
