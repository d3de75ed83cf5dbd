// SPDX-License-Identifier: MPL-2.0
//! Sealing in `udpjpegpay`: the `cipher` property's enum, and the session
//! that seals each datagram once the frame is cut (docs/PROTOCOL.md,
//! "Sealed datagrams").
//!
//! ```text
//! gst-launch-1.0 v4l2src ! image/jpeg ! udpjpegpay key-file=cam.key cipher=auto \
//!     ! udpsink host=192.0.2.10 port=5000
//! ```

use std::time::{Duration, Instant};

use gst::glib;

use crate::seal::{Cipher, Exhausted, Key, Sealer, SessionId, wall_seconds};
use crate::wire::Plan;

/// GObject enum behind the `cipher` property.
#[derive(Debug, Default, Eq, PartialEq, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstUdpJpegCipher")]
pub enum CipherEnum {
    #[default]
    #[enum_value(
        name = "AES-256-GCM where the CPU has AES instructions, else ChaCha20-Poly1305",
        nick = "auto"
    )]
    Auto = 0,
    #[enum_value(name = "AES-256-GCM", nick = "aes-256-gcm")]
    Aes256Gcm = 1,
    #[enum_value(name = "ChaCha20-Poly1305", nick = "chacha20-poly1305")]
    ChaCha20Poly1305 = 2,
}

impl CipherEnum {
    pub fn cipher(self) -> Cipher {
        match self {
            CipherEnum::Auto => Cipher::auto(),
            CipherEnum::Aes256Gcm => Cipher::Aes256Gcm,
            CipherEnum::ChaCha20Poly1305 => Cipher::ChaCha20Poly1305,
        }
    }
}

/// A sealing session, and what starting the next one takes.
pub struct Seal {
    key: Key,
    cipher: Cipher,
    sealer: Sealer,
    started: Instant,
}

impl Seal {
    /// A first session, with a new id from the operating system.
    pub fn start(key: Key, cipher: Cipher) -> Result<Seal, getrandom::Error> {
        let sealer = Sealer::new(&key, cipher, SessionId::random()?, wall_seconds());
        Ok(Seal {
            key,
            cipher,
            sealer,
            started: Instant::now(),
        })
    }

    /// The session's id and start time, for the log.
    pub fn describe(&self) -> String {
        let h = self.sealer.next_header();
        format!(
            "session {} ({}), started at {} s, next counter {}",
            h.session,
            self.cipher.name(),
            h.start,
            h.counter
        )
    }

    /// Starts a new session (between frames) once this one is older than
    /// `lifetime`, or has used half its counters (so that no frame, at
    /// most 2^17 datagrams, can exhaust it); whether it did.
    pub fn renew_if_due(&mut self, lifetime: Option<Duration>) -> Result<bool, getrandom::Error> {
        let old = lifetime.is_some_and(|l| self.started.elapsed() >= l);
        let worn = self.sealer.next_header().counter > u64::MAX / 2;
        if !(old || worn) {
            return Ok(false);
        }
        *self = Seal::start(self.key.clone(), self.cipher)?;
        Ok(true)
    }

    /// The sealed datagrams of a frame cut by `plan`: each chunk's header
    /// and bytes copied once, into the datagram that is sealed where it
    /// is; then `parity`'s datagrams, sealed the same way.
    pub fn seal_frame(
        &mut self,
        frame: &[u8],
        plan: &Plan,
        image_id: u16,
        parity: &[Vec<u8>],
    ) -> Result<Vec<gst::Buffer>, Exhausted> {
        let mut out = Vec::with_capacity(plan.count + parity.len());
        for i in 0..plan.count {
            let (h, n) = plan.header(image_id, i);
            out.push(self.seal_parts(&[&h[..n], &frame[plan.range(i)]])?);
        }
        for p in parity {
            out.push(self.seal_parts(&[p])?);
        }
        Ok(out)
    }

    fn seal_parts(&mut self, parts: &[&[u8]]) -> Result<gst::Buffer, Exhausted> {
        self.sealer.seal(parts).map(gst::Buffer::from_mut_slice)
    }
}

/// The session, never the key.
impl std::fmt::Debug for Seal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Seal({})", self.describe())
    }
}
