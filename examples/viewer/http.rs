// SPDX-License-Identifier: MPL-2.0
//! The viewer's web server, on tiny_http (which reads and parses the
//! requests): one thread takes the requests, checks the credentials and the
//! client cap, and gives each request a thread of its own.
//!
//! - `/`: a page with `<img src="/stream.mjpg">`;
//! - `/stream.mjpg`: `multipart/x-mixed-replace` MJPEG, the newest frame
//!   each time there is one;
//! - `/snapshot.jpg`: the newest frame.

use std::io::{ErrorKind, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tiny_http::{Header, Method, Request, Response};

use crate::auth::Credentials;
use crate::hub::{ClientSlot, Hub, Next};

/// The multipart boundary between frames of `/stream.mjpg`.
const BOUNDARY: &str = "udpjpegframe";
/// A stream client that takes longer than this to take one frame is
/// dropped.
const FRAME_TIMEOUT: Duration = Duration::from_secs(5);
/// A write to a client that takes nothing for this long returns: a stream
/// then checks its frame's deadline, any other answer gives up.
const SEND_TIMEOUT: Duration = Duration::from_secs(2);
/// How long `/snapshot.jpg` waits for a first frame.
const SNAPSHOT_WAIT: Duration = Duration::from_secs(2);

/// What every request is answered from.
pub struct Site {
    pub hub: Arc<Hub>,
    pub udp_port: u16,
    /// `None`: anyone may watch.
    pub credentials: Option<Credentials>,
}

/// A tiny_http server on `listener`, whose connections time out on writes.
pub fn serve_on(listener: TcpListener) -> std::io::Result<tiny_http::Server> {
    // tiny_http accepts the connections itself and has no timeouts; on
    // Linux an accepted socket inherits the listening socket's send
    // timeout, so a write to a client that stops reading returns
    // (tests/viewer.rs checks that such a client is dropped).
    socket2::SockRef::from(&listener).set_write_timeout(Some(SEND_TIMEOUT))?;
    tiny_http::Server::from_listener(listener, None).map_err(std::io::Error::other)
}

/// Takes requests until the server ends: the credentials are checked and
/// the client cap applied here; each request admitted gets a thread.
pub fn accept_loop(server: tiny_http::Server, site: Arc<Site>) {
    for request in server.incoming_requests() {
        if let Some(credentials) = &site.credentials
            && !credentials.accept(header(&request, "Authorization"))
        {
            let _ = request.respond(unauthorized());
            continue;
        }
        let Some(slot) = site.hub.take_slot() else {
            let text = format!(
                "{} clients are already watching; try again later",
                site.hub.max_clients
            );
            let _ = request.respond(error_page(503, &text));
            continue;
        };
        let site = site.clone();
        let spawned = std::thread::Builder::new()
            .name("http-client".into())
            .spawn(move || serve(request, slot, &site));
        if let Err(err) = spawned {
            eprintln!("warning: http: cannot start a client thread: {err}");
        }
    }
}

/// The value of the request's header `name`.
fn header<'a>(request: &'a Request, name: &'static str) -> Option<&'a str> {
    request
        .headers()
        .iter()
        .find(|h| h.field.equiv(name))
        .map(|h| h.value.as_str())
}

fn make_header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("an ASCII header")
}

/// A whole response with a body and a Content-Length.
fn response(status: u16, content_type: &str, body: Vec<u8>) -> Response<std::io::Cursor<Vec<u8>>> {
    Response::from_data(body)
        .with_status_code(status)
        .with_header(make_header("Content-Type", content_type))
        .with_header(make_header("Cache-Control", "no-cache, no-store"))
        // Never chunked: a snapshot keeps its Content-Length however large.
        .with_chunked_threshold(usize::MAX)
}

fn error_page(status: u16, text: &str) -> Response<std::io::Cursor<Vec<u8>>> {
    let reason = tiny_http::StatusCode(status).default_reason_phrase();
    let body = format!("{status} {reason}: {text}\n");
    response(status, "text/plain; charset=utf-8", body.into_bytes())
}

fn unauthorized() -> Response<std::io::Cursor<Vec<u8>>> {
    error_page(401, "this viewer asks for a user name and a password")
        .with_header(make_header("WWW-Authenticate", &Credentials::challenge()))
}

/// What a request gets.
enum Answer {
    /// A whole response.
    Whole(Response<std::io::Cursor<Vec<u8>>>),
    /// `/stream.mjpg`, until the client or the viewer stops.
    Stream,
}

/// Answers one admitted request, then frees its slot.
fn serve(request: Request, slot: ClientSlot, site: &Site) {
    match answer(&request, slot.hub(), site) {
        Answer::Stream => {
            let _ = stream_mjpeg(request.into_writer(), slot.hub());
        }
        Answer::Whole(response) => {
            // Free the slot before the client sees the answer end, so that
            // it can come straight back.
            drop(slot);
            let _ = request.respond(response);
        }
    }
}

/// The answer to `request` (a snapshot waits for a first frame here).
fn answer(request: &Request, hub: &Hub, site: &Site) -> Answer {
    let head_only = *request.method() == Method::Head;
    if !head_only && *request.method() != Method::Get {
        let refused = error_page(405, "only GET and HEAD");
        return Answer::Whole(refused.with_header(make_header("Allow", "GET, HEAD")));
    }
    let path = request.url().split(['?', '#']).next().unwrap_or("/");
    Answer::Whole(match path {
        "/" | "/index.html" => response(
            200,
            "text/html; charset=utf-8",
            page(site.udp_port).into_bytes(),
        ),
        "/stream.mjpg" if head_only => response(200, &stream_type(), Vec::new()),
        "/stream.mjpg" => return Answer::Stream,
        "/snapshot.jpg" => match hub.next_after(0, SNAPSHOT_WAIT) {
            Next::Frame(_, frame) => response(200, "image/jpeg", frame.to_vec()),
            _ => error_page(
                503,
                &format!("no frame has arrived on UDP port {} yet", site.udp_port),
            ),
        },
        _ => error_page(404, "try / or /stream.mjpg or /snapshot.jpg"),
    })
}

fn stream_type() -> String {
    format!("multipart/x-mixed-replace; boundary={BOUNDARY}")
}

/// Pushes the newest frame each time there is one until the client goes,
/// stops taking frames, or the viewer stops.
///
/// The response is written here rather than by tiny_http, which would send
/// a body of unknown length chunked, holding back each frame's last bytes
/// until more come: MJPEG clients expect a body that ends when the
/// connection closes, each frame sent whole at once.
fn stream_mjpeg(out: Box<dyn Write + Send>, hub: &Hub) -> std::io::Result<()> {
    let mut out = Deadline {
        inner: out,
        deadline: Instant::now() + FRAME_TIMEOUT,
    };
    write!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nCache-Control: no-cache, no-store\r\n\
         Pragma: no-cache\r\nConnection: close\r\n\r\n--{BOUNDARY}\r\n",
        stream_type()
    )?;
    out.flush()?;
    let mut sent = 0;
    loop {
        // Only the newest frame is ever taken: frames that came while the
        // last one was being written are skipped, never queued.
        let (seq, frame) = match hub.next_after(sent, Duration::from_secs(1)) {
            Next::Frame(seq, frame) => (seq, frame),
            Next::TimedOut => continue,
            Next::Closed => return close_stream(&mut out),
        };
        if sent > 0 && seq > sent + 1 {
            hub.frames_skipped
                .fetch_add(seq - sent - 1, Ordering::Relaxed);
        }
        sent = seq;
        out.deadline = Instant::now() + FRAME_TIMEOUT;
        write_part(&mut out, &frame)?;
        hub.frames_served.fetch_add(1, Ordering::Relaxed);
    }
}

/// A writer that retries the writes that time out (`SEND_TIMEOUT`) until
/// its deadline has passed: the socket's own timeout restarts with each
/// byte taken, so a client that takes a little now and then would never
/// time out on its own.
struct Deadline<W> {
    inner: W,
    deadline: Instant,
}

impl<W: Write> Deadline<W> {
    /// Runs `op` on the inner writer again while it times out, until the
    /// deadline.
    fn retry<T>(&mut self, mut op: impl FnMut(&mut W) -> std::io::Result<T>) -> std::io::Result<T> {
        loop {
            match op(&mut self.inner) {
                Err(e)
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
                        && Instant::now() < self.deadline => {}
                done => return done,
            }
        }
    }
}

impl<W: Write> Write for Deadline<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if Instant::now() >= self.deadline {
            return Err(ErrorKind::TimedOut.into());
        }
        self.retry(|w| w.write(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.retry(|w| w.flush())
    }
}

/// One frame of the stream. Each part ends with the next boundary, so that
/// a browser shows the frame at once instead of waiting for the next one.
fn write_part(out: &mut dyn Write, frame: &[u8]) -> std::io::Result<()> {
    write!(
        out,
        "Content-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
        frame.len()
    )?;
    out.write_all(frame)?;
    write!(out, "\r\n--{BOUNDARY}\r\n")?;
    out.flush()
}

/// The viewer is stopping: the open part gets a body and the multipart
/// body its closing boundary.
fn close_stream(out: &mut dyn Write) -> std::io::Result<()> {
    write!(
        out,
        "Content-Type: text/plain\r\n\r\nend\r\n--{BOUNDARY}--\r\n"
    )?;
    out.flush()
}

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
