// SPDX-License-Identifier: MPL-2.0
//! The `viewer` example fed by the `sender` example over 127.0.0.1, and a
//! plain HTTP/1.1 client (a TcpStream) to talk to it (tests/viewer.rs,
//! tests/players.rs).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use super::process::{Kill, example};
use super::{free_tcp_port, free_udp_port};

/// A viewer on 127.0.0.1 and a sender of a test pattern to it.
pub struct Setup {
    pub http_port: u16,
    pub viewer: Kill,
    pub sender: Kill,
}

/// What `start_with` runs.
pub struct Start<'a> {
    /// Flags for the viewer beyond the ports and `--duration`.
    pub viewer_args: &'a [&'a str],
    /// Flags for the sender beyond the port and `--duration`.
    pub sender_args: &'a [&'a str],
    /// Extra request header lines (`"Authorization: ...\r\n"`) that the
    /// readiness check needs.
    pub headers: &'a str,
    /// The folder the viewer runs in (relative paths in its flags).
    pub dir: Option<&'a std::path::Path>,
}

/// The moving 320x240 `ball` pattern, no credentials.
pub fn start(viewer_args: &[&str]) -> Setup {
    start_with(Start {
        viewer_args,
        sender_args: &["--pattern", "ball", "--width", "320", "--height", "240"],
        headers: "",
        dir: None,
    })
}

/// Starts both and waits until `/snapshot.jpg` answers with a frame.
pub fn start_with(s: Start) -> Setup {
    let udp = free_udp_port().to_string();
    let http_port = free_tcp_port();
    let mut viewer = Command::new(example("viewer"));
    viewer
        .args(["--port", &udp, "--http-address", "127.0.0.1", "--http-port"])
        .arg(http_port.to_string())
        .args(["--duration", "120"])
        .args(s.viewer_args);
    if let Some(dir) = s.dir {
        viewer.current_dir(dir);
    }
    let viewer = Kill::spawn(&mut viewer);
    let sender = Kill::spawn(
        Command::new(example("sender"))
            .args(["--port", &udp, "--duration", "120"])
            .args(s.sender_args),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = get_with(http_port, "/snapshot.jpg", s.headers)
            && r.status == 200
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the viewer did not serve a frame within 20 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    Setup {
        http_port,
        viewer,
        sender,
    }
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }
}

/// The value of header `name` (any case) in `headers`.
pub fn header_in<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn connect(port: u16) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    Ok(s)
}

/// The connection after the head of a response, its status and headers.
pub type Head = (BufReader<TcpStream>, u16, Vec<(String, String)>);

/// Sends a request and reads the status line and headers.
pub fn request(port: u16, method: &str, path: &str) -> std::io::Result<Head> {
    request_with(port, method, path, "")
}

/// `request` with extra header lines, each ending in "\r\n".
pub fn request_with(port: u16, method: &str, path: &str, headers: &str) -> std::io::Result<Head> {
    let s = connect(port)?;
    send_request(s, method, path, headers)
}

/// Sends the request on `s` and reads the head of the response.
pub fn send_request(
    mut s: TcpStream,
    method: &str,
    path: &str,
    headers: &str,
) -> std::io::Result<Head> {
    let host = s.peer_addr()?;
    // One write: a server that answers at once ("503") must not see half.
    // "Connection: close": the server keeps HTTP/1.1 connections open for
    // another request otherwise, and `get` reads the body to the end.
    s.write_all(
        format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: test\r\n\
             Connection: close\r\n{headers}\r\n"
        )
        .as_bytes(),
    )?;
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':').expect("a header line");
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    Ok((r, status, headers))
}

/// A whole GET: the viewer closes the connection after the body.
pub fn get(port: u16, path: &str) -> std::io::Result<Response> {
    get_with(port, path, "")
}

/// `get` with extra header lines.
pub fn get_with(port: u16, path: &str, headers: &str) -> std::io::Result<Response> {
    let (mut r, status, headers) = request_with(port, "GET", path, headers)?;
    let mut body = Vec::new();
    r.read_to_end(&mut body)?;
    Ok(Response {
        status,
        headers,
        body,
    })
}

pub fn is_jpeg(b: &[u8]) -> bool {
    b.len() > 100 && b.starts_with(&[0xFF, 0xD8]) && b.ends_with(&[0xFF, 0xD9])
}
