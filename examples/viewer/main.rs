// SPDX-License-Identifier: MPL-2.0
//! Receives live JPEG video over UDP and shows it in a web browser.
//!
//! ```text
//! udpsrc port=P reuse=false ! udpjpegdepay wire-format=X ! appsink
//! ```
//!
//! A small HTTP server (tiny_http, one thread per request; `http.rs`)
//! serves:
//!
//! - `/`: a page with `<img src="/stream.mjpg">`;
//! - `/stream.mjpg`: `multipart/x-mixed-replace` MJPEG, each new frame pushed
//!   to every client. A client always gets the newest frame (`hub.rs`): one
//!   that reads slowly skips frames instead of queueing them, and one that
//!   stops reading is disconnected after a few seconds;
//! - `/snapshot.jpg`: the newest frame.
//!
//! The number of clients is capped (`--max-clients`); one more gets "503".
//! `--user NAME --password-file FILE` asks every request for credentials
//! (HTTP basic auth, `auth.rs`; sent in clear over plain HTTP). Ctrl+C or
//! `--duration` ends the stream cleanly.
//!
//! Usage: `cargo run --example viewer -- --port 5000 --http-port 8080`
//! (`--help` for every flag).

#[path = "../common/mod.rs"]
mod common;
#[path = "../common/key.rs"]
mod key;

mod auth;
mod http;
mod hub;

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use gst::prelude::*;

use auth::Credentials;
use common::{Stats, WireFormat};
use http::Site;
use hub::Hub;

/// Receives live JPEG video over UDP with udpjpegdepay and serves it over
/// HTTP, to watch in any web browser.
#[derive(Parser)]
#[command(
    name = "viewer",
    after_help = "\
Pages:
  /               the live picture
  /stream.mjpg    the video as MJPEG (multipart/x-mixed-replace), for browsers,
                  VLC, ffplay, ...
  /snapshot.jpg   the newest frame

Ctrl+C (or --duration) sends end-of-stream and exits with a summary; a second
Ctrl+C quits at once."
)]
struct Cli {
    /// UDP port to receive on
    #[arg(long, value_name = "N", default_value_t = 5000,
          value_parser = clap::value_parser!(u16).range(1..))]
    port: u16,
    /// Wire format, as the sender uses
    #[arg(long, value_name = "F", value_enum, default_value_t = WireFormat::Sce)]
    wire_format: WireFormat,
    /// TCP port of the web server
    #[arg(long, value_name = "N", default_value_t = 8080,
          value_parser = clap::value_parser!(u16).range(1..))]
    http_port: u16,
    /// Address the web server listens on (0.0.0.0: every interface;
    /// 127.0.0.1 for this machine only)
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0")]
    http_address: IpAddr,
    /// Most HTTP requests served at once (a stream counts for as long as it
    /// plays); more are answered with 503
    #[arg(long, value_name = "N", default_value_t = 16,
          value_parser = clap::value_parser!(u16).range(1..=1000))]
    max_clients: u16,
    /// User name every request must give (HTTP basic auth; sent in clear
    /// over plain HTTP); needs --password-file
    #[arg(long, value_name = "NAME", requires = "password_file")]
    user: Option<String>,
    /// File holding the password for --user (a trailing newline is not part
    /// of it); needs --user
    #[arg(long, value_name = "FILE", requires = "user")]
    password_file: Option<PathBuf>,
    /// Take only datagrams sealed with the key in FILE (as the sender's
    /// --key-file)
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
    /// Stop after this long (0 = until Ctrl+C)
    #[arg(long, value_name = "SECONDS", default_value = "0", value_parser = common::seconds)]
    duration: Duration,
}

/// The web server's socket, bound first: a taken TCP port is the likeliest
/// mistake.
fn bind_http(cli: &Cli) -> (TcpListener, SocketAddr) {
    let http_addr = SocketAddr::new(cli.http_address, cli.http_port);
    match TcpListener::bind(http_addr) {
        Ok(l) => (l, http_addr),
        Err(err) if err.kind() == std::io::ErrorKind::AddrInUse => {
            eprintln!(
                "error: TCP port {} is already in use; pick another with --http-port",
                cli.http_port
            );
            std::process::exit(1);
        }
        Err(err) => {
            eprintln!(
                "error: cannot listen on {http_addr} ({err}); pick another --http-port or \
                 --http-address"
            );
            std::process::exit(1);
        }
    }
}

/// An appsink that publishes each frame to `hub` and counts it.
fn frame_sink(hub: &Arc<Hub>, received: &Arc<AtomicU64>) -> gst_app::AppSink {
    let sink = common::make("appsink")
        .downcast::<gst_app::AppSink>()
        .expect("appsink is an AppSink");
    // Frames are served as they arrive; never hold more than a couple.
    sink.set_sync(false);
    sink.set_max_buffers(2);
    sink.set_drop(true);
    let (hub, received) = (hub.clone(), received.clone());
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                if let Some(buffer) = sample.buffer()
                    && let Ok(map) = buffer.map_readable()
                {
                    hub.publish(Arc::from(map.as_slice()));
                    received.fetch_add(1, Ordering::Relaxed);
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    sink
}

/// The line printed once the pipeline runs, with the address to open.
fn started_message(cli: &Cli, http_addr: SocketAddr) -> String {
    let shown_host = if cli.http_address.is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        match cli.http_address {
            IpAddr::V6(a) => format!("[{a}]"),
            IpAddr::V4(a) => a.to_string(),
        }
    };
    let login = match &cli.user {
        Some(user) => format!(", as user {user} (basic auth)"),
        None => String::new(),
    };
    format!(
        "listening on UDP port {} (wire-format {}); open http://{shown_host}:{}/{login} \
         (serving on {http_addr}){}",
        cli.port,
        cli.wire_format,
        cli.http_port,
        common::until(cli.duration)
    )
}

/// Prints one statistics line a second.
fn stats_printer(
    depay: &gst::Element,
    hub: &Arc<Hub>,
    received: Arc<AtomicU64>,
) -> impl FnMut() + 'static {
    let (depay, hub) = (depay.clone(), hub.clone());
    let mut last = (Instant::now(), 0u64);
    move || {
        let lost = Stats::of(&depay).get("frames-lost");
        let now = (Instant::now(), received.load(Ordering::Relaxed));
        let secs = now.0.duration_since(last.0).as_secs_f64().max(1e-3);
        println!(
            "stats: {} frames received, {lost} lost, {:.1} fps, {} http clients",
            now.1,
            (now.1 - last.1) as f64 / secs,
            hub.clients.load(Ordering::SeqCst),
        );
        last = now;
    }
}

/// The credentials `--user` and `--password-file` ask for, if given (clap
/// has made sure that both are, or neither).
fn credentials(cli: &Cli) -> Option<Credentials> {
    let (user, file) = (cli.user.as_deref()?, cli.password_file.as_deref()?);
    match Credentials::load(user, file) {
        Ok(c) => Some(c),
        Err(msg) => common::usage_error::<Cli>(msg),
    }
}

/// Starts the web server's thread on `listener`.
fn start_http(listener: TcpListener, site: Site) {
    let server = http::serve_on(listener).unwrap_or_else(|err| {
        eprintln!("error: cannot start the web server: {err}");
        std::process::exit(1);
    });
    let site = Arc::new(site);
    std::thread::Builder::new()
        .name("http-accept".into())
        .spawn(move || http::accept_loop(server, site))
        .expect("starting the HTTP thread");
}

/// `udpsrc ! udpjpegdepay ! appsink`, the appsink publishing to `hub`:
/// the pipeline and its depayloader.
fn receive_pipeline(
    cli: &Cli,
    hub: &Arc<Hub>,
    received: &Arc<AtomicU64>,
) -> (gst::Pipeline, gst::Element) {
    let src = common::make("udpsrc");
    src.set_property("port", i32::from(cli.port));
    // A port already taken must be an error, not a shared socket.
    src.set_property("reuse", false);
    let depay = common::make("udpjpegdepay");
    depay.set_property_from_str("wire-format", cli.wire_format.nick());
    key::use_key_file(&depay, cli.key_file.as_deref());
    let sink = frame_sink(hub, received);
    let pipeline = common::pipeline(&[src, depay.clone(), sink.upcast()]);
    (pipeline, depay)
}

/// The one line printed for a bus error, naming a taken UDP port.
fn explain_for(port: u16) -> impl Fn(&gst::message::Error) -> String + 'static {
    move |err| {
        let debug = common::debug_of(err);
        if common::factory_of(err) == "udpsrc" && debug.contains("Address already in use") {
            format!("error: UDP port {port} is already in use; pick another with --port")
        } else {
            common::describe(err)
        }
    }
}

fn main() {
    let cli: Cli = common::parse_args();
    let credentials = credentials(&cli);
    common::init();
    let (listener, http_addr) = bind_http(&cli);
    let hub = Arc::new(Hub::new(usize::from(cli.max_clients)));
    let received = Arc::new(AtomicU64::new(0));
    let (pipeline, depay) = receive_pipeline(&cli, &hub, &received);
    start_http(
        listener,
        Site {
            hub: hub.clone(),
            udp_port: cli.port,
            credentials,
        },
    );

    let started = Instant::now();
    let message = started_message(&cli, http_addr);
    let tick = stats_printer(&depay, &hub, received);
    let (ending, stats) = common::run(
        &pipeline,
        cli.duration,
        &message,
        explain_for(cli.port),
        tick,
        || Stats::of(&depay),
    );
    hub.close();

    let summary = format!(
        "received {} frames in {:.1} s, {} lost; served {} frames to stream clients \
         ({} skipped for slow clients)",
        stats.get("frames-received"),
        started.elapsed().as_secs_f64(),
        stats.get("frames-lost"),
        hub.frames_served.load(Ordering::Relaxed),
        hub.frames_skipped.load(Ordering::Relaxed),
    );
    ending.print_summary(&summary, stats.get("frames-received") > 0);
    // Let the stream clients write the closing boundary.
    std::thread::sleep(Duration::from_millis(100));
    std::process::exit(ending.exit_code());
}
