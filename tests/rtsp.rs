// SPDX-License-Identifier: MPL-2.0
//! RTSP: the `rtsp_server` example served to independent clients (Debian's
//! `ffprobe` and `ffmpeg` over RTSP/TCP and RTSP/UDP, GStreamer's
//! `rtspsrc`), with frames RTP/JPEG cannot carry as they are (4:4:4,
//! optimized Huffman tables, progressive, grayscale) arriving as the
//! pictures sent: at least 30 dB PSNR against the decoded source, each
//! received frame matched to the picture it came from. And the README's
//! `rtspclientsink` recipes, published to a gst-rtsp-server mount in RECORD
//! mode that stands in for MediaMTX (not packaged in Debian): it writes each
//! frame it receives to a file, which the test decodes.
//!
//! Every client, server and sender runs on 127.0.0.1.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::process::{
    Kill, example, make_key, plugin_dir, require_gst_launch, require_tool, text,
};
use common::{Background, PipelineGuard, TempDir, by_name_as, free_udp_port, init, require};
use gst_rtsp_server::prelude::*;

const FFMPEG: &str = "/usr/bin/ffmpeg";
const FFPROBE: &str = "/usr/bin/ffprobe";
const JPEGTRAN: &str = "/usr/bin/jpegtran";

/// The size of every test picture.
const WIDTH: usize = 320;
const HEIGHT: usize = 240;
/// Bytes of one picture decoded as RGB.
const RGB_FRAME: usize = WIDTH * HEIGHT * 3;
/// The lowest PSNR (dB, over RGB) a received frame may have against the
/// decoded picture it was sent as.
const MIN_PSNR: f64 = 30.0;
/// How long any one client or server may take.
const LIMIT: Duration = Duration::from_secs(60);

// The README's commands, as written there (tests below replace the host
// and port).
const SERVER: &str = "cargo run --release --example rtsp_server -- --port 5000";
const FFPROBE_CMD: &str =
    "ffprobe -v error -rtsp_transport tcp -show_streams rtsp://192.0.2.10:8554/cam";
const FFPLAY_TCP: &str = "ffplay -rtsp_transport tcp rtsp://192.0.2.10:8554/cam";
const FFPLAY_UDP: &str = "ffplay -rtsp_transport udp rtsp://192.0.2.10:8554/cam";
const RECORD_MKV: &str = "ffmpeg -rtsp_transport tcp -i rtsp://192.0.2.10:8554/cam -c copy cam.mkv";
const PUBLISH: &str = "gst-launch-1.0 udpsrc port=5000 ! udpjpegdepay ! queue ! rtspclientsink location=rtsp://192.0.2.20:8554/cam";
const PUBLISH_REENCODED: &str = "gst-launch-1.0 udpsrc port=5000 ! udpjpegdepay ! jpegdec ! videoconvert ! video/x-raw,format=I420 ! jpegenc ! queue ! rtspclientsink location=rtsp://192.0.2.20:8554/cam";

fn require_ffmpeg() {
    require_tool(FFMPEG, "ffmpeg");
    require_tool(FFPROBE, "ffmpeg");
}

// ---------------------------------------------------------------------------
// Pictures

/// One `WIDTH` x `HEIGHT` `pattern` picture from videotestsrc, encoded by
/// jpegenc from `format` (I420 gives 4:2:0, Y444 gives 4:4:4).
fn picture(pattern: &str, format: &str) -> Vec<u8> {
    sized_picture(pattern, format, WIDTH, HEIGHT)
}

fn sized_picture(pattern: &str, format: &str, width: usize, height: usize) -> Vec<u8> {
    require("jpegenc");
    let pipeline = PipelineGuard::playing(&format!(
        "videotestsrc num-buffers=1 pattern={pattern} ! \
         video/x-raw,format={format},width={width},height={height} ! jpegenc ! \
         appsink name=sink sync=false"
    ));
    let sink: gst_app::AppSink = by_name_as(&pipeline, "sink");
    let sample = sink
        .try_pull_sample(gst::ClockTime::from_seconds(10))
        .expect("jpegenc makes a picture");
    sample.buffer().unwrap().map_readable().unwrap().to_vec()
}

/// `jpeg` rewritten by `jpegtran <args>` (Debian's libjpeg-turbo-progs).
fn jpegtran(args: &[&str], jpeg: &[u8], dir: &Path) -> Vec<u8> {
    require_tool(JPEGTRAN, "libjpeg-turbo-progs");
    let (input, output) = (dir.join("in.jpg"), dir.join("out.jpg"));
    std::fs::write(&input, jpeg).unwrap();
    let status = Command::new(JPEGTRAN)
        .args(args)
        .args(["-outfile".as_ref(), output.as_os_str(), input.as_os_str()])
        .status()
        .unwrap();
    assert!(status.success(), "jpegtran {args:?}");
    std::fs::read(output).unwrap()
}

/// `jpeg` decoded by ffmpeg to RGB, the reference a received frame is
/// compared with.
fn decode(jpeg: &[u8], dir: &Path) -> Vec<u8> {
    let (input, output) = (dir.join("ref.jpg"), dir.join("ref.rgb"));
    std::fs::write(&input, jpeg).unwrap();
    let status = Command::new(FFMPEG)
        .args(["-v", "error", "-y", "-i"])
        .arg(&input)
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24"])
        .arg(&output)
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "ffmpeg decodes the source picture");
    let rgb = std::fs::read(output).unwrap();
    assert_eq!(rgb.len(), RGB_FRAME);
    rgb
}

/// The peak signal-to-noise ratio of `b` against `a`, in dB (8-bit values).
fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let squared: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum();
    let mse = squared / a.len() as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64.powi(2) / mse).log10()
    }
}

/// A picture sent in a stream: its name, the JPEG, and the JPEG decoded.
struct Source {
    name: &'static str,
    jpeg: Vec<u8>,
    rgb: Vec<u8>,
}

impl Source {
    fn new(name: &'static str, jpeg: Vec<u8>, dir: &Path) -> Source {
        let rgb = decode(&jpeg, dir);
        Source { name, jpeg, rgb }
    }
}

/// For each received RGB frame, the source it matches best and the PSNR;
/// fails when a frame matches none by at least `MIN_PSNR`.
fn match_frames<'a>(received: &[u8], sources: &'a [Source]) -> Vec<(&'a str, f64)> {
    assert_eq!(
        received.len() % RGB_FRAME,
        0,
        "whole {WIDTH}x{HEIGHT} frames"
    );
    received
        .chunks_exact(RGB_FRAME)
        .enumerate()
        .map(|(i, frame)| {
            let (name, db) = sources
                .iter()
                .map(|s| (s.name, psnr(&s.rgb, frame)))
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap();
            assert!(
                db >= MIN_PSNR,
                "received frame {i} is no picture sent: best {name} at {db:.1} dB"
            );
            (name, db)
        })
        .collect()
}

/// The lowest PSNR per source among `matched`, printed for the record.
fn report(what: &str, matched: &[(&str, f64)]) -> Vec<(String, usize, f64)> {
    let mut by_source: Vec<(String, usize, f64)> = Vec::new();
    for &(name, db) in matched {
        match by_source.iter_mut().find(|(n, _, _)| n == name) {
            Some(entry) => {
                entry.1 += 1;
                entry.2 = entry.2.min(db);
            }
            None => by_source.push((name.to_string(), 1, db)),
        }
    }
    for (name, n, db) in &by_source {
        println!("{what}: {n} frames of {name}, lowest PSNR {db:.1} dB");
    }
    by_source
}

// ---------------------------------------------------------------------------
// Senders

/// Sends `frames` over and over to 127.0.0.1:`port` through udpjpegpay, 15
/// a second, until dropped (or for at most two minutes).
struct LoopSender {
    _thread: Background,
}

impl LoopSender {
    fn start(port: u16, frames: Vec<Vec<u8>>) -> LoopSender {
        init();
        let pipeline = PipelineGuard::playing(&format!(
            "appsrc name=src is-live=true format=time do-timestamp=true ! \
             udpjpegpay ! udpsink host=127.0.0.1 port={port} sync=false"
        ));
        let src: gst_app::AppSrc = by_name_as(&pipeline, "src");
        LoopSender {
            _thread: Background::spawn(move |stopping| {
                let started = Instant::now();
                for frame in frames.iter().cycle() {
                    if stopping.load(Ordering::Relaxed)
                        || started.elapsed() > Duration::from_secs(120)
                    {
                        break;
                    }
                    src.push_buffer(gst::Buffer::from_slice(frame.clone()))
                        .expect("the sender pipeline takes frames");
                    std::thread::sleep(Duration::from_millis(66));
                }
                drop(pipeline);
            }),
        }
    }
}

// ---------------------------------------------------------------------------
// The rtsp_server example

/// A running `rtsp_server` on 127.0.0.1, any free RTSP port, its output
/// going to files.
struct Server {
    run: Kill,
    url: String,
    dir: TempDir,
}

impl Server {
    /// Starts it receiving on UDP `port`; returns once it prints its URL.
    fn start(port: u16) -> Server {
        Server::start_with(port, &[])
    }

    /// As `start`, with more flags.
    fn start_with(port: u16, args: &[&str]) -> Server {
        let dir = TempDir::new("rtsp-server");
        let file = |name: &str| std::fs::File::create(dir.0.join(name)).unwrap();
        let mut cmd = Command::new(example("rtsp_server"));
        cmd.args(["--port", &port.to_string(), "--udp-address", "127.0.0.1"])
            .args([
                "--address",
                "127.0.0.1",
                "--rtsp-port",
                "0",
                "--duration",
                "120",
            ])
            .args(args)
            .stdin(Stdio::null())
            .stdout(file("out"))
            .stderr(file("err"));
        let run = Kill(Some(cmd.spawn().unwrap()));
        let deadline = Instant::now() + Duration::from_secs(20);
        let url = loop {
            let out = std::fs::read_to_string(dir.0.join("out")).unwrap_or_default();
            if let Some(at) = out.find("serving rtsp://") {
                let url = out[at + "serving ".len()..].split_whitespace().next();
                break url.unwrap().to_string();
            }
            assert!(
                Instant::now() < deadline,
                "rtsp_server printed no URL: {out}"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        Server { run, url, dir }
    }

    /// Ctrl+C; its standard output once it has exited.
    fn stop(self) -> String {
        self.run.interrupt();
        let exited = self.run.wait_exit(LIMIT, Duration::from_millis(50));
        let err = std::fs::read_to_string(self.dir.0.join("err")).unwrap_or_default();
        let out = std::fs::read_to_string(self.dir.0.join("out")).unwrap();
        let status = exited.unwrap_or_else(|_| panic!("rtsp_server did not exit: {out}{err}"));
        assert!(status.status.success(), "rtsp_server failed: {out}{err}");
        assert!(
            !err.contains("CRITICAL") && !err.contains("WARNING"),
            "rtsp_server: {err}"
        );
        out
    }
}

/// The summary line of the server's output.
fn summary(out: &str) -> &str {
    out.lines()
        .find(|l| l.starts_with("received "))
        .unwrap_or_else(|| panic!("no summary: {out}"))
}

/// A `cmd` run to its end within `LIMIT`: fails with its stderr otherwise.
fn run_to_end(cmd: &mut Command, what: &str) -> std::process::Output {
    finished(Kill::spawn(cmd), what)
}

/// The output of `child` once it has ended, successfully, within `LIMIT`:
/// fails with its stderr otherwise.
fn finished(child: Kill, what: &str) -> std::process::Output {
    let out = child
        .wait_exit(LIMIT, Duration::from_millis(50))
        .unwrap_or_else(|out| panic!("{what} did not finish: {}", text(&out.stderr)));
    assert!(out.status.success(), "{what}: {}", text(&out.stderr));
    out
}

/// `n` frames read from `url` by ffmpeg over RTSP/`transport`, decoded to
/// RGB, written to `file` (not a pipe, which would fill up).
fn ffmpeg_rgb(url: &str, transport: &str, n: usize, file: &Path) -> Command {
    let mut cmd = Command::new(FFMPEG);
    cmd.args(["-v", "error", "-y", "-rtsp_transport", transport, "-i", url])
        .args([
            "-frames:v",
            &n.to_string(),
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
        ])
        .arg(file)
        .stdin(Stdio::null());
    cmd
}

/// ffmpeg's `framecrc` lines (one per decoded frame: stream, dts, pts,
/// duration, size, checksum) for `n` frames of `url` over `transport`.
fn ffmpeg_framecrc(url: &str, transport: &str, n: usize) -> Command {
    let mut cmd = Command::new(FFMPEG);
    cmd.args(["-v", "error", "-rtsp_transport", transport, "-i", url])
        .args(["-frames:v", &n.to_string(), "-f", "framecrc", "-"]);
    cmd
}

/// The sizes in bytes of the frames listed by `framecrc`.
fn framecrc_sizes(out: &str) -> Vec<usize> {
    out.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(',').nth(4).unwrap().trim().parse().unwrap())
        .collect()
}

/// Waits for an ffmpeg `framecrc` client over `transport`: it must list
/// `n` frames, each the size of a decoded 320x240 4:2:0 picture.
fn assert_full_frames(transport: &str, client: Kill, n: usize) {
    let out = finished(client, &format!("ffmpeg over {transport}"));
    let sizes = framecrc_sizes(&text(&out.stdout));
    assert_eq!(sizes.len(), n, "ffmpeg over {transport} decoded {n} frames");
    // yuvj420p: a full-size luma plane and two quarter-size chroma planes.
    assert!(
        sizes.iter().all(|&s| s == WIDTH * HEIGHT * 3 / 2),
        "{sizes:?}"
    );
}

/// Reads `n` frames of `url` with rtspsrc over `protocols`, decoded to
/// RGB; each must be `WIDTH` x `HEIGHT`.
fn rtspsrc_rgb(url: &str, protocols: &str, n: usize) -> Vec<u8> {
    for f in ["rtspsrc", "rtpjpegdepay", "jpegdec"] {
        require(f);
    }
    let pipeline = PipelineGuard::playing(&format!(
        "rtspsrc location={url} protocols={protocols} latency=0 ! rtpjpegdepay ! jpegdec ! \
         videoconvert ! video/x-raw,format=RGB ! appsink name=sink sync=false"
    ));
    let sink: gst_app::AppSink = by_name_as(&pipeline, "sink");
    let mut rgb = Vec::new();
    for i in 0..n {
        let sample = sink
            .try_pull_sample(gst::ClockTime::from_seconds(20))
            .unwrap_or_else(|| panic!("rtspsrc: no frame {i} within 20 s"));
        let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
        assert_eq!((info.width(), info.height()), (WIDTH as u32, HEIGHT as u32));
        // RGB rows of 320 pixels are 960 bytes, a multiple of 4: no padding.
        let buffer = sample.buffer().unwrap().map_readable().unwrap();
        assert_eq!(buffer.len(), RGB_FRAME);
        rgb.extend_from_slice(&buffer);
    }
    rgb
}

/// `command` (a README line) with `replace` applied, split into words.
fn words(command: &str, replace: &[(&str, String)]) -> Vec<String> {
    let mut line = command.to_string();
    for (from, to) in replace {
        assert!(line.contains(from), "`{from}` in `{line}`");
        line = line.replace(from, to);
    }
    line.split_whitespace().map(str::to_string).collect()
}

/// The README's `command` (starting with `program`) with its example
/// address replaced by the server under test.
fn readme_command(command: &str, url: &str) -> Command {
    let args = words(command, &[("rtsp://192.0.2.10:8554/cam", url.to_string())]);
    let mut cmd = Command::new(format!("/usr/bin/{}", args[0]));
    cmd.args(&args[1..]).stdin(Stdio::null());
    cmd
}

/// The number just before `label` in `summary` ("12 sent as they are"),
/// or after it when `label` ends with ": " ("sampling: 12").
fn count(summary: &str, label: &str) -> u64 {
    let at = summary
        .find(label)
        .unwrap_or_else(|| panic!("`{label}` in `{summary}`"));
    let number = if label.ends_with(": ") {
        summary[at + label.len()..]
            .split([',', ')'])
            .next()
            .unwrap()
    } else {
        summary[..at].rsplit([' ', ':', '(']).next().unwrap()
    };
    number
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("a count at `{label}` in `{summary}`"))
}

// ---------------------------------------------------------------------------
// The RECORD server standing in for MediaMTX

/// A gst-rtsp-server mount at `/cam` on 127.0.0.1 that accepts RECORD, as
/// MediaMTX accepts a publisher. It stands in for MediaMTX only as a
/// receiver: what a publisher sends is depayloaded (`rtpjpegdepay`) and
/// each frame written to a file, which the test reads back (where MediaMTX
/// would hand it to its readers).
struct RecordServer {
    port: u16,
    main_loop: gst::glib::MainLoop,
    thread: Option<std::thread::JoinHandle<()>>,
    dir: TempDir,
}

impl RecordServer {
    fn start() -> RecordServer {
        init();
        require("rtpjpegdepay");
        let dir = TempDir::new("rtsp-record");
        let factory = gst_rtsp_server::RTSPMediaFactory::new();
        factory.set_launch(&format!(
            "( rtpjpegdepay name=depay0 ! multifilesink location={}/frame-%05d.jpg )",
            dir.0.display()
        ));
        factory.set_transport_mode(gst_rtsp_server::RTSPTransportMode::RECORD);
        let server = gst_rtsp_server::RTSPServer::new();
        server.set_address("127.0.0.1");
        server.set_service("0");
        server.mount_points().unwrap().add_factory("/cam", factory);
        let context = gst::glib::MainContext::new();
        server.attach(Some(&context)).expect("the stand-in listens");
        let port = u16::try_from(server.bound_port()).expect("a bound port");
        let main_loop = gst::glib::MainLoop::new(Some(&context), false);
        let running = main_loop.clone();
        let thread = std::thread::spawn(move || {
            let _server = server;
            running.run();
        });
        RecordServer {
            port,
            main_loop,
            thread: Some(thread),
            dir,
        }
    }

    /// How many frames it has written so far.
    fn received(&self) -> usize {
        std::fs::read_dir(&self.dir.0).map_or(0, |d| d.count())
    }

    /// The frames received, in order (once the publisher has stopped).
    fn frames(&self) -> Vec<Vec<u8>> {
        common::read_frames(&self.dir.0)
    }
}

impl Drop for RecordServer {
    fn drop(&mut self) {
        self.main_loop.quit();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Runs the README's `recipe` (a gst-launch-1.0 line publishing to
/// `rtsp://192.0.2.20:8554/cam`) from UDP `port` to `server` for a few
/// seconds while `frames` are sent, then Ctrl+C; returns what the server
/// received.
fn publish(recipe: &str, frames: Vec<Vec<u8>>, server: &RecordServer) -> Vec<Vec<u8>> {
    require_gst_launch();
    require("rtspclientsink");
    let udp = free_udp_port();
    let args = words(
        recipe,
        &[
            (
                "udpsrc port=5000",
                format!("udpsrc address=127.0.0.1 port={udp}"),
            ),
            (
                "rtsp://192.0.2.20:8554/cam",
                format!("rtsp://127.0.0.1:{}/cam", server.port),
            ),
        ],
    );
    let publisher = Kill::spawn(
        Command::new("gst-launch-1.0")
            .args(&args[1..])
            .env("GST_PLUGIN_PATH", plugin_dir()),
    );
    let _sender = LoopSender::start(udp, frames);
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.received() < 20 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    publisher.interrupt();
    let out = publisher
        .wait_exit(LIMIT, Duration::from_millis(50))
        .unwrap_or_else(|out| panic!("the publisher did not stop: {}", text(&out.stderr)));
    let printed = text(&out.stdout) + &text(&out.stderr);
    assert!(out.status.success(), "the publisher failed: {printed}");
    assert!(!printed.contains("WARNING"), "the publisher: {printed}");
    server.frames()
}

/// Decodes each received JPEG file to RGB; `None` for one ffmpeg cannot
/// decode at all.
fn decode_all(frames: &[Vec<u8>], dir: &Path) -> Vec<Option<Vec<u8>>> {
    frames
        .iter()
        .map(|f| {
            let out = dir.join("got.rgb");
            let _ = std::fs::remove_file(&out);
            std::fs::write(dir.join("got.jpg"), f).unwrap();
            let ok = Command::new(FFMPEG)
                .args(["-v", "quiet", "-y", "-i"])
                .arg(dir.join("got.jpg"))
                .args(["-f", "rawvideo", "-pix_fmt", "rgb24"])
                .arg(&out)
                .stdin(Stdio::null())
                .status()
                .unwrap()
                .success();
            std::fs::read(&out)
                .ok()
                .filter(|b| ok && b.len() == RGB_FRAME)
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Tests

#[test]
fn the_readme_shows_the_commands_tested_here() {
    let readme = std::fs::read_to_string("README.md").unwrap();
    for c in [
        SERVER,
        FFPROBE_CMD,
        FFPLAY_TCP,
        FFPLAY_UDP,
        RECORD_MKV,
        PUBLISH,
        PUBLISH_REENCODED,
    ] {
        assert!(readme.contains(c), "README.md shows `{c}`");
    }
    // ffplay opens a window, which these tests do not: what it is given is
    // what ffmpeg is given in RECORD_MKV (TCP) and in the UDP client below.
    let ffplay_args = FFPLAY_TCP.strip_prefix("ffplay ").unwrap();
    assert!(RECORD_MKV.contains(&format!(
        "ffmpeg {} ",
        ffplay_args.replace(" rtsp:", " -i rtsp:")
    )));
    assert_eq!(FFPLAY_UDP, FFPLAY_TCP.replace("tcp", "udp"));
}

#[test]
#[ignore = "needs ffmpeg: run scripts/test.sh"]
fn ffprobe_ffmpeg_and_rtspsrc_share_one_stream() {
    require_ffmpeg();
    let udp = free_udp_port();
    let server = Server::start(udp);
    let _sender = Kill::spawn(Command::new(example("sender")).args([
        "--port",
        &udp.to_string(),
        "--width",
        &WIDTH.to_string(),
        "--height",
        &HEIGHT.to_string(),
        "--fps",
        "15",
        "--duration",
        "120",
    ]));
    let url = server.url.clone();

    let probe = run_to_end(&mut readme_command(FFPROBE_CMD, &url), "ffprobe");
    let probed = text(&probe.stdout);
    println!("ffprobe of {url}:\n{probed}");
    for field in ["codec_name=mjpeg", "width=320", "height=240"] {
        assert!(probed.contains(field), "ffprobe shows {field}: {probed}");
    }
    wait_for_line(&server, "RTSP media stopped", 1);

    // Three clients at once: ffmpeg over TCP and over UDP, rtspsrc over UDP.
    let tcp = Kill::spawn(&mut ffmpeg_framecrc(&url, "tcp", 30));
    let udp_client = Kill::spawn(&mut ffmpeg_framecrc(&url, "udp", 30));
    let rgb = rtspsrc_rgb(&url, "udp", 10);
    assert_eq!(rgb.len(), 10 * RGB_FRAME);
    for (transport, client) in [("tcp", tcp), ("udp", udp_client)] {
        assert_full_frames(transport, client, 30);
    }

    let out = server.stop();
    println!("{out}");
    assert!(out.contains("(3 connected"), "three clients at once: {out}");
    assert_eq!(
        out.matches("RTSP media started").count(),
        2,
        "one media for ffprobe, one shared by the three clients: {out}"
    );
    let summary = summary(&out);
    assert_eq!(count(summary, " clients in all"), 4, "{summary}");
    assert!(count(summary, " sent as they are") > 0, "{summary}");
}

/// A sealed stream: the server with the sender's key file serves it, and
/// ffmpeg decodes full frames over RTSP/TCP.
#[test]
#[ignore = "needs ffmpeg: run scripts/test.sh"]
fn a_sealed_stream_is_served_with_the_key_file() {
    require_ffmpeg();
    let keys = TempDir::new("rtsp-key");
    let key = make_key(&keys.0.join("cam.key"));
    let key = key.as_str();
    let udp = free_udp_port();
    let server = Server::start_with(udp, &["--key-file", key]);
    let (w, h) = (WIDTH.to_string(), HEIGHT.to_string());
    let sender = ["--port", &udp.to_string(), "--width", &w, "--height", &h];
    let _sender = Kill::spawn(Command::new(example("sender")).args(sender).args([
        "--fps",
        "15",
        "--duration",
        "120",
        "--key-file",
        key,
    ]));
    assert_full_frames(
        "tcp",
        Kill::spawn(&mut ffmpeg_framecrc(&server.url, "tcp", 10)),
        10,
    );
    let out = server.stop();
    assert!(count(summary(&out), " sent as they are") > 0, "{out}");
}

/// Waits (at most 20 s) until the server has printed `line` `n` times.
fn wait_for_line(server: &Server, line: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = std::fs::read_to_string(server.dir.0.join("out")).unwrap_or_default();
        if out.matches(line).count() >= n {
            return;
        }
        assert!(Instant::now() < deadline, "`{line}` {n} times: {out}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sends `sources` (and `extra` frames) in turn to a server, reads `n`
/// frames with ffmpeg over `transport` (and 10 with rtspsrc), matches each
/// to its source; returns the server's summary line.
fn serve_and_match(
    sources: &[Source],
    extra: &[Vec<u8>],
    transport: &str,
    n: usize,
    what: &str,
) -> String {
    require_ffmpeg();
    let udp = free_udp_port();
    let server = Server::start(udp);
    let mut frames: Vec<Vec<u8>> = sources.iter().map(|s| s.jpeg.clone()).collect();
    frames.extend_from_slice(extra);
    let _sender = LoopSender::start(udp, frames);
    let dir = TempDir::new("rtsp-client");
    let file = dir.0.join("frames.rgb");
    run_to_end(&mut ffmpeg_rgb(&server.url, transport, n, &file), "ffmpeg");
    let received = std::fs::read(&file).unwrap();
    assert_eq!(
        received.len(),
        n * RGB_FRAME,
        "{n} frames of {WIDTH}x{HEIGHT}"
    );
    let matched = match_frames(&received, sources);
    report(&format!("{what}, ffmpeg over {transport}"), &matched);
    let by_rtspsrc = match_frames(&rtspsrc_rgb(&server.url, "tcp", 10), sources);
    report(&format!("{what}, rtspsrc over tcp"), &by_rtspsrc);
    let out = server.stop();
    println!("{what}, the server's output:\n{out}");
    summary(&out).to_string()
}

#[test]
#[ignore = "needs ffmpeg: run scripts/test.sh"]
fn a_444_stream_arrives_as_the_pictures_sent() {
    init();
    let dir = TempDir::new("rtsp-444");
    let source = Source::new("pinwheel 4:4:4", picture("pinwheel", "Y444"), &dir.0);
    assert!(matches!(
        gstudpjpeg::jpeg::rtp::check(&source.jpeg),
        gstudpjpeg::jpeg::rtp::Verdict::Reencode(gstudpjpeg::jpeg::rtp::Reason::Sampling(_))
    ));
    let summary = serve_and_match(&[source], &[], "tcp", 20, "4:4:4");
    assert_eq!(count(&summary, " sent as they are"), 0, "{summary}");
    assert!(count(&summary, "sampling: ") > 0, "{summary}");
}

#[test]
#[ignore = "needs ffmpeg: run scripts/test.sh"]
fn a_stream_with_optimized_huffman_tables_arrives_as_the_pictures_sent() {
    init();
    let dir = TempDir::new("rtsp-optimized");
    let optimized = jpegtran(&["-optimize"], &picture("spokes", "I420"), &dir.0);
    assert_eq!(
        gstudpjpeg::jpeg::rtp::check(&optimized),
        gstudpjpeg::jpeg::rtp::Verdict::Reencode(gstudpjpeg::jpeg::rtp::Reason::OwnHuffmanTables)
    );
    let source = Source::new("spokes, jpegtran -optimize", optimized, &dir.0);
    let summary = serve_and_match(&[source], &[], "udp", 20, "optimized tables");
    assert_eq!(count(&summary, " sent as they are"), 0, "{summary}");
    assert!(count(&summary, "own Huffman tables: ") > 0, "{summary}");
}

/// Five pictures, one of each kind, to send in turn: each frame is decided
/// on its own.
fn mixed_sources(dir: &Path) -> Vec<Source> {
    let kinds: [(&'static str, Vec<u8>); 5] = [
        ("circular 4:2:0 (fits)", picture("circular", "I420")),
        ("pinwheel 4:4:4", picture("pinwheel", "Y444")),
        (
            "spokes, optimized tables",
            jpegtran(&["-optimize"], &picture("spokes", "I420"), dir),
        ),
        (
            "gradient, progressive",
            jpegtran(&["-progressive"], &picture("gradient", "I420"), dir),
        ),
        (
            "ball, grayscale",
            jpegtran(&["-grayscale"], &picture("ball", "I420"), dir),
        ),
    ];
    kinds
        .into_iter()
        .map(|(name, jpeg)| Source::new(name, jpeg, dir))
        .collect()
}

#[test]
#[ignore = "needs ffmpeg: run scripts/test.sh"]
fn a_mixed_stream_arrives_frame_by_frame_as_sent() {
    init();
    let dir = TempDir::new("rtsp-mixed");
    let sources = mixed_sources(&dir.0);
    // And a frame that is SOI .. EOI but no JPEG: dropped, not sent.
    let garbage = common::fake_jpeg(2000, 7);
    let summary = serve_and_match(&sources, &[garbage], "tcp", 30, "mixed");
    assert!(count(&summary, " sent as they are") > 0, "{summary}");
    assert!(count(&summary, " unreadable dropped") > 0, "{summary}");
    for kind in [
        "sampling: ",
        "own Huffman tables: ",
        "not baseline: ",
        "components: ",
    ] {
        assert!(count(&summary, kind) > 0, "{kind} in {summary}");
    }
}

#[test]
#[ignore = "needs ffmpeg: run scripts/test.sh"]
fn rtspclientsink_publishes_frames_rtp_jpeg_carries_as_they_are() {
    let dir = TempDir::new("rtsp-publish");
    let source = Source::new("circular 4:2:0", picture("circular", "I420"), &dir.0);
    publish_and_match(PUBLISH, source, "published as they are", &dir.0);
}

/// Publishes `source` with `recipe`, and checks that every frame read back
/// decodes to the picture sent (`match_frames`' PSNR bound).
fn publish_and_match(recipe: &str, source: Source, what: &str, dir: &Path) {
    require_ffmpeg();
    let server = RecordServer::start();
    let received = publish(recipe, vec![source.jpeg.clone()], &server);
    assert!(received.len() >= 20, "{} frames published", received.len());
    let decoded: Vec<u8> = decode_all(&received, dir)
        .into_iter()
        .map(|f| f.expect("every published frame decodes"))
        .collect::<Vec<_>>()
        .concat();
    report(what, &match_frames(&decoded, &[source]));
}

#[test]
#[ignore = "needs ffmpeg: run scripts/test.sh"]
fn rtspclientsink_publishes_444_frames_re_encoded() {
    let dir = TempDir::new("rtsp-publish-444");
    let source = Source::new("pinwheel 4:4:4", picture("pinwheel", "Y444"), &dir.0);
    publish_and_match(
        PUBLISH_REENCODED,
        source,
        "4:4:4 published re-encoded",
        &dir.0,
    );
}

/// Why the example re-encodes: `rtpjpegpay` drops the DHT of frames with
/// optimized tables, and the far end decodes their data with the standard
/// tables.
#[test]
#[ignore = "needs ffmpeg: run scripts/test.sh"]
fn own_huffman_tables_published_as_they_are_arrive_damaged() {
    require_ffmpeg();
    let dir = TempDir::new("rtsp-publish-damaged");
    let optimized = jpegtran(&["-optimize"], &picture("spokes", "I420"), &dir.0);
    let source = Source::new("spokes, optimized tables", optimized, &dir.0);
    let server = RecordServer::start();
    let received = publish(PUBLISH, vec![source.jpeg.clone()], &server);
    assert!(received.len() >= 20, "{} frames published", received.len());
    let decoded = decode_all(&received, &dir.0);
    let best = decoded
        .iter()
        .flatten()
        .map(|rgb| psnr(&source.rgb, rgb))
        .fold(f64::NEG_INFINITY, f64::max);
    println!(
        "optimized tables published as they are: {} frames, {} decodable, best PSNR {best:.1} dB",
        received.len(),
        decoded.iter().flatten().count()
    );
    assert!(best < 20.0, "damaged: best {best:.1} dB");
}

#[test]
#[ignore = "needs ffmpeg: run scripts/test.sh"]
fn ffmpeg_records_the_rtsp_stream_to_matroska_as_the_readme_shows() {
    require_ffmpeg();
    let udp = free_udp_port();
    let server = Server::start(udp);
    let _sender = LoopSender::start(udp, vec![picture("circular", "I420")]);
    let dir = TempDir::new("rtsp-mkv");
    let recorder = Kill::spawn(readme_command(RECORD_MKV, &server.url).current_dir(&dir.0));
    std::thread::sleep(Duration::from_secs(4));
    // Ctrl+C: ffmpeg finishes the file and exits.
    recorder.interrupt();
    let out = recorder
        .wait_exit(LIMIT, Duration::from_millis(50))
        .unwrap_or_else(|o| panic!("ffmpeg did not stop: {}", text(&o.stderr)));
    let mkv = dir.0.join("cam.mkv");
    assert!(mkv.exists(), "cam.mkv written: {}", text(&out.stderr));
    let probe = run_to_end(
        Command::new(FFPROBE)
            .args(["-v", "error", "-count_frames", "-show_entries"])
            .args([
                "stream=codec_name,width,height,nb_read_frames",
                "-of",
                "csv=p=0",
            ])
            .arg(&mkv),
        "ffprobe cam.mkv",
    );
    let fields = text(&probe.stdout);
    println!("cam.mkv: {fields}");
    let fields: Vec<&str> = fields.trim().split(',').collect();
    assert_eq!(fields[..3], ["mjpeg", "320", "240"]);
    let frames: u32 = fields[3].parse().unwrap();
    assert!(frames >= 20, "{frames} frames in 4 s at 15 a second");
    server.stop();
}

#[test]
#[ignore = "needs ffmpeg: run scripts/test.sh"]
fn frames_wider_than_2040_pixels_are_scaled_to_fit() {
    require_ffmpeg();
    init();
    let udp = free_udp_port();
    let server = Server::start(udp);
    let _sender = LoopSender::start(udp, vec![sized_picture("pinwheel", "I420", 2400, 1350)]);
    let out = run_to_end(&mut ffmpeg_framecrc(&server.url, "tcp", 5), "ffmpeg");
    let sizes = framecrc_sizes(&text(&out.stdout));
    // 2400x1350 scaled by 2040/2400: 2040x1147, rounded down to 8-pixel
    // blocks: 2040x1144, decoded as 4:2:0.
    assert_eq!(sizes, vec![2040 * 1144 * 3 / 2; 5]);
    let out = server.stop();
    assert!(
        out.contains("re-encoded as baseline 4:2:0 2040x1144: 2400x1350, above 2040 px a side"),
        "{out}"
    );
}

/// The example's own messages for ports it cannot use (exit 1), and for a
/// bad --mount (a usage error, exit 2); --help lists its flags.
#[test]
fn rtsp_server_says_what_it_cannot_do() {
    let taken_udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp = taken_udp.local_addr().unwrap().port().to_string();
    let args = [
        "--port",
        &udp,
        "--udp-address",
        "127.0.0.1",
        "--rtsp-port",
        "0",
    ];
    let out = run_failing(&args, 1);
    assert!(
        out.contains(&format!("UDP port {udp} is already in use")),
        "{out}"
    );

    let taken_tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp = taken_tcp.local_addr().unwrap().port().to_string();
    let free = free_udp_port().to_string();
    let out = run_failing(
        &[
            "--port",
            &free,
            "--address",
            "127.0.0.1",
            "--rtsp-port",
            &tcp,
        ],
        1,
    );
    assert!(
        out.contains(&format!("cannot listen for RTSP on 127.0.0.1:{tcp}")),
        "{out}"
    );

    let out = run_failing(&["--mount", "cam"], 2);
    assert!(
        out.contains("expected a path such as /cam") && out.contains("usage:"),
        "{out}"
    );

    let help = Kill::spawn(Command::new(example("rtsp_server")).arg("--help"))
        .wait_exit(Duration::from_secs(20), Duration::from_millis(50))
        .expect("--help exits");
    let help = text(&help.stdout);
    for flag in [
        "--port",
        "--udp-address",
        "--wire-format",
        "--rtsp-port",
        "--address",
        "--mount",
        "--quality",
        "--duration",
    ] {
        assert!(help.contains(flag), "--help mentions {flag}: {help}");
    }
}

/// Runs rtsp_server with `args`; it must exit with `code`: its stderr.
fn run_failing(args: &[&str], code: i32) -> String {
    let out = Kill::spawn(Command::new(example("rtsp_server")).args(args))
        .wait_exit(Duration::from_secs(20), Duration::from_millis(50))
        .unwrap_or_else(|o| panic!("rtsp_server {args:?} did not exit: {}", text(&o.stdout)));
    assert_eq!(
        out.status.code(),
        Some(code),
        "rtsp_server {args:?}: {}",
        text(&out.stderr)
    );
    text(&out.stderr)
}

/// RFC 2435 counts sides in 8-pixel blocks: a 318x238 frame fits (it is
/// sent as it is) and arrives as 320x240, the encoder's padding showing.
#[test]
#[ignore = "needs ffmpeg: run scripts/test.sh"]
fn sides_not_a_multiple_of_8_arrive_rounded_up() {
    require_ffmpeg();
    init();
    let udp = free_udp_port();
    let server = Server::start(udp);
    let _sender = LoopSender::start(udp, vec![sized_picture("circular", "I420", 318, 238)]);
    let client = Kill::spawn(&mut ffmpeg_framecrc(&server.url, "tcp", 5));
    assert_full_frames("tcp", client, 5);
    let out = server.stop();
    assert_eq!(count(summary(&out), " re-encoded"), 0, "{out}");
}
