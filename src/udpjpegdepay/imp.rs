// SPDX-License-Identifier: MPL-2.0
//! The `udpjpegdepay` element: pads, properties, and the glue between the
//! [`Reassembler`] and GStreamer (the `source` filter, caps, buffers, the
//! timeout and stats timers, warnings, stats).
//!
//! ```text
//! gst-launch-1.0 udpsrc port=5000 ! udpjpegdepay source=first timeout=200 ! queue \
//!     ! jpegdec ! videoconvert ! autovideosink
//! ```

use std::collections::HashSet;
use std::sync::{LazyLock, Mutex};
use std::time::Instant;

use gst::{glib, prelude::*, subclass::prelude::*};

use super::datagram::{Datagram, SenderKey, sender_name, sender_of};
use super::socket;
use super::unseal::{self, NotOpened, SealStats};
use crate::glue::{self, HeldEvents, InternalErrors, JpegCaps, RateLimit};
use crate::jpeg;
use crate::keyprops::{self, KeySettings};
use crate::reassembly::{Abandoned, Frame, Invalid, Limits, Outcome, Reassembler, Stats};
use crate::seal::{self, Opener, Rejected};
use crate::source::SourceFilter;
use crate::wire::WireFormat;
use crate::wireformat::{CAPS_NAME, WireFormatEnum};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "udpjpegdepay",
        gst::DebugColorFlags::empty(),
        Some("UDP datagrams to JPEG frames"),
    )
});

const DEFAULT_WIRE_FORMAT: WireFormatEnum = WireFormatEnum::Sce;
const DEFAULT_MAX_FRAME_SIZE: u32 = 16 * 1024 * 1024;
const DEFAULT_MAX_PENDING_FRAMES: u32 = 4;
const DEFAULT_TIMEOUT_MS: u32 = 500;
const DEFAULT_MAX_SENDERS: u32 = 64;
const DEFAULT_MAX_HELD_BYTES: u64 = 64 * 1024 * 1024;
const DEFAULT_STATS_INTERVAL_MS: u32 = 0;
const DEFAULT_MAX_SESSION_AGE_S: u32 = 0;
/// net.core.rmem_max of a stock system: what an ordinary user can ask for.
const DEFAULT_RECEIVE_BUFFER_SIZE: u32 = 212_992;
/// Distinct rejected sender addresses remembered for `senders-rejected`.
const REJECTED_SENDERS_CAP: usize = 1024;

#[derive(Debug, Clone, Copy)]
struct Settings {
    wire_format: WireFormatEnum,
    max_frame_size: u32,
    max_pending_frames: u32,
    timeout_ms: u32,
    max_senders: u32,
    max_held_bytes: u64,
    /// Bumped on every change of the `source` property (kept in `source`).
    source_generation: u64,
    max_session_age_s: u32,
    /// Put in the output caps; 0/1 (the default): unknown.
    framerate: gst::Fraction,
    /// Asked of an upstream udpsrc's socket at READY->PAUSED; 0: leave it.
    receive_buffer_size: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            wire_format: DEFAULT_WIRE_FORMAT,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            max_pending_frames: DEFAULT_MAX_PENDING_FRAMES,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            max_senders: DEFAULT_MAX_SENDERS,
            max_held_bytes: DEFAULT_MAX_HELD_BYTES,
            source_generation: 0,
            max_session_age_s: DEFAULT_MAX_SESSION_AGE_S,
            framerate: gst::Fraction::new(0, 1),
            receive_buffer_size: DEFAULT_RECEIVE_BUFFER_SIZE,
        }
    }
}

impl Settings {
    fn limits(&self) -> Limits {
        Limits {
            max_frame_size: self.max_frame_size as usize,
            max_pending_frames: self.max_pending_frames as usize,
            timeout_ns: u64::from(self.timeout_ms) * 1_000_000,
            max_senders: self.max_senders as usize,
            max_held_bytes: usize::try_from(self.max_held_bytes).unwrap_or(usize::MAX),
        }
    }

    /// Sessions remembered: as many as senders.
    fn max_sessions(&self) -> std::num::NonZeroUsize {
        std::num::NonZeroUsize::new(self.max_senders as usize)
            .unwrap_or(std::num::NonZeroUsize::MIN)
    }

    fn max_session_age(&self) -> Option<u64> {
        (self.max_session_age_s > 0).then_some(u64::from(self.max_session_age_s))
    }
}

/// Bad input is a warning at most every few seconds per cause.
#[derive(Debug, Default)]
struct InvalidWarnings {
    /// Datagrams that cannot join a frame.
    datagram: RateLimit,
    /// Frames that completed but are not JPEG.
    frame: RateLimit,
    /// Datagrams the seal drops.
    sealed: RateLimit,
    /// Sealed datagrams arrived without a key (said once).
    sealed_without_key: bool,
    /// A frame larger than the socket's receive buffer holds (said once).
    frame_overflows_socket: bool,
}

/// A frame copied into an output buffer, and its width and height.
type FrameBuffer = (gst::Buffer, Option<(u16, u16)>);

struct State {
    reassembler: Reassembler<SenderKey, Datagram>,
    /// Caps pushed downstream, and the events waiting for the first.
    events: HeldEvents,
    jpeg_caps: JpegCaps,
    /// Origin of the monotonic clock used for timeouts.
    epoch: Instant,
    /// Stats of reassemblers replaced by a change of wire format or a flush
    /// (and frames that could not be copied out, as internal errors).
    carried: Stats,
    /// The `source` filter; `first` locks onto an address here.
    filter: SourceFilter,
    /// The `source` generation `filter` was parsed from.
    filter_generation: u64,
    datagrams_rejected: u64,
    senders_rejected: HashSet<SenderKey>,
    warnings: InvalidWarnings,
    /// Internal errors already logged.
    internal_errors: InternalErrors,
    /// Incomplete frames time out on a timer too, not only when a datagram
    /// comes: set from READY->PAUSED, cleared at PAUSED->READY.
    expiry_on: bool,
    /// The timer armed for the reassembler's next deadline (on `now`'s
    /// scale), with that deadline.
    expiry: Option<(u64, gst::SingleShotClockId)>,
    /// With a key: opens sealed datagrams (set at READY->PAUSED).
    opener: Option<Opener>,
    seal_stats: SealStats,
    /// The receive buffer of the udpsrc upstream, in bytes, where known
    /// (read at READY->PAUSED).
    socket_buffer: Option<usize>,
}

impl State {
    fn new(settings: &Settings) -> Self {
        State {
            reassembler: Reassembler::new(settings.wire_format.into(), settings.limits()),
            events: HeldEvents::default(),
            jpeg_caps: JpegCaps::default(),
            epoch: Instant::now(),
            carried: Stats::default(),
            filter: SourceFilter::Any,
            filter_generation: u64::MAX,
            datagrams_rejected: 0,
            senders_rejected: HashSet::new(),
            warnings: InvalidWarnings::default(),
            internal_errors: InternalErrors::default(),
            expiry_on: false,
            expiry: None,
            opener: None,
            seal_stats: SealStats::default(),
            socket_buffer: None,
        }
    }

    fn now(&self) -> u64 {
        monotonic_ns(&self.epoch)
    }

    /// Replaces the reassembler with a fresh one of `format` and `limits`,
    /// keeping its counters.
    fn replace_reassembler(&mut self, format: WireFormat, limits: Limits) {
        let old = std::mem::replace(&mut self.reassembler, Reassembler::new(format, limits));
        self.carried = self.carried.merged(old.stats());
    }
}

/// Nanoseconds since `epoch`.
fn monotonic_ns(epoch: &Instant) -> u64 {
    epoch.elapsed().as_nanos().min(u128::from(u64::MAX)) as u64
}

/// The stats timer and all that decides whether it runs, under one lock:
/// a timer runs only while PLAYING with a non-zero interval, and replacing
/// it always unschedules the one before, so there is never more than one.
struct StatsTimer {
    interval_ms: u32,
    /// Set once PAUSED->PLAYING is done, cleared before PLAYING->PAUSED.
    playing: bool,
    id: Option<gst::PeriodicClockId>,
}

impl Default for StatsTimer {
    fn default() -> Self {
        StatsTimer {
            interval_ms: DEFAULT_STATS_INTERVAL_MS,
            playing: false,
            id: None,
        }
    }
}

/// The clock ids of the two timers: single-shot for the timeout, periodic
/// for the stats.
trait TimerId: std::ops::Deref<Target = gst::ClockId> + Sized {
    fn start<F>(&self, on_time: F) -> Result<gst::ClockSuccess, gst::ClockError>
    where
        F: Fn(&gst::Clock, Option<gst::ClockTime>, &gst::ClockId) + Send + 'static;
}

impl TimerId for gst::SingleShotClockId {
    fn start<F>(&self, on_time: F) -> Result<gst::ClockSuccess, gst::ClockError>
    where
        F: Fn(&gst::Clock, Option<gst::ClockTime>, &gst::ClockId) + Send + 'static,
    {
        self.wait_async(on_time)
    }
}

impl TimerId for gst::PeriodicClockId {
    fn start<F>(&self, on_time: F) -> Result<gst::ClockSuccess, gst::ClockError>
    where
        F: Fn(&gst::Clock, Option<gst::ClockTime>, &gst::ClockId) + Send + 'static,
    {
        self.wait_async(on_time)
    }
}

/// A frame to push, after the events that must precede it.
type Out = (Vec<gst::Event>, gst::Buffer);

pub struct UdpJpegDepay {
    srcpad: gst::Pad,
    sinkpad: gst::Pad,
    settings: Mutex<Settings>,
    /// The `source` property, apart from the per-datagram settings copy.
    source: Mutex<String>,
    /// `key` and `key-file`.
    keys: Mutex<KeySettings>,
    state: Mutex<State>,
    /// Posts the stats as an element message every `stats-interval`.
    stats_timer: Mutex<StatsTimer>,
}

impl UdpJpegDepay {
    fn sink_chain(
        &self,
        _pad: &gst::Pad,
        buffer: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = *self.settings.lock().unwrap();
        let mut state = self.state.lock().unwrap();
        let out = self.handle_datagram(&mut state, &settings, buffer);
        self.arm_expiry(&mut state);
        drop(state);
        match out? {
            Some(out) => self.push_frame(out),
            None => Ok(gst::FlowSuccess::Ok),
        }
    }

    /// A whole burst of datagrams (from udpjpegpay in the same process, say)
    /// under one lock.
    fn sink_chain_list(
        &self,
        _pad: &gst::Pad,
        list: gst::BufferList,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = *self.settings.lock().unwrap();
        let mut state = self.state.lock().unwrap();
        let mut out = Vec::new();
        let mut res = Ok(());
        for buffer in list.iter_owned() {
            match self.handle_datagram(&mut state, &settings, buffer) {
                Ok(frame) => out.extend(frame),
                Err(err) => {
                    res = Err(err);
                    break;
                }
            }
        }
        self.arm_expiry(&mut state);
        drop(state);
        res?;
        for frame in out {
            self.push_frame(frame)?;
        }
        Ok(gst::FlowSuccess::Ok)
    }

    fn push_frame(&self, (events, buffer): Out) -> Result<gst::FlowSuccess, gst::FlowError> {
        for event in events {
            self.srcpad.push_event(event);
        }
        self.srcpad.push(buffer)
    }

    /// Feeds one datagram to the reassembler; returns the frame it
    /// completed, with the events to push before it.
    fn handle_datagram(
        &self,
        state: &mut State,
        settings: &Settings,
        buffer: gst::Buffer,
    ) -> Result<Option<Out>, gst::FlowError> {
        let sender = sender_of(&buffer);
        let pts = buffer.pts().map(gst::ClockTime::nseconds);
        let Some(buffer) = self.unseal(state, settings, sender, buffer)? else {
            return Ok(None);
        };
        let datagram = Datagram::map(buffer).map_err(|_| {
            gst::element_imp_error!(self, gst::CoreError::Failed, ("Could not map a datagram"));
            gst::FlowError::Error
        })?;
        if !self.accepts(state, settings, sender)? {
            return Ok(None);
        }
        self.apply_settings(state, settings);
        let now = state.now();
        let outcome = state.reassembler.push(sender, datagram, now, pts);
        self.log_abandoned(state);
        self.log_internal_errors(state);
        match self.completed(state, &sender, outcome) {
            Some(mut frame) => {
                // Stamped with the arrival of the datagram that completed
                // it, as RTP depayloaders stamp a frame with its last
                // packet's: pushed the moment it is stamped, a frame is
                // never late for a syncing sink by its pacing, and the
                // element adds no latency to report.
                frame.pts = pts.or(frame.pts);
                self.frame_out(state, &frame, settings.framerate)
            }
            None => Ok(None),
        }
    }

    /// With a key, the plain datagram a sealed one carries, or `None` for
    /// one that does not open (counted, logged); without, `buffer` itself,
    /// or `None` for a sealed one.
    fn unseal(
        &self,
        state: &mut State,
        settings: &Settings,
        sender: SenderKey,
        buffer: gst::Buffer,
    ) -> Result<Option<gst::Buffer>, gst::FlowError> {
        let Some(opener) = state.opener.as_mut() else {
            if !unseal::looks_sealed(&buffer) {
                return Ok(Some(buffer));
            }
            self.sealed_without_key(state, sender);
            return Ok(None);
        };
        // The wall clock only matters to max-session-age.
        let wall = settings
            .max_session_age()
            .map_or(0, |_| seal::wall_seconds());
        let clocks = (wall, monotonic_ns(&state.epoch));
        opener.set_limits(settings.max_sessions(), settings.max_session_age());
        match unseal::open(opener, buffer, clocks) {
            Ok(opened) => {
                if let Some(h) = opened.new_session {
                    self.log_new_session(state, &sender, &h);
                }
                Ok(Some(opened.buffer))
            }
            Err(NotOpened::Rejected(rejected)) => {
                state.seal_stats.count(rejected);
                self.log_rejected(state, &sender, rejected);
                Ok(None)
            }
            Err(NotOpened::Buffer) => {
                let msg = "Could not map or trim a sealed datagram";
                gst::element_imp_error!(self, gst::CoreError::Failed, ("{msg}"));
                Err(gst::FlowError::Error)
            }
        }
    }

    fn log_new_session(&self, state: &mut State, sender: &SenderKey, h: &seal::Header) {
        state.seal_stats.sessions_started += 1;
        gst::info!(
            CAT,
            imp = self,
            "New session {} ({}, started at {} s) from {}",
            h.session,
            h.cipher.name(),
            h.start,
            sender_name(sender)
        );
    }

    /// Said once per run, clearly, then counted only.
    fn sealed_without_key(&self, state: &mut State, sender: SenderKey) {
        state.seal_stats.sealed_without_key += 1;
        if std::mem::replace(&mut state.warnings.sealed_without_key, true) {
            return;
        }
        gst::element_imp_warning!(
            self,
            gst::StreamError::Decrypt,
            (
                "The stream from {} is sealed: set key-file on udpjpegdepay to the sender's \
                 key file (its datagrams are dropped until then)",
                sender_name(&sender)
            )
        );
    }

    /// A warning at most every few seconds, DEBUG lines between.
    fn log_rejected(&self, state: &mut State, sender: &SenderKey, rejected: Rejected) {
        let why = unseal::explain(rejected);
        match state.warnings.sealed.warn_now(Instant::now()) {
            Some(more) => gst::warning!(
                CAT,
                imp = self,
                "Dropping a datagram from {}: {why}{}",
                sender_name(sender),
                glue::more_since_last(more)
            ),
            None => gst::debug!(
                CAT,
                imp = self,
                "Dropping a datagram from {}: {why}",
                sender_name(sender)
            ),
        }
    }

    /// Whether the `source` property takes a datagram from `sender`; counts
    /// those it rejects.
    fn accepts(
        &self,
        state: &mut State,
        settings: &Settings,
        sender: SenderKey,
    ) -> Result<bool, gst::FlowError> {
        if state.filter_generation != settings.source_generation {
            // First datagram, or changed while running.
            let source = self.source.lock().unwrap().clone();
            state.filter = SourceFilter::parse(&source).map_err(|err| {
                gst::element_imp_error!(
                    self,
                    gst::LibraryError::Settings,
                    ("Invalid source property: {err}")
                );
                gst::FlowError::Error
            })?;
            state.filter_generation = settings.source_generation;
        }
        if state.filter.accepts(sender) {
            return Ok(true);
        }
        state.datagrams_rejected += 1;
        if state.senders_rejected.len() < REJECTED_SENDERS_CAP {
            state.senders_rejected.insert(sender);
        }
        gst::trace!(
            CAT,
            imp = self,
            "Rejected a datagram from {} (source property)",
            sender_name(&sender),
        );
        Ok(false)
    }

    /// The frame a datagram completed; any other outcome (counted by the
    /// reassembler) is logged.
    fn completed(
        &self,
        state: &mut State,
        sender: &SenderKey,
        outcome: Outcome<SenderKey, Datagram>,
    ) -> Option<Frame<SenderKey, Datagram>> {
        let from = || sender_name(sender);
        match outcome {
            Outcome::Frame(frame) => return Some(frame),
            Outcome::Pending => gst::trace!(CAT, imp = self, "Chunk from {} held", from()),
            Outcome::Duplicate => gst::trace!(CAT, imp = self, "Duplicate chunk from {}", from()),
            Outcome::ParityUnneeded => gst::trace!(
                CAT,
                imp = self,
                "Parity chunk from {} for a frame already whole",
                from()
            ),
            Outcome::Late => gst::debug!(CAT, imp = self, "Late chunk from {} dropped", from()),
            Outcome::UnknownKind(kind) => gst::debug!(
                CAT,
                imp = self,
                "Ignoring chunk of unknown kind 0x{kind:02x} from {}",
                from()
            ),
            Outcome::Invalid(reason) => self.log_invalid(state, sender, reason),
        }
        None
    }

    /// A warning per cause at most every few seconds, DEBUG lines between.
    fn log_invalid(&self, state: &mut State, sender: &SenderKey, reason: Invalid) {
        let (limit, what) = match reason {
            Invalid::NotJpeg { .. } => (&mut state.warnings.frame, "frame"),
            _ => (&mut state.warnings.datagram, "invalid datagram"),
        };
        match limit.warn_now(Instant::now()) {
            Some(more) => gst::warning!(
                CAT,
                imp = self,
                "Dropping {what} from {}: {reason}{}",
                sender_name(sender),
                glue::more_since_last(more)
            ),
            None => gst::debug!(
                CAT,
                imp = self,
                "Dropping {what} from {}: {reason}",
                sender_name(sender)
            ),
        }
    }

    /// The buffer of a whole frame, and the events to push before it;
    /// `None` for a frame that cannot be copied out (a bug: dropped, logged
    /// and counted in internal-errors).
    fn frame_out(
        &self,
        state: &mut State,
        frame: &Frame<SenderKey, Datagram>,
        framerate: gst::Fraction,
    ) -> Result<Option<Out>, gst::FlowError> {
        let Some((buffer, dimensions)) = self.frame_buffer(frame)? else {
            // Logged where it happened.
            state.carried.internal_errors += 1;
            state.internal_errors.logged_there();
            return Ok(None);
        };
        self.warn_if_socket_too_small(state, frame.len);
        let caps = state.jpeg_caps.for_frame(dimensions, framerate);
        if state.events.caps() != Some(&caps) {
            gst::debug!(CAT, imp = self, "New caps {caps}");
        }
        let events = state.events.before_buffer(caps);
        gst::trace!(
            CAT,
            imp = self,
            "Frame {:?} from {}: {} bytes, pts {}",
            frame.image_id,
            sender_name(&frame.sender),
            frame.len,
            buffer.pts().display()
        );
        Ok(Some((events, buffer)))
    }

    /// A warning, once, when a frame does not fit the receive buffer of
    /// the socket upstream.
    fn warn_if_socket_too_small(&self, state: &mut State, frame_bytes: usize) {
        let Some(buffer) = state.socket_buffer else {
            return;
        };
        if state.warnings.frame_overflows_socket || !socket::frame_overflows(frame_bytes, buffer) {
            return;
        }
        state.warnings.frame_overflows_socket = true;
        gst::warning!(
            CAT,
            imp = self,
            "A frame of {frame_bytes} bytes does not fit udpsrc's receive buffer of {buffer} \
             bytes: while the receiving thread waits for the CPU the kernel drops the rest of \
             such frames. Raise receive-buffer-size (or udpsrc's buffer-size), and \
             net.core.rmem_max, which caps it (sysctl -w net.core.rmem_max=N as root)"
        );
    }

    /// Copies the frame's chunks into one output buffer (each byte once) and
    /// reads its dimensions; `None` (logged) when they cannot be copied.
    fn frame_buffer(
        &self,
        frame: &Frame<SenderKey, Datagram>,
    ) -> Result<Option<FrameBuffer>, gst::FlowError> {
        let mut buffer = gst::Buffer::with_size(frame.len).map_err(|_| {
            gst::element_imp_error!(
                self,
                gst::ResourceError::NoSpaceLeft,
                ("Could not allocate {} bytes for a frame", frame.len)
            );
            gst::FlowError::Error
        })?;
        let b = buffer.get_mut().expect("new buffer is writable");
        b.set_pts(frame.pts.map(gst::ClockTime::from_nseconds));
        if frame.discont {
            b.set_flags(gst::BufferFlags::DISCONT);
        }
        let mut map = b.map_writable().map_err(|_| {
            gst::element_imp_error!(self, gst::CoreError::Failed, ("Could not map a new buffer"));
            gst::FlowError::Error
        })?;
        if let Err(err) = frame.copy_to(&mut map) {
            debug_assert!(false, "a frame's chunks fill its buffer: {err}");
            let from = sender_name(&frame.sender);
            gst::error!(
                CAT,
                imp = self,
                "Dropping a frame from {from}: {err} (a bug)"
            );
            return Ok(None);
        }
        let dimensions = jpeg::dimensions(&map);
        drop(map);
        Ok(Some((buffer, dimensions)))
    }

    /// An error line for each internal error (a bug in the reassembler's
    /// bookkeeping, counted in internal-errors, always 0) since the last call.
    fn log_internal_errors(&self, state: &mut State) {
        let total = state.carried.internal_errors + state.reassembler.stats().internal_errors;
        if let Some(new) = state.internal_errors.new_since(total) {
            gst::error!(
                CAT,
                imp = self,
                "{new} internal error(s) in the reassembler's bookkeeping (a bug: please report it)",
            );
        }
    }

    /// Logs the frames the reassembler gave up since the last call.
    fn log_abandoned(&self, state: &mut State) {
        for a in state.reassembler.take_abandoned() {
            self.log_lost(&a, &a.cause.to_string());
        }
    }

    fn log_lost(&self, a: &Abandoned<SenderKey>, why: &str) {
        gst::debug!(
            CAT,
            imp = self,
            "Lost frame {} from {}: {why} ({} chunks, {} bytes held)",
            a.image_id.map_or("-".to_string(), |i| i.to_string()),
            sender_name(&a.sender),
            a.chunks,
            a.bytes
        );
    }

    /// Gives up every incomplete frame, counted as lost, and forgets the
    /// senders (end of stream, flush).
    fn drain(&self, state: &mut State, why: &str) {
        state.reassembler.drain();
        for a in state.reassembler.take_abandoned() {
            self.log_lost(&a, why);
        }
    }

    /// EOS: incomplete frames are lost; what was held for caps goes out
    /// before the EOS.
    fn drain_at_eos(&self) {
        let mut state = self.state.lock().unwrap();
        self.drain(&mut state, "end of stream");
        let held = state.events.take_at_eos();
        drop(state);
        for event in held {
            self.srcpad.push_event(event);
        }
    }

    /// FLUSH_STOP: discards what belongs to the stream (incomplete frames,
    /// counted as lost as at EOS; the senders' ids; held-back events but
    /// the sticky ones) and keeps what lasts until READY: the counters, the
    /// `source=first` lock and the rejected senders. The next frame is
    /// marked DISCONT.
    fn flush(&self) {
        let mut state = self.state.lock().unwrap();
        self.drain(&mut state, "flushed");
        let (format, limits) = (state.reassembler.format(), state.reassembler.limits());
        state.replace_reassembler(format, limits);
        state.events.flush();
        gst::debug!(CAT, imp = self, "Flushed");
    }

    /// PAUSED->READY: the state whole, with its timer.
    fn reset(&self) {
        let settings = *self.settings.lock().unwrap();
        let mut state = self.state.lock().unwrap();
        let old = std::mem::replace(&mut *state, State::new(&settings));
        if let Some((_, id)) = old.expiry {
            id.unschedule();
        }
    }

    /// Follows property changes: limits at once, a new wire format with a
    /// fresh reassembler.
    fn apply_settings(&self, state: &mut State, settings: &Settings) {
        let format = WireFormat::from(settings.wire_format);
        if state.reassembler.format() != format {
            gst::debug!(
                CAT,
                imp = self,
                "Switching to wire-format {}",
                format.name()
            );
            state.reassembler.drain();
            state.replace_reassembler(format, settings.limits());
        } else if state.reassembler.limits() != settings.limits() {
            state.reassembler.set_limits(settings.limits());
        }
    }

    fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        gst::log!(CAT, obj = pad, "Handling event {event:?}");
        match event.view() {
            gst::EventView::Caps(ev) => return self.accept_caps(ev.caps()),
            gst::EventView::FlushStop(_) => self.flush(),
            gst::EventView::Eos(_) => self.drain_at_eos(),
            _ => {}
        }
        let kind = event.type_();
        let Some(event) = self.state.lock().unwrap().events.hold(event) else {
            gst::debug!(CAT, obj = pad, "Holding back {kind:?} until caps");
            return true;
        };
        gst::Pad::event_default(pad, Some(&*self.obj()), event)
    }

    /// Input caps are optional (a bare udpsrc sends none); caps naming
    /// another wire format than the property's are a clear error.
    fn accept_caps(&self, caps: &gst::CapsRef) -> bool {
        gst::debug!(CAT, imp = self, "Input caps {caps}");
        let ours = WireFormat::from(self.settings.lock().unwrap().wire_format);
        let theirs = caps
            .structure(0)
            .and_then(|s| s.get::<&str>("wire-format").ok())
            .and_then(WireFormat::from_name);
        match theirs {
            Some(theirs) if theirs != ours => {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::WrongType,
                    (
                        "Upstream sends wire-format={} but this element's wire-format property is {}; set wire-format={} on udpjpegdepay",
                        theirs.name(),
                        ours.name(),
                        theirs.name()
                    )
                );
                false
            }
            _ => true,
        }
    }

    /// Starts `id`: on the clock thread it calls `on_time` with the element,
    /// if the element still exists, and the id, so that `on_time` can tell
    /// whether this timer was replaced or stopped meanwhile.
    fn start_timer<I: TimerId>(
        &self,
        id: I,
        on_time: fn(&Self, &gst::ClockId),
        what: &str,
    ) -> Option<I> {
        let weak = self.obj().downgrade();
        let started = id.start(move |_, _, id| {
            if let Some(obj) = weak.upgrade() {
                on_time(obj.imp(), id);
            }
        });
        if started.is_err() {
            gst::warning!(CAT, imp = self, "Could not schedule the {what} timer");
            return None;
        }
        Some(id)
    }

    /// Arms the expiry timer for the reassembler's next deadline, unless one
    /// is armed for that time or earlier (an early one finds nothing to do
    /// and arms the next). Costs a comparison per buffer when nothing changes.
    fn arm_expiry(&self, state: &mut State) {
        let Some(deadline) = state.reassembler.next_deadline() else {
            return;
        };
        if !state.expiry_on || state.expiry.as_ref().is_some_and(|(at, _)| *at <= deadline) {
            return;
        }
        if let Some((_, old)) = state.expiry.take() {
            old.unschedule();
        }
        let wait = gst::ClockTime::from_nseconds(deadline.saturating_sub(state.now()));
        let clock = gst::SystemClock::obtain();
        let id = clock.new_single_shot_id(clock.time() + wait);
        state.expiry = self
            .start_timer(id, Self::on_expiry, "timeout")
            .map(|id| (deadline, id));
        if state.expiry.is_some() {
            gst::trace!(CAT, imp = self, "Timeout timer armed in {wait}");
        }
    }

    /// The expiry timer's callback (on the clock thread): frees the frames
    /// that timed out, unless timer `id` was replaced or stopped meanwhile,
    /// and arms the timer for the next deadline.
    fn on_expiry(&self, id: &gst::ClockId) {
        let mut state = self.state.lock().unwrap();
        if state.expiry.as_ref().is_none_or(|(_, cur)| **cur != *id) {
            return;
        }
        state.expiry = None;
        let now = state.now();
        state.reassembler.expire(now);
        self.log_abandoned(&mut state);
        self.arm_expiry(&mut state);
    }

    /// Starts (PAUSED) or stops (READY) expiring frames on a timer.
    fn set_expiry_on(&self, on: bool) {
        let mut state = self.state.lock().unwrap();
        state.expiry_on = on;
        if let Some((_, id)) = state.expiry.take() {
            id.unschedule();
        }
        self.arm_expiry(&mut state);
    }

    /// A new `timeout` applies to the frames held at once, not only from the
    /// next datagram.
    fn apply_timeout(&self) {
        let settings = *self.settings.lock().unwrap();
        let mut state = self.state.lock().unwrap();
        if state.expiry_on {
            self.apply_settings(&mut state, &settings);
            self.arm_expiry(&mut state);
        }
    }

    /// Sets `stats-interval`: takes effect at once when PLAYING.
    fn set_stats_interval(&self, ms: u32) {
        let mut timer = self.stats_timer.lock().unwrap();
        timer.interval_ms = ms;
        self.reschedule_stats(&mut timer);
    }

    /// Follows the state: the stats timer runs only while PLAYING.
    fn set_stats_playing(&self, playing: bool) {
        let mut timer = self.stats_timer.lock().unwrap();
        timer.playing = playing;
        self.reschedule_stats(&mut timer);
    }

    /// Unschedules the running timer, if any, and starts the one the
    /// interval and state call for, if any.
    fn reschedule_stats(&self, timer: &mut StatsTimer) {
        if let Some(id) = timer.id.take() {
            id.unschedule();
            gst::debug!(CAT, imp = self, "Stats timer stopped");
        }
        if !timer.playing || timer.interval_ms == 0 {
            return;
        }
        let interval = gst::ClockTime::from_mseconds(u64::from(timer.interval_ms));
        let clock = gst::SystemClock::obtain();
        let id = clock.new_periodic_id(clock.time() + interval, interval);
        timer.id = self.start_timer(id, Self::post_stats, "stats");
        if timer.id.is_some() {
            gst::debug!(CAT, imp = self, "Posting stats every {interval}");
        }
    }

    /// The stats timer's callback (on the clock thread): posts the stats
    /// unless timer `id` was replaced or stopped meanwhile.
    fn post_stats(&self, id: &gst::ClockId) {
        let current = self
            .stats_timer
            .lock()
            .unwrap()
            .id
            .as_ref()
            .is_some_and(|cur| **cur == *id);
        if !current {
            return;
        }
        let stats = self.stats();
        gst::log!(CAT, imp = self, "Posting {stats}");
        let obj = self.obj();
        let _ = obj.post_message(gst::message::Element::builder(stats).src(&*obj).build());
    }

    fn stats(&self) -> gst::Structure {
        let state = self.state.lock().unwrap();
        let s = state.carried.merged(state.reassembler.stats());
        gst::Structure::builder("udpjpegdepay-stats")
            .field("frames-received", s.frames_received)
            .field("frames-lost", s.frames_lost)
            .field("frames-late", s.frames_late)
            .field("frames-invalid", s.frames_invalid)
            .field("frames-superseded", s.frames_superseded)
            .field("frames-pending-limit", s.frames_pending_limit)
            .field("frames-timeout", s.frames_timeout)
            .field("frames-memory-limit", s.frames_memory_limit)
            .field("ids-skipped", s.ids_skipped)
            .field("chunks-received", s.chunks_received)
            .field("chunks-duplicate", s.chunks_duplicate)
            .field("chunks-late", s.chunks_late)
            .field("chunks-invalid", s.chunks_invalid)
            .field("chunks-unknown-kind", s.chunks_unknown_kind)
            .field("bytes-received", s.bytes_received)
            .field("max-reorder", s.max_reorder)
            .field("chunks-parity", s.chunks_parity)
            .field("frames-recovered", s.frames_recovered)
            .field("chunks-recovered", s.chunks_recovered)
            .field("senders", state.reassembler.senders() as u64)
            .field(
                "senders-active",
                state.reassembler.active_senders(state.now()) as u64,
            )
            .field("senders-rejected", state.senders_rejected.len() as u64)
            .field("datagrams-rejected", state.datagrams_rejected)
            .field("senders-evicted", s.senders_evicted)
            .field("pending-frames", state.reassembler.pending_frames() as u64)
            .field("bytes-held", state.reassembler.held_bytes() as u64)
            .field("internal-errors", s.internal_errors)
            .field(
                "datagrams-unauthenticated",
                state.seal_stats.unauthenticated,
            )
            .field("datagrams-replayed", state.seal_stats.replayed)
            .field("datagrams-session-too-old", state.seal_stats.too_old)
            .field("datagrams-session-no-room", state.seal_stats.no_room)
            .field(
                "datagrams-sealed-no-key",
                state.seal_stats.sealed_without_key,
            )
            .field("sessions-started", state.seal_stats.sessions_started)
            .field(
                "sessions",
                state.opener.as_ref().map_or(0, Opener::sessions) as u64,
            )
            .field(
                "receive-buffer-size",
                state.socket_buffer.unwrap_or(0) as u64,
            )
            .build()
    }
}

#[glib::object_subclass]
impl ObjectSubclass for UdpJpegDepay {
    const NAME: &'static str = "GstUdpJpegDepay";
    type Type = super::UdpJpegDepay;
    type ParentType = gst::Element;

    fn with_class(klass: &Self::Class) -> Self {
        let sinkpad = glue::sink_pad(klass, Self::sink_chain, Self::sink_event)
            .chain_list_function(|pad, parent, list| {
                UdpJpegDepay::catch_panic_pad_function(
                    parent,
                    || Err(gst::FlowError::Error),
                    |depay| depay.sink_chain_list(pad, list),
                )
            })
            .build();
        let srcpad = glue::src_pad::<Self>(klass, None);
        let settings = Settings::default();
        UdpJpegDepay {
            srcpad,
            sinkpad,
            state: Mutex::new(State::new(&settings)),
            settings: Mutex::new(settings),
            source: Mutex::new(String::new()),
            keys: Mutex::new(KeySettings::default()),
            stats_timer: Mutex::new(StatsTimer::default()),
        }
    }
}

impl ObjectImpl for UdpJpegDepay {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecEnum::builder_with_default("wire-format", DEFAULT_WIRE_FORMAT)
                    .nick("Wire format")
                    .blurb(
                        "Datagram header to expect: sce (5 bytes: S/C/E kind, image id, chunk id; \
                         the default) or countdown (1 byte counting down to 1)",
                    )
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("max-frame-size")
                    .nick("Maximum frame size")
                    .blurb(
                        "Largest frame in bytes: a chunk that would place bytes past it is \
                         dropped as invalid; 1024 to 1073741824, default 16777216 (16 MiB)",
                    )
                    .minimum(1024)
                    .maximum(1 << 30)
                    .default_value(DEFAULT_MAX_FRAME_SIZE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("max-pending-frames")
                    .nick("Maximum pending frames")
                    .blurb(
                        "Incomplete frames held per sender; beyond it the oldest is dropped and \
                         counted as lost; 1 to 64, default 4",
                    )
                    .minimum(1)
                    .maximum(64)
                    .default_value(DEFAULT_MAX_PENDING_FRAMES)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("timeout")
                    .nick("Timeout")
                    .blurb(
                        "Milliseconds after its first datagram arrived (monotonic wall clock) at \
                         which an incomplete frame is dropped and counted as lost, whether or not \
                         more datagrams arrive (in PAUSED and PLAYING); 1 to 60000, default 500",
                    )
                    .minimum(1)
                    .maximum(60_000)
                    .default_value(DEFAULT_TIMEOUT_MS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("max-senders")
                    .nick("Maximum senders")
                    .blurb(
                        "Sender addresses remembered at once; beyond it the least recently heard \
                         is forgotten with its incomplete frames; 1 to 4096, default 64",
                    )
                    .minimum(1)
                    .maximum(4096)
                    .default_value(DEFAULT_MAX_SENDERS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("max-held-bytes")
                    .nick("Maximum bytes held")
                    .blurb(
                        "Bytes held in incomplete frames, all senders together, counting what \
                         each datagram keeps alive and not only its payload (a 1-byte datagram \
                         from udpsrc holds about 2.8 KB); beyond it whole frames are dropped \
                         and counted (frames-memory-limit): the sender's own, oldest first, \
                         while it holds more than max-held-bytes / max-senders, else the \
                         oldest of any sender. The element keeps alive at most this + \
                         max-senders x 2 KiB + 128 KiB (with a key, plus max-senders x 1.5 KiB of \
                         sessions); 1048576 to 1099511627776, default \
                         67108864 (64 MiB)",
                    )
                    .minimum(1 << 20)
                    .maximum(1 << 40)
                    .default_value(DEFAULT_MAX_HELD_BYTES)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("source")
                    .nick("Source")
                    .blurb(
                        "Senders to accept: empty (the default) takes every sender; an IP \
                         address (192.0.2.1 or ::1) takes only that host, any port; \
                         address:port (192.0.2.1:5000, [::1]:5000) only that socket; 'first' \
                         locks onto the IP address of the first sender heard (any port, so a \
                         restarted sender on the same host is still taken) until the element \
                         goes back to READY (a flush keeps the lock). Other datagrams are \
                         dropped and counted (datagrams-rejected, senders-rejected)",
                    )
                    .default_value(Some(""))
                    .mutable_ready()
                    .build(),
                gst::ParamSpecFraction::builder("framerate")
                    .nick("Frame rate")
                    .blurb(
                        "Frame rate put in the output caps, as the sender's: muxers such as \
                         avimux refuse an unknown rate. The datagrams do not carry it; 0/1 \
                         (the default) says unknown",
                    )
                    .minimum(gst::Fraction::new(0, 1))
                    .maximum(gst::Fraction::new(i32::MAX, 1))
                    .default_value(gst::Fraction::new(0, 1))
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("max-session-age")
                    .nick("Maximum session age")
                    .blurb(
                        "With a key: seconds since a sealed session started (the sender's \
                         clock) beyond which its datagrams are dropped (datagrams-session-too-old), \
                         so that recordings of old sessions are refused even by a receiver that \
                         never heard them. Only for senders and receivers with synced clocks; \
                         set it above the sender's session-lifetime (default 600) plus the \
                         clocks' difference. 0 (the default): off, and a recording of a session \
                         this receiver has not heard (made before it started, say) is taken as \
                         live; 0 to 31536000",
                    )
                    .maximum(31_536_000)
                    .default_value(DEFAULT_MAX_SESSION_AGE_S)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("receive-buffer-size")
                    .nick("Receive buffer size")
                    .blurb(
                        "Bytes of receive buffer to ask for the socket of the udpsrc linked \
                         right upstream when its own buffer-size is 0, at READY->PAUSED, so \
                         that a whole frame waits there while the receiving thread waits for \
                         the CPU. The kernel caps the request at net.core.rmem_max (212992 on \
                         a stock system, for root too) and doubles it: the default gives \
                         425984 bytes of kernel memory, which hold a 1080p frame. The \
                         stats' receive-buffer-size says what the socket has; 0 leaves the \
                         socket as udpsrc made it",
                    )
                    .maximum(i32::MAX as u32)
                    .default_value(DEFAULT_RECEIVE_BUFFER_SIZE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("stats-interval")
                    .nick("Stats interval")
                    .blurb(
                        "Milliseconds between element messages carrying the \
                         udpjpegdepay-stats structure (as the stats property) while PLAYING; \
                         0 (the default) posts none; 0 to 3600000",
                    )
                    .maximum(3_600_000)
                    .default_value(DEFAULT_STATS_INTERVAL_MS)
                    .mutable_playing()
                    .build(),
                glue::stats_property(
                    "udpjpegdepay-stats",
                    "frames-received, frames-lost (incomplete frames \
                    dropped: frames-superseded + frames-pending-limit + frames-timeout + \
                    frames-memory-limit + forgotten senders + end of stream or flush), \
                    frames-late, frames-invalid, ids-skipped, chunks-received (every \
                    datagram), chunks-duplicate, chunks-late, chunks-invalid, \
                    chunks-unknown-kind, bytes-received, max-reorder (chunks), \
                    chunks-parity (parity chunks received), frames-recovered and \
                    chunks-recovered (rebuilt with parity), senders, senders-active (heard \
                    within the timeout), senders-rejected and datagrams-rejected (by the \
                    source property), senders-evicted, pending-frames, bytes-held (memory \
                    held in incomplete frames, as max-held-bytes counts it), \
                    internal-errors (frames or charges lost to a bug in the reassembler's \
                    bookkeeping, always 0); with a key: datagrams-unauthenticated (forged, \
                    damaged, another key, or not sealed), datagrams-replayed (a counter seen \
                    already or behind the replay window, or a session older than one \
                    forgotten), datagrams-session-too-old (max-session-age), \
                    datagrams-session-no-room (a new session while max-senders live ones are \
                    remembered), sessions-started, sessions (remembered now); without one: \
                    datagrams-sealed-no-key; receive-buffer-size (bytes the socket of the \
                    udpsrc upstream has, as the kernel reports it; 0 when unknown)",
                ),
            ]
            .into_iter()
            .chain(keyprops::param_specs(
                "Takes only sealed datagrams that authenticate under this key",
            ))
            .collect()
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        if matches!(pspec.name(), "key" | "key-file") {
            let element = self.obj();
            return keyprops::set(&self.keys, element.upcast_ref(), *CAT, pspec.name(), value);
        }
        let mut settings = self.settings.lock().unwrap();
        match pspec.name() {
            "max-session-age" => {
                settings.max_session_age_s = value.get().expect("type checked upstream")
            }
            "framerate" => settings.framerate = value.get().expect("type checked upstream"),
            "receive-buffer-size" => {
                settings.receive_buffer_size = value.get().expect("type checked upstream")
            }
            "wire-format" => settings.wire_format = value.get().expect("type checked upstream"),
            "max-frame-size" => {
                settings.max_frame_size = value.get().expect("type checked upstream")
            }
            "max-pending-frames" => {
                settings.max_pending_frames = value.get().expect("type checked upstream")
            }
            "timeout" => {
                settings.timeout_ms = value.get().expect("type checked upstream");
                gst::debug!(CAT, imp = self, "Settings now {settings:?}");
                drop(settings);
                self.apply_timeout();
                return;
            }
            "max-senders" => settings.max_senders = value.get().expect("type checked upstream"),
            "max-held-bytes" => {
                settings.max_held_bytes = value.get().expect("type checked upstream")
            }
            "source" => {
                let v: Option<String> = value.get().expect("type checked upstream");
                let v = v.unwrap_or_default();
                if let Err(err) = SourceFilter::parse(&v) {
                    gst::warning!(CAT, imp = self, "source property: {err}");
                }
                *self.source.lock().unwrap() = v;
                settings.source_generation += 1;
            }
            "stats-interval" => {
                drop(settings);
                self.set_stats_interval(value.get().expect("type checked upstream"));
                return;
            }
            _ => unimplemented!(),
        }
        gst::debug!(CAT, imp = self, "Settings now {settings:?}");
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = *self.settings.lock().unwrap();
        match pspec.name() {
            "wire-format" => settings.wire_format.to_value(),
            "max-frame-size" => settings.max_frame_size.to_value(),
            "max-pending-frames" => settings.max_pending_frames.to_value(),
            "timeout" => settings.timeout_ms.to_value(),
            "max-senders" => settings.max_senders.to_value(),
            "max-held-bytes" => settings.max_held_bytes.to_value(),
            "source" => self.source.lock().unwrap().to_value(),
            "stats-interval" => self.stats_timer.lock().unwrap().interval_ms.to_value(),
            "max-session-age" => settings.max_session_age_s.to_value(),
            "framerate" => settings.framerate.to_value(),
            "receive-buffer-size" => settings.receive_buffer_size.to_value(),
            "key-file" => self.keys.lock().unwrap().file().to_value(),
            "stats" => self.stats().to_value(),
            _ => unimplemented!(),
        }
    }

    fn constructed(&self) {
        glue::constructed(self, &self.sinkpad, &self.srcpad);
    }

    /// An element dropped without going back to NULL leaves no timer behind.
    fn dispose(&self) {
        self.set_stats_playing(false);
        self.set_expiry_on(false);
    }
}

impl UdpJpegDepay {
    /// What READY->PAUSED checks: the `source` filter, and the key, which
    /// gives the opener.
    fn check_settings(&self) -> Result<Option<Opener>, String> {
        let source = self.source.lock().unwrap().clone();
        SourceFilter::parse(&source).map_err(|err| format!("Invalid source property: {err}"))?;
        let settings = *self.settings.lock().unwrap();
        let keys = self.keys.lock().unwrap().clone();
        let countdown = settings.wire_format == WireFormatEnum::Countdown;
        let Some(key) = keyprops::key_at_start(&keys, countdown, self.obj().upcast_ref())? else {
            return Ok(None);
        };
        let (sessions, age) = (settings.max_sessions(), settings.max_session_age());
        gst::info!(CAT, imp = self, "Taking only sealed datagrams");
        Ok(Some(Opener::new(key, sessions, age)))
    }
}

impl UdpJpegDepay {
    /// Asks the udpsrc upstream for `receive-buffer-size` and logs what it
    /// gave; returns the socket's receive buffer, where known.
    fn grow_socket_buffer(&self) -> Option<usize> {
        let request = self.settings.lock().unwrap().receive_buffer_size;
        let outcome = socket::grow_upstream(&self.sinkpad, request);
        match &outcome {
            socket::Outcome::Failed(_) => gst::warning!(
                CAT,
                imp = self,
                "Asked {request} bytes (receive-buffer-size) for udpsrc's receive buffer: {outcome}"
            ),
            socket::Outcome::Grown { now, .. } if *now < 2 * request as usize => gst::info!(
                CAT,
                imp = self,
                "udpsrc's receive buffer: {outcome}, less than the {request} bytes asked \
                 (receive-buffer-size) doubled: net.core.rmem_max caps it"
            ),
            _ => gst::info!(CAT, imp = self, "udpsrc's receive buffer: {outcome}"),
        }
        outcome.size()
    }
}

impl GstObjectImpl for UdpJpegDepay {}

impl ElementImpl for UdpJpegDepay {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            glue::metadata(
                "UDP JPEG depayloader",
                "Codec/Depayloader/Network",
                "Reassembles datagrams from udpjpegpay or a compatible sender into whole JPEG frames, surviving loss, reordering, duplicates and garbage",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            // A bare udpsrc has ANY caps and sends no caps event: the
            // element works without one.
            glue::pad_templates(
                &glue::parsed_jpeg_caps(),
                &gst::Caps::new_empty_simple(CAPS_NAME),
            )
        });
        PAD_TEMPLATES.as_ref()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        gst::trace!(CAT, imp = self, "Changing state {transition:?}");
        match transition {
            gst::StateChange::ReadyToPaused => {
                let opener = self.check_settings().map_err(|msg| {
                    gst::element_imp_error!(self, gst::LibraryError::Settings, ("{msg}"));
                    gst::StateChangeError
                })?;
                let socket_buffer = self.grow_socket_buffer();
                let mut state = self.state.lock().unwrap();
                (state.opener, state.socket_buffer) = (opener, socket_buffer);
                drop(state);
                self.set_expiry_on(true);
            }
            gst::StateChange::PlayingToPaused => self.set_stats_playing(false),
            _ => {}
        }
        let res = glue::change_state(self, transition, || self.reset())?;
        if transition == gst::StateChange::PausedToPlaying {
            self.set_stats_playing(true);
        }
        Ok(res)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type R = Reassembler<SenderKey, Datagram>;

    #[test]
    fn the_stated_memory_bound_covers_the_tables() {
        // README and the max-held-bytes blurb: at most max-held-bytes, plus
        // 2 KiB per remembered sender, plus 128 KiB of fixed tables (the
        // reassembler's, and the rejected senders remembered here).
        assert!(R::sender_bytes() <= 2048, "{}", R::sender_bytes());
        let limits = Settings::default().limits();
        let reassembler_fixed =
            R::memory_bound(&limits) - limits.max_held_bytes - 64 * R::sender_bytes();
        let rejected = 2 * REJECTED_SENDERS_CAP * (std::mem::size_of::<SenderKey>() + 1);
        assert!(
            reassembler_fixed + rejected <= 128 * 1024,
            "{reassembler_fixed} + {rejected}"
        );
    }

    #[test]
    fn the_stated_memory_bound_covers_the_sessions() {
        // With a key: 1.5 KiB a session (checked against the types in
        // seal::sessions), as many sessions as max-senders; datagrams are
        // opened where they are, in no buffer of the element's.
        assert_eq!(seal::SESSION_BYTES, 1536);
        assert_eq!(Settings::default().max_sessions().get(), 64);
    }
}
