// SPDX-License-Identifier: MPL-2.0
//! What the three elements share, kept once here the way gst-plugins-rs
//! keeps it in its base classes.
//!
//! ```text
//! gst-launch-1.0 tcpclientsrc host=127.0.0.1 port=8080 ! mjpegsplit ! udpjpegpay \
//!     ! udpsink host=127.0.0.1 port=5000
//! gst-launch-1.0 udpsrc port=5000 ! udpjpegdepay ! queue ! jpegdec ! videoconvert ! autovideosink
//! ```
//!
//! One shape for every element:
//!
//! - **Pads.** Two always pads, `sink` and `src` ([`pad_templates`],
//!   added by [`constructed`]); [`sink_pad`] and [`src_pad`] wrap the pad
//!   functions so that a panic becomes an error posted by the element.
//! - **State.** Settings live in a `Mutex<Settings>` copied once per buffer;
//!   everything else in a `State`, reset whole at [`RESET`] (PAUSED to
//!   READY, once streaming has stopped) by [`change_state`], so the
//!   counters of the `stats` property read zero in READY and count from the
//!   next start.
//! - **Flush.** FLUSH_STOP resets the per-stream part only: what is held
//!   for the stream (incomplete frames, the frame in progress) is discarded
//!   and counted as end-of-stream counts it, the held events but the sticky
//!   ones are dropped ([`HeldEvents::flush`]), the next frame carries
//!   DISCONT; the counters and what lasts until READY stay.
//! - **Events before caps.** An element that learns its caps from the first
//!   frame holds the serialized events that must follow caps
//!   ([`HeldEvents`]) and builds its caps with [`JpegCaps`].
//! - **Properties.** An unknown property in `set_property` or `property` is
//!   `unimplemented!()`, as in gst-plugins-rs: GObject dispatches only the
//!   properties that `properties()` lists, so another name is a bug in the
//!   element, not an input. Enum property types are marked as plugin API.
//!   Each element's counters are its read-only `stats` property
//!   ([`stats_property`]); a bug caught in a pure module's bookkeeping is
//!   counted there and logged once as an error ([`InternalErrors`]).
//! - **Warnings.** Recovered bad input is a warning at most once per cause
//!   every [`WARNING_INTERVAL`] ([`RateLimit`]); the rest are DEBUG lines,
//!   counted in the `stats` property and in the next warning.

use std::time::{Duration, Instant};

use gst::glib::{self, object::IsClass};
use gst::prelude::*;
use gst::subclass::prelude::*;

/// A chain function of element `T`.
pub type ChainFn<T> = fn(&T, &gst::Pad, gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError>;
/// An event function of element `T`.
pub type EventFn<T> = fn(&T, &gst::Pad, gst::Event) -> bool;
/// A query function of element `T`.
pub type QueryFn<T> = fn(&T, &gst::Pad, &mut gst::QueryRef) -> bool;

/// The pad template `name` of the element class `klass`, which
/// [`pad_templates`] made.
fn template<T: ElementImpl>(klass: &glib::Class<T::Type>, name: &str) -> gst::PadTemplate
where
    T::Type: IsClass,
{
    klass
        .pad_template(name)
        .unwrap_or_else(|| panic!("the class has a {name} pad template"))
}

/// The `sink` pad of element `T` whose chain and event functions run with
/// the element; a panic in them is an error posted by the element, not an
/// abort, and fails the flow (or refuses the event).
pub fn sink_pad<T: ElementImpl>(
    klass: &glib::Class<T::Type>,
    chain: ChainFn<T>,
    event: EventFn<T>,
) -> gst::PadBuilder<gst::Pad>
where
    T::Type: IsClass,
{
    gst::Pad::builder_from_template(&template::<T>(klass, "sink"))
        .chain_function(move |pad, parent, buffer| {
            T::catch_panic_pad_function(
                parent,
                || Err(gst::FlowError::Error),
                |imp| chain(imp, pad, buffer),
            )
        })
        .event_function(move |pad, parent, e| {
            T::catch_panic_pad_function(parent, || false, |imp| event(imp, pad, e))
        })
}

/// The `src` pad of element `T` whose query function, if any, runs with
/// the element as [`sink_pad`]'s functions do.
pub fn src_pad<T: ElementImpl>(klass: &glib::Class<T::Type>, query: Option<QueryFn<T>>) -> gst::Pad
where
    T::Type: IsClass,
{
    let builder = gst::Pad::builder_from_template(&template::<T>(klass, "src"));
    let Some(query) = query else {
        return builder.build();
    };
    builder
        .query_function(move |pad, parent, q| {
            T::catch_panic_pad_function(parent, || false, |imp| query(imp, pad, q))
        })
        .build()
}

/// The transition at which each element resets its `State` whole.
pub const RESET: gst::StateChange = gst::StateChange::PausedToReady;

/// The element's state change: the parent's, then at [`RESET`] (once
/// streaming has stopped) `reset`, which puts the element's `State` back
/// whole. Checks that may refuse a transition run before this.
pub fn change_state<T: ElementImpl>(
    imp: &T,
    transition: gst::StateChange,
    reset: impl FnOnce(),
) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
    let res = imp.parent_change_state(transition)?;
    if transition == RESET {
        reset();
    }
    Ok(res)
}

/// The read-only `stats` property of every element: a structure named
/// `structure` whose `fields` the blurb lists, each with what it counts.
pub fn stats_property(structure: &str, fields: &str) -> glib::ParamSpec {
    let blurb = format!(
        "Counters since the element last left READY (reset on going back to READY, \
         a flush keeps them), a structure named {structure}: {fields}"
    );
    glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
        .nick("Statistics")
        .blurb(&blurb)
        .read_only()
        .build()
}

/// Element metadata with the crate's author line.
pub fn metadata(long_name: &str, klass: &str, description: &str) -> gst::subclass::ElementMetadata {
    gst::subclass::ElementMetadata::new(
        long_name,
        klass,
        description,
        "gst-plugin-udpjpeg developers",
    )
}

/// The caps of whole frames leaving an element: `image/jpeg, parsed=true`
/// (the size and frame rate come with [`JpegCaps`]).
pub fn parsed_jpeg_caps() -> gst::Caps {
    gst::Caps::builder("image/jpeg")
        .field("parsed", true)
        .build()
}

/// The two always pads of an element, `src` and `sink`, with their caps.
pub fn pad_templates(src: &gst::Caps, sink: &gst::Caps) -> Vec<gst::PadTemplate> {
    let template = |name, direction, caps| {
        gst::PadTemplate::new(name, direction, gst::PadPresence::Always, caps)
            .expect("a valid pad template")
    };
    vec![
        template("src", gst::PadDirection::Src, src),
        template("sink", gst::PadDirection::Sink, sink),
    ]
}

/// `constructed`: the parent's, then the element's two always pads added.
pub fn constructed<T: ElementImpl>(imp: &T, sinkpad: &gst::Pad, srcpad: &gst::Pad) {
    imp.parent_constructed();
    let obj = imp.obj();
    let element = obj.upcast_ref::<gst::Element>();
    element.add_pad(sinkpad).expect("a new pad name");
    element.add_pad(srcpad).expect("a new pad name");
}

/// Internal errors (a bug in a pure module's bookkeeping, counted in its
/// stats, never hidden behind a plausible result) already logged, so that
/// each is logged once.
#[derive(Debug, Default)]
pub struct InternalErrors {
    logged: u64,
}

impl InternalErrors {
    /// Of the `total` counted so far, how many were not logged yet (`None`
    /// if none); from now they count as logged.
    pub fn new_since(&mut self, total: u64) -> Option<u64> {
        let new = total.checked_sub(self.logged).filter(|&n| n > 0)?;
        self.logged = total;
        Some(new)
    }

    /// One internal error, logged where it happened, to count as logged.
    pub fn logged_there(&mut self) {
        self.logged += 1;
    }
}

/// Serialized events held back until the element's first caps are pushed,
/// since downstream must see caps before a segment, tags or a gap.
#[derive(Debug, Default)]
pub struct HeldEvents {
    /// The caps last pushed downstream; `None` until the first.
    caps: Option<gst::Caps>,
    held: Vec<gst::Event>,
}

impl HeldEvents {
    /// The caps last pushed downstream.
    pub fn caps(&self) -> Option<&gst::Caps> {
        self.caps.as_ref()
    }

    /// Keeps `event` if it has to wait for caps; otherwise gives it back to
    /// be handled now. EOS never waits (see [`HeldEvents::take_at_eos`]).
    pub fn hold(&mut self, event: gst::Event) -> Option<gst::Event> {
        let waits = self.caps.is_none()
            && event.is_serialized()
            && event.type_() > gst::EventType::Caps
            && event.type_() != gst::EventType::Eos;
        if !waits {
            return Some(event);
        }
        self.held.push(event);
        None
    }

    /// The events to push before a buffer whose caps are `caps`: a caps
    /// event if they differ from the last pushed, then the held events.
    pub fn before_buffer(&mut self, caps: gst::Caps) -> Vec<gst::Event> {
        let mut events = Vec::new();
        if self.caps.as_ref() != Some(&caps) {
            events.push(gst::event::Caps::new(&caps));
            self.caps = Some(caps);
        }
        events.append(&mut self.held);
        events
    }

    /// At end of stream without any frame: what was held goes out anyway,
    /// ahead of the EOS.
    pub fn take_at_eos(&mut self) -> Vec<gst::Event> {
        std::mem::take(&mut self.held)
    }

    /// FLUSH_STOP: keeps the sticky events that outlive a flush and drops
    /// the rest (FLUSH_STOP itself clears EOS, stream-group-done and the
    /// segment). The caps pushed stay, as they stay on the pad.
    pub fn flush(&mut self) {
        self.held.retain(|ev| {
            ev.is_sticky()
                && ![
                    gst::EventType::Eos,
                    gst::EventType::StreamGroupDone,
                    gst::EventType::Segment,
                ]
                .contains(&ev.type_())
        });
    }
}

/// The `image/jpeg` caps of a stream of frames, from each frame's SOF.
#[derive(Debug, Default)]
pub struct JpegCaps {
    /// The size from the last frame with a readable SOF.
    dimensions: Option<(u16, u16)>,
}

impl JpegCaps {
    /// Caps for a frame whose SOF gave `dimensions` (`None`: no readable
    /// SOF, which keeps the last size read rather than renegotiating):
    /// `image/jpeg, parsed=true`, width and height when known, `framerate`.
    pub fn for_frame(
        &mut self,
        dimensions: Option<(u16, u16)>,
        framerate: gst::Fraction,
    ) -> gst::Caps {
        if dimensions.is_some() {
            self.dimensions = dimensions;
        }
        let mut builder = gst::Caps::builder("image/jpeg").field("parsed", true);
        if let Some((width, height)) = self.dimensions {
            builder = builder
                .field("width", i32::from(width))
                .field("height", i32::from(height));
        }
        builder.field("framerate", framerate).build()
    }
}

/// Shortest time between two warnings for one cause.
pub const WARNING_INTERVAL: Duration = Duration::from_secs(5);

/// At most one warning every [`WARNING_INTERVAL`] for one cause (a hostile
/// or misconfigured stream can cause thousands a second); the others are
/// logged at DEBUG and counted in the next warning.
#[derive(Debug, Default)]
pub struct RateLimit {
    last_warning: Option<Instant>,
    unwarned: u64,
}

impl RateLimit {
    /// For an occurrence at `now` that is to be a warning, the number of
    /// occurrences since the last warning that were not; `None` for one to
    /// log at DEBUG (it is counted).
    pub fn warn_now(&mut self, now: Instant) -> Option<u64> {
        if self
            .last_warning
            .is_some_and(|t| now.duration_since(t) < WARNING_INTERVAL)
        {
            self.unwarned += 1;
            return None;
        }
        self.last_warning = Some(now);
        Some(std::mem::take(&mut self.unwarned))
    }
}

/// The end of a warning that stood for `more` earlier occurrences too.
pub fn more_since_last(more: u64) -> String {
    match more {
        0 => String::new(),
        n => format!(" ({n} more since the last warning: see the stats property)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment() -> gst::Event {
        gst::event::Segment::new(&gst::FormattedSegment::<gst::ClockTime>::new())
    }

    fn types(events: &[gst::Event]) -> Vec<gst::EventType> {
        events.iter().map(|e| e.type_()).collect()
    }

    #[test]
    fn events_after_caps_wait_for_the_first_caps_only() {
        gst::init().unwrap();
        let mut held = HeldEvents::default();
        let start = gst::event::StreamStart::new("s");
        assert!(held.hold(start).is_some(), "stream-start precedes caps");
        assert!(held.hold(gst::event::FlushStart::new()).is_some());
        assert!(held.hold(gst::event::Eos::new()).is_some());
        assert!(held.hold(segment()).is_none());
        assert!(
            held.hold(gst::event::StreamGroupDone::new(gst::GroupId::next()))
                .is_none()
        );
        let caps = gst::Caps::new_empty_simple("image/jpeg");
        let events = held.before_buffer(caps.clone());
        assert_eq!(
            types(&events),
            [
                gst::EventType::Caps,
                gst::EventType::Segment,
                gst::EventType::StreamGroupDone
            ]
        );
        assert!(held.before_buffer(caps).is_empty(), "caps unchanged");
        assert!(held.hold(segment()).is_some(), "caps are out");
    }

    #[test]
    fn a_flush_keeps_only_the_sticky_events_that_outlive_it() {
        gst::init().unwrap();
        let mut held = HeldEvents::default();
        let tags = gst::event::Tag::new(gst::TagList::new());
        for e in [
            segment(),
            tags,
            gst::event::StreamGroupDone::new(gst::GroupId::next()),
            gst::event::Gap::builder(gst::ClockTime::ZERO).build(),
        ] {
            assert!(held.hold(e).is_none());
        }
        held.flush();
        assert_eq!(types(&held.take_at_eos()), [gst::EventType::Tag]);
    }

    #[test]
    fn jpeg_caps_keep_the_last_size_read() {
        gst::init().unwrap();
        let mut caps = JpegCaps::default();
        let none = caps.for_frame(None, gst::Fraction::new(0, 1));
        assert_eq!(
            none.to_string(),
            "image/jpeg, parsed=(boolean)true, framerate=(fraction)0/1"
        );
        let sized = caps.for_frame(Some((640, 360)), gst::Fraction::new(25, 1));
        assert_eq!(
            sized.to_string(),
            "image/jpeg, parsed=(boolean)true, width=(int)640, height=(int)360, \
             framerate=(fraction)25/1"
        );
        assert_eq!(caps.for_frame(None, gst::Fraction::new(25, 1)), sized);
    }

    #[test]
    fn each_internal_error_is_logged_once() {
        let mut errors = InternalErrors::default();
        assert_eq!(errors.new_since(0), None);
        assert_eq!(errors.new_since(2), Some(2));
        assert_eq!(errors.new_since(2), None);
        errors.logged_there();
        assert_eq!(errors.new_since(3), None, "logged where it happened");
        assert_eq!(errors.new_since(4), Some(1));
    }

    #[test]
    fn one_warning_per_interval_counting_the_rest() {
        let mut limit = RateLimit::default();
        let t0 = Instant::now();
        assert_eq!(limit.warn_now(t0), Some(0));
        for s in 1..5 {
            assert_eq!(limit.warn_now(t0 + Duration::from_secs(s)), None);
        }
        assert_eq!(limit.warn_now(t0 + WARNING_INTERVAL), Some(4));
        assert_eq!(limit.warn_now(t0 + WARNING_INTERVAL), None);
        assert_eq!(more_since_last(0), "");
        assert!(more_since_last(4).starts_with(" (4 more"));
    }
}
