//! Helpers shared by the `sender` and `receiver` examples: command-line
//! parsing, element creation with an install hint, and the main loop that
//! turns Ctrl+C or `--duration` into end-of-stream.
//!
//! This folder is included with `mod common;` and is not an example itself.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::ffi::c_int;
use std::fmt::Display;
use std::ops::RangeInclusive;
use std::rc::Rc;
use std::str::FromStr;
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;

/// How long to wait for end-of-stream to reach the bus after asking for it.
pub const EOS_GRACE: Duration = Duration::from_secs(3);

const SIGINT: c_int = 2;
const SIGTERM: c_int = 15;

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

/// A tiny `--flag value` / `--flag=value` parser over `std::env::args`.
pub struct Args {
    program: &'static str,
    usage: &'static str,
    items: std::vec::IntoIter<String>,
}

impl Args {
    /// `usage` is the one-line synopsis printed after a bad argument.
    pub fn from_env(program: &'static str, usage: &'static str) -> Self {
        Args {
            program,
            usage,
            items: std::env::args().skip(1).collect::<Vec<_>>().into_iter(),
        }
    }

    /// The next flag and its inline value (`--port=5000`), or `None` at the
    /// end. Anything that is not a flag is an error.
    pub fn next_flag(&mut self) -> Option<(String, Option<String>)> {
        let item = self.items.next()?;
        if item == "-h" {
            return Some(("--help".to_string(), None));
        }
        if !item.starts_with("--") || item == "--" {
            self.fail(format_args!("unexpected argument '{item}'"));
        }
        Some(match item.split_once('=') {
            Some((flag, value)) => (flag.to_string(), Some(value.to_string())),
            None => (item, None),
        })
    }

    /// The value of `flag`: the inline one, or the next argument.
    pub fn value(&mut self, flag: &str, inline: Option<String>) -> String {
        if let Some(v) = inline {
            return v;
        }
        match self.items.next() {
            Some(v) if !v.starts_with("--") => v,
            _ => self.fail(format_args!("{flag} needs a value")),
        }
    }

    /// A flag that takes no value.
    #[allow(dead_code)] // used by the sender only
    pub fn no_value(&self, flag: &str, inline: Option<String>) {
        if inline.is_some() {
            self.fail(format_args!("{flag} takes no value"));
        }
    }

    /// A number within `range`.
    pub fn number<T>(&mut self, flag: &str, inline: Option<String>, range: RangeInclusive<T>) -> T
    where
        T: FromStr + PartialOrd + Display + Copy,
    {
        let text = self.value(flag, inline);
        match text.parse::<T>() {
            Ok(v) if range.contains(&v) => v,
            _ => self.fail(format_args!(
                "{flag} expects a whole number from {} to {}, not '{text}'",
                range.start(),
                range.end()
            )),
        }
    }

    /// A duration in seconds (fractions allowed); `None` for 0.
    pub fn seconds(&mut self, flag: &str, inline: Option<String>) -> Option<Duration> {
        let text = self.value(flag, inline);
        match text.parse::<f64>() {
            Ok(s) if s.is_finite() && (0.0..=31_536_000.0).contains(&s) => {
                (s > 0.0).then(|| Duration::from_secs_f64(s))
            }
            _ => self.fail(format_args!(
                "{flag} expects a number of seconds (0 = until Ctrl+C), not '{text}'"
            )),
        }
    }

    /// `sce` or `countdown`, the nicks of the elements' `wire-format`.
    pub fn wire_format(&mut self, flag: &str, inline: Option<String>) -> String {
        let text = self.value(flag, inline);
        match text.as_str() {
            "sce" | "countdown" => text,
            _ => self.fail(format_args!(
                "{flag} expects 'sce' or 'countdown', not '{text}'"
            )),
        }
    }

    /// Prints `error: ...` and the usage line, and exits with code 2.
    pub fn fail(&self, msg: impl Display) -> ! {
        eprintln!("error: {msg}");
        eprintln!("usage: {} {}", self.program, self.usage);
        eprintln!("Run '{} --help' for details.", self.program);
        std::process::exit(2);
    }

    /// Rejects an unknown flag.
    pub fn unknown(&self, flag: &str) -> ! {
        self.fail(format_args!("unknown option '{flag}'"))
    }
}

// ---------------------------------------------------------------------------
// Elements

/// Creates an element, or exits with a line saying which package to install.
/// A live `videotestsrc` showing `pattern`; an unknown pattern is a usage
/// error that lists the known ones. (Used by the sender and the area picker.)
#[allow(dead_code)]
pub fn test_pattern(args: &Args, pattern: &str) -> gst::Element {
    let src = make("videotestsrc");
    src.set_property("is-live", true);
    let pspec = src
        .find_property("pattern")
        .expect("videotestsrc has pattern");
    let class = glib::EnumClass::with_type(pspec.value_type()).expect("an enum");
    if class.value_by_nick(pattern).is_none() {
        let names: Vec<&str> = class.values().iter().map(|v| v.nick()).collect();
        args.fail(format_args!(
            "--pattern '{pattern}' is not a videotestsrc pattern; pick one of: {}",
            names.join(", ")
        ));
    }
    src.set_property_from_str("pattern", pattern);
    src
}

/// A `v4l2src` for `device`; a device that does not exist ends the program
/// with a message saying what to do. (Used by the sender and the area picker.)
#[allow(dead_code)]
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

/// The factory name of the element that posted a message, if any.
pub fn factory_of(msg: &gst::message::Error) -> String {
    msg.src()
        .and_then(|s| s.downcast_ref::<gst::Element>())
        .and_then(|e| e.factory())
        .map(|f| f.name().to_string())
        .unwrap_or_default()
}

/// A one-line description of a bus error that no hint covers: the message
/// and the last line of the debug text (the one that names the cause).
pub fn describe(msg: &gst::message::Error) -> String {
    let src = msg
        .src()
        .map(|s| s.name().to_string())
        .unwrap_or_else(|| "pipeline".to_string());
    let detail = msg
        .debug()
        .and_then(|d| d.lines().last().map(|l| l.trim().to_string()))
        .filter(|l| !l.is_empty());
    match detail {
        Some(d) => format!("error: {src}: {} ({d})", msg.error()),
        None => format!("error: {src}: {}", msg.error()),
    }
}

// ---------------------------------------------------------------------------
// Signals

/// Calls `handler` from the default main context each time `signum` arrives.
/// Must be called from the thread that runs the default main loop (`run`
/// does so on the main thread).
fn on_signal(signum: c_int, mut handler: impl FnMut() + 'static) {
    glib_unix::unix_signal_add_local(signum, move || {
        handler();
        glib::ControlFlow::Continue
    });
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
}

/// Shows at most one warning line per element in this time.
const WARNING_EVERY: Duration = Duration::from_secs(5);

struct WarningsSeen {
    total: u64,
    unshown: u64,
    last_shown: Option<Instant>,
}

struct Runner {
    main_loop: glib::MainLoop,
    pipeline: gst::Pipeline,
    stopping: Cell<bool>,
    ending: Cell<Option<Ending>>,
    /// Warnings by the name of the element that posted them.
    warnings: RefCell<BTreeMap<String, WarningsSeen>>,
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

    fn on_message(&self, msg: &gst::Message, explain: &dyn Fn(&gst::message::Error) -> String) {
        use gst::MessageView;
        match msg.view() {
            MessageView::Eos(_) => self.finish(Ending::Eos),
            MessageView::Error(err) => {
                if self.ending.get().is_none() {
                    eprintln!("{}", explain(err));
                }
                self.finish(Ending::Error);
            }
            MessageView::Warning(w) => {
                // At most one line per element every WARNING_EVERY; the
                // payloader warns once per dropped frame.
                let src = w.src().map(|s| s.name().to_string()).unwrap_or_default();
                let mut warnings = self.warnings.borrow_mut();
                let seen = warnings.entry(src.clone()).or_insert(WarningsSeen {
                    total: 0,
                    unshown: 0,
                    last_shown: None,
                });
                seen.total += 1;
                if seen.last_shown.is_some_and(|t| t.elapsed() < WARNING_EVERY) {
                    seen.unshown += 1;
                } else {
                    let more = match seen.unshown {
                        0 => String::new(),
                        n => format!(" ({n} more not shown)"),
                    };
                    eprintln!("warning: {src}: {}{more}", w.error());
                    seen.unshown = 0;
                    seen.last_shown = Some(Instant::now());
                }
            }
            _ => {}
        }
    }
}

/// Plays `pipeline` until end-of-stream or an error.
///
/// - Ctrl+C (or SIGTERM), and `duration` when given, send end-of-stream; a
///   second Ctrl+C exits at once with code 130.
/// - `explain` turns a bus error into the one line printed for it.
/// - `started` is printed to stdout once the pipeline has started.
/// - `tick` runs once a second while playing.
///
/// The pipeline is set to NULL before returning.
pub fn run(
    pipeline: &gst::Pipeline,
    duration: Option<Duration>,
    started: &str,
    explain: impl Fn(&gst::message::Error) -> String + 'static,
    mut tick: impl FnMut() + 'static,
) -> Ending {
    let runner = Rc::new(Runner {
        main_loop: glib::MainLoop::new(None, false),
        pipeline: pipeline.clone(),
        stopping: Cell::new(false),
        ending: Cell::new(None),
        warnings: RefCell::new(BTreeMap::new()),
    });
    let bus = pipeline.bus().expect("a pipeline has a bus");

    // Before starting, so that an early Ctrl+C is queued, not fatal.
    for (signum, name) in [(SIGINT, "Ctrl+C (SIGINT)"), (SIGTERM, "SIGTERM")] {
        let runner = Rc::downgrade(&runner);
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

    if pipeline.set_state(gst::State::Playing).is_err() {
        // Opening failed (port taken, no such device, ...): the element
        // posted why before the state change returned.
        match bus.pop_filtered(&[gst::MessageType::Error]) {
            Some(msg) => match msg.view() {
                gst::MessageView::Error(err) => eprintln!("{}", explain(err)),
                _ => unreachable!("filtered on errors"),
            },
            None => eprintln!("error: the pipeline could not start"),
        }
        let _ = pipeline.set_state(gst::State::Null);
        return Ending::Error;
    }
    println!("{started}");

    let explain: Rc<dyn Fn(&gst::message::Error) -> String> = Rc::new(explain);
    let _watch = bus
        .add_watch_local({
            let runner = Rc::downgrade(&runner);
            move |_, msg| {
                if let Some(runner) = runner.upgrade() {
                    runner.on_message(msg, &*explain);
                }
                glib::ControlFlow::Continue
            }
        })
        .expect("only one bus watch");

    if let Some(d) = duration {
        let runner = Rc::downgrade(&runner);
        glib::timeout_add_local_once(d, move || {
            if let Some(runner) = runner.upgrade() {
                runner.stop(&format!("--duration {} s reached", d.as_secs_f64()));
            }
        });
    }

    let ticker = glib::timeout_add_local(Duration::from_secs(1), {
        let runner = Rc::downgrade(&runner);
        move || {
            if runner.upgrade().is_some_and(|r| r.ending.get().is_none()) {
                tick();
            }
            glib::ControlFlow::Continue
        }
    });

    runner.main_loop.run();
    ticker.remove();
    let _ = pipeline.set_state(gst::State::Null);

    for (src, seen) in runner.warnings.borrow().iter().filter(|(_, w)| w.total > 1) {
        eprintln!("warning: {} warnings in all from {src}", seen.total);
    }
    runner.ending.get().unwrap_or(Ending::Eos)
}
