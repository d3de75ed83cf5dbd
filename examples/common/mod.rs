// SPDX-License-Identifier: MPL-2.0
//! Helpers shared by the `sender`, `receiver`, `viewer` and `area_picker`
//! examples: the command-line types they share, element creation with an
//! install hint, and the main loop that turns Ctrl+C or `--duration` into
//! end-of-stream.
//!
//! This folder is included with `mod common;` and is not an example itself:
//!
//! ```text
//! mod common;
//! common::run(&pipeline, cli.duration, "started", common::describe, || {});
//! ```
#![allow(dead_code)] // each example uses a different part

use std::cell::Cell;
use std::fmt::Display;
use std::rc::{Rc, Weak};
use std::time::Duration;

use gst::glib;
use gst::prelude::*;

/// How long to wait for end-of-stream to reach the bus after asking for it.
pub const EOS_GRACE: Duration = Duration::from_secs(3);

/// Initialises GStreamer and registers this crate's elements statically, so
/// the examples run without `GST_PLUGIN_PATH`.
pub fn init() {
    if let Err(err) = gst::init() {
        eprintln!("error: could not initialise GStreamer: {err}");
        std::process::exit(1);
    }
    gstudpjpeg::plugin_register_static().expect("registering the udpjpeg elements");
}

// ---------------------------------------------------------------------------
// Command line

/// The elements' `wire-format`, by its property nick: `sce` (the S/C/E
/// chunk header) or `countdown` (a one-byte count of datagrams to come).
/// The variants carry no doc comments, so that `--help` lists the values
/// on one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WireFormat {
    Sce,
    Countdown,
}

impl WireFormat {
    /// The nick of the elements' `wire-format` property.
    pub fn nick(self) -> &'static str {
        match self {
            WireFormat::Sce => "sce",
            WireFormat::Countdown => "countdown",
        }
    }
}

impl Display for WireFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.nick())
    }
}

/// The longest `--duration`: a year.
const MAX_SECONDS: f64 = 31_536_000.0;

/// Parses `--width` and `--height`: a picture side in pixels, 16 to 8192.
pub fn picture_side() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(16..=8192)
}

/// Parses `--duration`: seconds, fractions allowed; 0 means no limit.
pub fn seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && (0.0..=MAX_SECONDS).contains(&s) => {
            Ok(Duration::from_secs_f64(s))
        }
        _ => Err("expected a number of seconds (0 = until Ctrl+C)".to_string()),
    }
}

/// " for N s" or "; Ctrl+C to stop", the end of a "started" line.
pub fn until(duration: Duration) -> String {
    if duration.is_zero() {
        "; Ctrl+C to stop".to_string()
    } else {
        format!(" for {} s", duration.as_secs_f64())
    }
}

/// Parses the command line into `C`. `--help` prints the help and exits
/// with 0; a usage error exits with 2 (see `usage_exit`).
pub fn parse_args<C: clap::Parser>() -> C {
    match C::try_parse() {
        Ok(cli) => cli,
        Err(err) if !err.use_stderr() => err.exit(),
        Err(err) => usage_exit::<C>(err),
    }
}

/// A usage error found after parsing, such as an unknown `--pattern`.
pub fn usage_error<C: clap::CommandFactory>(msg: impl Display) -> ! {
    usage_exit::<C>(C::command().error(clap::error::ErrorKind::InvalidValue, msg))
}

/// Prints clap's message for `err`, then the usage line and where to read
/// more, whatever the kind of error (clap leaves the usage out after a
/// value it refused), and exits with 2.
fn usage_exit<C: clap::CommandFactory>(err: clap::Error) -> ! {
    let mut cmd = C::command();
    let text = err.render().to_string();
    // The message is clap's first paragraph; its own hints follow.
    let message = text.split("\n\n").next().unwrap_or(&text).trim_end();
    let usage = cmd.render_usage().to_string();
    let usage = usage.trim_start_matches("Usage:").trim();
    eprintln!("{message}");
    eprintln!("usage: {usage}");
    eprintln!("Run '{} --help' for details.", cmd.get_name());
    std::process::exit(2);
}

// ---------------------------------------------------------------------------
// Elements

/// A live `videotestsrc` showing `pattern`; an unknown pattern is an error
/// that lists the known ones. (Used by the sender and the area picker.)
pub fn test_pattern(pattern: &str) -> Result<gst::Element, String> {
    let src = make("videotestsrc");
    src.set_property("is-live", true);
    let pspec = src
        .find_property("pattern")
        .expect("videotestsrc has pattern");
    let class = glib::EnumClass::with_type(pspec.value_type()).expect("an enum");
    if class.value_by_nick(pattern).is_none() {
        let names: Vec<&str> = class.values().iter().map(|v| v.nick()).collect();
        return Err(format!(
            "--pattern '{pattern}' is not a videotestsrc pattern; pick one of: {}",
            names.join(", ")
        ));
    }
    src.set_property_from_str("pattern", pattern);
    Ok(src)
}

/// A `v4l2src` for `device`; a device that does not exist ends the program
/// with a message saying what to do. (Used by the sender and the area picker.)
pub fn camera(device: &str) -> gst::Element {
    if !std::path::Path::new(device).exists() {
        eprintln!(
            "error: camera device {device} does not exist; check --device \
             (ls /dev/video*) or use --test-pattern"
        );
        std::process::exit(1);
    }
    let src = make("v4l2src");
    src.set_property("device", device);
    src
}

/// Creates an element, or exits with a line saying which package to install.
pub fn make(factory: &str) -> gst::Element {
    gst::ElementFactory::make(factory)
        .build()
        .unwrap_or_else(|_| {
            let package = match factory {
                "udpjpegpay" | "udpjpegdepay" => "this crate (the plugin did not register)",
                "videotestsrc" | "videoconvert" | "videoscale" | "videorate" | "appsink" => {
                    "gstreamer1.0-plugins-base"
                }
                _ => "gstreamer1.0-plugins-good",
            };
            eprintln!("error: the GStreamer element '{factory}' is missing; install {package}");
            std::process::exit(1);
        })
}

/// Creates a pipeline from `elements` linked in order.
pub fn pipeline(elements: &[gst::Element]) -> gst::Pipeline {
    let pipeline = gst::Pipeline::new();
    pipeline
        .add_many(elements)
        .expect("adding fresh elements to a new pipeline");
    if let Err(err) = gst::Element::link_many(elements) {
        eprintln!("error: could not link the pipeline: {err}");
        std::process::exit(1);
    }
    pipeline
}

/// Whether a window can be opened: DISPLAY or WAYLAND_DISPLAY is set.
pub fn has_display() -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
}

/// Keeps `autovideosink` from the sinks it tries when no window opens (a
/// stale DISPLAY, a container): DirectFB crashes there and KMS takes over
/// the console instead of opening a window.
pub fn demote_console_sinks() {
    for name in ["dfbvideosink", "kmssink", "fbdevsink"] {
        if let Some(f) = gst::Registry::get().lookup_feature(name) {
            f.set_rank(gst::Rank::NONE);
        }
    }
}

/// The counters of an element's `stats` structure, 0 for a missing one.
pub struct Stats(gst::Structure);

impl Stats {
    pub fn of(element: &gst::Element) -> Self {
        Stats(element.property::<gst::Structure>("stats"))
    }

    pub fn get(&self, field: &str) -> u64 {
        self.0.get::<u64>(field).unwrap_or(0)
    }
}

/// The factory name of the element that posted a message, if any.
pub fn factory_of(msg: &gst::message::Error) -> String {
    msg.src()
        .and_then(|s| s.downcast_ref::<gst::Element>())
        .and_then(|e| e.factory())
        .map(|f| f.name().to_string())
        .unwrap_or_default()
}

/// The debug text of a bus error, empty when there is none.
pub fn debug_of(msg: &gst::message::Error) -> String {
    msg.debug().map(|d| d.to_string()).unwrap_or_default()
}

/// The last line of a bus error's debug text (the one that names the cause).
pub fn last_debug_line(msg: &gst::message::Error) -> String {
    debug_of(msg)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// A one-line description of a bus error that no hint covers: the message
/// and the last line of the debug text.
pub fn describe(msg: &gst::message::Error) -> String {
    let src = msg
        .src()
        .map(|s| s.name().to_string())
        .unwrap_or_else(|| "pipeline".to_string());
    match last_debug_line(msg) {
        d if d.is_empty() => format!("error: {src}: {}", msg.error()),
        d => format!("error: {src}: {} ({d})", msg.error()),
    }
}

// ---------------------------------------------------------------------------
// Running

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// End-of-stream reached the bus.
    Eos,
    /// Asked to stop, but end-of-stream did not arrive in time.
    EosTimeout,
    /// An error message, already printed.
    Error,
}

impl Ending {
    pub fn exit_code(self) -> i32 {
        match self {
            Ending::Eos | Ending::EosTimeout => 0,
            Ending::Error => 1,
        }
    }

    /// Prints the closing summary: to stdout after a clean end, to stderr
    /// after an error when `worth_it` (something got through), else not.
    pub fn print_summary(self, summary: &str, worth_it: bool) {
        match self {
            Ending::Error if worth_it => eprintln!("{summary}"),
            Ending::Error => {}
            _ => println!("{summary}"),
        }
    }
}

type Explain = dyn Fn(&gst::message::Error) -> String;

struct Runner {
    main_loop: glib::MainLoop,
    pipeline: gst::Pipeline,
    stopping: Cell<bool>,
    ending: Cell<Option<Ending>>,
    explain: Box<Explain>,
}

impl Runner {
    fn finish(&self, ending: Ending) {
        if self.ending.get().is_none() {
            self.ending.set(Some(ending));
        }
        self.main_loop.quit();
    }

    /// Sends end-of-stream into the pipeline once; the run ends when it
    /// reaches the bus, or after `EOS_GRACE`.
    fn stop(self: &Rc<Self>, why: &str) {
        if self.stopping.replace(true) {
            return;
        }
        eprintln!("stopping: {why}; sending end-of-stream");
        self.pipeline.send_event(gst::event::Eos::new());
        let runner = Rc::downgrade(self);
        glib::timeout_add_local_once(EOS_GRACE, move || {
            if let Some(runner) = runner.upgrade()
                && runner.ending.get().is_none()
            {
                eprintln!(
                    "warning: end-of-stream did not arrive within {} s; stopping anyway",
                    EOS_GRACE.as_secs()
                );
                runner.finish(Ending::EosTimeout);
            }
        });
    }

    fn on_message(&self, msg: &gst::Message) {
        use gst::MessageView;
        match msg.view() {
            MessageView::Eos(_) => self.finish(Ending::Eos),
            MessageView::Error(err) => {
                if self.ending.get().is_none() {
                    eprintln!("{}", (self.explain)(err));
                }
                self.finish(Ending::Error);
            }
            // The elements limit their own warnings (one per cause every
            // few seconds), so each one is shown.
            MessageView::Warning(w) => {
                let src = w.src().map(|s| s.name().to_string()).unwrap_or_default();
                eprintln!("warning: {src}: {}", w.error());
            }
            _ => {}
        }
    }

    /// Ctrl+C (SIGINT) and SIGTERM send end-of-stream; a second one exits
    /// at once with code 130. Installed before starting, so that an early
    /// Ctrl+C is queued, not fatal.
    fn handle_signals(self: &Rc<Self>) {
        for (signum, name) in [
            (libc::SIGINT, "Ctrl+C (SIGINT)"),
            (libc::SIGTERM, "SIGTERM"),
        ] {
            let runner = Rc::downgrade(self);
            on_signal(signum, move || {
                let Some(runner) = runner.upgrade() else {
                    return;
                };
                if runner.stopping.get() {
                    eprintln!("{name} again: quitting at once");
                    std::process::exit(130);
                }
                runner.stop(&format!("{name} (press Ctrl+C again to quit at once)"));
            });
        }
    }

    /// Sets the pipeline PLAYING; on failure prints why and leaves it NULL.
    fn start(&self, bus: &gst::Bus) -> Result<(), ()> {
        if self.pipeline.set_state(gst::State::Playing).is_ok() {
            return Ok(());
        }
        // Opening failed (port taken, no such device, ...): the element
        // posted why before the state change returned.
        let posted = bus.pop_filtered(&[gst::MessageType::Error]);
        match posted.as_ref().map(|m| m.view()) {
            Some(gst::MessageView::Error(err)) => eprintln!("{}", (self.explain)(err)),
            _ => eprintln!("error: the pipeline could not start"),
        }
        let _ = self.pipeline.set_state(gst::State::Null);
        Err(())
    }

    /// Stops the run after `duration`, unless it is zero.
    fn stop_after(self: &Rc<Self>, duration: Duration) {
        if duration.is_zero() {
            return;
        }
        let runner = Rc::downgrade(self);
        glib::timeout_add_local_once(duration, move || {
            if let Some(runner) = runner.upgrade() {
                runner.stop(&format!("--duration {} s reached", duration.as_secs_f64()));
            }
        });
    }
}

/// Calls `handler` from the default main context each time `signum` arrives.
/// Must be called from the thread that runs the default main loop (`run`
/// does so on the main thread).
fn on_signal(signum: libc::c_int, mut handler: impl FnMut() + 'static) {
    glib_unix::unix_signal_add_local(signum, move || {
        handler();
        glib::ControlFlow::Continue
    });
}

/// Runs `tick` once a second while the run has not ended.
fn tick_every_second(runner: Weak<Runner>, mut tick: impl FnMut() + 'static) -> glib::SourceId {
    glib::timeout_add_local(Duration::from_secs(1), move || {
        if runner.upgrade().is_some_and(|r| r.ending.get().is_none()) {
            tick();
        }
        glib::ControlFlow::Continue
    })
}

/// Plays `pipeline` until end-of-stream or an error.
///
/// - Ctrl+C (or SIGTERM), and `duration` unless zero, send end-of-stream; a
///   second Ctrl+C exits at once with code 130.
/// - `explain` turns a bus error into the one line printed for it.
/// - `started` is printed to stdout once the pipeline has started.
/// - `tick` runs once a second while playing.
/// - `at_end` runs once the run has ended, before the pipeline is set to
///   NULL: the elements reset their counters on the way down to READY, so
///   final statistics are read there.
///
/// The pipeline is set to NULL before returning.
pub fn run<T>(
    pipeline: &gst::Pipeline,
    duration: Duration,
    started: &str,
    explain: impl Fn(&gst::message::Error) -> String + 'static,
    tick: impl FnMut() + 'static,
    at_end: impl FnOnce() -> T,
) -> (Ending, T) {
    let runner = Rc::new(Runner {
        main_loop: glib::MainLoop::new(None, false),
        pipeline: pipeline.clone(),
        stopping: Cell::new(false),
        ending: Cell::new(None),
        explain: Box::new(explain),
    });
    let bus = pipeline.bus().expect("a pipeline has a bus");
    runner.handle_signals();
    if runner.start(&bus).is_err() {
        return (Ending::Error, at_end());
    }
    println!("{started}");

    let _watch = bus
        .add_watch_local({
            let runner = Rc::downgrade(&runner);
            move |_, msg| {
                if let Some(runner) = runner.upgrade() {
                    runner.on_message(msg);
                }
                glib::ControlFlow::Continue
            }
        })
        .expect("only one bus watch");
    runner.stop_after(duration);
    let ticker = tick_every_second(Rc::downgrade(&runner), tick);

    runner.main_loop.run();
    ticker.remove();
    let last = at_end();
    let _ = pipeline.set_state(gst::State::Null);
    (runner.ending.get().unwrap_or(Ending::Eos), last)
}
