// SPDX-License-Identifier: MPL-2.0
//! The `viewer` example: the `sender` example sends a moving test pattern
//! over 127.0.0.1, the viewer serves it over HTTP; checked with a plain
//! TcpStream (page, snapshot, MJPEG parts, errors, the client cap) and in
//! headless Chromium (two screenshots: a picture, and it moves).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::process::{Kill, example, text, wait_exit};
use common::{PipelineGuard, first_sample, free_tcp_port, free_udp_port};

const CHROMIUM: &str = "/usr/bin/chromium";

/// Ctrl+C, then the output once it has exited.
fn interrupt(running: Kill, limit: Duration) -> Output {
    running.interrupt();
    running
        .wait_exit(limit, Duration::from_millis(50))
        .unwrap_or_else(|out| {
            panic!(
                "did not exit within {limit:?} after Ctrl+C: {}",
                text(&out.stderr)
            )
        })
}

/// A viewer on 127.0.0.1 and a sender of the moving `ball` pattern to it.
struct Setup {
    http_port: u16,
    viewer: Kill,
    _sender: Kill,
}

fn start(extra_viewer_args: &[&str]) -> Setup {
    let udp = free_udp_port().to_string();
    let http_port = free_tcp_port();
    let mut viewer = Command::new(example("viewer"));
    viewer
        .args(["--port", &udp, "--http-address", "127.0.0.1", "--http-port"])
        .arg(http_port.to_string())
        .args(["--duration", "120"])
        .args(extra_viewer_args);
    let viewer = Kill::spawn(&mut viewer);
    let sender = Kill::spawn(Command::new(example("sender")).args([
        "--port",
        &udp,
        "--pattern",
        "ball",
        "--width",
        "320",
        "--height",
        "240",
        "--duration",
        "120",
    ]));
    // Up once /snapshot.jpg answers with a frame.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = get(http_port, "/snapshot.jpg")
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
        _sender: sender,
    }
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn connect(port: u16) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    Ok(s)
}

/// The connection after the head of a response, its status and headers.
type Head = (BufReader<TcpStream>, u16, Vec<(String, String)>);

/// Sends a request and reads the status line and headers.
fn request(port: u16, method: &str, path: &str) -> std::io::Result<Head> {
    let mut s = connect(port)?;
    // One write: a server that answers at once ("503") must not see half.
    s.write_all(
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: test\r\n\r\n")
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
fn get(port: u16, path: &str) -> std::io::Result<Response> {
    let (mut r, status, headers) = request(port, "GET", path)?;
    let mut body = Vec::new();
    r.read_to_end(&mut body)?;
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn is_jpeg(b: &[u8]) -> bool {
    b.len() > 100 && b.starts_with(&[0xFF, 0xD8]) && b.ends_with(&[0xFF, 0xD9])
}

/// Reads `n` parts of a multipart MJPEG body after its headers.
fn read_parts(r: &mut BufReader<TcpStream>, boundary: &str, n: usize) -> Vec<Vec<u8>> {
    let mut parts = Vec::new();
    let mut line = String::new();
    // The first boundary line.
    loop {
        line.clear();
        assert!(r.read_line(&mut line).unwrap() > 0, "stream ended early");
        if line.trim_end() == format!("--{boundary}") {
            break;
        }
        assert!(line.trim().is_empty(), "unexpected line {line:?}");
    }
    while parts.len() < n {
        let mut length = None;
        let mut content_type = None;
        loop {
            line.clear();
            assert!(r.read_line(&mut line).unwrap() > 0, "stream ended early");
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').expect("a part header");
            match k.to_ascii_lowercase().as_str() {
                "content-length" => length = Some(v.trim().parse::<usize>().unwrap()),
                "content-type" => content_type = Some(v.trim().to_string()),
                _ => {}
            }
        }
        assert_eq!(content_type.as_deref(), Some("image/jpeg"));
        let mut frame = vec![0; length.expect("each part has a Content-Length")];
        r.read_exact(&mut frame).unwrap();
        parts.push(frame);
        line.clear();
        r.read_line(&mut line).unwrap();
        assert_eq!(line, "\r\n", "CRLF after the part");
        line.clear();
        r.read_line(&mut line).unwrap();
        assert_eq!(
            line.trim_end(),
            format!("--{boundary}"),
            "boundary after the part"
        );
    }
    parts
}

fn boundary_of(content_type: &str) -> String {
    assert!(
        content_type.starts_with("multipart/x-mixed-replace"),
        "{content_type}"
    );
    content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .expect("a boundary parameter")
        .trim_matches('"')
        .to_string()
}

#[test]
fn page_snapshot_and_stream_over_http() {
    let setup = start(&[]);
    let port = setup.http_port;

    let page = get(port, "/").unwrap();
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let html = text(&page.body);
    assert!(
        html.contains("<img") && html.contains("src=\"/stream.mjpg\""),
        "{html}"
    );
    assert_eq!(
        page.header("content-length").unwrap(),
        page.body.len().to_string()
    );

    let snap = get(port, "/snapshot.jpg").unwrap();
    assert_eq!(snap.status, 200);
    assert_eq!(snap.header("content-type"), Some("image/jpeg"));
    assert!(is_jpeg(&snap.body), "{} bytes", snap.body.len());
    assert_eq!(
        snap.header("content-length").unwrap(),
        snap.body.len().to_string()
    );

    let (mut r, status, headers) = request(port, "GET", "/stream.mjpg").unwrap();
    assert_eq!(status, 200);
    let ct = &headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .unwrap()
        .1;
    let boundary = boundary_of(ct);
    let started = Instant::now();
    let parts = read_parts(&mut r, &boundary, 10);
    for p in &parts {
        assert!(is_jpeg(p), "a JPEG frame of {} bytes", p.len());
    }
    assert!(
        parts.windows(2).any(|w| w[0] != w[1]),
        "the frames change (the ball moves)"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "10 frames at 30 fps took {:?}",
        started.elapsed()
    );
    drop(r);

    // Errors.
    assert_eq!(get(port, "/nothing-here").unwrap().status, 404);
    let (_, status, _) = request(port, "POST", "/").unwrap();
    assert_eq!(status, 405);
    let (mut r, status, headers) = request(port, "HEAD", "/snapshot.jpg").unwrap();
    assert_eq!(status, 200);
    assert!(headers.iter().any(|(k, _)| k == "Content-Length"));
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "HEAD has no body");

    // Ctrl+C: a clean stop with a summary (after a statistics line).
    std::thread::sleep(Duration::from_millis(1500));
    let out = interrupt(setup.viewer, Duration::from_secs(10));
    assert!(out.status.success(), "viewer: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("open http://127.0.0.1:"), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("stats: ")), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("received ") && l.contains("served")),
        "{stdout}"
    );
}

#[test]
fn clients_are_capped_and_a_stalled_client_holds_up_no_one() {
    let setup = start(&["--max-clients", "2"]);
    let port = setup.http_port;

    // Client A reads the headers and then nothing at all.
    let (stalled, status, _) = request(port, "GET", "/stream.mjpg").unwrap();
    assert_eq!(status, 200);
    // Client B keeps getting fresh frames meanwhile.
    let (mut b, status, headers) = request(port, "GET", "/stream.mjpg").unwrap();
    assert_eq!(status, 200);
    let boundary = boundary_of(&headers.iter().find(|(k, _)| k == "Content-Type").unwrap().1);
    let started = Instant::now();
    let parts = read_parts(&mut b, &boundary, 30);
    assert!(parts.iter().all(|p| is_jpeg(p)));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "30 frames took {:?} with a stalled client",
        started.elapsed()
    );

    // A third client is turned away with 503 while both slots are taken.
    let third = get(port, "/").unwrap();
    assert_eq!(third.status, 503, "{}", text(&third.body));
    assert!(
        text(&third.body).contains("2 clients"),
        "{}",
        text(&third.body)
    );

    // Once one leaves, its slot is free again.
    drop(b);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = get(port, "/").unwrap();
        if r.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the slot was not freed");
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(stalled);
}

#[test]
fn a_taken_http_port_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = Command::new(example("viewer"))
        .args(["--port", &free_udp_port().to_string()])
        .args(["--http-address", "127.0.0.1", "--http-port", &port])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).trim(),
        format!("error: TCP port {port} is already in use; pick another with --http-port")
    );
}

#[test]
fn bad_flags_exit_2_and_help_lists_the_flags() {
    for args in [
        &["--http-port", "0"][..],
        &["--http-address", "nowhere"],
        &["--wire-format", "rtp"],
        &["--bogus"],
    ] {
        let out = Command::new(example("viewer")).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(text(&out.stderr).contains("usage:"), "{args:?}");
    }
    let out = Command::new(example("viewer"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = text(&out.stdout);
    for f in [
        "--port",
        "--wire-format",
        "--http-port",
        "--http-address",
        "--duration",
        "/stream.mjpg",
        "/snapshot.jpg",
    ] {
        assert!(help.contains(f), "--help mentions {f}");
    }
}

// ---------------------------------------------------------------------------
// Headless Chromium

/// Takes a 640x480 screenshot of `url` with headless Chromium.
fn screenshot(url: &str, png: &Path, profile: &Path) {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install the Debian package chromium \
         (apt-get install chromium chromium-driver)"
    );
    let _ = std::fs::remove_file(png);
    let _ = std::fs::remove_dir_all(profile);
    let child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--no-first-run",
            "--window-size=640,480",
            // The MJPEG stream never ends: take the picture after this much
            // (virtual) time rather than at the load event.
            "--virtual-time-budget=1500",
            "--timeout=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_exit(child, Duration::from_secs(60), Duration::from_millis(100))
        .unwrap_or_else(|out| panic!("chromium did not finish in 60 s: {}", text(&out.stderr)));
    assert!(
        png.exists(),
        "chromium wrote no screenshot ({}): {}",
        out.status,
        text(&out.stderr)
    );
}

/// Decodes a PNG with the stock `pngdec` to RGB: (width, height, pixels).
fn decode_png(png: &Path) -> (usize, usize, Vec<[u8; 3]>) {
    gst::init().unwrap();
    for f in ["filesrc", "pngdec", "videoconvert", "appsink"] {
        assert!(
            gst::ElementFactory::find(f).is_some(),
            "the stock element {f} is missing: install gstreamer1.0-plugins-good and \
             gstreamer1.0-plugins-base"
        );
    }
    let pipeline = PipelineGuard::playing(&format!(
        "filesrc location=\"{}\" ! pngdec ! videoconvert ! video/x-raw,format=RGB ! \
         appsink name=sink sync=false",
        png.display()
    ));
    let sample = first_sample(&pipeline).expect("pngdec decodes the screenshot");
    let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
    let (w, h, stride) = (
        info.width() as usize,
        info.height() as usize,
        info.stride()[0] as usize,
    );
    let map = sample.buffer().unwrap().map_readable().unwrap();
    let mut pixels = Vec::with_capacity(w * h);
    for y in 0..h {
        let row = &map[y * stride..][..w * 3];
        pixels.extend(row.chunks_exact(3).map(|p| [p[0], p[1], p[2]]));
    }
    (w, h, pixels)
}

/// The bounding box (x0, y0, x1, y1) of the near-black pixels: the video
/// (the ball pattern is a white ball on black; the page is blue-grey).
fn dark_box(w: usize, pixels: &[[u8; 3]]) -> Option<(usize, usize, usize, usize)> {
    let mut b: Option<(usize, usize, usize, usize)> = None;
    for (i, p) in pixels.iter().enumerate() {
        if p.iter().all(|&c| c < 40) {
            let (x, y) = (i % w, i / w);
            b = Some(match b {
                None => (x, y, x, y),
                Some((x0, y0, x1, y1)) => (x0.min(x), y0.min(y), x1.max(x), y1.max(y)),
            });
        }
    }
    b
}

#[test]
#[ignore = "needs Chromium: run scripts/test.sh"]
fn chromium_shows_the_moving_picture() {
    let setup = start(&[]);
    let url = format!("http://127.0.0.1:{}/", setup.http_port);
    let dir = std::env::temp_dir().join(format!("udpjpeg-viewer-{}", setup.http_port));
    std::fs::create_dir_all(&dir).unwrap();

    let shots: Vec<PathBuf> = (1..=2).map(|i| dir.join(format!("shot{i}.png"))).collect();
    screenshot(&url, &shots[0], &dir.join("profile1"));
    std::thread::sleep(Duration::from_millis(1000));
    screenshot(&url, &shots[1], &dir.join("profile2"));

    let mut boxes = Vec::new();
    let mut decoded = Vec::new();
    for shot in &shots {
        let (w, h, pixels) = decode_png(shot);
        assert_eq!((w, h), (640, 480), "{}", shot.display());
        let first = pixels[0];
        assert!(
            pixels.iter().any(|p| *p != first),
            "{} is a blank page of one colour {first:?}",
            shot.display()
        );
        // The 320x240 video sits on the page at its own size.
        let (x0, y0, x1, y1) = dark_box(w, &pixels)
            .unwrap_or_else(|| panic!("no video picture in {}", shot.display()));
        let (bw, bh) = (x1 - x0 + 1, y1 - y0 + 1);
        assert!(
            (310..=330).contains(&bw) && (230..=250).contains(&bh),
            "the dark video area of {} is {bw}x{bh} at ({x0}, {y0}), not about 320x240",
            shot.display()
        );
        // The white ball inside it.
        let bright = (y0..=y1)
            .flat_map(|y| (x0..=x1).map(move |x| (x, y)))
            .filter(|&(x, y)| pixels[y * w + x].iter().all(|&c| c > 180))
            .count();
        assert!(
            bright > 100,
            "no ball in the video area of {} ({bright} bright pixels)",
            shot.display()
        );
        boxes.push((x0, y0, x1, y1));
        decoded.push(pixels);
    }
    let (x0, y0, x1, y1) = boxes[0];
    let changed = (y0..=y1)
        .flat_map(|y| (x0..=x1).map(move |x| y * 640 + x))
        .filter(|&i| decoded[0][i] != decoded[1][i])
        .count();
    assert!(
        changed > 100,
        "the picture did not change between the screenshots ({changed} pixels differ); \
         see {} and {}",
        shots[0].display(),
        shots[1].display()
    );
    let _ = std::fs::remove_dir_all(dir.join("profile1"));
    let _ = std::fs::remove_dir_all(dir.join("profile2"));
    eprintln!("screenshots: {} {}", shots[0].display(), shots[1].display());
}
