// SPDX-License-Identifier: MPL-2.0
//! Section 6: sealed streams. 6: sealed pay + depay in memory at 1080p,
//! mtu 1400, with each cipher, beside ours unsealed and the stock RTP pair.
//! 6b: the receiver's cost per datagram it opens against its cost per
//! forged datagram it refuses.

use std::time::{Duration, Instant};

use crate::Config;
use crate::frames::FrameSet;
use crate::harness::{
    appsrc_to_fakesink, frame_pts, launch, median, queue_all, set_state, stamped, wait_eos,
};
use crate::pay_depay::{Run, run_chain, summary};
use crate::table::{Section, f0, ratio};

/// A key file for the run, removed on drop.
struct KeyFile(std::path::PathBuf);

impl KeyFile {
    fn new() -> KeyFile {
        use std::os::unix::fs::PermissionsExt;
        let path = std::env::temp_dir().join(format!("udpjpeg-bench-{}.key", std::process::id()));
        std::fs::write(&path, "5a".repeat(32)).expect("write the bench key");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        KeyFile(path)
    }

    fn prop(&self) -> String {
        format!("key-file={}", self.0.display())
    }
}

impl Drop for KeyFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub fn sections(cfg: &Config, hd: &FrameSet) -> Vec<Section> {
    let key = KeyFile::new();
    vec![
        pay_depay_section(cfg, hd, &key),
        cost_section(cfg, hd, &key),
    ]
}

/// The rows of section 6: label and chain.
fn chains(key: &KeyFile) -> Vec<(&'static str, String)> {
    let k = key.prop();
    vec![
        (
            "ours, unsealed",
            "udpjpegpay burst-size=0 mtu=1400 ! udpjpegdepay".into(),
        ),
        (
            "ours, sealed AES-256-GCM",
            format!("udpjpegpay burst-size=0 mtu=1400 {k} cipher=aes-256-gcm ! udpjpegdepay {k}"),
        ),
        (
            "ours, sealed ChaCha20-Poly1305",
            format!(
                "udpjpegpay burst-size=0 mtu=1400 {k} cipher=chacha20-poly1305 ! udpjpegdepay {k}"
            ),
        ),
        (
            "stock RTP pair",
            "rtpjpegpay mtu=1400 ! rtpjpegdepay".into(),
        ),
    ]
}

fn pay_depay_section(cfg: &Config, hd: &FrameSet, key: &KeyFile) -> Section {
    let cases = chains(key);
    let count = ((cfg.bytes_per_round as f64 / hd.mean_size()) as usize).max(100);
    let mut runs: Vec<Vec<Run>> = cases.iter().map(|_| Vec::new()).collect();
    for round in 0..cfg.rounds {
        eprintln!("sealed pay+depay round {}/{} ...", round + 1, cfg.rounds);
        for (k, (_, chain)) in cases.iter().enumerate() {
            runs[k].push(run_chain(chain, hd, count));
        }
    }
    let rtp_fps = summary(runs.last().expect("the RTP row")).0;
    let mut sec = Section::new(
        "6. Sealed pay + depay in memory",
        "`appsrc ! udpjpegpay burst-size=0 mtu=1400 [key-file=K cipher=C] ! udpjpegdepay \
         [key-file=K] ! fakesink` at 1920x1080 against the stock RTP pair, frames held in \
         memory, medians of the rounds. The seal takes 50 bytes of each datagram: 1,345 \
         payload bytes instead of 1,395. \"out/in\" counts frames at the sink, all rounds; \
         ours must return every byte.",
        &["pair", "fps", "MB/s", "out/in", "vs RTP"],
    );
    for ((label, _), r) in cases.iter().zip(&runs) {
        let (fps, mbs, out) = summary(r);
        let out = if label.starts_with("stock") {
            out.replace(" (bytes differ)", "")
        } else {
            out
        };
        sec.row(vec![
            (*label).into(),
            f0(fps),
            f0(mbs),
            out,
            ratio(fps, rtp_fps),
        ]);
    }
    sec
}

/// The datagrams `props` make of `count` frames of `set`.
fn datagrams(set: &FrameSet, props: &str, count: usize) -> Vec<gst::Buffer> {
    let pipeline = launch(&format!(
        "appsrc name=src format=time max-bytes=0 ! udpjpegpay burst-size=0 mtu=1400 {props} \
         ! appsink name=sink sync=false max-buffers=0"
    ));
    let src: gst_app::AppSrc = crate::harness::element(&pipeline, "src");
    src.set_caps(Some(&set.caps()));
    let sink: gst_app::AppSink = crate::harness::element(&pipeline, "sink");
    queue_all(
        &src,
        (0..count).map(|i| stamped(&set.frames[i % set.frames.len()], frame_pts(i, 30))),
    );
    set_state(&pipeline, gst::State::Playing);
    let mut out = Vec::new();
    while let Ok(sample) = sink.pull_sample() {
        out.push(sample.buffer_owned().expect("a datagram"));
    }
    set_state(&pipeline, gst::State::Null);
    out
}

/// `d` with its bytes changed by `f`.
fn altered(d: &gst::Buffer, f: impl FnOnce(&mut [u8])) -> gst::Buffer {
    let mut bytes = d.map_readable().unwrap().to_vec();
    f(&mut bytes);
    gst::Buffer::from_mut_slice(bytes)
}

/// Seconds `udpjpegdepay {props}` takes for `datagrams`, queued beforehand.
fn depay_secs(datagrams: &[gst::Buffer], props: &str) -> f64 {
    let caps = gst::Caps::new_empty_simple("application/x-udpjpeg");
    let (pipeline, src, _sink) = appsrc_to_fakesink(&format!("udpjpegdepay {props}"), &caps);
    set_state(&pipeline, gst::State::Ready);
    // Copies of their own, as udpsrc's are: opened where they are.
    queue_all(
        &src,
        datagrams
            .iter()
            .map(|d| d.copy_deep().expect("copy a datagram")),
    );
    let start = Instant::now();
    set_state(&pipeline, gst::State::Playing);
    wait_eos(&pipeline, Duration::from_secs(300));
    let secs = start.elapsed().as_secs_f64();
    set_state(&pipeline, gst::State::Null);
    secs
}

/// The inputs of section 6b: label, datagrams, depayloader properties.
fn cost_cases(
    set: &FrameSet,
    key: &KeyFile,
    frames: usize,
) -> Vec<(&'static str, Vec<gst::Buffer>, String)> {
    let k = key.prop();
    let genuine = datagrams(set, &format!("{k} cipher=aes-256-gcm"), frames);
    let mut rng = fastrand::Rng::with_seed(6);
    let unknown = genuine
        .iter()
        .map(|d| altered(d, |b| rng.fill(&mut b[2..18])))
        .collect();
    // The first datagram makes the session known; the rest fail their tag.
    let known = std::iter::once(genuine[0].clone())
        .chain(
            genuine[1..]
                .iter()
                .map(|d| altered(d, |b| *b.last_mut().unwrap() ^= 1)),
        )
        .collect();
    let plain = datagrams(set, "", frames);
    vec![
        ("sealed, accepted (AES-256-GCM)", genuine, k.clone()),
        (
            "forged, unknown sessions (a flood): refused",
            unknown,
            k.clone(),
        ),
        ("forged, known session, bad tag: refused", known, k),
        ("plain, no key (reference)", plain, String::new()),
    ]
}

fn cost_section(cfg: &Config, hd: &FrameSet, key: &KeyFile) -> Section {
    let frames = (cfg.bytes_per_round / 4 / hd.mean_size() as usize).max(50);
    let cases = cost_cases(hd, key, frames);
    let mut ns: Vec<Vec<f64>> = cases.iter().map(|_| Vec::new()).collect();
    for round in 0..cfg.rounds {
        eprintln!("receiver cost round {}/{} ...", round + 1, cfg.rounds);
        for (k, (_, datagrams, props)) in cases.iter().enumerate() {
            ns[k].push(depay_secs(datagrams, props) * 1e9 / datagrams.len() as f64);
        }
    }
    let accepted = median(&ns[0]);
    let mut sec = Section::new(
        "6b. Receiver cost per datagram, accepted and refused",
        "`appsrc ! udpjpegdepay key-file=K ! fakesink` fed the datagrams of 1920x1080 frames \
         (mtu 1400), queued beforehand: genuine sealed ones (each frame whole, copied out), \
         the same with a random session id each (a flood of forged sessions: the receiver \
         tries 64 at once and 2,000 a second, deriving a key and failing to open, and drops \
         the rest untried), and with a bad tag in a known session (it fails to open with the \
         session's key); plain datagrams to a receiver without a key for reference. Each \
         datagram a copy of its own, as udpsrc's are. Nanoseconds per datagram, appsrc's \
         own cost included, medians.",
        &["datagrams", "count", "ns per datagram", "vs accepted"],
    );
    for ((label, datagrams, _), t) in cases.iter().zip(&ns) {
        let t = median(t);
        sec.row(vec![
            (*label).into(),
            datagrams.len().to_string(),
            f0(t),
            ratio(t, accepted),
        ]);
    }
    sec
}
