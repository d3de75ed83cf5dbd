// SPDX-License-Identifier: MPL-2.0
//! Receives a udpjpeg stream and serves it over RTSP, to any number of
//! clients, with gst-rtsp-server.
//!
//! ```text
//! udpsrc port=P reuse=false ! udpjpegdepay wire-format=X ! output-selector
//!   ├─ frames RTP/JPEG carries as they are ──────────────────────────────────► appsink ─┐
//!   └─ the others ─► jpegdec ! videoconvert ! videoscale ! I420 ! jpegenc ─► appsink ─┤
//!                                                                                       ▼
//! one shared RTSP media:       appsrc ! rtpjpegpay name=pay0 ─► every client (RTP/UDP, RTP/TCP)
//! ```
//!
//! One receive pipeline, bound at start, feeds one shared media
//! (`RTSPMediaFactory::set_shared`), which the server makes when the first
//! client connects and drops when the last one leaves.
//!
//! RTP/JPEG (RFC 2435) carries baseline JPEG only, 4:2:0 or 4:2:2, at most
//! 2040 px a side, with the standard Huffman tables (`rtpjpegpay` drops DHT
//! segments). The decision is made **per frame**, from the frame itself
//! (`gstudpjpeg::jpeg::rtp::check`): a frame that fits is sent untouched;
//! any other is decoded and re-encoded as baseline 4:2:0 with the standard
//! tables (scaled to fit 2040 px when larger); one no decoder reads is
//! dropped. The log names the first frame of each kind, and the statistics
//! line counts frames by kind.
//!
//! Usage: `cargo run --example rtsp_server -- --port 5000` then
//! `ffplay -rtsp_transport tcp rtsp://HOST:8554/cam` (`--help` for every
//! flag).

mod common;
#[path = "common/key.rs"]
mod key;

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use gst::prelude::*;
use gst_rtsp_server::prelude::*;
use gstudpjpeg::jpeg::rtp::{self, Verdict};

use common::WireFormat;

/// Receives live JPEG video over UDP with udpjpegdepay and serves it over
/// RTSP (RTP/JPEG) to any number of clients.
#[derive(Parser)]
#[command(
    name = "rtsp_server",
    after_help = "\
Watch with: ffplay -rtsp_transport tcp rtsp://HOST:8554/cam, vlc
rtsp://HOST:8554/cam, or any RTSP client. Frames RTP/JPEG cannot carry as they
are (progressive, 4:4:4, grayscale, wider than 2040 px, own Huffman tables)
are re-encoded one by one; the others pass untouched.

Ctrl+C (or --duration) stops and prints a summary; a second Ctrl+C quits at
once."
)]
struct Cli {
    /// UDP port to receive the udpjpeg stream on
    #[arg(long, value_name = "N", default_value_t = 5000,
          value_parser = clap::value_parser!(u16).range(1..))]
    port: u16,
    /// Local IP address to receive on, or a multicast group (0.0.0.0:
    /// every interface)
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0")]
    udp_address: IpAddr,
    /// Wire format, as the sender uses
    #[arg(long, value_name = "F", value_enum, default_value_t = WireFormat::Sce)]
    wire_format: WireFormat,
    /// Take only datagrams sealed with the key in FILE (as the sender's
    /// --key-file)
    #[arg(long, value_name = "FILE")]
    key_file: Option<std::path::PathBuf>,
    /// TCP port of the RTSP server (0: any free port, printed on start)
    #[arg(long, value_name = "N", default_value_t = 8554)]
    rtsp_port: u16,
    /// Address the RTSP server listens on (0.0.0.0: every interface;
    /// 127.0.0.1 for this machine only)
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0")]
    address: IpAddr,
    /// Path of the stream in the URL
    #[arg(long, value_name = "PATH", default_value = "/cam", value_parser = mount_path)]
    mount: String,
    /// JPEG quality of re-encoded frames
    #[arg(long, value_name = "1-100", default_value_t = 85,
          value_parser = clap::value_parser!(i32).range(1..=100))]
    quality: i32,
    /// Stop after this long (0 = until Ctrl+C)
    #[arg(long, value_name = "SECONDS", default_value = "0", value_parser = common::seconds)]
    duration: Duration,
}

/// Parses `--mount`: a URL path such as `/cam`.
fn mount_path(text: &str) -> Result<String, String> {
    let ok = text.len() > 1
        && text.starts_with('/')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/-_.~".contains(c));
    if ok {
        Ok(text.to_string())
    } else {
        Err("expected a path such as /cam (letters, digits, / - _ . ~)".to_string())
    }
}

/// The launch line of the shared RTSP media: frames in, RTP/JPEG out. The
/// appsrc stamps each frame with the media's clock as it arrives and drops
/// the oldest when the media falls 8 frames behind; its caps are set from
/// the frames (`payloader_caps`).
const MEDIA: &str = "( appsrc name=frames is-live=true do-timestamp=true format=time \
    max-bytes=0 max-buffers=8 leaky-type=downstream ! rtpjpegpay name=pay0 pt=26 )";

// ---------------------------------------------------------------------------
// The shared media's input

/// The appsrc of the shared media while there is one (a client watches).
#[derive(Clone, Default)]
struct Outlet(Arc<Mutex<Option<gst_app::AppSrc>>>);

impl Outlet {
    fn attach(&self, src: gst_app::AppSrc) {
        *self.0.lock().unwrap() = Some(src);
    }

    /// Forgets `src`, unless a newer media already replaced it.
    fn detach(&self, src: &gst_app::AppSrc) {
        let mut current = self.0.lock().unwrap();
        if current.as_ref() == Some(src) {
            *current = None;
        }
    }

    fn is_open(&self) -> bool {
        self.0.lock().unwrap().is_some()
    }

    /// Hands one frame to the media, timestamps removed so that the appsrc
    /// stamps it with the media's own clock.
    fn push(&self, sample: &gst::Sample) {
        let Some(src) = self.0.lock().unwrap().clone() else {
            return;
        };
        let (Some(mut buffer), Some(caps)) = (sample.buffer_owned(), sample.caps()) else {
            return;
        };
        let caps = payloader_caps(caps);
        if src.caps().as_ref() != Some(&caps) {
            src.set_caps(Some(&caps));
        }
        let b = buffer.make_mut();
        b.set_pts(None);
        b.set_dts(None);
        b.set_duration(None);
        // Flushing while the media shuts down: the frame is not needed.
        let _ = src.push_buffer(buffer);
    }
}

/// The caps `rtpjpegpay` needs (it refuses caps without a size): `image/jpeg`
/// with the frame's width, height and rate, and no other field, so that
/// frames from either branch of the same size share one set of caps.
fn payloader_caps(caps: &gst::CapsRef) -> gst::Caps {
    let mut builder = gst::Caps::builder("image/jpeg");
    if let Some(s) = caps.structure(0) {
        for field in ["width", "height", "framerate"] {
            if let Ok(value) = s.value(field) {
                builder = builder.field(field, value.clone());
            }
        }
    }
    builder.build()
}

// ---------------------------------------------------------------------------
// Routing frames

/// Frames counted by what happened to them.
#[derive(Default, Clone)]
struct Counts {
    received: u64,
    passed: u64,
    /// Re-encoded frames, by `Reason::kind`.
    reencoded: BTreeMap<&'static str, u64>,
    unreadable: u64,
    /// Frames received while no client watched (not looked at).
    unwatched: u64,
}

impl Counts {
    fn reencoded_total(&self) -> u64 {
        self.reencoded.values().sum()
    }

    /// "P sent as they are, R re-encoded (kind: n, ...), U unreadable".
    fn describe(&self) -> String {
        let kinds: Vec<String> = self
            .reencoded
            .iter()
            .map(|(kind, n)| format!("{kind}: {n}"))
            .collect();
        let by_kind = if kinds.is_empty() {
            String::new()
        } else {
            format!(" ({})", kinds.join(", "))
        };
        format!(
            "{} sent as they are, {} re-encoded{by_kind}, {} unreadable dropped, \
             {} while no client watched",
            self.passed,
            self.reencoded_total(),
            self.unreadable,
            self.unwatched
        )
    }
}

/// Where one frame goes.
enum Route {
    Pass,
    Reencode { size: (u16, u16) },
    Drop,
}

/// Decides per frame, counts, and logs the first frame of each kind.
struct Router {
    outlet: Outlet,
    counts: Mutex<Counts>,
    /// The kinds already logged: "pass", "unreadable", or a reason's kind.
    logged: Mutex<HashSet<&'static str>>,
}

impl Router {
    fn route(&self, frame: &[u8]) -> Route {
        let n = {
            let mut counts = self.counts.lock().unwrap();
            counts.received += 1;
            if !self.outlet.is_open() {
                counts.unwatched += 1;
                return Route::Drop;
            }
            counts.received
        };
        let verdict = rtp::check(frame);
        let route = match verdict {
            Verdict::Fits => Route::Pass,
            Verdict::Reencode(_) => {
                let (w, h) = gstudpjpeg::jpeg::dimensions(frame).unwrap_or((0, 0));
                Route::Reencode {
                    size: rtp::fitted_size(w, h),
                }
            }
            Verdict::Unreadable => Route::Drop,
        };
        self.count(verdict);
        self.log_first(n, verdict, &route);
        route
    }

    fn count(&self, verdict: Verdict) {
        let mut counts = self.counts.lock().unwrap();
        match verdict {
            Verdict::Fits => counts.passed += 1,
            Verdict::Reencode(r) => *counts.reencoded.entry(r.kind()).or_default() += 1,
            Verdict::Unreadable => counts.unreadable += 1,
        }
    }

    /// Prints one line for the first frame of each kind; the statistics
    /// line counts the rest.
    fn log_first(&self, n: u64, verdict: Verdict, route: &Route) {
        let kind = match verdict {
            Verdict::Fits => "pass",
            Verdict::Reencode(r) => r.kind(),
            Verdict::Unreadable => "unreadable",
        };
        if !self.logged.lock().unwrap().insert(kind) {
            return;
        }
        match (verdict, route) {
            (Verdict::Reencode(reason), Route::Reencode { size: (w, h) }) => {
                println!("frame {n}: re-encoded as baseline 4:2:0 {w}x{h}: {reason}")
            }
            (Verdict::Fits, _) => println!("frame {n}: sent as it is (RTP/JPEG carries it)"),
            _ => println!("frame {n}: dropped: not a JPEG frame a decoder reads"),
        }
    }

    fn counts(&self) -> Counts {
        self.counts.lock().unwrap().clone()
    }
}

// ---------------------------------------------------------------------------
// The receive pipeline

/// The branch that re-encodes: its capsfilter sets the size of each frame.
struct Reencoder {
    elements: Vec<gst::Element>,
    fit: gst::Element,
}

fn reencoder(quality: i32) -> Reencoder {
    let dec = common::make("jpegdec");
    // A frame that does not decode is dropped with a warning, not fatal.
    dec.set_property("max-errors", -1i32);
    let fit = common::make("capsfilter");
    let enc = common::make("jpegenc");
    enc.set_property("quality", quality);
    let elements = vec![
        dec,
        common::make("videoconvert"),
        common::make("videoscale"),
        fit.clone(),
        enc,
    ];
    Reencoder { elements, fit }
}

/// The caps the re-encoder makes a frame of `size`: 4:2:0, the one
/// sampling every RTP/JPEG receiver reads.
fn reencoded_caps((w, h): (u16, u16)) -> gst::Caps {
    gst::Caps::builder("video/x-raw")
        .field("format", "I420")
        .field("width", i32::from(w))
        .field("height", i32::from(h))
        .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
        .build()
}

/// An appsink that hands each frame to the shared media, in the streaming
/// thread (so that frames from both branches keep their order). Not
/// `async`: a branch that gets no frame (no frame needs re-encoding) would
/// otherwise never preroll and hold the other one in PAUSED.
fn outlet_sink(outlet: &Outlet) -> gst::Element {
    let outlet = outlet.clone();
    gst_app::AppSink::builder()
        .sync(false)
        .async_(false)
        .callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    outlet.push(&sample);
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        )
        .build()
        .upcast()
}

/// Links `from`'s new request pad to the first of `chain`, and the chain.
fn branch(pipeline: &gst::Pipeline, selector: &gst::Element, chain: &[gst::Element]) -> gst::Pad {
    pipeline.add_many(chain).expect("fresh elements");
    gst::Element::link_many(chain).expect("linking a branch");
    let pad = selector
        .request_pad_simple("src_%u")
        .expect("output-selector gives pads");
    let sink = chain[0].static_pad("sink").expect("a sink pad");
    pad.link(&sink).expect("linking the selector");
    pad
}

/// `udpsrc ! udpjpegdepay ! output-selector` with its two branches; each
/// frame is sent down one of them (or dropped) by `Router::route`.
fn receive_pipeline(cli: &Cli, router: Arc<Router>) -> gst::Pipeline {
    let src = common::make("udpsrc");
    src.set_property("address", cli.udp_address.to_string());
    src.set_property("port", i32::from(cli.port));
    // A port already taken must be an error, not a shared socket.
    src.set_property("reuse", false);
    let depay = common::make("udpjpegdepay");
    depay.set_property_from_str("wire-format", cli.wire_format.nick());
    key::use_key_file(&depay, cli.key_file.as_deref());
    let selector = common::make("output-selector");
    let pipeline = common::pipeline(&[src, depay, selector.clone()]);

    let pass = branch(&pipeline, &selector, &[outlet_sink(&router.outlet)]);
    let Reencoder { mut elements, fit } = reencoder(cli.quality);
    elements.push(outlet_sink(&router.outlet));
    let reencode = branch(&pipeline, &selector, &elements);
    steer(&selector, router, pass, reencode, fit);
    pipeline
}

/// Routes each frame before it enters the selector: sets the selector's
/// active pad (and the re-encoded size) or drops it. A dropped frame is
/// returned as `Handled` (the binding frees it), not `Drop`, which makes
/// GStreamer 1.22 unref it a second time.
fn steer(
    selector: &gst::Element,
    router: Arc<Router>,
    pass: gst::Pad,
    reencode: gst::Pad,
    fit: gst::Element,
) {
    let sink = selector
        .static_pad("sink")
        .expect("output-selector has a sink");
    let selector = selector.downgrade();
    let size = Mutex::new(None);
    sink.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let (Some(buffer), Some(selector)) = (info.buffer(), selector.upgrade()) else {
            return gst::PadProbeReturn::Ok;
        };
        let Ok(map) = buffer.map_readable() else {
            return gst::PadProbeReturn::Handled;
        };
        let pad = match router.route(&map) {
            Route::Drop => return gst::PadProbeReturn::Handled,
            Route::Pass => &pass,
            Route::Reencode { size: s } => {
                if size.lock().unwrap().replace(s) != Some(s) {
                    fit.set_property("caps", reencoded_caps(s));
                }
                &reencode
            }
        };
        selector.set_property("active-pad", pad);
        gst::PadProbeReturn::Ok
    });
}

// ---------------------------------------------------------------------------
// The RTSP server

/// Clients connected now and in all.
#[derive(Default)]
struct Clients {
    now: AtomicU64,
    total: AtomicU64,
}

/// The factory of the one shared media; each media made hands its appsrc
/// to `outlet`.
fn media_factory(outlet: &Outlet) -> gst_rtsp_server::RTSPMediaFactory {
    let factory = gst_rtsp_server::RTSPMediaFactory::new();
    factory.set_launch(MEDIA);
    factory.set_shared(true);
    factory.set_protocols(
        gst_rtsp_server::gst_rtsp::RTSPLowerTrans::UDP
            | gst_rtsp_server::gst_rtsp::RTSPLowerTrans::TCP,
    );
    let outlet = outlet.clone();
    factory.connect_media_configure(move |_, media| {
        let bin = media.element().downcast::<gst::Bin>().expect("a bin");
        let src = bin
            .by_name("frames")
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
            .expect("the media has its appsrc");
        println!("RTSP media started: one stream for every client");
        outlet.attach(src.clone());
        let outlet = outlet.clone();
        media.connect_unprepared(move |_| {
            println!("RTSP media stopped: no client plays it");
            outlet.detach(&src);
        });
    });
    factory
}

/// Logs each client as it connects and leaves.
fn count_clients(server: &gst_rtsp_server::RTSPServer, clients: &Arc<Clients>) {
    let clients = clients.clone();
    server.connect_client_connected(move |_, client| {
        let now = clients.now.fetch_add(1, Ordering::Relaxed) + 1;
        let total = clients.total.fetch_add(1, Ordering::Relaxed) + 1;
        println!("client connected ({now} connected, {total} in all)");
        let clients = clients.clone();
        client.connect_closed(move |_| {
            let now = clients.now.fetch_sub(1, Ordering::Relaxed) - 1;
            println!("client left ({now} connected)");
        });
    });
}

/// Starts the RTSP server on the default main context; returns it (it
/// serves while it lives) and the URL it serves. Exits when it cannot
/// listen.
fn serve(
    cli: &Cli,
    outlet: &Outlet,
    clients: &Arc<Clients>,
) -> (gst_rtsp_server::RTSPServer, String) {
    let server = gst_rtsp_server::RTSPServer::new();
    server.set_address(&cli.address.to_string());
    server.set_service(&cli.rtsp_port.to_string());
    let mounts = server.mount_points().expect("a server has mount points");
    mounts.add_factory(&cli.mount, media_factory(outlet));
    count_clients(&server, clients);
    if server.attach(None).is_err() {
        eprintln!(
            "error: cannot listen for RTSP on {}:{} (in use, or not an address of this \
             machine); pick another --rtsp-port or --address",
            cli.address, cli.rtsp_port
        );
        std::process::exit(1);
    }
    let url = format!(
        "rtsp://{}:{}{}",
        url_host(cli.address),
        server.bound_port(),
        cli.mount
    );
    (server, url)
}

/// The host part of the URL: this machine's name when listening on every
/// interface, else the address (IPv6 in brackets).
fn url_host(address: IpAddr) -> String {
    match address {
        a if a.is_unspecified() => gst::glib::host_name().to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
        IpAddr::V4(a) => a.to_string(),
    }
}

/// Turns a bus error into one line with a hint where there is one.
fn explainer(cli: &Cli) -> impl Fn(&gst::message::Error) -> String + 'static {
    let (port, address) = (cli.port, cli.udp_address);
    move |err| {
        let debug = common::debug_of(err);
        if common::factory_of(err) != "udpsrc" {
            common::describe(err)
        } else if debug.contains("Address already in use") {
            format!("error: UDP port {port} is already in use; pick another with --port")
        } else {
            format!(
                "error: cannot receive on {address}:{port} ({}); pick another --port or \
                 --udp-address",
                common::last_debug_line(err)
            )
        }
    }
}

/// "1 client", "2 clients".
fn plural(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// Prints one statistics line a second while frames arrive.
fn stats_printer(router: &Arc<Router>, clients: &Arc<Clients>) -> impl FnMut() + 'static {
    let (router, clients) = (router.clone(), clients.clone());
    let mut last = 0;
    move || {
        let counts = router.counts();
        if counts.received == last {
            return;
        }
        last = counts.received;
        println!(
            "stats: {} frames received: {}; {} watching",
            counts.received,
            counts.describe(),
            plural(clients.now.load(Ordering::Relaxed), "client")
        );
    }
}

fn main() {
    let cli: Cli = common::parse_args();
    common::init();

    let router = Arc::new(Router {
        outlet: Outlet::default(),
        counts: Mutex::default(),
        logged: Mutex::default(),
    });
    let clients = Arc::new(Clients::default());
    let pipeline = receive_pipeline(&cli, router.clone());
    let (_server, url) = serve(&cli, &router.outlet, &clients);

    let message = format!(
        "receiving on {}:{} (wire-format {}); serving {url} over RTP/UDP and RTP/TCP; \
         frames are checked one by one and re-encoded only when RTP/JPEG cannot carry them{}",
        cli.udp_address,
        cli.port,
        cli.wire_format,
        common::until(cli.duration)
    );
    let started = Instant::now();
    let tick = stats_printer(&router, &clients);
    let (ending, counts) = common::run(
        &pipeline,
        cli.duration,
        &message,
        explainer(&cli),
        tick,
        || router.counts(),
    );
    let summary = format!(
        "received {} frames in {:.1} s: {}; {} in all",
        counts.received,
        started.elapsed().as_secs_f64(),
        counts.describe(),
        plural(clients.total.load(Ordering::Relaxed), "client")
    );
    ending.print_summary(&summary, counts.received > 0);
    std::process::exit(ending.exit_code());
}
