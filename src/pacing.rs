// SPDX-License-Identifier: MPL-2.0
//! Pacing arithmetic: when each burst of a frame leaves the payloader.
//!
//! A frame of `n` datagrams leaves in `ceil(n / burst-size)` bursts that
//! start `burst-interval` apart, so a receiver's socket buffer holds what
//! arrives while its thread is kept off the CPU for a moment. The spacing
//! is a rate: a small frame takes one or two bursts and adds almost no
//! latency, a large one is spread further. Spread past the frame interval,
//! frames would leave slower than they come and queue up without end, so
//! when the frame rate is known (the caps say it) a frame's bursts spread
//! over at most `max-share` percent of the frame interval, closer together
//! than `burst-interval` if need be.
//!
//! ```
//! use std::time::Duration;
//! use gstudpjpeg::pacing::{Pacing, frame_interval};
//!
//! let pacing = Pacing {
//!     burst_size: 16,
//!     burst_interval: Duration::from_micros(1500),
//!     max_share_percent: 75,
//! };
//! // A 1080p frame of 176 datagrams at 60 fps: 11 bursts, whose 10 gaps
//! // of 1.5 ms would take 15 ms; 75% of 16.7 ms leaves 1.25 ms each
//! // (rounded down to the nanosecond).
//! let s = pacing.schedule(176, frame_interval(60, 1));
//! assert_eq!(s.bursts, 11);
//! assert_eq!(s.interval, Duration::from_nanos(1_249_999));
//! ```
//!
//! Pure: no GStreamer types, no clock, no panics.

use std::time::Duration;

/// What shapes a frame's schedule (the payloader's properties).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    /// Datagrams per burst; 0 sends the whole frame as one burst.
    pub burst_size: u32,
    /// From the start of one burst to the start of the next.
    pub burst_interval: Duration,
    /// The largest share of the frame interval, in percent (0 to 100), over
    /// which a frame's bursts may spread when the frame rate is known.
    pub max_share_percent: u32,
}

/// One frame's schedule: `bursts` bursts starting `interval` apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub bursts: usize,
    pub interval: Duration,
}

impl Schedule {
    /// When burst `k` (from 0) starts, counted from the start of the first.
    pub fn offset(&self, k: usize) -> Duration {
        self.interval
            .saturating_mul(u32::try_from(k).unwrap_or(u32::MAX))
    }

    /// When the last burst starts: the latency pacing adds to the frame.
    pub fn spread(&self) -> Duration {
        self.offset(self.bursts.saturating_sub(1))
    }
}

impl Pacing {
    /// The schedule of a frame of `datagrams`, given the frame interval if
    /// known (see [`frame_interval`]).
    pub fn schedule(&self, datagrams: usize, frame_interval: Option<Duration>) -> Schedule {
        let burst = self.burst_size as usize;
        if burst == 0 || datagrams <= burst {
            return Schedule {
                bursts: 1,
                interval: Duration::ZERO,
            };
        }
        let bursts = datagrams.div_ceil(burst);
        let gaps = u32::try_from(bursts - 1).unwrap_or(u32::MAX);
        let interval = match frame_interval {
            Some(f) => self.burst_interval.min(self.max_spread(f) / gaps),
            None => self.burst_interval,
        };
        Schedule { bursts, interval }
    }

    /// `max-share` percent of `frame_interval`.
    fn max_spread(&self, frame_interval: Duration) -> Duration {
        let share = u128::from(self.max_share_percent.min(100));
        let ns = frame_interval.as_nanos() * share / 100;
        Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
    }
}

/// The time between frames at `num`/`den` frames a second; None for 0/1
/// (a variable rate) or any rate that is not positive.
pub fn frame_interval(num: i32, den: i32) -> Option<Duration> {
    if num <= 0 || den <= 0 {
        return None;
    }
    let ns = u128::from(den.unsigned_abs()) * 1_000_000_000 / u128::from(num.unsigned_abs());
    Some(Duration::from_nanos(u64::try_from(ns).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn pacing(burst_size: u32, interval_us: u64, share: u32) -> Pacing {
        Pacing {
            burst_size,
            burst_interval: Duration::from_micros(interval_us),
            max_share_percent: share,
        }
    }

    #[test]
    fn a_1080p_frame_at_30_fps_keeps_the_burst_interval() {
        // 176 datagrams: 11 bursts, 10 gaps of 1.5 ms fit in 75% of 33.3 ms.
        let s = pacing(16, 1500, 75).schedule(176, frame_interval(30, 1));
        assert_eq!(s.bursts, 11);
        assert_eq!(s.interval, Duration::from_micros(1500));
        assert_eq!(s.spread(), 15 * MS);
    }

    #[test]
    fn a_1080p_frame_at_60_fps_is_squeezed_into_the_share() {
        // 75% of 16,666,666 ns is 12,499,999 ns: 10 gaps of 1,249,999 ns.
        let s = pacing(16, 1500, 75).schedule(176, frame_interval(60, 1));
        assert_eq!(s.bursts, 11);
        assert_eq!(s.interval, Duration::from_nanos(1_249_999));
        assert_eq!(s.spread(), Duration::from_nanos(12_499_990));
    }

    #[test]
    fn without_a_frame_rate_the_burst_interval_holds() {
        for rate in [frame_interval(0, 1), None] {
            let s = pacing(16, 1500, 75).schedule(176, rate);
            assert_eq!(s.interval, Duration::from_micros(1500));
        }
    }

    #[test]
    fn small_frames_add_little_or_nothing() {
        let p = pacing(16, 1500, 75);
        let one = p.schedule(16, frame_interval(30, 1));
        assert_eq!((one.bursts, one.spread()), (1, Duration::ZERO));
        // 360p, about 24 datagrams: two bursts, one gap.
        let two = p.schedule(24, frame_interval(30, 1));
        assert_eq!((two.bursts, two.spread()), (2, Duration::from_micros(1500)));
    }

    #[test]
    fn burst_size_zero_sends_the_frame_at_once() {
        let s = pacing(0, 1500, 75).schedule(10_000, frame_interval(30, 1));
        assert_eq!((s.bursts, s.spread()), (1, Duration::ZERO));
    }

    #[test]
    fn share_zero_or_interval_zero_means_back_to_back() {
        let s = pacing(16, 1500, 0).schedule(176, frame_interval(30, 1));
        assert_eq!((s.bursts, s.spread()), (11, Duration::ZERO));
        let s = pacing(16, 0, 75).schedule(176, frame_interval(30, 1));
        assert_eq!((s.bursts, s.spread()), (11, Duration::ZERO));
    }

    #[test]
    fn offsets_step_by_the_interval() {
        let s = pacing(16, 300, 100).schedule(40, None);
        let offsets: Vec<_> = (0..s.bursts).map(|k| s.offset(k)).collect();
        assert_eq!(
            offsets,
            [0, 300, 600].map(Duration::from_micros).to_vec(),
            "three bursts of 16, 16 and 8"
        );
    }

    #[test]
    fn frame_intervals() {
        assert_eq!(
            frame_interval(30, 1),
            Some(Duration::from_nanos(33_333_333))
        );
        assert_eq!(
            frame_interval(30000, 1001),
            Some(Duration::from_nanos(33_366_666))
        );
        assert_eq!(frame_interval(0, 1), None);
        assert_eq!(frame_interval(-30, 1), None);
        assert_eq!(frame_interval(30, 0), None);
        assert_eq!(
            frame_interval(1, i32::MAX),
            Some(Duration::from_secs(i32::MAX as u64))
        );
    }

    #[test]
    fn the_spread_never_exceeds_the_share_nor_the_interval() {
        let mut rng = fastrand::Rng::with_seed(13);
        for _ in 0..10_000 {
            let p = pacing(rng.u32(0..=64), rng.u64(0..=100_000), rng.u32(0..=150));
            let datagrams = rng.usize(0..=70_000);
            let rate = frame_interval(rng.i32(-1..=240), rng.i32(0..=2));
            let s = p.schedule(datagrams, rate);
            assert!(s.bursts >= 1);
            assert!(s.interval <= p.burst_interval);
            if let Some(f) = rate {
                let share = p.max_share_percent.min(100);
                assert!(
                    s.spread() <= f * share / 100,
                    "{p:?} {datagrams} {f:?}: {s:?}"
                );
            }
        }
    }
}
