// SPDX-License-Identifier: MPL-2.0
//! The capture-area picker and the sender's `--area`: the matrix math, the
//! direction of the stock `perspective` element's matrix on a synthetic
//! picture, clicks under Xvfb with xdotool, and a sender run with an area.

#[path = "../examples/common/area.rs"]
mod area;
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use gst::prelude::*;

use area::{Area, Point, apply};
use common::process::{example, require_tool, text, wait_exit};
use common::xvfb::Xvfb;
use common::{PipelineGuard, by_name, by_name_as, first_sample, free_udp_port, init};

/// A `w` x `h` RGB picture whose pixel (x, y) holds R = 4x, G = 4y.
fn coordinate_picture(w: usize, h: usize) -> Vec<u8> {
    let mut data = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            data.extend_from_slice(&[(4 * x) as u8, (4 * y) as u8, 0]);
        }
    }
    data
}

#[test]
fn perspective_with_the_area_matrix_shows_the_area() {
    init();
    assert!(
        gst::ElementFactory::find("perspective").is_some(),
        "the stock element perspective is missing: install gstreamer1.0-plugins-bad"
    );
    let (w, h) = (64usize, 64usize);
    let area = Area::new(
        w as u32,
        h as u32,
        [[16.0, 8.0], [48.0, 8.0], [56.0, 56.0], [8.0, 56.0]],
    )
    .unwrap();
    let matrix = area.output_to_input(w as u32, h as u32).unwrap();
    let pipeline = PipelineGuard(
        gst::parse::launch(&format!(
            "appsrc name=src caps=video/x-raw,format=RGB,width={w},height={h},framerate=0/1 \
             format=time ! perspective name=p ! appsink name=sink sync=false"
        ))
        .unwrap(),
    );
    by_name(&pipeline, "p").set_property("matrix", gst::glib::ValueArray::new(matrix));
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut buffer = gst::Buffer::from_mut_slice(coordinate_picture(w, h));
    buffer.get_mut().unwrap().set_pts(gst::ClockTime::ZERO);
    push_last(&pipeline, buffer);
    let sample = first_sample(&pipeline).expect("one frame out of perspective");
    let out = sample.buffer().unwrap().map_readable().unwrap();
    assert_eq!(out.len(), w * h * 3);
    let mut checked = 0;
    for oy in (0..h).step_by(7) {
        for ox in (0..w).step_by(7) {
            let [ix, iy] = apply(&matrix, [ox as f64, oy as f64]);
            let px = &out[(oy * w + ox) * 3..][..2];
            let (x, y) = (f64::from(px[0]) / 4.0, f64::from(px[1]) / 4.0);
            assert!(
                (x - ix).abs() <= 1.0 && (y - iy).abs() <= 1.0,
                "output ({ox}, {oy}) shows input ({x}, {y}); the matrix says ({ix:.1}, {iy:.1})"
            );
            checked += 1;
        }
    }
    assert!(checked > 50);
}

// ---------------------------------------------------------------------------
// The programs

/// Waits for `child` to exit within `limit`, killing it otherwise.
fn wait(child: Child, limit: Duration) -> Output {
    wait_exit(child, limit, Duration::from_millis(50)).unwrap_or_else(|out| {
        panic!(
            "did not exit within {limit:?}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })
}

impl Xvfb {
    fn xdotool(&self, args: &[&str]) -> String {
        require_tool("/usr/bin/xdotool", "xdotool");
        let out = Command::new("/usr/bin/xdotool")
            .args(args)
            .env("DISPLAY", &self.display)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "xdotool {args:?}: {}",
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// The visible window called `name`, waited for up to `limit`.
    fn find_window(&self, name: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let out = Command::new("/usr/bin/xdotool")
                .args(["search", "--onlyvisible", "--name", name])
                .env("DISPLAY", &self.display)
                .output()
                .unwrap();
            if let Some(id) = text(&out.stdout).lines().next() {
                return id.trim().to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no window called '{name}' within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Starts the picker with a test pattern on the Xvfb display.
fn start_picker(x: &Xvfb, file: &Path, extra: &[&str]) -> Child {
    Command::new(example("area_picker"))
        .arg("--area")
        .arg(file)
        .args(["--test-pattern", "--width", "640", "--height", "360"])
        .args(["--duration", "60"])
        .args(extra)
        .env("DISPLAY", &x.display)
        .env_remove("WAYLAND_DISPLAY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Clicks `button` at a point of the 640x360 video, mapped to the window.
fn click(x: &Xvfb, window: &str, video: Point, button: u8) {
    let geometry = x.xdotool(&["getwindowgeometry", "--shell", window]);
    let get = |key: &str| -> f64 {
        geometry
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap()
            .parse()
            .unwrap()
    };
    // The sink scales the picture to the window.
    let (wx, wy) = (
        (video[0] * get("WIDTH") / 640.0).round(),
        (video[1] * get("HEIGHT") / 360.0).round(),
    );
    x.xdotool(&[
        "mousemove",
        "--window",
        window,
        &wx.to_string(),
        &wy.to_string(),
        "click",
        &button.to_string(),
    ]);
    std::thread::sleep(Duration::from_millis(300));
}

fn temp_file(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("udpjpeg-area-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

fn picks_four_clicks(sink: &[&str], file_name: &str) {
    init();
    assert!(
        gst::ElementFactory::find("ximagesink").is_some(),
        "the stock element ximagesink is missing: install the Debian package gstreamer1.0-x"
    );
    let x = Xvfb::start();
    let file = temp_file(file_name);
    let picker = start_picker(&x, &file, sink);
    let window = x.find_window("udpjpeg area picker", Duration::from_secs(60));
    // Let the first frame reach the window.
    std::thread::sleep(Duration::from_millis(500));

    let corners = [[100.0, 50.0], [540.0, 70.0], [600.0, 330.0], [40.0, 300.0]];
    // A stray click, taken back with the right button.
    click(&x, &window, [320.0, 180.0], 1);
    click(&x, &window, [320.0, 180.0], 3);
    for c in corners {
        click(&x, &window, c, 1);
    }
    let out = wait(picker, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "area_picker: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("saved the area to"),
        "{}",
        text(&out.stdout)
    );
    let json = std::fs::read_to_string(&file).unwrap();
    let area = Area::from_json(&json).unwrap();
    assert_eq!((area.width, area.height), (640, 360), "{json}");
    for (got, want) in area.points.iter().zip(corners) {
        assert!(
            (got[0] - want[0]).abs() <= 1.5 && (got[1] - want[1]).abs() <= 1.5,
            "clicked {want:?}, saved {got:?}: {json}"
        );
    }
    let _ = std::fs::remove_file(&file);
}

#[test]
#[ignore = "needs Xvfb and xdotool: run scripts/test.sh"]
fn the_picker_saves_four_clicks_with_its_default_sink() {
    picks_four_clicks(&[], "default.json");
}

#[test]
#[ignore = "needs Xvfb and xdotool: run scripts/test.sh"]
fn the_picker_saves_four_clicks_with_ximagesink() {
    picks_four_clicks(&["--sink", "ximagesink"], "ximage.json");
}

#[test]
#[ignore = "needs Xvfb and xdotool: run scripts/test.sh"]
fn corners_in_the_wrong_order_start_again_and_escape_saves_nothing() {
    init();
    let x = Xvfb::start();
    let file = temp_file("escape.json");
    let picker = start_picker(&x, &file, &["--sink", "ximagesink"]);
    let window = x.find_window("udpjpeg area picker", Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(500));
    // Anticlockwise: refused.
    for c in [[100.0, 50.0], [40.0, 300.0], [600.0, 330.0], [540.0, 70.0]] {
        click(&x, &window, c, 1);
    }
    x.xdotool(&["key", "--window", &window, "Escape"]);
    let out = wait(picker, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("start again"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("without saving"),
        "{}",
        text(&out.stdout)
    );
    assert!(!file.exists());
}

#[test]
fn the_picker_needs_a_display_and_an_area_file() {
    let out = Command::new(example("area_picker"))
        .args(["--test-pattern"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--area"),
        "{}",
        text(&out.stderr)
    );
    let out = Command::new(example("area_picker"))
        .args(["--area", "/tmp/never-written.json"])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no display"),
        "{}",
        text(&out.stderr)
    );
}

/// Runs the receiver for a while and the sender with `sender_args` into it;
/// returns the received JPEG files.
fn send_to_receiver(name: &str, sender_args: &[&str]) -> Vec<Vec<u8>> {
    let port = free_udp_port().to_string();
    let dir = std::env::temp_dir().join(format!("udpjpeg-area-{name}-{port}"));
    let _ = std::fs::remove_dir_all(&dir);
    let receiver = Command::new(example("receiver"))
        .args(["--port", &port, "--duration", "5"])
        .arg("--output-dir")
        .arg(&dir)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let sender = Command::new(example("sender"))
        .args(["--port", &port, "--duration", "2"])
        .args(sender_args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(sender.status.success(), "sender: {}", text(&sender.stderr));
    assert!(
        text(&sender.stdout).contains("area from"),
        "{}",
        text(&sender.stdout)
    );
    let out = wait(receiver, Duration::from_secs(20));
    assert!(out.status.success(), "receiver: {}", text(&out.stderr));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let frames: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    let _ = std::fs::remove_dir_all(&dir);
    frames
}

/// Pushes `buffer` into `appsrc name=src` of `pipeline`, then the end of
/// stream.
fn push_last(pipeline: &gst::Element, buffer: gst::Buffer) {
    let src: gst_app::AppSrc = by_name_as(pipeline, "src");
    src.push_buffer(buffer).unwrap();
    src.end_of_stream().unwrap();
}

/// The RGB pixel at (x, y) of a JPEG, decoded with the stock jpegdec.
fn jpeg_pixel(jpeg: &[u8], x: usize, y: usize) -> [u8; 3] {
    init();
    let pipeline = PipelineGuard::playing(
        "appsrc name=src caps=image/jpeg ! jpegdec ! videoconvert ! \
         video/x-raw,format=RGB ! appsink name=sink sync=false",
    );
    push_last(&pipeline, gst::Buffer::from_slice(jpeg.to_vec()));
    let sample = first_sample(&pipeline).expect("jpegdec decodes the frame");
    let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
    let map = sample.buffer().unwrap().map_readable().unwrap();
    let at = y * info.stride()[0] as usize + x * 3;
    [map[at], map[at + 1], map[at + 2]]
}

#[test]
fn the_sender_sends_only_the_area() {
    // The SMPTE bars are white, yellow, cyan, green, magenta, red, blue
    // from left to right over the top two thirds. The area is the top-left
    // quarter: bars white to half of green, stretched over the whole frame.
    let file = temp_file("quarter.json");
    std::fs::write(
        &file,
        "{\"width\":640,\"height\":360,\"points\":[[0,0],[320,0],[320,180],[0,180]]}",
    )
    .unwrap();
    let file_arg = file.to_str().unwrap();
    let common = ["--pattern", "smpte", "--width", "320", "--height", "240"];

    let frames = send_to_receiver("quarter", &[&common[..], &["--area", file_arg]].concat());
    assert!(
        frames.len() >= 30,
        "about 60 frames in 2 s at 30 fps: {}",
        frames.len()
    );
    for f in &frames {
        assert!(f.starts_with(&[0xFF, 0xD8]) && f.ends_with(&[0xFF, 0xD9]));
    }
    let frame = &frames[frames.len() / 2];
    // Far right, halfway down: green with the area (blue without it).
    let [r, g, b] = jpeg_pixel(frame, 300, 120);
    assert!(
        g > 150 && r < 60 && b < 60,
        "expected green at (300, 120), got {:?}",
        [r, g, b]
    );
    // Far left: the white bar (grey 192 in the test pattern).
    let [r, g, b] = jpeg_pixel(frame, 10, 120);
    assert!(
        r > 150 && g > 150 && b > 150,
        "expected white at (10, 120), got {:?}",
        [r, g, b]
    );

    // A quadrilateral that is no rectangle runs too.
    let quad = temp_file("quad.json");
    std::fs::write(
        &quad,
        "{\"width\":640,\"height\":360,\"points\":[[100,50],[540,70],[600,330],[40,300]]}",
    )
    .unwrap();
    let frames = send_to_receiver(
        "quad",
        &[&common[..], &["--area", quad.to_str().unwrap()]].concat(),
    );
    assert!(frames.len() >= 30, "{} frames", frames.len());
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_file(&quad);
}

#[test]
fn a_bad_area_file_is_a_clear_error() {
    let missing = Command::new(example("sender"))
        .args(["--area", "/nonexistent/area.json", "--duration", "1"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        text(&missing.stderr).contains("area_picker"),
        "{}",
        text(&missing.stderr)
    );
    let bad = temp_file("bad.json");
    std::fs::write(
        &bad,
        "{\"width\":640,\"height\":360,\"points\":[[0,0],[0,180],[320,180],[320,0]]}",
    )
    .unwrap();
    let out = Command::new(example("sender"))
        .arg("--area")
        .arg(&bad)
        .args(["--duration", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("clockwise"),
        "{}",
        text(&out.stderr)
    );
    let _ = std::fs::remove_file(&bad);
}
