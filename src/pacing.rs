// SPDX-License-Identifier: MPL-2.0
//! Pacing for `udpjpegpay`: how long a frame's bursts take, and the wait
//! between bursts that a flush or a state change ends at once.
//!
//! ```text
//! gst-launch-1.0 videotestsrc is-live=true ! jpegenc ! udpjpegpay burst-size=16 \
//!     burst-interval=300 ! udpsink host=127.0.0.1 port=5000
//! ```
//!
//! A frame of n datagrams leaves in ceil(n / burst-size) bursts,
//! burst-interval apart ([`pacing_delay`]); [`Pacer`] waits between them.
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
