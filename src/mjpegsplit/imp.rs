// SPDX-License-Identifier: MPL-2.0
//! The `mjpegsplit` element: pads, properties and the glue between the
//! [`Scanner`] and GStreamer (caps, timestamps, DISCONT, warnings, stats).
//!
//! ```text
//! gst-launch-1.0 filesrc location=capture.mjpeg ! mjpegsplit framerate=25/1 ! queue \
//!     ! jpegdec ! videoconvert ! autovideosink
//! ```

use gst::{glib, prelude::*, subclass::prelude::*};

use std::sync::{LazyLock, Mutex};
use std::time::Instant;

use super::stamp::Stamper;
use crate::glue::{self, HeldEvents, InternalErrors, JpegCaps, RateLimit};
use crate::jpeg;
use crate::scanner::{DropReason, Output, Scanner};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "mjpegsplit",
        gst::DebugColorFlags::empty(),
        Some("Motion JPEG byte stream splitter"),
    )
});

const DEFAULT_FRAMERATE: gst::Fraction = gst::Fraction::from_integer(0);
const DEFAULT_MAX_FRAME_SIZE: u32 = 16 * 1024 * 1024;
const MIN_MAX_FRAME_SIZE: u32 = 1024;
const MAX_MAX_FRAME_SIZE: u32 = 1024 * 1024 * 1024;

#[derive(Debug, Clone, Copy)]
struct Settings {
    framerate: gst::Fraction,
    max_frame_size: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            framerate: DEFAULT_FRAMERATE,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
        }
    }
}

struct State {
    scanner: Scanner,
    /// Caps pushed downstream, and the events waiting for the first.
    events: HeldEvents,
    jpeg_caps: JpegCaps,
    /// The next frame pushed carries DISCONT.
    discont: bool,
    /// Dropped frames are a warning at most every few seconds.
    drop_warnings: RateLimit,
    /// Whole frames found when a flush cut the stream, never pushed.
    frames_flushed: u64,
    /// The scanner's internal errors already logged.
    internal_errors: InternalErrors,
    /// Stamps frames at `framerate`.
    stamper: Stamper,
}

impl Default for State {
    fn default() -> Self {
        State {
            scanner: Scanner::new(DEFAULT_MAX_FRAME_SIZE as usize),
            events: HeldEvents::default(),
            jpeg_caps: JpegCaps::default(),
            discont: true,
            drop_warnings: RateLimit::default(),
            frames_flushed: 0,
            internal_errors: InternalErrors::default(),
            stamper: Stamper::default(),
        }
    }
}

/// What to send downstream, in order, once the state lock is released.
enum Item {
    Event(gst::Event),
    Buffer(gst::Buffer),
}

pub struct MjpegSplit {
    sinkpad: gst::Pad,
    srcpad: gst::Pad,
    settings: Mutex<Settings>,
    state: Mutex<State>,
}

fn drop_reason(reason: DropReason) -> &'static str {
    match reason {
        DropReason::SoiInFrame => "start of image inside the frame",
        DropReason::NotAMarker => "segment does not end at a marker",
        DropReason::BadLength => "segment length below 2",
        DropReason::TooLarge => "frame larger than max-frame-size",
        DropReason::Truncated => "stream ended inside the frame",
    }
}

impl MjpegSplit {
    /// Turns scanner outputs into caps events and buffers; updates the state.
    fn handle_outputs(
        &self,
        state: &mut State,
        settings: &Settings,
        outputs: Vec<Output>,
        items: &mut Vec<Item>,
    ) {
        for output in outputs {
            match output {
                Output::Dropped { reason, len } => self.warn_dropped(state, reason, len),
                Output::Frame { data, tag } => self.queue_frame(state, settings, data, tag, items),
            }
        }
        self.log_internal_errors(state);
    }

    /// A frame the scanner lost to a bug in its own bookkeeping (counted in
    /// its stats, never hidden behind a plausible frame): an error line, and
    /// the next frame marked DISCONT.
    fn log_internal_errors(&self, state: &mut State) {
        let total = state.scanner.stats().internal_errors;
        if let Some(new) = state.internal_errors.new_since(total) {
            gst::error!(
                CAT,
                imp = self,
                "Lost {new} frame(s) to an internal error of the scanner (a bug: please report it)",
            );
            state.discont = true;
        }
    }

    /// A dropped frame (counted by the scanner): a warning at most every
    /// few seconds, the next frame marked DISCONT.
    fn warn_dropped(&self, state: &mut State, reason: DropReason, len: usize) {
        let why = drop_reason(reason);
        match state.drop_warnings.warn_now(Instant::now()) {
            Some(more) => gst::warning!(
                CAT,
                imp = self,
                "Dropped a frame of {len} bytes: {why}{}",
                glue::more_since_last(more)
            ),
            None => gst::debug!(CAT, imp = self, "Dropped a frame of {len} bytes: {why}"),
        }
        state.discont = true;
    }

    /// Queues a whole frame as a buffer, after the caps event if the caps
    /// changed and the events held until the first caps.
    fn queue_frame(
        &self,
        state: &mut State,
        settings: &Settings,
        data: Vec<u8>,
        tag: Option<u64>,
        items: &mut Vec<Item>,
    ) {
        let dimensions = jpeg::dimensions(&data);
        if dimensions.is_none() {
            gst::debug!(CAT, imp = self, "Frame without a readable SOF");
        }
        let caps = state.jpeg_caps.for_frame(dimensions, settings.framerate);
        if state.events.caps() != Some(&caps) {
            gst::debug!(CAT, imp = self, "New caps {caps:?}");
        }
        items.extend(
            state
                .events
                .before_buffer(caps)
                .into_iter()
                .map(Item::Event),
        );

        gst::trace!(CAT, imp = self, "Frame of {} bytes", data.len());
        let rate = (settings.framerate.numer(), settings.framerate.denom());
        let stamp = state.stamper.next(tag, rate);
        let mut buffer = gst::Buffer::from_mut_slice(data);
        let b = buffer.get_mut().expect("new buffer is writable");
        b.set_pts(stamp.pts.map(gst::ClockTime::from_nseconds));
        b.set_duration(stamp.duration.map(gst::ClockTime::from_nseconds));
        if std::mem::take(&mut state.discont) {
            b.set_flags(gst::BufferFlags::DISCONT);
        }
        items.push(Item::Buffer(buffer));
    }

    /// Pushes items in order without any lock held; stops at the first error.
    fn push_items(&self, items: Vec<Item>) -> Result<gst::FlowSuccess, gst::FlowError> {
        for item in items {
            match item {
                Item::Event(event) => {
                    let _ = self.srcpad.push_event(event);
                }
                Item::Buffer(buffer) => {
                    self.srcpad.push(buffer)?;
                }
            }
        }
        Ok(gst::FlowSuccess::Ok)
    }

    fn sink_chain(
        &self,
        pad: &gst::Pad,
        buffer: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = *self.settings.lock().unwrap();
        gst::trace!(CAT, obj = pad, "Handling buffer {buffer:?}");

        let map = buffer.map_readable().map_err(|_| {
            gst::element_imp_error!(self, gst::StreamError::Failed, ("Can't map buffer"));
            gst::FlowError::Error
        })?;
        let tag = buffer.pts().map(gst::ClockTime::nseconds);

        let mut outputs = Vec::new();
        let mut items = Vec::new();
        {
            let mut state = self.state.lock().unwrap();
            let state = &mut *state;
            state
                .scanner
                .set_max_frame_size(settings.max_frame_size as usize);
            if buffer.flags().contains(gst::BufferFlags::DISCONT) {
                // Data is missing before this buffer: the frame in progress
                // cannot be trusted any more.
                if state.scanner.in_frame() {
                    gst::debug!(CAT, obj = pad, "Discont input inside a frame");
                }
                state.scanner.finish(&mut |o| outputs.push(o));
                state.discont = true;
            }
            state.scanner.push(&map, tag, &mut |o| outputs.push(o));
            self.handle_outputs(state, &settings, outputs, &mut items);
        }
        drop(map);

        self.push_items(items)
    }

    /// End of stream: the frame in progress is dropped and counted
    /// (truncated); frames the cut completes, and the events held if no
    /// frame ever came, go out before the EOS.
    fn drain(&self) {
        let settings = *self.settings.lock().unwrap();
        let mut items = Vec::new();
        {
            let mut state = self.state.lock().unwrap();
            let state = &mut *state;
            let mut outputs = Vec::new();
            state.scanner.finish(&mut |o| outputs.push(o));
            self.handle_outputs(state, &settings, outputs, &mut items);
            items.extend(state.events.take_at_eos().into_iter().map(Item::Event));
        }
        let _ = self.push_items(items);
    }

    /// FLUSH_STOP: the frame in progress is cut and counted as at EOS
    /// (truncated), though logged at DEBUG only since a seek causes it;
    /// frames the cut completes are discarded (frames-flushed). The next
    /// frame carries DISCONT; the counters stay until READY.
    fn flush(&self) {
        let mut state = self.state.lock().unwrap();
        state.stamper.restart();
        let mut outputs = Vec::new();
        state.scanner.finish(&mut |o| outputs.push(o));
        for output in outputs {
            match output {
                Output::Dropped { reason, len } => gst::debug!(
                    CAT,
                    imp = self,
                    "Flushed a frame of {len} bytes: {}",
                    drop_reason(reason)
                ),
                Output::Frame { data, .. } => {
                    gst::debug!(
                        CAT,
                        imp = self,
                        "Flushed a whole frame of {} bytes",
                        data.len()
                    );
                    state.frames_flushed += 1;
                }
            }
        }
        state.discont = true;
        state.events.flush();
    }

    fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        gst::log!(CAT, obj = pad, "Handling event {event:?}");

        match event.view() {
            gst::EventView::Caps(ev) => {
                gst::debug!(CAT, obj = pad, "Dropping upstream caps {:?}", ev.caps());
                return true;
            }
            gst::EventView::FlushStop(_) => self.flush(),
            gst::EventView::Eos(_) => self.drain(),
            _ => (),
        }
        let event = self.time_segment(event);

        let kind = event.type_();
        let Some(event) = self.state.lock().unwrap().events.hold(event) else {
            gst::debug!(CAT, obj = pad, "Holding back {kind:?} until caps");
            return true;
        };
        gst::Pad::event_default(pad, Some(&*self.obj()), event)
    }

    /// With a frame rate, a segment in bytes (a file) becomes a segment in
    /// time from 0, which the frames' stamps are on.
    fn time_segment(&self, event: gst::Event) -> gst::Event {
        let gst::EventView::Segment(seg) = event.view() else {
            return event;
        };
        let rate = self.settings.lock().unwrap().framerate;
        if seg.segment().format() == gst::Format::Time || rate.numer() <= 0 {
            return event;
        }
        gst::debug!(
            CAT,
            imp = self,
            "Input in bytes: frames timed at {rate} from 0"
        );
        gst::event::Segment::builder(&gst::FormattedSegment::<gst::ClockTime>::new())
            .seqnum(event.seqnum())
            .build()
    }

    fn src_query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
        if let gst::QueryViewMut::Caps(q) = query.view_mut() {
            let caps = self
                .state
                .lock()
                .unwrap()
                .events
                .caps()
                .cloned()
                .unwrap_or_else(|| pad.pad_template_caps());
            let caps = match q.filter() {
                Some(filter) => filter.intersect_with_mode(&caps, gst::CapsIntersectMode::First),
                None => caps,
            };
            q.set_result(&caps);
            return true;
        }
        gst::Pad::query_default(pad, Some(&*self.obj()), query)
    }

    fn stats(&self) -> gst::Structure {
        let state = self.state.lock().unwrap();
        let stats = state.scanner.stats();
        gst::Structure::builder("mjpegsplit-stats")
            .field("frames", stats.frames)
            .field("frames-dropped", stats.frames_dropped())
            .field("dropped-soi-in-frame", stats.dropped_soi_in_frame)
            .field("dropped-not-a-marker", stats.dropped_not_a_marker)
            .field("dropped-bad-length", stats.dropped_bad_length)
            .field("dropped-too-large", stats.dropped_too_large)
            .field("dropped-truncated", stats.dropped_truncated)
            .field("bytes-dropped", stats.bytes_dropped)
            .field("bytes-skipped", stats.bytes_skipped)
            .field("thumbnails", stats.thumbnails)
            .field("candidates-refused", stats.candidates_refused)
            .field("frames-flushed", state.frames_flushed)
            .field("internal-errors", stats.internal_errors)
            .field("bytes-held", state.scanner.bytes_held() as u64)
            .build()
    }
}

#[glib::object_subclass]
impl ObjectSubclass for MjpegSplit {
    const NAME: &'static str = "GstMjpegSplit";
    type Type = super::MjpegSplit;
    type ParentType = gst::Element;

    fn with_class(klass: &Self::Class) -> Self {
        let sinkpad = glue::sink_pad(klass, Self::sink_chain, Self::sink_event).build();
        let srcpad = glue::src_pad(klass, Some(Self::src_query));
        MjpegSplit {
            sinkpad,
            srcpad,
            settings: Mutex::new(Settings::default()),
            state: Mutex::new(State::default()),
        }
    }
}

impl ObjectImpl for MjpegSplit {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                gst::ParamSpecFraction::builder("framerate")
                    .nick("Frame rate")
                    .blurb(
                        "Frame rate put in the output caps, in frames per second, and each \
                         frame's duration; frames that arrive without a timestamp (a file) are \
                         stamped at it from 0, and input in bytes gets a segment in time, so \
                         that syncing sinks play it at this rate (input with timestamps, a \
                         live TCP source, keeps them). 0/1 = unknown/variable, the default: \
                         nothing stamped",
                    )
                    .minimum(gst::Fraction::new(0, 1))
                    .maximum(gst::Fraction::new(i32::MAX, 1))
                    .default_value(DEFAULT_FRAMERATE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("max-frame-size")
                    .nick("Maximum frame size")
                    .blurb(
                        "Largest frame in bytes, SOI to EOI; a longer frame is dropped \
                         and counted (1024 to 1073741824, default 16777216 = 16 MiB)",
                    )
                    .minimum(MIN_MAX_FRAME_SIZE)
                    .maximum(MAX_MAX_FRAME_SIZE)
                    .default_value(DEFAULT_MAX_FRAME_SIZE)
                    .mutable_playing()
                    .build(),
                glue::stats_property(
                    "mjpegsplit-stats",
                    "frames (whole frames found), frames-dropped, dropped-soi-in-frame, \
                    dropped-not-a-marker, dropped-bad-length, dropped-too-large, \
                    dropped-truncated, bytes-dropped, bytes-skipped (garbage between \
                    frames), thumbnails (whole frames inside an APPn segment, such as \
                    EXIF thumbnails, never pushed), candidates-refused (SOIs not \
                    followed because 4096 frame candidates were open), frames-flushed \
                    (whole frames found when a flush cut the stream, not pushed; the frame \
                    a flush cuts is counted in dropped-truncated as at end of stream), \
                    internal-errors (frames lost to a bug in the scanner's bookkeeping, \
                    always 0), bytes-held \
                    (bytes kept for the frames in progress, at most about twice \
                    max-frame-size)",
                ),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = self.settings.lock().unwrap();
        match pspec.name() {
            "framerate" => settings.framerate = value.get().expect("type checked upstream"),
            "max-frame-size" => {
                settings.max_frame_size = value.get().expect("type checked upstream")
            }
            _ => unimplemented!(),
        }
        gst::debug!(CAT, imp = self, "Settings now {settings:?}");
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "framerate" => self.settings.lock().unwrap().framerate.to_value(),
            "max-frame-size" => self.settings.lock().unwrap().max_frame_size.to_value(),
            "stats" => self.stats().to_value(),
            _ => unimplemented!(),
        }
    }

    fn constructed(&self) {
        glue::constructed(self, &self.sinkpad, &self.srcpad);
    }
}

impl GstObjectImpl for MjpegSplit {}

impl ElementImpl for MjpegSplit {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            glue::metadata(
                "Motion JPEG stream splitter",
                "Codec/Parser/Video",
                "Cuts a byte stream of concatenated JPEG images into one buffer per image",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> =
            LazyLock::new(|| glue::pad_templates(&glue::parsed_jpeg_caps(), &gst::Caps::new_any()));
        PAD_TEMPLATES.as_ref()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        gst::trace!(CAT, imp = self, "Changing state {transition:?}");
        glue::change_state(self, transition, || {
            *self.state.lock().unwrap() = State::default();
        })
    }
}
