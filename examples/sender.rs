// SPDX-License-Identifier: MPL-2.0
//! Sends live JPEG video over UDP with `udpjpegpay`.
//!
//! ```text
//! videotestsrc is-live=true | v4l2src device=...
//!   ! videoconvert ! videoscale ! video/x-raw,format=I420,width=W,height=H,framerate=F/1
//!   ! jpegenc quality=Q ! udpjpegpay mtu=M wire-format=X ! udpsink host=H port=P
//! ```
//!
//! A camera that offers `image/jpeg` at the requested size and rate is asked
//! for it directly (no decoding and encoding again); otherwise its raw video
//! is scaled and encoded. Ctrl+C or `--duration` ends the stream cleanly.
//!
//! With `--area FILE` (four corners saved by the `area_picker` example) only
//! that part of the picture is sent, stretched to the whole frame: the stock
//! `perspective` element goes before `jpegenc`, with the matrix that maps the
//! output rectangle onto the quadrilateral.
//!
//! With `--key-file FILE` every datagram is sealed (encrypted and
//! authenticated); `--make-key FILE` writes a new key.
//!
//! Usage: `cargo run --example sender -- --host 127.0.0.1 --port 5000`
//! (`--help` for every flag).

#[path = "common/area.rs"]
mod area;
mod common;
#[path = "common/key.rs"]
mod key;

use std::net::ToSocketAddrs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use gst::glib;
use gst::prelude::*;
use gstudpjpeg::wire::{MAX_MTU, MIN_MTU};

use common::{Stats, WireFormat};

/// Sends live JPEG video over UDP with udpjpegpay.
#[derive(Parser)]
#[command(
    name = "sender",
    after_help = "\
Ctrl+C (or --duration) sends end-of-stream and exits with a summary; a second
Ctrl+C quits at once."
)]
struct Cli {
    /// Where to send (name or IP, multicast allowed)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1", value_parser = host)]
    host: String,
    /// UDP port to send to
    #[arg(long, value_name = "N", default_value_t = 5000,
          value_parser = clap::value_parser!(u16).range(1..))]
    port: u16,
    /// Size of each datagram, header included
    #[arg(long, value_name = "BYTES", default_value_t = 1400,
          value_parser = clap::value_parser!(u32).range(MIN_MTU as i64..=MAX_MTU as i64))]
    mtu: u32,
    /// Wire format; the receiver must use the same
    #[arg(long, value_name = "F", value_enum, default_value_t = WireFormat::Sce)]
    wire_format: WireFormat,
    /// Capture from this V4L2 camera, e.g. /dev/video0
    #[arg(long, value_name = "PATH", conflicts_with_all = ["test_pattern", "pattern"])]
    device: Option<String>,
    /// Send a generated test picture instead (the default)
    #[arg(long)]
    test_pattern: bool,
    /// videotestsrc pattern for --test-pattern: ball, smpte, snow, ...
    #[arg(long, value_name = "NAME", default_value = "ball")]
    pattern: String,
    /// Frame width in pixels
    #[arg(long, value_name = "N", default_value_t = 640,
          value_parser = common::picture_side())]
    width: u32,
    /// Frame height in pixels
    #[arg(long, value_name = "N", default_value_t = 360,
          value_parser = common::picture_side())]
    height: u32,
    /// Frames per second
    #[arg(long, value_name = "N", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=240))]
    fps: u32,
    /// JPEG quality 0-100 (not used when the camera sends JPEG itself)
    #[arg(long, value_name = "Q", default_value_t = 85,
          value_parser = clap::value_parser!(u32).range(0..=100))]
    quality: u32,
    /// Send only the area whose four corners are in FILE (JSON written by
    /// the area_picker example), straightened out to the whole frame (needs
    /// gstreamer1.0-plugins-bad)
    #[arg(long, value_name = "FILE")]
    area: Option<PathBuf>,
    /// Stop after this long (0 = until Ctrl+C)
    #[arg(long, value_name = "SECONDS", default_value = "0", value_parser = common::seconds)]
    duration: Duration,
    /// Seal every datagram with the key in FILE (the receiver needs the
    /// same file); make one with --make-key
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
    /// Cipher for --key-file: auto, aes-256-gcm or chacha20-poly1305
    #[arg(long, value_name = "C", default_value = "auto", requires = "key_file",
          value_parser = ["auto", "aes-256-gcm", "chacha20-poly1305"])]
    cipher: String,
    /// Write a new key to FILE (64 hex digits, readable by you only) and exit
    #[arg(long, value_name = "FILE", exclusive = true)]
    make_key: Option<PathBuf>,
}

/// `--make-key FILE`: writes the key, says what next, exits.
fn make_key_and_exit(file: &std::path::Path) -> ! {
    match key::make_key(file) {
        Ok(()) => {
            println!(
                "wrote a new key to {f}; copy it to the receiver (scp, not e-mail) and run \
                 both ends with --key-file {f}",
                f = file.display()
            );
            std::process::exit(0)
        }
        Err(err) => {
            eprintln!("error: {err}");
            std::process::exit(1)
        }
    }
}

/// `--host`: a name or address that resolves.
fn host(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Err("needs a host name or address".to_string());
    }
    match (text, 0).to_socket_addrs() {
        Ok(_) => Ok(text.to_string()),
        Err(err) => Err(format!("cannot resolve it: {err}")),
    }
}

enum Source {
    Camera(String),
    TestPattern(String),
}

impl Cli {
    fn source(&self) -> Source {
        match &self.device {
            Some(device) => Source::Camera(device.clone()),
            None => Source::TestPattern(self.pattern.clone()),
        }
    }
}

/// The area file and the area in it; a file that cannot be read or used
/// ends the program with a line saying what to do.
fn read_area(file: &std::path::Path) -> area::Area {
    let shown = file.display();
    let text = std::fs::read_to_string(file).unwrap_or_else(|err| {
        eprintln!(
            "error: cannot read the area file {shown}: {err}; pick four corners with \
             `cargo run --example area_picker -- --area {shown}`"
        );
        std::process::exit(1);
    });
    area::Area::from_json(&text).unwrap_or_else(|err| {
        eprintln!("error: the area file {shown} is not usable: {err}");
        std::process::exit(1);
    })
}

/// `videoconvert ! perspective matrix=... ! videoconvert`: shows, on the
/// whole `width` x `height` frame, the area of the picture inside the
/// corners. The `perspective` matrix maps each output pixel to the input
/// pixel it shows (output to input).
fn straighten(area: &area::Area, width: u32, height: u32) -> Vec<gst::Element> {
    if gst::ElementFactory::find("perspective").is_none() {
        eprintln!(
            "error: the GStreamer element 'perspective' is missing (needed by --area); \
             install gstreamer1.0-plugins-bad"
        );
        std::process::exit(1);
    }
    let matrix = area.output_to_input(width, height).unwrap_or_else(|err| {
        eprintln!("error: --area: {err}");
        std::process::exit(1);
    });
    let perspective = common::make("perspective");
    perspective.set_property("matrix", glib::ValueArray::new(matrix));
    vec![
        common::make("videoconvert"),
        perspective,
        common::make("videoconvert"),
    ]
}

/// What the capture part of the pipeline is made of, from the options.
struct Capture<'a> {
    cli: &'a Cli,
    area: Option<&'a area::Area>,
}

impl Capture<'_> {
    fn raw_caps(&self) -> gst::Caps {
        gst::Caps::builder("video/x-raw")
            .field("format", "I420")
            .field("width", self.cli.width as i32)
            .field("height", self.cli.height as i32)
            .field("framerate", gst::Fraction::new(self.cli.fps as i32, 1))
            .build()
    }

    fn jpeg_caps(&self) -> gst::Caps {
        gst::Caps::builder("image/jpeg")
            .field("width", self.cli.width as i32)
            .field("height", self.cli.height as i32)
            .field("framerate", gst::Fraction::new(self.cli.fps as i32, 1))
            .build()
    }

    /// The area's elements (none without `--area`), then `jpegenc`.
    fn area_and_encoder(&self) -> Vec<gst::Element> {
        let mut elements = match self.area {
            Some(area) => straighten(area, self.cli.width, self.cli.height),
            None => Vec::new(),
        };
        let enc = common::make("jpegenc");
        enc.set_property("quality", self.cli.quality as i32);
        elements.push(enc);
        elements
    }

    /// `raw ! videoconvert ! videoscale [! videorate] ! capsfilter`, then
    /// the area and the encoder.
    fn scaled_and_encoded(&self, src: gst::Element, rate: bool) -> Vec<gst::Element> {
        let mut elements = vec![
            src,
            common::make("videoconvert"),
            common::make("videoscale"),
        ];
        if rate {
            elements.push(common::make("videorate"));
        }
        elements.push(filter(&self.raw_caps()));
        elements.extend(self.area_and_encoder());
        elements
    }

    /// The elements from the source up to JPEG, and a description of them.
    fn elements(&self) -> (Vec<gst::Element>, String) {
        match self.cli.source() {
            Source::TestPattern(pattern) => {
                let src = common::test_pattern(&pattern)
                    .unwrap_or_else(|msg| common::usage_error::<Cli>(msg));
                let what = format!("test pattern '{pattern}'");
                (self.scaled_and_encoded(src, false), what)
            }
            Source::Camera(device) => self.camera_elements(&device),
        }
    }

    fn camera_elements(&self, device: &str) -> (Vec<gst::Element>, String) {
        let src = common::camera(device);
        let jpeg_caps = self.jpeg_caps();
        if !camera_offers(&src, device, &jpeg_caps) {
            let what = format!("camera {device} (raw video, encoded here)");
            return (self.scaled_and_encoded(src, true), what);
        }
        if self.area.is_none() {
            let what = format!("camera {device} (its own JPEG; --quality not used)");
            return (vec![src, filter(&jpeg_caps)], what);
        }
        // The area needs the pixels: decode the camera's JPEG.
        let mut elements = vec![src, filter(&jpeg_caps), common::make("jpegdec")];
        elements.extend(self.area_and_encoder());
        let what = format!("camera {device} (its own JPEG, decoded for --area)");
        (elements, what)
    }
}

fn filter(caps: &gst::Caps) -> gst::Element {
    let f = common::make("capsfilter");
    f.set_property("caps", caps);
    f
}

/// Opens the camera once to see whether it offers `caps`.
fn camera_offers(src: &gst::Element, device: &str, caps: &gst::Caps) -> bool {
    if src.set_state(gst::State::Ready).is_err() {
        eprintln!(
            "error: could not open camera {device} (busy, no permission, or not a \
             capture device); check --device or use --test-pattern"
        );
        std::process::exit(1);
    }
    let offered = src
        .static_pad("src")
        .expect("v4l2src has src")
        .query_caps(None);
    let _ = src.set_state(gst::State::Null);
    offered.can_intersect(caps)
}

/// The line printed once the pipeline runs.
fn started_message(cli: &Cli, what: &str) -> String {
    let what = match &cli.area {
        Some(file) => format!("{what}, area from {}", file.display()),
        None => what.to_string(),
    };
    format!(
        "sending {}x{} at {} fps from {what} to {}:{} (mtu {}, wire-format {}{}){}",
        cli.width,
        cli.height,
        cli.fps,
        cli.host,
        cli.port,
        cli.mtu,
        cli.wire_format,
        key::sealed_with(cli.key_file.as_deref()),
        common::until(cli.duration)
    )
}

/// Turns a bus error into one line with a hint where there is one.
fn explainer(cli: &Cli) -> impl Fn(&gst::message::Error) -> String + 'static {
    let device = cli.device.clone();
    let (width, height, fps) = (cli.width, cli.height, cli.fps);
    move |err| {
        if common::factory_of(err) == "v4l2src" {
            let device = device.as_deref().unwrap_or("the camera");
            format!(
                "error: camera {device}: {}; check --device or use --test-pattern",
                err.error()
            )
        } else if common::debug_of(err).contains("not-negotiated") {
            format!(
                "error: the source cannot deliver {width}x{height} at {fps} fps; try another \
                 --width/--height/--fps"
            )
        } else {
            common::describe(err)
        }
    }
}

fn main() {
    let cli: Cli = common::parse_args();
    if let Some(file) = &cli.make_key {
        make_key_and_exit(file);
    }
    let area = cli.area.as_deref().map(read_area);
    common::init();

    let capture = Capture {
        cli: &cli,
        area: area.as_ref(),
    };
    let (mut elements, what) = capture.elements();
    let pay = common::make("udpjpegpay");
    pay.set_property("mtu", cli.mtu);
    pay.set_property_from_str("wire-format", cli.wire_format.nick());
    key::use_key_file(&pay, cli.key_file.as_deref());
    if cli.key_file.is_some() {
        pay.set_property_from_str("cipher", &cli.cipher);
    }
    let sink = common::make("udpsink");
    sink.set_property("host", &cli.host);
    sink.set_property("port", i32::from(cli.port));
    elements.extend([pay.clone(), sink]);
    let pipeline = common::pipeline(&elements);

    let started = Instant::now();
    let message = started_message(&cli, &what);
    let (ending, stats) = common::run(
        &pipeline,
        cli.duration,
        &message,
        explainer(&cli),
        || {},
        || Stats::of(&pay),
    );
    let summary = format!(
        "sent {} frames ({} datagrams, {} bytes) to {}:{} in {:.1} s; {} frames dropped",
        stats.get("frames-sent"),
        stats.get("datagrams-sent"),
        stats.get("bytes-sent"),
        cli.host,
        cli.port,
        started.elapsed().as_secs_f64(),
        stats.get("frames-dropped"),
    );
    ending.print_summary(&summary, stats.get("frames-sent") > 0);
    std::process::exit(ending.exit_code());
}
