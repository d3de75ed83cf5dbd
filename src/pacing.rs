// SPDX-License-Identifier: MPL-2.0
//! Pacing for `udpjpegpay`: when each burst of a frame is due, and the wait
//! between bursts that a flush or a state change ends at once.
//!
//! ```text
//! gst-launch-1.0 videotestsrc is-live=true ! jpegenc ! udpjpegpay burst-size=16 \
//!     burst-interval=300 ! udpsink host=127.0.0.1 port=5000
//! ```
//!
//! A frame of n datagrams leaves in ceil(n / burst-size) bursts,
//! burst-interval apart ([`pacing_delay`]). The payloader reports the
//! largest such delay as latency, so a syncing sink would hold the first
//! burst for that long and the pacing would then run on top of it. Instead
//! burst k is stamped to be sent at the frame's time + k x interval - the
//! reported delay ([`burst_time`]): a syncing sink sends the first burst at
//! the frame's time plus the upstream latency, and the last of the largest
//! frame at the frame's time plus the whole latency. The payloader also
//! waits between bursts itself ([`Pacer`]), counted from when the first
//! left: where the sink does not sync, that wait paces the bursts; where
//! it does, both waits end at the same moment.
//!
//! Pure: no GStreamer types, no panics on any input.

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long the last burst of a frame of `datagrams` starts after its
/// first, with `burst_size` datagrams a burst (0: one burst, no pacing)
/// `interval_us` microseconds apart.
pub fn pacing_delay(datagrams: usize, burst_size: u32, interval_us: u32) -> Duration {
    if burst_size == 0 {
        return Duration::ZERO;
    }
    let bursts = datagrams.div_ceil(burst_size as usize).max(1);
    let gaps = u32::try_from(bursts - 1).unwrap_or(u32::MAX);
    Duration::from_micros(u64::from(interval_us)).saturating_mul(gaps)
}

/// When burst `k` of a frame whose time is `frame` is to be sent, bursts
/// being `interval` apart and the payloader reporting `lead` of latency:
/// `frame + k x interval - lead`, never before `floor` (the start of the
/// segment) unless the frame itself is. All in nanoseconds of running time.
pub fn burst_time(frame: u64, k: usize, interval: Duration, lead: Duration, floor: u64) -> u64 {
    let step = u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX);
    let lead = u64::try_from(lead.as_nanos()).unwrap_or(u64::MAX);
    frame
        .saturating_add(step.saturating_mul(k as u64))
        .saturating_sub(lead)
        .max(floor.min(frame))
}

/// A wait ended by a flush or a state change, not by its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flushing;

/// The wait between bursts: until a given instant, unless the element is
/// flushing, which ends every wait at once (as GStreamer's own elements
/// unschedule their clock waits on FLUSH_START and when stopping).
#[derive(Debug, Default)]
pub struct Pacer {
    flushing: Mutex<bool>,
    wake: Condvar,
}

impl Pacer {
    /// Starts (`true`: FLUSH_START, the src pad deactivated) or ends
    /// (FLUSH_STOP, the src pad activated) flushing; starting wakes every
    /// wait.
    pub fn set_flushing(&self, flushing: bool) {
        *self.flushing.lock().unwrap_or_else(PoisonError::into_inner) = flushing;
        if flushing {
            self.wake.notify_all();
        }
    }

    /// Waits until `due`; `Err(Flushing)` at once if flushing starts
    /// before then or has started.
    pub fn wait_until(&self, due: Instant) -> Result<(), Flushing> {
        let mut flushing = self.flushing.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if *flushing {
                return Err(Flushing);
            }
            let left = due.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            flushing = self
                .wake
                .wait_timeout(flushing, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const MS: u64 = 1_000_000;

    #[test]
    fn a_frame_takes_one_interval_per_burst_after_the_first() {
        // 180 datagrams (1080p at mtu 1400): 12 bursts of 16, 3.3 ms.
        assert_eq!(pacing_delay(180, 16, 300), Duration::from_micros(3300));
        assert_eq!(pacing_delay(176, 16, 300), Duration::from_micros(3000));
        assert_eq!(pacing_delay(1, 16, 300), Duration::ZERO);
        assert_eq!(pacing_delay(0, 16, 300), Duration::ZERO);
        assert_eq!(pacing_delay(180, 0, 300), Duration::ZERO, "no pacing");
        assert_eq!(pacing_delay(20, 1, 100_000), Duration::from_millis(1900));
        assert_eq!(
            pacing_delay(usize::MAX, 1, 100_000),
            Duration::from_micros(100_000).saturating_mul(u32::MAX),
            "saturates"
        );
    }

    #[test]
    fn the_largest_frame_ends_at_its_time_plus_the_reported_delay_minus_itself() {
        let (interval, lead) = (Duration::from_micros(300), Duration::from_micros(3300));
        let frame = 100 * MS;
        // The first burst is due the reported delay early, so that a sink
        // adding that delay sends it at once; the last at the frame's time.
        assert_eq!(burst_time(frame, 0, interval, lead, 0), frame - 3_300_000);
        assert_eq!(burst_time(frame, 11, interval, lead, 0), frame);
        // A smaller frame is done earlier.
        let short = Duration::from_micros(600);
        assert_eq!(burst_time(frame, 2, interval, lead, 0), frame - 2_700_000);
        assert!(burst_time(frame, 2, interval, short, 0) > frame - 2_700_000);
        // Bursts are in order.
        let times: Vec<u64> = (0..12)
            .map(|k| burst_time(frame, k, interval, lead, 0))
            .collect();
        assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
    }

    #[test]
    fn no_burst_is_due_before_the_segment_starts() {
        let (interval, lead) = (Duration::from_millis(1), Duration::from_millis(5));
        // Frame at 2 ms into a segment starting at 0: bursts 0..3 at 0.
        let times: Vec<u64> = (0..6)
            .map(|k| burst_time(2 * MS, k, interval, lead, 0))
            .collect();
        assert_eq!(times, [0, 0, 0, 0, MS, 2 * MS]);
        // A segment starting at 10 ms.
        assert_eq!(burst_time(12 * MS, 0, interval, lead, 10 * MS), 10 * MS);
        // A frame before the segment keeps its own time at most.
        assert_eq!(burst_time(8 * MS, 0, interval, lead, 10 * MS), 8 * MS);
        assert_eq!(
            burst_time(u64::MAX, usize::MAX, interval, lead, 0),
            u64::MAX - 5 * MS
        );
    }

    #[test]
    fn a_wait_lasts_until_its_time() {
        let pacer = Pacer::default();
        let start = Instant::now();
        let due = start + Duration::from_millis(5);
        assert_eq!(pacer.wait_until(due), Ok(()));
        assert!(Instant::now() >= due);
        assert_eq!(pacer.wait_until(start), Ok(()), "a time passed: no wait");
    }

    #[test]
    fn flushing_ends_a_wait_at_once_until_it_stops() {
        let pacer = Arc::new(Pacer::default());
        let p = pacer.clone();
        let waiter = std::thread::spawn(move || {
            let start = Instant::now();
            let res = p.wait_until(start + Duration::from_secs(60));
            (res, start.elapsed())
        });
        std::thread::sleep(Duration::from_millis(30));
        pacer.set_flushing(true);
        let (res, took) = waiter.join().unwrap();
        assert_eq!(res, Err(Flushing));
        assert!(took < Duration::from_secs(10), "{took:?}");
        let later = Instant::now() + Duration::from_secs(60);
        assert_eq!(pacer.wait_until(later), Err(Flushing), "still flushing");
        pacer.set_flushing(false);
        assert_eq!(pacer.wait_until(Instant::now()), Ok(()));
    }
}
