//! Receives live JPEG video over UDP with `udpjpegdepay`.
//!
//! ```text
//! udpsrc address=A port=P reuse=false ! udpjpegdepay wire-format=X
//!   ! jpegdec ! videoconvert ! autovideosink            (a display exists)
//!   ! multifilesink location=DIR/frame-%05d.jpg         (otherwise, or --output-dir)
//! ```
//!
//! Prints one line of statistics a second. Ctrl+C or `--duration` ends the
//! stream cleanly.
//!
//! Run with `cargo run --example receiver -- --help`.

mod common;

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use gst::prelude::*;

use common::{Args, Ending};

const USAGE: &str = "[--port N] [--address ADDR] [--wire-format sce|countdown] \
                     [--output-dir DIR] [--duration SECONDS]";

const HELP: &str = "\
Receives live JPEG video over UDP with udpjpegdepay.

Options:
  --port N              UDP port to listen on (default 5000)
  --address ADDR        local IP address to bind, or a multicast group
                        (default 0.0.0.0, every interface)
  --wire-format F       sce (default) or countdown, as the sender uses
  --output-dir DIR      write each frame as DIR/frame-NNNNN.jpg instead of showing
                        it (default when there is no display: received-frames)
  --duration SECONDS    stop after this long (default 0 = until Ctrl+C)
  -h, --help            show this help

The picture is shown in a window when DISPLAY or WAYLAND_DISPLAY is set and
--output-dir is not given. One statistics line is printed a second. Ctrl+C
(or --duration) sends end-of-stream and exits with a summary; a second Ctrl+C
quits at once.";

const DEFAULT_OUTPUT_DIR: &str = "received-frames";

struct Options {
    port: u16,
    address: String,
    wire_format: String,
    output_dir: Option<PathBuf>,
    duration: Option<Duration>,
}

fn parse_args(args: &mut Args) -> Options {
    let mut o = Options {
        port: 5000,
        address: "0.0.0.0".to_string(),
        wire_format: "sce".to_string(),
        output_dir: None,
        duration: None,
    };
    while let Some((flag, inline)) = args.next_flag() {
        match flag.as_str() {
            "--help" => {
                println!("usage: receiver {USAGE}\n\n{HELP}");
                std::process::exit(0);
            }
            "--port" => o.port = args.number(&flag, inline, 1..=65535),
            "--address" => {
                let text = args.value(&flag, inline);
                if text.parse::<IpAddr>().is_err() {
                    args.fail(format_args!(
                        "--address expects an IP address such as 0.0.0.0 or 127.0.0.1, \
                         not '{text}'"
                    ));
                }
                o.address = text;
            }
            "--wire-format" => o.wire_format = args.wire_format(&flag, inline),
            "--output-dir" => {
                let dir = args.value(&flag, inline);
                if dir.is_empty() {
                    args.fail("--output-dir needs a folder name");
                }
                o.output_dir = Some(PathBuf::from(dir));
            }
            "--duration" => o.duration = args.seconds(&flag, inline),
            _ => args.unknown(&flag),
        }
    }
    o
}

/// Whether `autovideosink` finds a sink that opens a window here: with none
/// it quietly falls back to a fakesink.
fn window_sink_works() -> bool {
    let probe = common::make("autovideosink");
    let works = probe.set_state(gst::State::Ready).is_ok()
        && probe.downcast_ref::<gst::Bin>().is_some_and(|bin| {
            let kids = bin.children();
            !kids.is_empty()
                && kids
                    .iter()
                    .all(|k| k.factory().is_none_or(|f| f.name() != "fakesink"))
        });
    let _ = probe.set_state(gst::State::Null);
    works
}

fn has_display() -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
}

/// Counters read from the depayloader's `stats` at one instant.
#[derive(Clone, Copy)]
struct Sample {
    at: Instant,
    frames: u64,
    lost: u64,
    bytes: u64,
}

impl Sample {
    fn take(depay: &gst::Element) -> Self {
        let s = depay.property::<gst::Structure>("stats");
        let get = |name: &str| s.get::<u64>(name).unwrap_or(0);
        Sample {
            at: Instant::now(),
            frames: get("frames-received"),
            lost: get("frames-lost"),
            bytes: get("bytes-received"),
        }
    }
}

fn main() {
    let mut args = Args::from_env("receiver", USAGE);
    let o = parse_args(&mut args);
    common::init();

    let src = common::make("udpsrc");
    src.set_property("address", &o.address);
    src.set_property("port", i32::from(o.port));
    // A port already taken must be an error, not a shared socket.
    src.set_property("reuse", false);
    let depay = common::make("udpjpegdepay");
    depay.set_property_from_str("wire-format", &o.wire_format);

    let mut elements = vec![src, depay.clone()];
    let show = o.output_dir.is_none() && has_display() && {
        // autovideosink tries these when no window opens (a stale DISPLAY, a
        // container): DirectFB crashes there and KMS takes over the console.
        for name in ["dfbvideosink", "kmssink", "fbdevsink"] {
            if let Some(f) = gst::Registry::get().lookup_feature(name) {
                f.set_rank(gst::Rank::NONE);
            }
        }
        let works = window_sink_works();
        if !works {
            eprintln!(
                "warning: no window can be opened on this display (install gstreamer1.0-x?); \
                 writing frames to files instead"
            );
        }
        works
    };
    let output_dir = match (&o.output_dir, show) {
        (None, true) => {
            let sink = common::make("autovideosink");
            // Show each frame as it arrives: its timestamp is when its first
            // datagram arrived, already behind the clock.
            sink.set_property("sync", false);
            elements.extend([
                common::make("queue"),
                common::make("jpegdec"),
                common::make("videoconvert"),
                sink,
            ]);
            None
        }
        (dir, _) => {
            let dir = dir
                .clone()
                .unwrap_or_else(|| PathBuf::from(DEFAULT_OUTPUT_DIR));
            if let Err(err) = std::fs::create_dir_all(&dir) {
                eprintln!(
                    "error: cannot create the folder {}: {err}; pick another with --output-dir",
                    dir.display()
                );
                std::process::exit(1);
            }
            let sink = common::make("multifilesink");
            sink.set_property("location", dir.join("frame-%05d.jpg"));
            elements.push(sink.clone());
            Some((dir, sink))
        }
    };
    let pipeline = common::pipeline(&elements);

    let started_msg = format!(
        "listening on {}:{} (wire-format {}); {}{}",
        o.address,
        o.port,
        o.wire_format,
        match &output_dir {
            Some((dir, _)) => format!("writing frames to {}/frame-NNNNN.jpg", dir.display()),
            None => "showing frames in a window".to_string(),
        },
        match o.duration {
            Some(d) => format!(" for {} s", d.as_secs_f64()),
            None => "; Ctrl+C to stop".to_string(),
        }
    );

    let (port, address) = (o.port, o.address.clone());
    let explain = move |err: &gst::message::Error| {
        let debug = err.debug().map(|d| d.to_string()).unwrap_or_default();
        let factory = common::factory_of(err);
        if factory == "udpsrc" && debug.contains("Address already in use") {
            format!("error: UDP port {port} is already in use; pick another with --port")
        } else if factory == "udpsrc" && debug.contains("Cannot assign requested address") {
            format!(
                "error: {address} is not an address of this machine; use --address 0.0.0.0 \
                 or one of its own"
            )
        } else if factory == "udpsrc" && debug.contains("bind") {
            format!(
                "error: cannot listen on {address}:{port} ({}); pick another --port or --address",
                debug.lines().last().unwrap_or_default().trim()
            )
        } else if factory == "multifilesink" {
            format!(
                "error: cannot write frames: {} ({}); pick another --output-dir",
                err.error(),
                debug.lines().last().unwrap_or_default().trim()
            )
        } else {
            common::describe(err)
        }
    };

    let started = Sample::take(&depay);
    let mut last = started;
    let tick = {
        let depay = depay.clone();
        move || {
            let now = Sample::take(&depay);
            let secs = now.at.duration_since(last.at).as_secs_f64().max(1e-3);
            println!(
                "stats: {} frames received, {} lost, {:.1} fps, {:.0} kbit/s",
                now.frames,
                now.lost,
                now.frames.saturating_sub(last.frames) as f64 / secs,
                now.bytes.saturating_sub(last.bytes) as f64 * 8.0 / 1000.0 / secs,
            );
            last = now;
        }
    };
    let ending = common::run(&pipeline, o.duration, &started_msg, explain, tick);

    let end = Sample::take(&depay);
    let secs = end.at.duration_since(started.at).as_secs_f64();
    let mut summary = format!(
        "received {} frames ({} bytes) in {secs:.1} s; {} lost",
        end.frames, end.bytes, end.lost
    );
    if let Some((dir, sink)) = &output_dir {
        let written = sink.property::<i32>("index");
        summary += &format!("; wrote {written} files to {}", dir.display());
    }
    match ending {
        Ending::Error if end.frames > 0 => eprintln!("{summary}"),
        Ending::Error => {}
        _ => println!("{summary}"),
    }
    std::process::exit(ending.exit_code());
}
