// SPDX-License-Identifier: MPL-2.0
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
//! Usage: `cargo run --example area_picker -- --area area.json`
//! (`--help` for every flag).

#[path = "common/area.rs"]
mod area;
mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use gst::glib;
use gst::prelude::*;

use area::{Area, Point};
use common::Ending;

/// Shows the live picture in a window and takes four clicks on it: the
/// corners of the capture area, top-left first, then top-right, bottom-right
/// and bottom-left. Writes them to the --area file as JSON and exits; pass
/// the same file to `sender --area FILE`.
#[derive(Parser)]
#[command(
    name = "area_picker",
    after_help = "\
In the window: left click sets the next corner, right click or Backspace takes
the last one back, Escape or q quits without saving. Ctrl+C also quits without
saving."
)]
struct Cli {
    /// Where to write the area
    #[arg(long, value_name = "FILE")]
    area: PathBuf,
    /// Show this V4L2 camera, e.g. /dev/video0
    #[arg(long, value_name = "PATH", conflicts_with_all = ["test_pattern", "pattern"])]
    device: Option<String>,
    /// Show a generated test picture instead (the default)
    #[arg(long)]
    test_pattern: bool,
    /// videotestsrc pattern for --test-pattern
    #[arg(long, value_name = "NAME", default_value = "smpte")]
    pattern: String,
    /// Picture width in pixels; use the sender's
    #[arg(long, value_name = "N", default_value_t = 640,
          value_parser = common::picture_side())]
    width: u32,
    /// Picture height in pixels; use the sender's
    #[arg(long, value_name = "N", default_value_t = 360,
          value_parser = common::picture_side())]
    height: u32,
    /// Video sink that opens the window (default: ximagesink on X11, which
    /// works on every X server, else autovideosink)
    #[arg(long, value_name = "NAME")]
    sink: Option<String>,
    /// Give up after this long (0 = wait for clicks)
    #[arg(long, value_name = "SECONDS", default_value = "0", value_parser = common::seconds)]
    duration: Duration,
}

impl Cli {
    /// `--sink`, or the default. autovideosink on X11 first tries
    /// xvimagesink, which fails on servers without XVideo (Xvfb, many VMs)
    /// in ways that sometimes leave no window; ximagesink always opens one.
    fn sink_name(&self) -> String {
        match &self.sink {
            Some(sink) => sink.clone(),
            None if std::env::var_os("DISPLAY").is_some_and(|d| !d.is_empty()) => {
                "ximagesink".to_string()
            }
            None => "autovideosink".to_string(),
        }
    }

    fn source_element(&self) -> gst::Element {
        match &self.device {
            Some(device) => common::camera(device),
            None => common::test_pattern(&self.pattern)
                .unwrap_or_else(|msg| common::usage_error::<Cli>(msg)),
        }
    }
}

/// The window title, also the name a test finds the window by.
const TITLE: &str = "udpjpeg area picker";

const CORNERS: [&str; 4] = ["TOP-LEFT", "TOP-RIGHT", "BOTTOM-RIGHT", "BOTTOM-LEFT"];

/// The clicks so far, and what became of them.
struct Picking {
    width: u32,
    height: u32,
    points: Vec<Point>,
    saved: Option<Area>,
    cancelled: bool,
}

/// What a navigation event did to the picking.
enum Step {
    /// More clicks to come.
    Continue,
    /// Saved, cancelled or failed: the run ends.
    Over,
    /// Not an event for the picker.
    Ignored,
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

    fn undo(&mut self) -> Step {
        if self.points.pop().is_some() {
            println!("took back corner {}", self.points.len() + 1);
        }
        Step::Continue
    }

    /// Takes a left click at (x, y) as the next corner; after the fourth,
    /// saves the area to `file` or, if the corners are not usable, starts
    /// again.
    fn click(&mut self, x: f64, y: f64, file: &Path) -> Step {
        // Clicks on a border around the picture count as its edge.
        let point = [
            x.clamp(0.0, f64::from(self.width)),
            y.clamp(0.0, f64::from(self.height)),
        ];
        let n = self.points.len();
        println!(
            "corner {} ({}): {:.0}, {:.0}",
            n + 1,
            CORNERS[n].to_lowercase(),
            point[0],
            point[1]
        );
        self.points.push(point);
        let Ok(points) = <[Point; 4]>::try_from(self.points.as_slice()) else {
            return Step::Continue;
        };
        match Area::new(self.width, self.height, points) {
            Ok(area) => self.save(file, area),
            Err(err) => {
                eprintln!("warning: {err}; start again from the top-left corner");
                self.points.clear();
                Step::Continue
            }
        }
    }

    fn save(&mut self, file: &Path, area: Area) -> Step {
        if let Err(err) = write_whole(file, &area) {
            eprintln!("error: cannot write {}: {err}", file.display());
            self.cancelled = true;
            return Step::Over;
        }
        print!("saved the area to {}: {}", file.display(), area.to_json());
        self.saved = Some(area);
        Step::Over
    }

    /// Handles one navigation event.
    fn on_navigation(&mut self, event: &gst_video::NavigationEvent, file: &Path) -> Step {
        use gst_video::NavigationEvent as Nav;
        match event {
            Nav::MouseButtonPress {
                button: 1, x, y, ..
            } => self.click(*x, *y, file),
            Nav::MouseButtonPress { button: 3, .. } => self.undo(),
            Nav::KeyPress { key, .. } if key == "BackSpace" => self.undo(),
            Nav::KeyPress { key, .. } if key == "Escape" || key == "q" => {
                println!("quitting without saving");
                self.cancelled = true;
                Step::Over
            }
            _ => Step::Ignored,
        }
    }
}

/// Writes the file whole or not at all.
fn write_whole(path: &Path, area: &Area) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, area.to_json())?;
    std::fs::rename(&tmp, path)
}

/// Exits with a message when the picker cannot work here: no folder for
/// the file, or no display to open a window on.
fn check_surroundings(cli: &Cli) {
    if let Some(dir) = cli.area.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.is_dir()
    {
        eprintln!(
            "error: the folder {} of --area does not exist",
            dir.display()
        );
        std::process::exit(1);
    }
    if !common::has_display() {
        eprintln!("error: no display (DISPLAY is not set): the picker needs a window to click in");
        std::process::exit(1);
    }
}

/// Creates `factory`, or exits saying which package has it.
fn make_or(factory: &str, hint: &str) -> gst::Element {
    gst::ElementFactory::make(factory)
        .build()
        .unwrap_or_else(|_| {
            eprintln!("error: {hint}");
            std::process::exit(1);
        })
}

/// The text overlay that shows the prompt at the top left.
fn prompt_overlay() -> gst::Element {
    let overlay = make_or(
        "textoverlay",
        "the GStreamer element 'textoverlay' is missing; install gstreamer1.0-x",
    );
    overlay.set_property_from_str("valignment", "top");
    overlay.set_property_from_str("halignment", "left");
    overlay.set_property("font-desc", "Sans 14");
    overlay.set_property("shaded-background", true);
    overlay
}

/// src ! videoconvert ! videoscale ! caps ! overlay ! videoconvert ! sink
fn build_pipeline(cli: &Cli, src: gst::Element, overlay: &gst::Element) -> gst::Pipeline {
    let caps = gst::Caps::builder("video/x-raw")
        .field("width", cli.width as i32)
        .field("height", cli.height as i32)
        .build();
    let filter = common::make("capsfilter");
    filter.set_property("caps", &caps);
    let name = cli.sink_name();
    let sink = make_or(
        &name,
        &format!(
            "the video sink '{name}' is missing; install gstreamer1.0-x (ximagesink) \
             or pick another with --sink"
        ),
    );
    if sink.find_property("sync").is_some() {
        sink.set_property("sync", false);
    }
    common::pipeline(&[
        src,
        common::make("videoconvert"),
        common::make("videoscale"),
        filter,
        overlay.clone(),
        common::make("videoconvert"),
        sink,
    ])
}

/// Takes the navigation messages where they are posted, in the sink's
/// window thread, before the bus queue; ends the run once picking is over.
fn take_clicks(
    pipeline: &gst::Pipeline,
    picking: Arc<Mutex<Picking>>,
    file: PathBuf,
    overlay: gst::Element,
) {
    let weak = pipeline.downgrade();
    let bus = pipeline.bus().expect("a pipeline has a bus");
    bus.set_sync_handler(move |_, msg| {
        let Ok(gst_video::NavigationMessage::Event(nav)) = gst_video::NavigationMessage::parse(msg)
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
        let step = p.on_navigation(&event, &file);
        if !matches!(step, Step::Ignored) && !p.cancelled {
            overlay.set_property("text", p.prompt());
        }
        if matches!(step, Step::Over)
            && let Some(pipeline) = weak.upgrade()
        {
            // Not from the window thread itself.
            std::thread::spawn(move || {
                pipeline.send_event(gst::event::Eos::new());
            });
        }
        gst::BusSyncReply::Drop
    });
}

fn explain(err: &gst::message::Error) -> String {
    if common::factory_of(err) == "v4l2src" {
        format!(
            "error: camera: {}; check --device or use --test-pattern",
            err.error()
        )
    } else if err.error().message().contains("window was closed") {
        "error: the window was closed; no area saved".to_string()
    } else {
        common::describe(err)
    }
}

/// The exit code: 0 once saved; otherwise 1, saying why if not yet said.
fn exit_code(p: &Picking, ending: Ending) -> i32 {
    match (&p.saved, ending) {
        (Some(_), _) => 0,
        (None, Ending::Error) => ending.exit_code(),
        (None, _) if p.cancelled => 1,
        (None, _) => {
            eprintln!(
                "error: no area saved: {} of 4 corners clicked",
                p.points.len()
            );
            1
        }
    }
}

fn main() {
    let cli: Cli = common::parse_args();
    common::init();
    glib::set_application_name(TITLE);
    check_surroundings(&cli);
    common::demote_console_sinks();

    let src = cli.source_element();
    let overlay = prompt_overlay();
    let pipeline = build_pipeline(&cli, src, &overlay);
    let picking = Arc::new(Mutex::new(Picking {
        width: cli.width,
        height: cli.height,
        points: Vec::new(),
        saved: None,
        cancelled: false,
    }));
    overlay.set_property("text", picking.lock().unwrap().prompt());
    take_clicks(&pipeline, picking.clone(), cli.area.clone(), overlay);

    let message = format!(
        "showing {}x{} in a window: click the four corners of the capture area, \
         top-left first, clockwise; the area goes to {}",
        cli.width,
        cli.height,
        cli.area.display()
    );
    let (ending, ()) = common::run(&pipeline, cli.duration, &message, explain, || {}, || {});
    pipeline
        .bus()
        .expect("a pipeline has a bus")
        .unset_sync_handler();

    let p = picking.lock().unwrap_or_else(|e| e.into_inner());
    std::process::exit(exit_code(&p, ending));
}
