//! Picks the capture area for `sender --area`: shows the live picture in a
//! window and takes four clicks on it, the corners of the area from the
//! top-left clockwise, then writes them to a small JSON file and exits.
//!
//! ```text
//! videotestsrc is-live=true | v4l2src device=...
//!   ! videoconvert ! videoscale ! video/x-raw,width=W,height=H
//!   ! textoverlay ! videoconvert ! autovideosink
//! ```
//!
//! The clicks come from the navigation events the video sink posts on the
//! bus (mouse-button-press, already in video coordinates). The file:
//!
//! ```json
//! {"width":640,"height":360,"points":[[12,8],[630,20],[610,350],[5,340]]}
//! ```
//!
//! Run with `cargo run --example area_picker -- --help`.

#[path = "common/area.rs"]
mod area;
#[allow(dead_code)] // the wire-format helpers are for the sender and receiver
mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gst::glib;
use gst::prelude::*;

use area::{Area, Point};
use common::{Args, Ending};

const USAGE: &str = "--area FILE [--device PATH | --test-pattern [--pattern NAME]] \
                     [--width N] [--height N] [--sink NAME] [--duration SECONDS]";

const HELP: &str = "\
Shows the live picture in a window and takes four clicks on it: the corners
of the capture area, top-left first, then top-right, bottom-right and
bottom-left. Writes them to the --area file as JSON and exits; pass the same
file to `sender --area FILE`.

Options:
  --area FILE           where to write the area (required)
  --device PATH         show this V4L2 camera, e.g. /dev/video0
  --test-pattern        show a generated test picture instead (the default)
  --pattern NAME        videotestsrc pattern for --test-pattern (default smpte)
  --width N             picture width in pixels (default 640); use the sender's
  --height N            picture height in pixels (default 360); use the sender's
  --sink NAME           video sink that opens the window (default: ximagesink
                        on X11, which works on every X server, else
                        autovideosink)
  --duration SECONDS    give up after this long (default 0 = wait for clicks)
  -h, --help            show this help

In the window: left click sets the next corner, right click or Backspace takes
the last one back, Escape or q quits without saving. Ctrl+C also quits without
saving.";

/// The window title, also the name a test finds the window by.
const TITLE: &str = "udpjpeg area picker";

const CORNERS: [&str; 4] = ["TOP-LEFT", "TOP-RIGHT", "BOTTOM-RIGHT", "BOTTOM-LEFT"];

enum Source {
    Camera(String),
    TestPattern(String),
}

struct Options {
    area: PathBuf,
    source: Source,
    width: u32,
    height: u32,
    sink: String,
    duration: Option<Duration>,
}

fn parse_args(args: &mut Args) -> Options {
    let mut area = None;
    let mut device = None;
    let mut test_pattern = false;
    let mut pattern = None;
    let (mut width, mut height) = (640, 360);
    // autovideosink on X11 first tries xvimagesink, which fails on servers
    // without XVideo (Xvfb, many VMs) in ways that sometimes leave no
    // window; ximagesink always opens one.
    let mut sink = if std::env::var_os("DISPLAY").is_some_and(|d| !d.is_empty()) {
        "ximagesink".to_string()
    } else {
        "autovideosink".to_string()
    };
    let mut duration = None;
    while let Some((flag, inline)) = args.next_flag() {
        match flag.as_str() {
            "--help" => {
                println!("usage: area_picker {USAGE}\n\n{HELP}");
                std::process::exit(0);
            }
            "--area" => {
                let file = args.value(&flag, inline);
                if file.is_empty() {
                    args.fail("--area needs a file name");
                }
                area = Some(PathBuf::from(file));
            }
            "--device" => device = Some(args.value(&flag, inline)),
            "--test-pattern" => {
                args.no_value(&flag, inline);
                test_pattern = true;
            }
            "--pattern" => pattern = Some(args.value(&flag, inline)),
            "--width" => width = args.number(&flag, inline, 16..=8192),
            "--height" => height = args.number(&flag, inline, 16..=8192),
            "--sink" => sink = args.value(&flag, inline),
            "--duration" => duration = args.seconds(&flag, inline),
            _ => args.unknown(&flag),
        }
    }
    let Some(area) = area else {
        args.fail("--area FILE is required: where to write the four corners")
    };
    let source = match (device, test_pattern, pattern) {
        (Some(_), true, _) => args.fail("--device and --test-pattern exclude each other"),
        (Some(_), _, Some(_)) => args.fail("--pattern only applies to --test-pattern"),
        (Some(d), false, None) => Source::Camera(d),
        (None, _, p) => Source::TestPattern(p.unwrap_or_else(|| "smpte".to_string())),
    };
    Options {
        area,
        source,
        width,
        height,
        sink,
        duration,
    }
}

fn source_element(args: &Args, source: &Source) -> gst::Element {
    match source {
        Source::TestPattern(pattern) => common::test_pattern(args, pattern),
        Source::Camera(device) => common::camera(device),
    }
}

/// The clicks so far, and what became of them.
struct Picking {
    width: u32,
    height: u32,
    points: Vec<Point>,
    saved: Option<Area>,
    cancelled: bool,
}

impl Picking {
    fn prompt(&self) -> String {
        match self.points.len() {
            n @ 0..4 => format!(
                "Click the {} corner of the capture area ({} of 4)\n\
                 right click: undo   Esc: quit",
                CORNERS[n],
                n + 1
            ),
            _ => "Saved".to_string(),
        }
    }
}

/// Writes the file whole or not at all.
fn save(path: &Path, area: &Area) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, area.to_json())?;
    std::fs::rename(&tmp, path)
}

/// Handles one navigation event; `true` when the picking is over.
fn on_navigation(
    event: &gst_video::NavigationEvent,
    picking: &mut Picking,
    file: &Path,
    overlay: &gst::Element,
) -> bool {
    use gst_video::NavigationEvent as Nav;
    let undo = |p: &mut Picking| {
        if p.points.pop().is_some() {
            println!("took back corner {}", p.points.len() + 1);
        }
    };
    match event {
        Nav::MouseButtonPress {
            button: 1, x, y, ..
        } => {
            // Clicks on a border around the picture count as its edge.
            let point = [
                x.clamp(0.0, f64::from(picking.width)),
                y.clamp(0.0, f64::from(picking.height)),
            ];
            let n = picking.points.len();
            println!(
                "corner {} ({}): {:.0}, {:.0}",
                n + 1,
                CORNERS[n].to_lowercase(),
                point[0],
                point[1]
            );
            picking.points.push(point);
            if picking.points.len() == 4 {
                let points = [0, 1, 2, 3].map(|i| picking.points[i]);
                match Area::new(picking.width, picking.height, points) {
                    Ok(area) => {
                        if let Err(err) = save(file, &area) {
                            eprintln!("error: cannot write {}: {err}", file.display());
                            picking.cancelled = true;
                            return true;
                        }
                        print!("saved the area to {}: {}", file.display(), area.to_json());
                        picking.saved = Some(area);
                        overlay.set_property("text", picking.prompt());
                        return true;
                    }
                    Err(err) => {
                        eprintln!("warning: {err}; start again from the top-left corner");
                        picking.points.clear();
                    }
                }
            }
        }
        Nav::MouseButtonPress { button: 3, .. } => undo(picking),
        Nav::KeyPress { key, .. } if key == "BackSpace" => undo(picking),
        Nav::KeyPress { key, .. } if key == "Escape" || key == "q" => {
            println!("quitting without saving");
            picking.cancelled = true;
            return true;
        }
        _ => return false,
    }
    overlay.set_property("text", picking.prompt());
    false
}

fn main() {
    let mut args = Args::from_env("area_picker", USAGE);
    let o = parse_args(&mut args);
    common::init();
    glib::set_application_name(TITLE);

    if let Some(dir) = o.area.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.is_dir()
    {
        eprintln!(
            "error: the folder {} of --area does not exist",
            dir.display()
        );
        std::process::exit(1);
    }
    if !["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
    {
        eprintln!("error: no display (DISPLAY is not set): the picker needs a window to click in");
        std::process::exit(1);
    }
    // autovideosink tries these when no window opens; they take over the
    // console instead of opening a window to click in.
    for name in ["dfbvideosink", "kmssink", "fbdevsink"] {
        if let Some(f) = gst::Registry::get().lookup_feature(name) {
            f.set_rank(gst::Rank::NONE);
        }
    }

    let src = source_element(&args, &o.source);
    let caps = gst::Caps::builder("video/x-raw")
        .field("width", o.width as i32)
        .field("height", o.height as i32)
        .build();
    let filter = common::make("capsfilter");
    filter.set_property("caps", &caps);
    let overlay = gst::ElementFactory::make("textoverlay")
        .build()
        .unwrap_or_else(|_| {
            eprintln!(
                "error: the GStreamer element 'textoverlay' is missing; install \
                 gstreamer1.0-x"
            );
            std::process::exit(1);
        });
    overlay.set_property_from_str("valignment", "top");
    overlay.set_property_from_str("halignment", "left");
    overlay.set_property("font-desc", "Sans 14");
    overlay.set_property("shaded-background", true);
    let sink = gst::ElementFactory::make(&o.sink)
        .build()
        .unwrap_or_else(|_| {
            eprintln!(
                "error: the video sink '{}' is missing; install gstreamer1.0-x (ximagesink) \
                 or pick another with --sink",
                o.sink
            );
            std::process::exit(1);
        });
    if sink.find_property("sync").is_some() {
        sink.set_property("sync", false);
    }
    let pipeline = common::pipeline(&[
        src,
        common::make("videoconvert"),
        common::make("videoscale"),
        filter,
        overlay.clone(),
        common::make("videoconvert"),
        sink,
    ]);

    let picking = Arc::new(Mutex::new(Picking {
        width: o.width,
        height: o.height,
        points: Vec::new(),
        saved: None,
        cancelled: false,
    }));
    overlay.set_property("text", picking.lock().unwrap().prompt());

    // Navigation messages come from the sink's window thread; take them
    // there, before the bus queue, and end the run once the area is saved.
    let bus = pipeline.bus().expect("a pipeline has a bus");
    bus.set_sync_handler({
        let picking = picking.clone();
        let file = o.area.clone();
        let pipeline = pipeline.downgrade();
        move |_, msg| {
            let Ok(gst_video::NavigationMessage::Event(nav)) =
                gst_video::NavigationMessage::parse(msg)
            else {
                return gst::BusSyncReply::Pass;
            };
            let Ok(event) = gst_video::NavigationEvent::parse(&nav.event) else {
                return gst::BusSyncReply::Drop;
            };
            let mut p = picking.lock().unwrap_or_else(|e| e.into_inner());
            if p.saved.is_some() || p.cancelled {
                return gst::BusSyncReply::Drop;
            }
            if on_navigation(&event, &mut p, &file, &overlay)
                && let Some(pipeline) = pipeline.upgrade()
            {
                // Not from the window thread itself.
                std::thread::spawn(move || {
                    pipeline.send_event(gst::event::Eos::new());
                });
            }
            gst::BusSyncReply::Drop
        }
    });

    let started_msg = format!(
        "showing {}x{} in a window: click the four corners of the capture area, \
         top-left first, clockwise; the area goes to {}",
        o.width,
        o.height,
        o.area.display()
    );
    let explain = |err: &gst::message::Error| {
        let factory = common::factory_of(err);
        if factory == "v4l2src" {
            format!(
                "error: camera: {}; check --device or use --test-pattern",
                err.error()
            )
        } else if err.error().message().contains("window was closed") {
            "error: the window was closed; no area saved".to_string()
        } else {
            common::describe(err)
        }
    };
    let ending = common::run(&pipeline, o.duration, &started_msg, explain, || {});
    bus.unset_sync_handler();

    let p = picking.lock().unwrap_or_else(|e| e.into_inner());
    match (&p.saved, ending) {
        (Some(_), _) => std::process::exit(0),
        (None, Ending::Error) => std::process::exit(ending.exit_code()),
        (None, _) if p.cancelled => std::process::exit(1),
        (None, _) => {
            eprintln!(
                "error: no area saved: {} of 4 corners clicked",
                p.points.len()
            );
            std::process::exit(1);
        }
    }
}
