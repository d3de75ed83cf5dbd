// SPDX-License-Identifier: MPL-2.0
//! Receives live JPEG video over UDP with `udpjpegdepay`.
//!
//! ```text
//! udpsrc address=A port=P reuse=false ! udpjpegdepay wire-format=X
//!   ! queue ! jpegdec ! videoconvert ! autovideosink    (a display exists)
//!   ! multifilesink location=DIR/frame-%05d.jpg         (otherwise, or --output-dir)
//! ```
//!
//! Prints one line of statistics a second. Ctrl+C or `--duration` ends the
//! stream cleanly.
//!
//! Usage: `cargo run --example receiver -- --port 5000 --output-dir frames`
//! (`--help` for every flag).

mod common;
#[path = "common/key.rs"]
mod key;

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use gst::prelude::*;

use common::{Stats, WireFormat};

/// Receives live JPEG video over UDP with udpjpegdepay.
#[derive(Parser)]
#[command(
    name = "receiver",
    after_help = "\
The picture is shown in a window when DISPLAY or WAYLAND_DISPLAY is set and
--output-dir is not given. One statistics line is printed a second. Ctrl+C
(or --duration) sends end-of-stream and exits with a summary; a second Ctrl+C
quits at once."
)]
struct Cli {
    /// UDP port to listen on
    #[arg(long, value_name = "N", default_value_t = 5000,
          value_parser = clap::value_parser!(u16).range(1..))]
    port: u16,
    /// Local IP address to bind, or a multicast group (0.0.0.0: every
    /// interface)
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0")]
    address: IpAddr,
    /// Wire format, as the sender uses
    #[arg(long, value_name = "F", value_enum, default_value_t = WireFormat::Sce)]
    wire_format: WireFormat,
    /// Write each frame as DIR/frame-NNNNN.jpg instead of showing it
    /// (default when there is no display: received-frames)
    #[arg(long, value_name = "DIR")]
    output_dir: Option<PathBuf>,
    /// Stop after this long (0 = until Ctrl+C)
    #[arg(long, value_name = "SECONDS", default_value = "0", value_parser = common::seconds)]
    duration: Duration,
    /// Take only datagrams sealed with the key in FILE (as the sender's
    /// --key-file)
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
    /// With --key-file: refuse sessions that started longer ago than this
    /// many seconds (sender and receiver clocks synced; 0 = off)
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 0,
        requires = "key_file"
    )]
    max_session_age: u32,
}

const DEFAULT_OUTPUT_DIR: &str = "received-frames";

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

/// Whether to show the frames in a window rather than write them.
fn show_in_window(cli: &Cli) -> bool {
    if cli.output_dir.is_some() || !common::has_display() {
        return false;
    }
    common::demote_console_sinks();
    let works = window_sink_works();
    if !works {
        eprintln!(
            "warning: no window can be opened on this display (install gstreamer1.0-x?); \
             writing frames to files instead"
        );
    }
    works
}

/// Where the frames go: a window, or files in a folder.
enum Output {
    Window,
    Files { dir: PathBuf, sink: gst::Element },
}

impl Output {
    /// The elements after the depayloader.
    fn choose(cli: &Cli) -> (Output, Vec<gst::Element>) {
        if show_in_window(cli) {
            let sink = common::make("autovideosink");
            // Show each frame as it arrives: its timestamp is when its last
            // datagram arrived, and a syncing sink would hold it for the
            // pipeline's latency (the sink's 20 ms processing deadline).
            sink.set_property("sync", false);
            let elements = ["queue", "jpegdec", "videoconvert"].map(common::make);
            return (Output::Window, [&elements[..], &[sink]].concat());
        }
        let dir = cli
            .output_dir
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
        (
            Output::Files {
                dir,
                sink: sink.clone(),
            },
            vec![sink],
        )
    }

    fn describe(&self) -> String {
        match self {
            Output::Files { dir, .. } => {
                format!("writing frames to {}/frame-NNNNN.jpg", dir.display())
            }
            Output::Window => "showing frames in a window".to_string(),
        }
    }
}

/// Turns a bus error into one line with a hint where there is one.
fn explainer(cli: &Cli) -> impl Fn(&gst::message::Error) -> String + 'static {
    let (port, address) = (cli.port, cli.address);
    move |err| {
        let debug = common::debug_of(err);
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
                common::last_debug_line(err)
            )
        } else if factory == "multifilesink" {
            format!(
                "error: cannot write frames: {} ({}); pick another --output-dir",
                err.error(),
                common::last_debug_line(err)
            )
        } else {
            common::describe(err)
        }
    }
}

/// Counters read from the depayloader's `stats` at one instant.
#[derive(Clone, Copy)]
struct Sample {
    at: Instant,
    frames: u64,
    lost: u64,
    bytes: u64,
    /// Datagrams the seal refused (forged, another key, replayed, too old).
    refused: u64,
}

impl Sample {
    fn take(depay: &gst::Element) -> Self {
        let stats = Stats::of(depay);
        Sample {
            at: Instant::now(),
            frames: stats.get("frames-received"),
            lost: stats.get("frames-lost"),
            bytes: stats.get("bytes-received"),
            refused: [
                "unauthenticated",
                "replayed",
                "session-too-old",
                "session-no-room",
            ]
            .iter()
            .map(|f| stats.get(&format!("datagrams-{f}")))
            .sum(),
        }
    }
}

/// Prints one statistics line a second: totals and the rates since the last.
fn stats_printer(depay: &gst::Element) -> impl FnMut() + 'static {
    let depay = depay.clone();
    let mut last = Sample::take(&depay);
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
}

fn main() {
    let cli: Cli = common::parse_args();
    common::init();

    let src = common::make("udpsrc");
    src.set_property("address", cli.address.to_string());
    src.set_property("port", i32::from(cli.port));
    // A port already taken must be an error, not a shared socket.
    src.set_property("reuse", false);
    let depay = common::make("udpjpegdepay");
    depay.set_property_from_str("wire-format", cli.wire_format.nick());
    key::use_key_file(&depay, cli.key_file.as_deref());
    depay.set_property("max-session-age", cli.max_session_age);
    let (output, tail) = Output::choose(&cli);
    let pipeline = common::pipeline(&[&[src, depay.clone()][..], &tail].concat());

    let message = format!(
        "listening on {}:{} (wire-format {}{}); {}{}",
        cli.address,
        cli.port,
        cli.wire_format,
        key::sealed_with(cli.key_file.as_deref()),
        output.describe(),
        common::until(cli.duration)
    );
    let started = Sample::take(&depay);
    let tick = stats_printer(&depay);
    let (ending, end) = common::run(
        &pipeline,
        cli.duration,
        &message,
        explainer(&cli),
        tick,
        || Sample::take(&depay),
    );
    let secs = end.at.duration_since(started.at).as_secs_f64();
    let mut summary = format!(
        "received {} frames ({} bytes) in {secs:.1} s; {} lost",
        end.frames, end.bytes, end.lost
    );
    if cli.key_file.is_some() {
        summary += &format!("; {} datagrams refused by the seal", end.refused);
    }
    if let Output::Files { dir, sink } = &output {
        let written = sink.property::<i32>("index");
        summary += &format!("; wrote {written} files to {}", dir.display());
    }
    ending.print_summary(&summary, end.frames > 0);
    std::process::exit(ending.exit_code());
}
