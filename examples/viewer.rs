// SPDX-License-Identifier: MPL-2.0
//! Receives live JPEG video over UDP and shows it in a web browser.
//!
//! ```text
//! udpsrc port=P reuse=false ! udpjpegdepay wire-format=X ! appsink
//! ```
//!
//! A small HTTP server (std::net, one thread per client) serves:
//!
//! - `/`: a page with `<img src="/stream.mjpg">`;
//! - `/stream.mjpg`: `multipart/x-mixed-replace` MJPEG, each new frame pushed
//!   to every client. A client always gets the newest frame: one that reads
//!   slowly skips frames instead of queueing them, and one that stops
//!   reading is disconnected after a few seconds;
//! - `/snapshot.jpg`: the newest frame.
//!
//! The number of clients is capped (`--max-clients`); one more gets "503".
//! Ctrl+C or `--duration` ends the stream cleanly.
//!
//! Usage: `cargo run --example viewer -- --port 5000 --http-port 8080`
//! (`--help` for every flag).

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use gst::prelude::*;

use common::{Stats, WireFormat};

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
    /// Most HTTP connections served at once; more are answered with 503
    #[arg(long, value_name = "N", default_value_t = 16,
          value_parser = clap::value_parser!(u16).range(1..=1000))]
    max_clients: u16,
    /// Stop after this long (0 = until Ctrl+C)
    #[arg(long, value_name = "SECONDS", default_value = "0", value_parser = common::seconds)]
    duration: Duration,
}

/// The multipart boundary between frames of `/stream.mjpg`.
const BOUNDARY: &str = "udpjpegframe";
/// The longest request head read; more is "431".
const MAX_REQUEST: usize = 8192;
/// A client that sends no request in this time is dropped.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A client that takes longer than this to take one frame is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `/snapshot.jpg` waits for a first frame.
const SNAPSHOT_WAIT: Duration = Duration::from_secs(2);

// ---------------------------------------------------------------------------
// The newest frame, shared between the pipeline and the HTTP clients

struct Latest {
    /// Frames seen so far; a client remembers the last one it sent.
    seq: u64,
    frame: Option<Arc<[u8]>>,
    closed: bool,
}

struct Hub {
    latest: Mutex<Latest>,
    changed: Condvar,
    /// Open HTTP connections (each has a thread).
    clients: AtomicUsize,
    max_clients: usize,
    /// Frames written to stream clients, and frames they skipped.
    frames_served: AtomicU64,
    frames_skipped: AtomicU64,
}

impl Hub {
    fn new(max_clients: usize) -> Self {
        Hub {
            latest: Mutex::new(Latest {
                seq: 0,
                frame: None,
                closed: false,
            }),
            changed: Condvar::new(),
            clients: AtomicUsize::new(0),
            max_clients,
            frames_served: AtomicU64::new(0),
            frames_skipped: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Latest> {
        self.latest.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn publish(&self, frame: Arc<[u8]>) {
        let mut latest = self.lock();
        latest.seq += 1;
        latest.frame = Some(frame);
        drop(latest);
        self.changed.notify_all();
    }

    fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }

    /// The newest frame after frame number `after`, waiting up to `limit`.
    fn next_after(&self, after: u64, limit: Duration) -> Next {
        let deadline = Instant::now() + limit;
        let mut latest = self.lock();
        loop {
            if latest.closed {
                return Next::Closed;
            }
            if latest.seq > after
                && let Some(frame) = &latest.frame
            {
                return Next::Frame(latest.seq, frame.clone());
            }
            let now = Instant::now();
            if now >= deadline {
                return Next::TimedOut;
            }
            latest = self
                .changed
                .wait_timeout(latest, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// What `Hub::next_after` found.
enum Next {
    /// The frame number and the frame.
    Frame(u64, Arc<[u8]>),
    TimedOut,
    /// The viewer is stopping.
    Closed,
}

/// Counts one HTTP connection while it lives.
struct ClientSlot(Arc<Hub>);

impl Drop for ClientSlot {
    fn drop(&mut self) {
        self.0.clients.fetch_sub(1, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------
// HTTP

fn page(udp_port: u16) -> String {
    format!(
        "<!DOCTYPE html>\n\
<html lang=\"en\">\n\
<head>\n\
<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<title>udpjpeg viewer</title>\n\
<style>\n\
  html, body {{ margin: 0; height: 100%; background: #223344; color: #dde4ee;\n\
    font: 14px sans-serif; }}\n\
  body {{ display: flex; flex-direction: column; }}\n\
  main {{ flex: 1; min-height: 0; display: flex; align-items: center;\n\
    justify-content: center; }}\n\
  img {{ max-width: 100%; max-height: 100%; background: #000; }}\n\
  footer {{ padding: 4px 8px; }}\n\
  a {{ color: #9cf; }}\n\
</style>\n\
</head>\n\
<body>\n\
<main><img src=\"/stream.mjpg\" alt=\"live video from UDP port {udp_port}\"></main>\n\
<footer>Live video from UDP port {udp_port} &middot; \
<a href=\"/snapshot.jpg\">snapshot</a> &middot; \
<a href=\"/stream.mjpg\">MJPEG stream</a></footer>\n\
</body>\n\
</html>\n"
    )
}

/// Reads the request head; returns the method and the path (no query).
fn read_request(stream: &mut TcpStream) -> Result<(String, String), u16> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_REQUEST {
            return Err(431);
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return Err(0), // gone or silent: no answer
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head);
    let mut words = text.lines().next().unwrap_or("").split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some(method), Some(target), Some(version)) if version.starts_with("HTTP/") => {
            let path = target.split(['?', '#']).next().unwrap_or("/").to_string();
            Ok((method.to_string(), path))
        }
        _ => Err(400),
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// A whole response with a body, then the connection closes.
fn respond(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &[u8],
    head_only: bool,
) -> std::io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-cache, no-store\r\nConnection: close\r\n",
        reason(status),
        body.len()
    );
    if status == 405 {
        out += "Allow: GET, HEAD\r\n";
    }
    out += "\r\n";
    stream.write_all(out.as_bytes())?;
    if !head_only {
        stream.write_all(body)?;
    }
    stream.flush()
}

fn error_page(stream: &mut TcpStream, status: u16, text: &str) -> std::io::Result<()> {
    respond(
        stream,
        status,
        "text/plain; charset=utf-8",
        format!("{status} {}: {text}\n", reason(status)).as_bytes(),
        false,
    )
}

/// Pushes the newest frame each time there is one until the client goes,
/// stops taking frames, or the viewer stops.
fn stream_mjpeg(stream: &mut TcpStream, hub: &Hub) -> std::io::Result<()> {
    stream.write_all(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary={BOUNDARY}\r\n\
             Cache-Control: no-cache, no-store\r\nPragma: no-cache\r\nConnection: close\r\n\r\n\
             --{BOUNDARY}\r\n"
        )
        .as_bytes(),
    )?;
    let mut sent = 0;
    loop {
        // Only the newest frame is ever taken: frames that came while the
        // last one was being written are skipped, never queued.
        let (seq, frame) = match hub.next_after(sent, Duration::from_secs(1)) {
            Next::Frame(seq, frame) => (seq, frame),
            Next::TimedOut => continue,
            Next::Closed => {
                // The viewer is stopping: close the multipart body.
                let _ = stream.write_all(b"Content-Type: text/plain\r\n\r\nend\r\n");
                let _ = stream.write_all(format!("--{BOUNDARY}--\r\n").as_bytes());
                return Ok(());
            }
        };
        if sent > 0 && seq > sent + 1 {
            hub.frames_skipped
                .fetch_add(seq - sent - 1, Ordering::Relaxed);
        }
        sent = seq;
        // Each part ends with the next boundary, so that a browser shows
        // the frame at once instead of waiting for the next one.
        stream.write_all(
            format!(
                "Content-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
                frame.len()
            )
            .as_bytes(),
        )?;
        stream.write_all(&frame)?;
        stream.write_all(format!("\r\n--{BOUNDARY}\r\n").as_bytes())?;
        hub.frames_served.fetch_add(1, Ordering::Relaxed);
    }
}

/// Answers one request; the caller closes the connection.
fn serve_client(stream: &mut TcpStream, hub: &Hub, udp_port: u16) {
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let _ = stream.set_nodelay(true);
    let (method, path) = match read_request(stream) {
        Ok(r) => r,
        Err(0) => return,
        Err(status) => {
            let _ = error_page(stream, status, "could not read the request");
            return;
        }
    };
    let head_only = method == "HEAD";
    if method != "GET" && !head_only {
        let _ = error_page(stream, 405, "only GET and HEAD");
        return;
    }
    let _ = match path.as_str() {
        "/" | "/index.html" => respond(
            stream,
            200,
            "text/html; charset=utf-8",
            page(udp_port).as_bytes(),
            head_only,
        ),
        "/stream.mjpg" if head_only => respond(
            stream,
            200,
            &format!("multipart/x-mixed-replace; boundary={BOUNDARY}"),
            b"",
            true,
        ),
        "/stream.mjpg" => stream_mjpeg(stream, hub),
        "/snapshot.jpg" => match hub.next_after(0, SNAPSHOT_WAIT) {
            Next::Frame(_, frame) => respond(stream, 200, "image/jpeg", &frame, head_only),
            _ => error_page(
                stream,
                503,
                &format!("no frame has arrived on UDP port {udp_port} yet"),
            ),
        },
        _ => error_page(stream, 404, "try / or /stream.mjpg or /snapshot.jpg"),
    };
}

/// Turns a connection away when all slots are taken, without a thread.
fn turn_away(mut stream: TcpStream, max: usize) {
    // Read what has come of the request so that closing does not reset the
    // connection before the answer is read.
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let deadline = Instant::now() + Duration::from_millis(300);
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline
        && head.len() < MAX_REQUEST
        && !head.windows(4).any(|w| w == b"\r\n\r\n")
    {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let _ = error_page(
        &mut stream,
        503,
        &format!("{max} clients are already watching; try again later"),
    );
    let _ = stream.shutdown(std::net::Shutdown::Write);
}

fn accept_loop(listener: TcpListener, hub: Arc<Hub>, udp_port: u16) {
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(err) => {
                // Out of file descriptors and the like: wait, do not spin.
                eprintln!("warning: http: accept failed: {err}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if hub.clients.fetch_add(1, Ordering::SeqCst) >= hub.max_clients {
            hub.clients.fetch_sub(1, Ordering::SeqCst);
            turn_away(stream, hub.max_clients);
            continue;
        }
        let slot = ClientSlot(hub.clone());
        let spawned = std::thread::Builder::new()
            .name("http-client".into())
            .spawn(move || {
                let mut stream = stream;
                let hub = slot.0.clone();
                serve_client(&mut stream, &hub, udp_port);
                // Free the slot before the client sees the connection close,
                // so that it can come straight back.
                drop(slot);
                let _ = stream.shutdown(std::net::Shutdown::Write);
            });
        if let Err(err) = spawned {
            eprintln!("warning: http: cannot start a client thread: {err}");
        }
    }
}

// ---------------------------------------------------------------------------

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
    format!(
        "listening on UDP port {} (wire-format {}); open http://{shown_host}:{}/ \
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

fn main() {
    let cli: Cli = common::parse_args();
    common::init();
    let (listener, http_addr) = bind_http(&cli);

    let src = common::make("udpsrc");
    src.set_property("port", i32::from(cli.port));
    // A port already taken must be an error, not a shared socket.
    src.set_property("reuse", false);
    let depay = common::make("udpjpegdepay");
    depay.set_property_from_str("wire-format", cli.wire_format.nick());
    let hub = Arc::new(Hub::new(usize::from(cli.max_clients)));
    let received = Arc::new(AtomicU64::new(0));
    let sink = frame_sink(&hub, &received);
    let pipeline = common::pipeline(&[src, depay.clone(), sink.upcast()]);

    std::thread::Builder::new()
        .name("http-accept".into())
        .spawn({
            let hub = hub.clone();
            let port = cli.port;
            move || accept_loop(listener, hub, port)
        })
        .expect("starting the HTTP thread");

    let port = cli.port;
    let explain = move |err: &gst::message::Error| {
        let debug = common::debug_of(err);
        if common::factory_of(err) == "udpsrc" && debug.contains("Address already in use") {
            format!("error: UDP port {port} is already in use; pick another with --port")
        } else {
            common::describe(err)
        }
    };
    let started = Instant::now();
    let message = started_message(&cli, http_addr);
    let tick = stats_printer(&depay, &hub, received);
    let (ending, stats) = common::run(&pipeline, cli.duration, &message, explain, tick, || {
        Stats::of(&depay)
    });
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
