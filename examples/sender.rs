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
//! Run with `cargo run --example sender -- --help`.

#[path = "common/area.rs"]
mod area;
mod common;

use std::net::ToSocketAddrs;
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;

use common::{Args, Ending};

const USAGE: &str = "[--host ADDR] [--port N] [--mtu BYTES] [--wire-format sce|countdown] \
                     [--device PATH | --test-pattern [--pattern NAME]] [--width N] [--height N] \
                     [--fps N] [--quality 0-100] [--area FILE] [--duration SECONDS]";

const HELP: &str = "\
Sends live JPEG video over UDP with udpjpegpay.

Options:
  --host ADDR           where to send (name or IP, multicast allowed; default 127.0.0.1)
  --port N              UDP port to send to (default 5000)
  --mtu BYTES           size of each datagram, header included (default 1400)
  --wire-format F       sce (default) or countdown; the receiver must use the same
  --device PATH         capture from this V4L2 camera, e.g. /dev/video0
  --test-pattern        send a generated test picture instead (the default)
  --pattern NAME        videotestsrc pattern for --test-pattern: ball (default),
                        smpte, snow, ...
  --width N             frame width in pixels (default 640)
  --height N            frame height in pixels (default 360)
  --fps N               frames per second (default 30)
  --quality Q           JPEG quality 0-100 (default 85; not used when the camera
                        sends JPEG itself)
  --area FILE           send only the area whose four corners are in FILE (JSON
                        written by the area_picker example), straightened out
                        to the whole frame (needs gstreamer1.0-plugins-bad)
  --duration SECONDS    stop after this long (default 0 = until Ctrl+C)
  -h, --help            show this help

Ctrl+C (or --duration) sends end-of-stream and exits with a summary; a second
Ctrl+C quits at once.";

enum Source {
    Camera(String),
    TestPattern(String),
}

struct Options {
    host: String,
    port: u16,
    mtu: u32,
    wire_format: String,
    source: Source,
    width: u32,
    height: u32,
    fps: u32,
    quality: u32,
    area: Option<(String, area::Area)>,
    duration: Option<Duration>,
}

fn parse_args(args: &mut Args) -> Options {
    let mut host = "127.0.0.1".to_string();
    let mut port = 5000;
    let mut mtu = 1400;
    let mut wire_format = "sce".to_string();
    let mut device = None;
    let mut test_pattern = false;
    let mut pattern = None;
    let (mut width, mut height, mut fps) = (640, 360, 30);
    let mut quality = 85;
    let mut area_file = None;
    let mut duration = None;

    while let Some((flag, inline)) = args.next_flag() {
        match flag.as_str() {
            "--help" => {
                println!("usage: sender {USAGE}\n\n{HELP}");
                std::process::exit(0);
            }
            "--host" => {
                host = args.value(&flag, inline);
                if host.is_empty() {
                    args.fail("--host needs a host name or address");
                }
            }
            "--port" => port = args.number(&flag, inline, 1..=65535),
            // The payloader's own range (wire::MIN_MTU ..= wire::MAX_MTU).
            "--mtu" => {
                mtu = args.number(
                    &flag,
                    inline,
                    gstudpjpeg::wire::MIN_MTU as u32..=gstudpjpeg::wire::MAX_MTU as u32,
                )
            }
            "--wire-format" => wire_format = args.wire_format(&flag, inline),
            "--device" => device = Some(args.value(&flag, inline)),
            "--test-pattern" => {
                args.no_value(&flag, inline);
                test_pattern = true;
            }
            "--pattern" => pattern = Some(args.value(&flag, inline)),
            "--width" => width = args.number(&flag, inline, 16..=8192),
            "--height" => height = args.number(&flag, inline, 16..=8192),
            "--fps" => fps = args.number(&flag, inline, 1..=240),
            "--quality" => quality = args.number(&flag, inline, 0..=100),
            "--area" => {
                let file = args.value(&flag, inline);
                if file.is_empty() {
                    args.fail("--area needs a file name");
                }
                area_file = Some(file);
            }
            "--duration" => duration = args.seconds(&flag, inline),
            _ => args.unknown(&flag),
        }
    }

    let source = match (device, test_pattern, pattern) {
        (Some(_), true, _) => args.fail("--device and --test-pattern exclude each other"),
        (Some(_), _, Some(_)) => args.fail("--pattern only applies to --test-pattern"),
        (Some(d), false, None) => Source::Camera(d),
        (None, _, p) => Source::TestPattern(p.unwrap_or_else(|| "ball".to_string())),
    };

    if let Err(err) = (host.as_str(), port).to_socket_addrs() {
        args.fail(format_args!("cannot resolve --host '{host}': {err}"));
    }

    let area = area_file.map(|file| {
        let text = std::fs::read_to_string(&file).unwrap_or_else(|err| {
            eprintln!(
                "error: cannot read the area file {file}: {err}; pick four corners with \
                 `cargo run --example area_picker -- --area {file}`"
            );
            std::process::exit(1);
        });
        let area = area::Area::from_json(&text).unwrap_or_else(|err| {
            eprintln!("error: the area file {file} is not usable: {err}");
            std::process::exit(1);
        });
        (file, area)
    });

    Options {
        host,
        port,
        mtu,
        wire_format,
        source,
        width,
        height,
        fps,
        quality,
        area,
        duration,
    }
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

/// The elements from the source up to JPEG, and a description of them.
fn capture(args: &Args, o: &Options) -> (Vec<gst::Element>, String) {
    let raw_caps = gst::Caps::builder("video/x-raw")
        .field("format", "I420")
        .field("width", o.width as i32)
        .field("height", o.height as i32)
        .field("framerate", gst::Fraction::new(o.fps as i32, 1))
        .build();
    let encoder = || {
        let enc = common::make("jpegenc");
        enc.set_property("quality", o.quality as i32);
        enc
    };
    let filter = |caps: &gst::Caps| {
        let f = common::make("capsfilter");
        f.set_property("caps", caps);
        f
    };
    let area_elements = || match &o.area {
        Some((_, area)) => straighten(area, o.width, o.height),
        None => Vec::new(),
    };

    match &o.source {
        Source::TestPattern(pattern) => {
            let src = common::test_pattern(args, pattern);
            let mut elements = vec![
                src,
                common::make("videoconvert"),
                common::make("videoscale"),
                filter(&raw_caps),
            ];
            elements.extend(area_elements());
            elements.push(encoder());
            (elements, format!("test pattern '{pattern}'"))
        }
        Source::Camera(device) => {
            let src = common::camera(device);
            // Open the device once to see whether it sends JPEG at this size.
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
            let jpeg_caps = gst::Caps::builder("image/jpeg")
                .field("width", o.width as i32)
                .field("height", o.height as i32)
                .field("framerate", gst::Fraction::new(o.fps as i32, 1))
                .build();
            if offered.can_intersect(&jpeg_caps) && o.area.is_none() {
                let what = format!("camera {device} (its own JPEG; --quality not used)");
                (vec![src, filter(&jpeg_caps)], what)
            } else if offered.can_intersect(&jpeg_caps) {
                // The area needs the pixels: decode the camera's JPEG.
                let mut elements = vec![src, filter(&jpeg_caps), common::make("jpegdec")];
                elements.extend(area_elements());
                elements.push(encoder());
                let what = format!("camera {device} (its own JPEG, decoded for --area)");
                (elements, what)
            } else {
                let mut elements = vec![
                    src,
                    common::make("videoconvert"),
                    common::make("videoscale"),
                    common::make("videorate"),
                    filter(&raw_caps),
                ];
                elements.extend(area_elements());
                elements.push(encoder());
                (
                    elements,
                    format!("camera {device} (raw video, encoded here)"),
                )
            }
        }
    }
}

fn main() {
    let mut args = Args::from_env("sender", USAGE);
    let o = parse_args(&mut args);
    common::init();

    let (mut elements, what) = capture(&args, &o);
    let pay = common::make("udpjpegpay");
    pay.set_property("mtu", o.mtu);
    pay.set_property_from_str("wire-format", &o.wire_format);
    let sink = common::make("udpsink");
    sink.set_property("host", &o.host);
    sink.set_property("port", i32::from(o.port));
    elements.extend([pay.clone(), sink]);
    let pipeline = common::pipeline(&elements);

    let what = match &o.area {
        Some((file, _)) => format!("{what}, area from {file}"),
        None => what,
    };
    let started_msg = format!(
        "sending {}x{} at {} fps from {what} to {}:{} (mtu {}, wire-format {}){}",
        o.width,
        o.height,
        o.fps,
        o.host,
        o.port,
        o.mtu,
        o.wire_format,
        match o.duration {
            Some(d) => format!(" for {} s", d.as_secs_f64()),
            None => "; Ctrl+C to stop".to_string(),
        }
    );

    let device = match &o.source {
        Source::Camera(d) => Some(d.clone()),
        Source::TestPattern(_) => None,
    };
    let (width, height, fps) = (o.width, o.height, o.fps);
    let explain = move |err: &gst::message::Error| {
        let factory = common::factory_of(err);
        let debug = err.debug().map(|d| d.to_string()).unwrap_or_default();
        if factory == "v4l2src" {
            let device = device.as_deref().unwrap_or("the camera");
            format!(
                "error: camera {device}: {}; check --device or use --test-pattern",
                err.error()
            )
        } else if debug.contains("not-negotiated") {
            format!(
                "error: the source cannot deliver {width}x{height} at {fps} fps; try another \
                 --width/--height/--fps"
            )
        } else {
            common::describe(err)
        }
    };

    let started = Instant::now();
    let ending = common::run(&pipeline, o.duration, &started_msg, explain, || {});

    let stats = pay.property::<gst::Structure>("stats");
    let get = |name: &str| stats.get::<u64>(name).unwrap_or(0);
    let summary = format!(
        "sent {} frames ({} datagrams, {} bytes) to {}:{} in {:.1} s; {} frames dropped",
        get("frames-sent"),
        get("datagrams-sent"),
        get("bytes-sent"),
        o.host,
        o.port,
        started.elapsed().as_secs_f64(),
        get("frames-dropped"),
    );
    match ending {
        Ending::Error if get("frames-sent") > 0 => eprintln!("{summary}"),
        Ending::Error => {}
        _ => println!("{summary}"),
    }
    std::process::exit(ending.exit_code());
}
