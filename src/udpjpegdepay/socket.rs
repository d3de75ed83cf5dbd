// SPDX-License-Identifier: MPL-2.0
//! The receive buffer of the `udpsrc` right upstream.
//!
//! The kernel's default receive buffer (net.core.rmem_default, 212,992
//! bytes on Debian) holds about 92 datagrams of 1,400 bytes: half a 1080p
//! frame. When the thread that reads the socket waits for the CPU while a
//! frame arrives (both cores busy), the rest of the frame is dropped by
//! the kernel. `receive-buffer-size` asks for a larger buffer on the
//! socket of a `udpsrc` left at `buffer-size=0`, with `SO_RCVBUF`: the
//! kernel caps the request at net.core.rmem_max (212,992 bytes on a stock
//! system, for root too) and doubles it, so that 212,992 gives 425,984
//! bytes, 184 such datagrams, on any machine.

use gst::glib;
use gst::prelude::*;
use gst_net::gio::{self, prelude::*};

/// What was done to the socket upstream.
#[derive(Debug)]
pub(super) enum Outcome {
    /// Nothing to do: the property is 0.
    Off,
    /// The element right upstream is not a `udpsrc` (or it has no socket).
    NoUdpsrc,
    /// The `udpsrc` has its own `buffer-size`; it is left as it is.
    SetOnUdpsrc { buffer_size: i32, now: usize },
    /// The buffer was as large as asked, or larger.
    LargeEnough { now: usize },
    /// The buffer was grown from `before` to `now` bytes (as the kernel
    /// reports them: twice what it was asked, capped).
    Grown { before: usize, now: usize },
    /// The socket refused.
    Failed(glib::Error),
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Off => write!(f, "left alone (receive-buffer-size=0)"),
            Outcome::NoUdpsrc => write!(f, "unknown: no udpsrc with a socket right upstream"),
            Outcome::SetOnUdpsrc { buffer_size, now } => {
                write!(
                    f,
                    "{now} bytes, left as udpsrc's buffer-size={buffer_size} made it"
                )
            }
            Outcome::LargeEnough { now } => write!(f, "{now} bytes already, left alone"),
            Outcome::Grown { before, now } => write!(f, "{now} bytes (was {before})"),
            Outcome::Failed(err) => write!(f, "left alone, the socket refused: {err}"),
        }
    }
}

impl Outcome {
    /// The receive buffer's size in bytes, where it is known.
    pub(super) fn size(&self) -> Option<usize> {
        match *self {
            Outcome::SetOnUdpsrc { now, .. }
            | Outcome::LargeEnough { now }
            | Outcome::Grown { now, .. } => Some(now),
            _ => None,
        }
    }
}

/// Asks the socket of the `udpsrc` linked to `sinkpad` for a receive
/// buffer of `request` bytes (0: leave it), unless that `udpsrc` has its
/// own `buffer-size`.
pub(super) fn grow_upstream(sinkpad: &gst::Pad, request: u32) -> Outcome {
    if request == 0 {
        return Outcome::Off;
    }
    let Some(udpsrc) = upstream_udpsrc(sinkpad) else {
        return Outcome::NoUdpsrc;
    };
    let Some(socket) = udpsrc.property::<Option<gio::Socket>>("used-socket") else {
        return Outcome::NoUdpsrc;
    };
    let before = match receive_buffer(&socket) {
        Ok(size) => size,
        Err(err) => return Outcome::Failed(err),
    };
    let buffer_size: i32 = udpsrc.property("buffer-size");
    if buffer_size != 0 {
        return Outcome::SetOnUdpsrc {
            buffer_size,
            now: before,
        };
    }
    grow(&socket, before, request)
}

/// Sets `SO_RCVBUF` to `request` unless the kernel already reports at
/// least what it would give for it (twice the request).
fn grow(socket: &gio::Socket, before: usize, request: u32) -> Outcome {
    if before >= 2 * request as usize {
        return Outcome::LargeEnough { now: before };
    }
    let value = i32::try_from(request).unwrap_or(i32::MAX);
    if let Err(err) = socket.set_option(libc::SOL_SOCKET, libc::SO_RCVBUF, value) {
        return Outcome::Failed(err);
    }
    match receive_buffer(socket) {
        Ok(now) => Outcome::Grown { before, now },
        Err(err) => Outcome::Failed(err),
    }
}

/// `SO_RCVBUF` as the kernel reports it.
fn receive_buffer(socket: &gio::Socket) -> Result<usize, glib::Error> {
    let size = socket.option(libc::SOL_SOCKET, libc::SO_RCVBUF)?;
    Ok(usize::try_from(size).unwrap_or(0))
}

/// The `udpsrc` whose source pad is linked to `sinkpad`, through ghost
/// pads of the bins it is in.
fn upstream_udpsrc(sinkpad: &gst::Pad) -> Option<gst::Element> {
    let mut pad = sinkpad.peer()?;
    while let Some(ghost) = pad.downcast_ref::<gst::GhostPad>() {
        pad = ghost.target()?;
    }
    let element = pad.parent_element()?;
    let is_udpsrc = element
        .factory()
        .is_some_and(|f| f.name() == "udpsrc" && element.find_property("used-socket").is_some());
    is_udpsrc.then_some(element)
}

/// Whether a frame of `frame_bytes` fills more of a receive buffer of
/// `buffer` bytes than it can hold. The kernel charges each datagram its
/// whole allocation: on 127.0.0.1 a datagram of 1,400 bytes costs about
/// 2,300 (212,992 bytes hold 92), so a frame needs 5/3 of its size.
pub(super) fn frame_overflows(frame_bytes: usize, buffer: usize) -> bool {
    frame_bytes.saturating_mul(5) / 3 > buffer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_1080p_frame_overflows_the_default_buffer_and_fits_the_grown_one() {
        // 250 KB, a 1080p frame at the default quality.
        assert!(frame_overflows(250_000, 212_992));
        assert!(!frame_overflows(250_000, 425_984));
        assert!(!frame_overflows(30_000, 212_992));
    }
}
