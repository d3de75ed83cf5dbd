use std::sync::{LazyLock, Mutex};

use gst::{glib, prelude::*, subclass::prelude::*};

use crate::jpeg;
use crate::wire::{self, Plan, WireFormat};
use crate::wireformat::{CAPS_NAME, WireFormatEnum};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "udpjpegpay",
        gst::DebugColorFlags::empty(),
        Some("JPEG frames to UDP datagrams"),
    )
});

const DEFAULT_MTU: u32 = 1400;
const DEFAULT_WIRE_FORMAT: WireFormatEnum = WireFormatEnum::Sce;

#[derive(Debug, Clone, Copy)]
struct Settings {
    mtu: u32,
    wire_format: WireFormatEnum,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            mtu: DEFAULT_MTU,
            wire_format: DEFAULT_WIRE_FORMAT,
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    frames_sent: u64,
    frames_dropped: u64,
    datagrams_sent: u64,
    bytes_sent: u64,
}

#[derive(Debug)]
struct State {
    next_image_id: u16,
    /// The wire format announced in the caps sent downstream.
    caps_format: Option<WireFormat>,
    stats: Stats,
}

impl Default for State {
    fn default() -> Self {
        State {
            // PROTOCOL.md: the image id starts at a random value.
            next_image_id: glib::random_int_range(0, 65_536) as u16,
            caps_format: None,
            stats: Stats::default(),
        }
    }
}

pub struct UdpJpegPay {
    srcpad: gst::Pad,
    sinkpad: gst::Pad,
    settings: Mutex<Settings>,
    state: Mutex<State>,
}

impl UdpJpegPay {
    /// Sends our caps before the first segment or buffer, and again if the
    /// wire format changed.
    fn ensure_caps(&self, format: WireFormat) {
        let mut state = self.state.lock().unwrap();
        if state.caps_format == Some(format) {
            return;
        }
        state.caps_format = Some(format);
        drop(state);
        let caps = gst::Caps::builder(CAPS_NAME)
            .field("wire-format", format.name())
            .build();
        gst::debug!(CAT, imp = self, "Sending caps {caps}");
        let _ = self.srcpad.push_event(gst::event::Caps::new(&caps));
    }

    fn drop_frame(&self, size: usize, reason: &str) {
        self.state.lock().unwrap().stats.frames_dropped += 1;
        gst::warning!(CAT, imp = self, "Dropping frame of {size} bytes: {reason}");
        gst::element_imp_warning!(
            self,
            gst::StreamError::Format,
            ("Dropped a frame of {size} bytes: {reason}")
        );
    }

    fn sink_chain(
        &self,
        _pad: &gst::Pad,
        buffer: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = *self.settings.lock().unwrap();
        let format = WireFormat::from(settings.wire_format);
        let mtu = settings.mtu as usize;
        let size = buffer.size();

        let mut head = [0u8; 2];
        if size < 2 || buffer.copy_to_slice(0, &mut head).is_err() || head != jpeg::SOI {
            self.drop_frame(
                size,
                &format!(
                    "it does not start with the JPEG start-of-image marker FF D8 (mtu {mtu}); \
                     put jpegenc or a JPEG parser before udpjpegpay"
                ),
            );
            return Ok(gst::FlowSuccess::Ok);
        }

        let plan = match Plan::new(format, size, mtu) {
            Ok(plan) => plan,
            Err(err) => {
                let hint = if format == WireFormat::Countdown {
                    " (wire-format=countdown allows at most 255 datagrams a frame: raise mtu, \
                     e.g. mtu=65473 as the Python tutorial does, or use wire-format=sce)"
                } else {
                    ""
                };
                self.drop_frame(size, &format!("{err}{hint}"));
                return Ok(gst::FlowSuccess::Ok);
            }
        };

        self.ensure_caps(format);

        let image_id = {
            let mut state = self.state.lock().unwrap();
            let id = state.next_image_id;
            state.next_image_id = id.wrapping_add(1);
            id
        };

        // All the headers of this frame in one allocation; each datagram
        // shares its slice of it, then the frame's own memory.
        let hlen = format.header_len();
        let mut headers = Vec::with_capacity(plan.count * hlen);
        for i in 0..plan.count {
            let (h, n) = plan.header(image_id, i);
            headers.extend_from_slice(&h[..n]);
        }
        let headers = gst::Memory::from_mut_slice(headers);

        let pts = buffer.pts();
        let dts = buffer.dts();
        let discont = buffer.flags().contains(gst::BufferFlags::DISCONT);
        let mut list = gst::BufferList::new_sized(plan.count);
        {
            let list = list.get_mut().expect("new list is writable");
            for i in 0..plan.count {
                let mut datagram = buffer
                    .copy_region(gst::BufferCopyFlags::MEMORY, plan.range(i))
                    .map_err(|err| {
                        gst::element_imp_error!(
                            self,
                            gst::CoreError::Failed,
                            ("Could not share the frame's memory: {err}")
                        );
                        gst::FlowError::Error
                    })?;
                {
                    let d = datagram.make_mut();
                    d.insert_memory(0, headers.share(i * hlen..(i + 1) * hlen));
                    d.set_pts(pts);
                    d.set_dts(dts);
                    if i == 0 && discont {
                        d.set_flags(gst::BufferFlags::DISCONT);
                    }
                }
                list.add(datagram);
            }
        }

        gst::trace!(
            CAT,
            imp = self,
            "Frame {image_id}: {size} bytes in {} datagrams of at most {mtu} bytes, pts {}",
            plan.count,
            pts.display()
        );
        {
            let mut state = self.state.lock().unwrap();
            state.stats.frames_sent += 1;
            state.stats.datagrams_sent += plan.count as u64;
            state.stats.bytes_sent += (size + plan.count * hlen) as u64;
        }
        self.srcpad.push_list(list)
    }

    fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        gst::log!(CAT, obj = pad, "Handling event {event:?}");
        match event.view() {
            gst::EventView::Caps(ev) => {
                gst::debug!(CAT, imp = self, "Input caps {}", ev.caps());
                let format = WireFormat::from(self.settings.lock().unwrap().wire_format);
                self.ensure_caps(format);
                return true;
            }
            gst::EventView::Segment(_) | gst::EventView::Gap(_) => {
                let format = WireFormat::from(self.settings.lock().unwrap().wire_format);
                self.ensure_caps(format);
            }
            _ => {}
        }
        gst::Pad::event_default(pad, Some(&*self.obj()), event)
    }

    fn stats(&self) -> gst::Structure {
        let s = self.state.lock().unwrap().stats;
        gst::Structure::builder("udpjpegpay-stats")
            .field("frames-sent", s.frames_sent)
            .field("frames-dropped", s.frames_dropped)
            .field("datagrams-sent", s.datagrams_sent)
            .field("bytes-sent", s.bytes_sent)
            .build()
    }
}

#[glib::object_subclass]
impl ObjectSubclass for UdpJpegPay {
    const NAME: &'static str = "GstUdpJpegPay";
    type Type = super::UdpJpegPay;
    type ParentType = gst::Element;

    fn with_class(klass: &Self::Class) -> Self {
        let templ = klass.pad_template("sink").unwrap();
        let sinkpad = gst::Pad::builder_from_template(&templ)
            .chain_function(|pad, parent, buffer| {
                UdpJpegPay::catch_panic_pad_function(
                    parent,
                    || Err(gst::FlowError::Error),
                    |pay| pay.sink_chain(pad, buffer),
                )
            })
            .event_function(|pad, parent, event| {
                UdpJpegPay::catch_panic_pad_function(
                    parent,
                    || false,
                    |pay| pay.sink_event(pad, event),
                )
            })
            .build();
        let templ = klass.pad_template("src").unwrap();
        let srcpad = gst::Pad::builder_from_template(&templ).build();
        UdpJpegPay {
            srcpad,
            sinkpad,
            settings: Mutex::new(Settings::default()),
            state: Mutex::new(State::default()),
        }
    }
}

impl ObjectImpl for UdpJpegPay {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecUInt::builder("mtu")
                    .nick("MTU")
                    .blurb(
                        "Size of each datagram in bytes, header included (a sender configured \
                         with a packet size of N payload bytes uses N + 5 for sce, N + 1 for \
                         countdown); 64 to 65507, default 1400",
                    )
                    .minimum(wire::MIN_MTU as u32)
                    .maximum(wire::MAX_MTU as u32)
                    .default_value(DEFAULT_MTU)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("wire-format", DEFAULT_WIRE_FORMAT)
                    .nick("Wire format")
                    .blurb(
                        "Datagram header: sce (5 bytes: S/C/E kind, image id, chunk id; the \
                         default) or countdown (1 byte counting down to 1; at most 255 datagrams \
                         a frame, so at mtu 1400 frames of at most 356745 bytes)",
                    )
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb(
                        "Counters since the element left READY (read-only): frames-sent, \
                         frames-dropped, datagrams-sent, bytes-sent (headers included)",
                    )
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = self.settings.lock().unwrap();
        match pspec.name() {
            "mtu" => {
                settings.mtu = value.get().expect("type checked upstream");
                gst::debug!(CAT, imp = self, "mtu set to {}", settings.mtu);
            }
            "wire-format" => {
                settings.wire_format = value.get().expect("type checked upstream");
                gst::debug!(
                    CAT,
                    imp = self,
                    "wire-format set to {:?}",
                    settings.wire_format
                );
            }
            _ => unimplemented!(),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "mtu" => self.settings.lock().unwrap().mtu.to_value(),
            "wire-format" => self.settings.lock().unwrap().wire_format.to_value(),
            "stats" => self.stats().to_value(),
            _ => unimplemented!(),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.add_pad(&self.sinkpad).unwrap();
        obj.add_pad(&self.srcpad).unwrap();
    }
}

impl GstObjectImpl for UdpJpegPay {}

impl ElementImpl for UdpJpegPay {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "UDP JPEG payloader",
                "Codec/Payloader/Network",
                "Cuts each JPEG frame into a burst of datagrams with a small S/C/E or countdown header, for udpsink",
                "gst-plugin-udpjpeg developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let sink = gst::PadTemplate::new(
                "sink",
                gst::PadDirection::Sink,
                gst::PadPresence::Always,
                &gst::Caps::new_empty_simple("image/jpeg"),
            )
            .unwrap();
            let src = gst::PadTemplate::new(
                "src",
                gst::PadDirection::Src,
                gst::PadPresence::Always,
                &gst::Caps::builder(CAPS_NAME)
                    .field("wire-format", gst::List::new(["sce", "countdown"]))
                    .build(),
            )
            .unwrap();
            vec![src, sink]
        });
        PAD_TEMPLATES.as_ref()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        gst::trace!(CAT, imp = self, "Changing state {transition:?}");
        if transition == gst::StateChange::ReadyToPaused {
            *self.state.lock().unwrap() = State::default();
        }
        self.parent_change_state(transition)
    }
}
