// SPDX-License-Identifier: MPL-2.0
//! The `viewer` example: the `sender` example sends a moving test pattern
//! over 127.0.0.1, the viewer serves it over HTTP; checked with a plain
//! TcpStream (page, snapshot, MJPEG parts, errors, the client cap, a client
//! that stops reading, credentials), with curl (credentials, the README's
//! commands) and in headless Chromium (two screenshots: a picture, and it
//! moves; with credentials in the URL).

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use common::process::{Kill, example, make_key, require_tool, text, wait_exit};
use common::viewer::{
    Setup, Start, get, get_with, header_in, is_jpeg, request, request_with, send_request, start,
    start_with,
};
use common::{PipelineGuard, TempDir, first_sample, free_udp_port};

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
        "--max-clients",
        "--user",
        "--password-file",
        "/stream.mjpg",
        "/snapshot.jpg",
    ] {
        assert!(help.contains(f), "--help mentions {f}");
    }
}

// ---------------------------------------------------------------------------
// The client that stops reading

#[test]
fn a_client_that_stops_reading_is_dropped() {
    // Large frames (snow does not compress) fill the kernel's buffers for
    // the stalled client within a second or so; then the viewer's write
    // waits, and gives up after its 5 s timeout.
    let setup = start_with(Start {
        viewer_args: &["--max-clients", "1"],
        sender_args: &["--pattern", "snow", "--width", "640", "--height", "360"],
        headers: "",
        dir: None,
    });
    let port = setup.http_port;
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    // A small receive buffer: the kernel holds little on its side.
    socket.set_recv_buffer_size(4096).unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    socket.connect(&addr.into()).unwrap();
    let (stalled, status, _) = send_request(socket.into(), "GET", "/stream.mjpg", "").unwrap();
    assert_eq!(status, 200);
    let started = Instant::now();

    // It holds the only slot until the viewer drops it.
    assert_eq!(get(port, "/").unwrap().status, 503);
    loop {
        if get(port, "/").unwrap().status == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the stalled client still held its slot after 30 s"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let waited = started.elapsed();
    eprintln!("the stalled client was dropped after {waited:?}");
    assert!(
        waited >= Duration::from_secs(4),
        "dropped after {waited:?}: sooner than the 5 s write timeout"
    );
    drop(stalled);
}

// ---------------------------------------------------------------------------
// Credentials (HTTP basic auth)

const USER: &str = "alice";
const PASSWORD: &str = "correct horse";
const CHALLENGE: &str = "Basic realm=\"udpjpeg viewer\", charset=\"UTF-8\"";

/// The header line "Authorization: Basic ..." for `user_password`.
fn basic(user_password: &str) -> String {
    format!(
        "Authorization: Basic {}\r\n",
        STANDARD.encode(user_password)
    )
}

fn right_credentials() -> String {
    basic(&format!("{USER}:{PASSWORD}"))
}

/// A viewer that asks for USER and PASSWORD, whose password file (in
/// `dir`) ends in a newline.
fn start_protected(dir: &TempDir) -> Setup {
    std::fs::write(dir.0.join("password"), format!("{PASSWORD}\n")).unwrap();
    start_with(Start {
        viewer_args: &["--user", USER, "--password-file", "password"],
        sender_args: &["--pattern", "ball", "--width", "320", "--height", "240"],
        headers: &right_credentials(),
        dir: Some(&dir.0),
    })
}

#[test]
fn credentials_are_asked_for_and_checked() {
    let dir = TempDir::new("udpjpeg-viewer-auth");
    let setup = start_protected(&dir);
    let port = setup.http_port;

    let refused = [
        String::new(),
        basic(&format!("{USER}:wrong")),
        basic(&format!("bob:{PASSWORD}")),
        // The file's newline is not part of the password.
        basic(&format!("{USER}:{PASSWORD}\n")),
        basic(USER),
        "Authorization: Bearer abc\r\n".to_string(),
        "Authorization: Basic !!!\r\n".to_string(),
    ];
    for path in ["/", "/snapshot.jpg", "/stream.mjpg", "/nothing-here"] {
        for headers in &refused {
            let (_, status, h) = request_with(port, "GET", path, headers).unwrap();
            assert_eq!(status, 401, "{path} with {headers:?}");
            assert_eq!(header_in(&h, "WWW-Authenticate"), Some(CHALLENGE));
        }
    }
    let (_, status, _) = request_with(port, "HEAD", "/snapshot.jpg", "").unwrap();
    assert_eq!(status, 401);

    let right = right_credentials();
    let page = get_with(port, "/", &right).unwrap();
    assert_eq!(page.status, 200);
    assert!(text(&page.body).contains("src=\"/stream.mjpg\""));
    let snap = get_with(port, "/snapshot.jpg", &right).unwrap();
    assert_eq!(snap.status, 200);
    assert!(is_jpeg(&snap.body), "{} bytes", snap.body.len());
    let (mut r, status, headers) = request_with(port, "GET", "/stream.mjpg", &right).unwrap();
    assert_eq!(status, 200);
    let boundary = boundary_of(header_in(&headers, "Content-Type").unwrap());
    assert!(read_parts(&mut r, &boundary, 5).iter().all(|p| is_jpeg(p)));
    drop(r);
    // The scheme name is case-insensitive.
    let lower = right.replace("Basic", "basic");
    assert_eq!(get_with(port, "/", &lower).unwrap().status, 200);

    let out = interrupt(setup.viewer, Duration::from_secs(10));
    assert!(out.status.success(), "viewer: {}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&format!("as user {USER} (basic auth)")),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn user_and_password_file_go_together() {
    let dir = TempDir::new("udpjpeg-viewer-flags");
    std::fs::write(dir.0.join("password"), "x\n").unwrap();
    std::fs::write(dir.0.join("empty"), "\n").unwrap();
    let cases: [(&[&str], &str); 5] = [
        (&["--user", "alice"], "--password-file <FILE>"),
        (&["--password-file", "password"], "--user <NAME>"),
        (
            &["--user", "alice", "--password-file", "missing"],
            "--password-file missing: cannot read it",
        ),
        (
            &["--user", "alice", "--password-file", "empty"],
            "--password-file empty: the file holds no password",
        ),
        (
            &["--user", "a:b", "--password-file", "password"],
            "the name must be non-empty and without ':'",
        ),
    ];
    for (args, says) in cases {
        let out = Command::new(example("viewer"))
            .args(["--port", &free_udp_port().to_string()])
            .args(["--http-address", "127.0.0.1", "--http-port", "1"])
            .args(args)
            .current_dir(&dir.0)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(stderr.contains("usage:"), "{args:?}: {stderr}");
    }
}

/// Runs curl with `args`: its exit code and stdout.
fn curl(args: &[&str]) -> (i32, String) {
    require_tool("/usr/bin/curl", "curl");
    let out = Command::new("/usr/bin/curl")
        .args(["--silent", "--show-error"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), text(&out.stdout))
}

/// curl's status code for GET `url` with `--user` `user` (if any), the
/// body written to `file`; `--max-time 2` for a stream (curl then exits
/// with 28 when the time is up).
fn curl_status(url: &str, user: Option<&str>, file: &Path) -> (i32, String) {
    let mut args = vec!["--max-time", "2", "--write-out", "%{http_code}", "--output"];
    let file = file.to_str().unwrap();
    args.push(file);
    if let Some(u) = user {
        args.extend(["--user", u]);
    }
    args.push(url);
    curl(&args)
}

#[test]
#[ignore = "needs curl: run scripts/test.sh"]
fn curl_gets_401_without_the_credentials_and_200_with_them() {
    let dir = TempDir::new("udpjpeg-viewer-curl");
    let setup = start_protected(&dir);
    let base = format!("http://127.0.0.1:{}", setup.http_port);
    let right = format!("{USER}:{PASSWORD}");
    let body = dir.0.join("body");
    for path in ["/", "/snapshot.jpg", "/stream.mjpg"] {
        let url = format!("{base}{path}");
        for user in [None, Some("alice:wrong"), Some("bob:correct horse")] {
            let (code, status) = curl_status(&url, user, &body);
            assert_eq!((code, status.as_str()), (0, "401"), "{path} as {user:?}");
        }
        let (code, status) = curl_status(&url, Some(&right), &body);
        assert_eq!(status, "200", "{path}");
        let got = std::fs::read(&body).unwrap();
        match path {
            "/" => assert!(text(&got).contains("<img"), "{}", text(&got)),
            "/snapshot.jpg" => assert!(is_jpeg(&got), "{} bytes", got.len()),
            _ => {
                // Stopped by --max-time after two seconds of frames.
                assert_eq!(code, 28, "curl ends the endless stream");
                let parts = text(&got).matches("Content-Type: image/jpeg").count();
                assert!(parts >= 20, "{parts} frames in 2 s");
            }
        }
    }
    // The 401 tells the client how to log in.
    let (_, head) = curl(&["--head", &format!("{base}/")]);
    assert!(head.contains("HTTP/1.1 401"), "{head}");
    assert!(
        head.contains(&format!("WWW-Authenticate: {CHALLENGE}")),
        "{head}"
    );
}

// The README's viewer section, run as written (ports replaced, and the web
// server on 127.0.0.1 rather than every interface).
const README_VIEWER: &str = "cargo run --release --example viewer -- --port 5000 --http-port 8080";
const README_PASSWORD_FILE: &str =
    "printf '%s\\n' 'correct horse battery staple' > viewer-password";
const README_PROTECTED: &str = "cargo run --release --example viewer -- --port 5000 --http-port 8080 --user alice --password-file viewer-password";
const README_CURL: &str = "curl --user 'alice:correct horse battery staple' -o snapshot.jpg http://192.0.2.10:8080/snapshot.jpg";

#[test]
fn the_readme_shows_the_viewer_commands() {
    let readme = std::fs::read_to_string("README.md").unwrap();
    for c in [
        README_VIEWER,
        README_PASSWORD_FILE,
        README_PROTECTED,
        README_CURL,
    ] {
        assert!(readme.contains(c), "README.md shows `{c}`");
    }
    assert!(
        readme.contains("sends the password in clear"),
        "README.md says what basic auth is worth"
    );
}

/// Runs `command` with `sh -c` in `dir`, which must succeed.
fn sh(command: &str, dir: &Path) {
    let out = Command::new("sh")
        .args(["-c", command])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "`{command}`: {}", text(&out.stderr));
}

#[test]
#[ignore = "needs curl: run scripts/test.sh"]
fn the_readme_credentials_recipe_runs_as_written() {
    require_tool("/usr/bin/curl", "curl");
    let dir = TempDir::new("udpjpeg-viewer-readme");
    sh(README_PASSWORD_FILE, &dir.0);
    let flags = README_PROTECTED
        .split_once(" -- --port 5000 --http-port 8080 ")
        .expect("the README's viewer command")
        .1;
    let viewer_args: Vec<&str> = flags.split_whitespace().collect();
    let setup = start_with(Start {
        viewer_args: &viewer_args,
        sender_args: &["--pattern", "ball", "--width", "320", "--height", "240"],
        headers: &basic("alice:correct horse battery staple"),
        dir: Some(&dir.0),
    });
    let here = format!("127.0.0.1:{}", setup.http_port);
    sh(&README_CURL.replace("192.0.2.10:8080", &here), &dir.0);
    let snapshot = std::fs::read(dir.0.join("snapshot.jpg")).unwrap();
    assert!(is_jpeg(&snapshot), "{} bytes", snapshot.len());
}

// ---------------------------------------------------------------------------
// Headless Chromium

/// Takes a 640x480 screenshot of `url` with headless Chromium.
fn screenshot(url: &str, png: &Path, profile: &Path) {
    let out = try_screenshot(url, png, profile);
    assert!(
        png.exists(),
        "chromium wrote no screenshot ({}): {}",
        out.status,
        text(&out.stderr)
    );
}

/// Runs headless Chromium to take a 640x480 screenshot of `url` into
/// `png`, which it may not write (a page that asks for credentials).
fn try_screenshot(url: &str, png: &Path, profile: &Path) -> Output {
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
    wait_exit(child, Duration::from_secs(60), Duration::from_millis(100))
        .unwrap_or_else(|out| panic!("chromium did not finish in 60 s: {}", text(&out.stderr)))
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

/// The 320x240 video on a screenshot: the box of its near-black pixels,
/// if it has about that size and holds the white ball.
fn video_area(w: usize, pixels: &[[u8; 3]]) -> Result<(usize, usize, usize, usize), String> {
    let (x0, y0, x1, y1) = dark_box(w, pixels).ok_or("no video picture")?;
    let (bw, bh) = (x1 - x0 + 1, y1 - y0 + 1);
    // The 320x240 video sits on the page at its own size.
    if !((310..=330).contains(&bw) && (230..=250).contains(&bh)) {
        return Err(format!(
            "the dark video area is {bw}x{bh} at ({x0}, {y0}), not about 320x240"
        ));
    }
    // The white ball inside it.
    let bright = (y0..=y1)
        .flat_map(|y| (x0..=x1).map(move |x| (x, y)))
        .filter(|&(x, y)| pixels[y * w + x].iter().all(|&c| c > 180))
        .count();
    if bright <= 100 {
        return Err(format!(
            "no ball in the video area ({bright} bright pixels)"
        ));
    }
    Ok((x0, y0, x1, y1))
}

/// Two screenshots of `url` a second apart, in a folder named after
/// `tag`: each shows the 320x240 picture with its ball, and it moves.
fn assert_moving_picture(url: &str, tag: &str) {
    let dir = std::env::temp_dir().join(format!("udpjpeg-viewer-{tag}"));
    std::fs::create_dir_all(&dir).unwrap();

    let shots: Vec<PathBuf> = (1..=2).map(|i| dir.join(format!("shot{i}.png"))).collect();
    screenshot(url, &shots[0], &dir.join("profile1"));
    std::thread::sleep(Duration::from_millis(1000));
    screenshot(url, &shots[1], &dir.join("profile2"));

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
        let area = video_area(w, &pixels).unwrap_or_else(|e| panic!("{}: {e}", shot.display()));
        boxes.push(area);
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

#[test]
#[ignore = "needs Chromium: run scripts/test.sh"]
fn chromium_shows_the_moving_picture() {
    let setup = start(&[]);
    let url = format!("http://127.0.0.1:{}/", setup.http_port);
    assert_moving_picture(&url, &setup.http_port.to_string());
}

#[test]
#[ignore = "needs Chromium: run scripts/test.sh"]
fn chromium_logs_in_with_the_credentials_in_the_url() {
    let dir = TempDir::new("udpjpeg-viewer-chromium-auth");
    let setup = start_protected(&dir);
    let port = setup.http_port;
    // Chromium sends the credentials of the page's URL, and then the same
    // ones for the picture it embeds (same origin, same realm).
    let url = format!(
        "http://{USER}:{}@127.0.0.1:{port}/",
        PASSWORD.replace(' ', "%20")
    );
    assert_moving_picture(&url, &format!("{port}-auth"));

    // Without them, or with wrong ones, no picture: headless Chromium
    // gives up on a page that asks for credentials and writes no
    // screenshot (a browser with a window would ask for them).
    for url in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://{USER}:wrong@127.0.0.1:{port}/"),
    ] {
        let shot = dir.0.join("refused.png");
        let out = try_screenshot(&url, &shot, &dir.0.join("profile"));
        if shot.exists() {
            let (w, _, pixels) = decode_png(&shot);
            assert!(
                video_area(w, &pixels).is_err(),
                "{url} showed the picture: {}",
                shot.display()
            );
        }
        assert!(out.status.success(), "chromium: {}", text(&out.stderr));
    }
}

/// A sealed stream: the viewer with the sender's key file serves its
/// frames (start_with waits for a snapshot).
#[test]
fn the_viewer_takes_a_sealed_stream_with_the_key_file() {
    let dir = TempDir::new("udpjpeg-viewer-key");
    let key = make_key(&dir.0.join("cam.key"));
    let key = key.as_str();
    let setup = start_with(Start {
        viewer_args: &["--key-file", key],
        sender_args: &["--width", "320", "--height", "240", "--key-file", key],
        headers: "",
        dir: None,
    });
    let snap = get(setup.http_port, "/snapshot.jpg").unwrap();
    assert!(is_jpeg(&snap.body), "{} bytes", snap.body.len());
}
