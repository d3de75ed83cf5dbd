// SPDX-License-Identifier: MPL-2.0
//! Sections 2 and 2b: splitting an MJPEG byte stream, `mjpegsplit` against
//! the stock `jpegparse`, with the floors of the appsrc harness and of a
//! memchr over every byte; and a crafted stream of nested frame candidates
//! against an ordinary one of as many bytes.

use std::time::{Duration, Instant};

use gst::prelude::*;

use crate::Config;
use crate::frames::FrameSet;
use crate::harness::{MB, appsrc_to_fakesink, element, median, queue_all, run_to_eos, set_state};
use crate::table::{Section, f0, ratio};

/// The pass-through "splitter" whose sink pad counts the 0xFF bytes of each
/// buffer: the appsrc harness plus a memchr, the floor of any splitter fed
/// this way.
const MEMCHR_PROBE: &str = "identity name=probe";

/// The splitters of section 2, in the order of its columns. identity: the
/// same appsrc harness passing the buffers through, the floor any element
/// fed this way can reach.
const SPLITTERS: [&str; 4] = ["mjpegsplit", "jpegparse", "identity", MEMCHR_PROBE];

const CHUNK_SIZES: [usize; 2] = [4096, 65536];

/// `appsrc ! splitter ! fakesink` over the stream cut in `chunk`-byte buffers.
fn split(splitter: &str, chunks: &[gst::Buffer]) -> (f64, u64) {
    split_or_error(splitter, chunks).unwrap_or_else(|e| panic!("{e}"))
}

/// [`split`], or the error the splitter posted.
fn split_or_error(splitter: &str, chunks: &[gst::Buffer]) -> Result<(f64, u64), String> {
    let caps = gst::Caps::new_empty_simple("image/jpeg");
    let (pipeline, src, sink) = appsrc_to_fakesink(splitter, &caps);
    if splitter == MEMCHR_PROBE {
        count_ff_at_sink(&pipeline);
    }
    set_state(&pipeline, gst::State::Ready);

    queue_all(&src, chunks.iter().cloned());
    let start = Instant::now();
    set_state(&pipeline, gst::State::Playing);
    let done = run_to_eos(&pipeline, Duration::from_secs(300));
    let secs = start.elapsed().as_secs_f64();
    set_state(&pipeline, gst::State::Null);
    done.map(|()| (secs, sink.buffers()))
}

/// Every buffer read once, as a splitter must: memchr for 0xFF.
fn count_ff_at_sink(pipeline: &gst::Pipeline) {
    element::<gst::Element>(pipeline, "sink")
        .static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, |_, info| {
            if let Some(gst::PadProbeData::Buffer(b)) = &info.data {
                let map = b.map_readable().unwrap();
                std::hint::black_box(memchr::memchr_iter(0xFF, &map).count());
            }
            gst::PadProbeReturn::Ok
        });
}

fn memchr_floor(stream: &[u8]) -> (f64, usize) {
    let start = Instant::now();
    let n = memchr::memchr_iter(0xFF, std::hint::black_box(stream)).count();
    (start.elapsed().as_secs_f64(), std::hint::black_box(n))
}

/// The concatenated stream of 1920x1080 frames that section 2 splits and
/// whose memchr floor section 4 also reports.
pub struct Stream {
    bytes: Vec<u8>,
    /// The same bytes in one buffer, whose memory the chunks share.
    buffer: gst::Buffer,
    frames: u64,
}

impl Stream {
    pub fn new(cfg: &Config, hd: &FrameSet) -> Self {
        let mut bytes = Vec::with_capacity(cfg.stream_bytes + 300_000);
        let mut frames = 0u64;
        while bytes.len() < cfg.stream_bytes {
            bytes.extend_from_slice(&hd.bytes(frames as usize));
            frames += 1;
        }
        let buffer = gst::Buffer::from_slice(bytes.clone());
        Stream {
            bytes,
            buffer,
            frames,
        }
    }

    /// The stream in buffers of `size` bytes sharing its memory.
    fn chunked(&self, size: usize) -> Vec<gst::Buffer> {
        let len = self.bytes.len();
        (0..len)
            .step_by(size)
            .map(|o| {
                self.buffer
                    .copy_region(gst::BufferCopyFlags::MEMORY, o..(o + size).min(len))
                    .unwrap()
            })
            .collect()
    }

    /// The median MB/s of counting the stream's 0xFF bytes with memchr.
    pub fn memchr_mbs(&self, cfg: &Config) -> f64 {
        let v: Vec<f64> = (0..cfg.rounds.max(5))
            .map(|_| self.bytes.len() as f64 / MB / memchr_floor(&self.bytes).0)
            .collect();
        median(&v)
    }

    fn mb(&self) -> f64 {
        self.bytes.len() as f64 / MB
    }
}

/// MB/s and frames out of each round, by chunk size and splitter.
type SplitRuns = Vec<Vec<(Vec<f64>, Vec<u64>)>>;

/// Every splitter over the stream in each chunk size, `cfg.rounds` times.
fn measure(cfg: &Config, stream: &Stream) -> SplitRuns {
    let chunk_sets: Vec<Vec<gst::Buffer>> =
        CHUNK_SIZES.iter().map(|&c| stream.chunked(c)).collect();
    let mut runs = vec![vec![(Vec::new(), Vec::new()); SPLITTERS.len()]; CHUNK_SIZES.len()];
    for _ in 0..cfg.rounds {
        for (c, chunks) in chunk_sets.iter().enumerate() {
            for (p, splitter) in SPLITTERS.iter().enumerate() {
                let (secs, frames) = split(splitter, chunks);
                runs[c][p].0.push(stream.mb() / secs);
                runs[c][p].1.push(frames);
            }
        }
    }
    runs
}

/// Section 2; also returns mjpegsplit's MB/s in 64 KB buffers.
pub fn section(cfg: &Config, stream: &Stream, memchr_mbs: f64) -> (Section, f64) {
    eprintln!("splitters ...");
    let runs = measure(cfg, stream);
    let mut sec = splitting_section(stream);
    let n = stream.frames;
    let frames_col = |v: &[u64]| {
        if v.iter().all(|&f| f == n) {
            format!("{n} (all)")
        } else {
            let counts: Vec<String> = v.iter().map(|f| f.to_string()).collect();
            format!("{} (expected {n})", counts.join(", "))
        }
    };
    let mut split_64k = f64::NAN;
    for (c, &size) in CHUNK_SIZES.iter().enumerate() {
        let [ours, theirs, pass, pass_memchr] = [0, 1, 2, 3].map(|p| median(&runs[c][p].0));
        if size == 65536 {
            split_64k = ours;
        }
        sec.row(vec![
            format!("{} KB", size / 1024),
            f0(ours),
            frames_col(&runs[c][0].1),
            f0(theirs),
            frames_col(&runs[c][1].1),
            ratio(ours, theirs),
            ratio(ours, memchr_mbs),
            f0(pass),
            ratio(ours, pass),
            f0(pass_memchr),
            ratio(ours, pass_memchr),
        ]);
    }
    (sec, split_64k)
}

fn splitting_section(stream: &Stream) -> Section {
    let n = stream.frames;
    Section::new(
        "2. MJPEG stream splitting",
        &format!(
            "The same concatenated stream of {n} 1920x1080 frames ({:.1} MB) through \
             `appsrc ! mjpegsplit ! fakesink` and `appsrc ! jpegparse ! fakesink` in buffers of \
             the given size, medians. Frames out must equal frames in ({n}); the \
             column lists each round's count. Floors: `memchr_iter(0xFF, stream).count()`, and \
             the same buffers through `appsrc ! identity ! fakesink` (what the appsrc harness \
             itself allows: appsrc's queue and one pad push per buffer), and the same with a \
             pad probe that runs the memchr count over each buffer (the harness plus reading \
             every byte once: what a splitter with no cost of its own would reach).",
            stream.mb()
        ),
        &[
            "input buffers",
            "mjpegsplit MB/s",
            "frames out",
            "jpegparse MB/s",
            "frames out",
            "mjpegsplit / jpegparse",
            "mjpegsplit / memchr floor",
            "pass-through MB/s",
            "mjpegsplit / pass-through",
            "pass-through + memchr MB/s",
            "mjpegsplit / pass-through + memchr",
        ],
    )
}

/// Frames after the nested candidates of section 2b, which must come out.
const TAIL: usize = 30;

/// The two streams of section 2b in 4 KB buffers.
struct NestedInputs {
    crafted: Vec<gst::Buffer>,
    ordinary: Vec<gst::Buffer>,
    ordinary_frames: usize,
    ordinary_mb: f64,
}

impl NestedInputs {
    fn new(hd: &FrameSet) -> Self {
        let tail: Vec<u8> = (0..TAIL).flat_map(|i| hd.bytes(i)).collect();
        let crafted = [gstudpjpeg::scanner::crafted::nested_candidates(128), tail].concat();
        let mut ordinary = Vec::with_capacity(crafted.len() + 300_000);
        let mut ordinary_frames = 0;
        while ordinary.len() < crafted.len() {
            ordinary.extend_from_slice(&hd.bytes(ordinary_frames));
            ordinary_frames += 1;
        }
        let in_4k = |s: &[u8]| -> Vec<gst::Buffer> {
            s.chunks(4096)
                .map(|c| gst::Buffer::from_slice(c.to_vec()))
                .collect()
        };
        NestedInputs {
            crafted: in_4k(&crafted),
            ordinary: in_4k(&ordinary),
            ordinary_frames,
            ordinary_mb: ordinary.len() as f64 / MB,
        }
    }
}

/// Section 2b: the crafted stream of nested frame candidates (8 MB, then 30
/// frames) against an ordinary stream of as many bytes, in 4 KB buffers.
pub fn nested_section(cfg: &Config, hd: &FrameSet) -> Section {
    eprintln!("nested frame candidates ...");
    let inputs = NestedInputs::new(hd);
    let mut sec = Section::new(
        "2b. Nested frame candidates",
        &format!(
            "`appsrc ! SPLITTER ! fakesink` in 4 KB buffers, medians of {} rounds: an ordinary \
             stream of {} 1920x1080 frames ({:.1} MB), and as many bytes of a \
             crafted stream: one SOI, then 128 COM segments packed with 6-byte `FF D8 FF E0 len` \
             gadgets whose APP0 segments end where the next COM starts (every gadget is a frame \
             candidate that walks to the end of the stream), then {TAIL} 1920x1080 frames, \
             which must come out.",
            cfg.rounds, inputs.ordinary_frames, inputs.ordinary_mb
        ),
        &[
            "splitter",
            "ordinary ms",
            "frames out",
            "crafted ms",
            "frames out",
            "crafted / ordinary",
        ],
    );
    for splitter in ["mjpegsplit", "jpegparse"] {
        sec.row(nested_row(cfg, splitter, &inputs));
    }
    sec
}

/// One splitter's row of section 2b.
fn nested_row(cfg: &Config, splitter: &str, inputs: &NestedInputs) -> Vec<String> {
    let (o, o_out) = timed_splits(cfg, splitter, &inputs.ordinary);
    let (c, c_out) = timed_splits(cfg, splitter, &inputs.crafted);
    let cell = |r: &Result<f64, String>| match r {
        Ok(ms) => f0(*ms),
        // "error from SRC: MESSAGE (DEBUG)": the message.
        Err(e) => {
            let head = e.split(" (").next().unwrap_or(e);
            format!("stops: {}", head.rsplit("): ").next().unwrap_or(head))
        }
    };
    let crafted_ratio = match (&c, &o) {
        (Ok(c), Ok(o)) => ratio(*c, *o),
        _ => "-".into(),
    };
    let frames = |r: &Result<f64, String>, out: u64, of: usize| match r {
        Ok(_) => format!("{out} of {of}"),
        Err(_) => "-".into(),
    };
    vec![
        splitter.to_string(),
        cell(&o),
        frames(&o, o_out, inputs.ordinary_frames),
        cell(&c),
        frames(&c, c_out, TAIL),
        crafted_ratio,
    ]
}

/// The median milliseconds of `cfg.rounds` runs of `splitter` over
/// `chunks` and the frames out of the last, or the first error.
fn timed_splits(
    cfg: &Config,
    splitter: &str,
    chunks: &[gst::Buffer],
) -> (Result<f64, String>, u64) {
    let mut ms = Vec::new();
    let mut out = 0;
    for _ in 0..cfg.rounds {
        match split_or_error(splitter, chunks) {
            Ok((secs, frames)) => {
                ms.push(secs * 1000.0);
                out = frames;
            }
            Err(e) => return (Err(e), out),
        }
    }
    (Ok(median(&ms)), out)
}
