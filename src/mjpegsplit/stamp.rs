// SPDX-License-Identifier: MPL-2.0
//! Timestamps at a stated frame rate: `mjpegsplit framerate=N/D` gives each
//! frame a duration of D/N seconds, and frames that arrive without a
//! timestamp (read from a file) the time of their place in the stream, so
//! that a syncing sink plays a file at its rate instead of all at once.
//!
//! ```text
//! gst-launch-1.0 filesrc location=capture.mjpeg ! mjpegsplit framerate=30/1 \
//!     ! udpjpegpay ! udpsink host=192.0.2.10 port=5000
//! ```

/// Nanoseconds in a second.
const SECOND: u128 = 1_000_000_000;

/// Counts frames to stamp those without a timestamp.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stamper {
    /// Frames stamped since the start or the last flush.
    frames: u64,
}

/// A frame's PTS and duration, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub pts: Option<u64>,
    pub duration: Option<u64>,
}

impl Stamper {
    /// The stamp of the next frame, which arrived with `pts`, at `num/den`
    /// frames a second (0/x: unknown rate, nothing added).
    pub fn next(&mut self, pts: Option<u64>, (num, den): (i32, i32)) -> Stamp {
        let (Ok(num), Ok(den)) = (u128::try_from(num), u128::try_from(den)) else {
            return Stamp {
                pts,
                duration: None,
            };
        };
        if num == 0 || den == 0 {
            return Stamp {
                pts,
                duration: None,
            };
        }
        let at = |n: u64| u64::try_from(u128::from(n) * den * SECOND / num).ok();
        let n = self.frames;
        self.frames += 1;
        Stamp {
            pts: pts.or_else(|| at(n)),
            duration: at(n + 1).zip(at(n)).map(|(b, a)| b - a),
        }
    }

    /// After a flush, the next untimestamped frame is at 0 again.
    pub fn restart(&mut self) {
        self.frames = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_without_timestamps_get_their_place_at_the_rate() {
        let mut s = Stamper::default();
        let stamps: Vec<Stamp> = (0..4).map(|_| s.next(None, (30, 1))).collect();
        let pts: Vec<u64> = stamps.iter().map(|s| s.pts.unwrap()).collect();
        assert_eq!(pts, [0, 33_333_333, 66_666_666, 100_000_000]);
        // Durations fill the gaps exactly: no drift over a long file.
        assert_eq!(stamps[0].duration, Some(33_333_333));
        assert_eq!(stamps[1].duration, Some(33_333_333));
        assert_eq!(stamps[2].duration, Some(33_333_334));
        let mut s = Stamper::default();
        let last = (0..30_000)
            .map(|_| s.next(None, (30_000, 1001)))
            .last()
            .unwrap();
        assert_eq!(
            last.pts.unwrap() + last.duration.unwrap(),
            1_001_000_000_000
        );
    }

    #[test]
    fn timestamps_stay_and_an_unknown_rate_adds_nothing() {
        let mut s = Stamper::default();
        let kept = s.next(Some(5_000), (25, 1));
        assert_eq!(
            kept,
            Stamp {
                pts: Some(5_000),
                duration: Some(40_000_000)
            }
        );
        assert_eq!(
            s.next(None, (0, 1)),
            Stamp {
                pts: None,
                duration: None
            }
        );
        assert_eq!(
            s.next(Some(7), (0, 1)),
            Stamp {
                pts: Some(7),
                duration: None
            }
        );
        s.restart();
        assert_eq!(s.next(None, (25, 1)).pts, Some(0));
    }
}
