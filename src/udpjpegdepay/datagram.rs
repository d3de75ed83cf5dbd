// SPDX-License-Identifier: MPL-2.0
//! The datagrams `udpjpegdepay` holds, mapped without copying, and what
//! holding each costs in memory (what `max-held-bytes` counts).
//!
//! ```text
//! gst-launch-1.0 udpsrc port=5000 ! udpjpegdepay max-held-bytes=16777216 ! queue \
//!     ! jpegdec ! videoconvert ! autovideosink
//! ```

use std::net::SocketAddr;

use gst::prelude::*;
use gst_net::gio::prelude::InetSocketAddressExt;

/// A sender: the source address udpsrc attached, or `None` for buffers
/// without one (all of those count as one anonymous sender).
pub type SenderKey = Option<SocketAddr>;

pub fn sender_of(buffer: &gst::BufferRef) -> SenderKey {
    let meta = buffer.meta::<gst_net::NetAddressMeta>()?;
    let addr = meta.addr();
    let inet = addr.downcast_ref::<gst_net::gio::InetSocketAddress>()?;
    Some(SocketAddr::new(inet.address().into(), inet.port()))
}

pub fn sender_name(key: &SenderKey) -> String {
    match key {
        Some(a) => a.to_string(),
        None => "(no address)".to_string(),
    }
}

/// A datagram held by the reassembler, mapped without copying: a buffer of
/// one memory (as udpsrc makes them) whole; a buffer of two memories (as
/// udpjpegpay makes them: header, then a slice of the frame) memory by
/// memory, since mapping such a buffer whole would merge, that is copy, it.
pub enum Datagram {
    Whole(gst::MappedBuffer<gst::buffer::Readable>),
    Parts(
        gst::MappedMemory<gst::memory::Readable>,
        gst::MappedMemory<gst::memory::Readable>,
    ),
}

impl Datagram {
    pub fn map(buffer: gst::Buffer) -> Result<Self, ()> {
        if buffer.n_memory() == 2 {
            // References to the buffer's own memories (`to_owned` on a
            // memory would copy it).
            let (Some(head), Some(tail)) = (buffer.memory(0), buffer.memory(1)) else {
                return Err(());
            };
            let head = head.into_mapped_memory_readable().map_err(|_| ())?;
            let tail = tail.into_mapped_memory_readable().map_err(|_| ())?;
            return Ok(Datagram::Parts(head, tail));
        }
        buffer
            .into_mapped_buffer_readable()
            .map(Datagram::Whole)
            .map_err(|_| ())
    }
}

/// Bytes a GstMemory of the system allocator takes besides its data (its
/// structure and the allocator's header): 164 measured, resident, for the
/// 1,499-byte memories udpsrc receives into (its mtu 1,492, aligned).
const MEMORY_OVERHEAD: usize = 192;
/// Bytes a buffer as udpsrc makes them takes besides its memories: the
/// GstBuffer, the NetAddressMeta and its two address objects, 575 measured.
/// (`tests/memory.rs` checks the whole charge against the resident size.)
const BUFFER_OVERHEAD: usize = 640;

/// Bytes that holding `memory` keeps alive: all of its allocation, even
/// when it holds a 1-byte datagram. A share of a larger memory (the slices
/// of a frame that udpjpegpay sends in the same process) counts its own
/// bytes only: the frame is its producer's.
fn memory_pinned(memory: &gst::MemoryRef) -> usize {
    let bytes = match memory.parent() {
        Some(_) => memory.size(),
        None => memory.maxsize(),
    };
    bytes.saturating_add(MEMORY_OVERHEAD)
}

impl crate::reassembly::Datagram for Datagram {
    fn parts(&self) -> (&[u8], &[u8]) {
        match self {
            Datagram::Whole(b) => (b.as_slice(), &[]),
            Datagram::Parts(h, t) => (h.as_slice(), t.as_slice()),
        }
    }

    fn pinned_len(&self) -> usize {
        match self {
            Datagram::Whole(b) => {
                let buffer = b.buffer();
                let own: usize = buffer.iter_memories().map(memory_pinned).sum();
                // Mapping a buffer of several memories merged them into one more.
                let merged = match buffer.n_memory() {
                    0 | 1 => 0,
                    _ => b.len() + MEMORY_OVERHEAD,
                };
                own + merged + BUFFER_OVERHEAD
            }
            Datagram::Parts(h, t) => memory_pinned(h.memory()) + memory_pinned(t.memory()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reassembly::Reassembler;

    type R = Reassembler<SenderKey, Datagram>;

    /// A buffer as udpsrc makes them (mtu 1,492): `len` bytes in a memory
    /// of the mtu and, past it, a second memory of 65,535 bytes.
    fn udpsrc_like(len: usize) -> gst::Buffer {
        let allocator = gst::Allocator::find(None::<&str>).unwrap();
        let mut buffer = gst::Buffer::new();
        let b = buffer.get_mut().unwrap();
        for (size, used) in [(1492, len.min(1492)), (65_535, len.saturating_sub(1492))] {
            if used > 0 {
                let mut memory = allocator.alloc(size, None).unwrap();
                memory.get_mut().unwrap().resize(..used);
                b.append_memory(memory);
            }
        }
        let addr = gst_net::gio::InetSocketAddress::from_string("127.0.0.1", 5000).unwrap();
        gst_net::NetAddressMeta::add(b, &addr);
        buffer
    }

    #[test]
    fn datagrams_from_udpsrc_are_charged_their_whole_memories() {
        // The README's and the max-held-bytes blurb's figures: about 2.8 KB
        // for a 6-byte datagram (which keeps 2,064 bytes resident, measured
        // with udpsrc's own buffers, 2,238 with these), about 68 KB for a
        // 1,493-byte one.
        gst::init().unwrap();
        let small = R::chunk_charge(&Datagram::map(udpsrc_like(6)).unwrap());
        assert!((2700..2900).contains(&small), "{small}");
        let long = R::chunk_charge(&Datagram::map(udpsrc_like(1493)).unwrap());
        assert!((67_000..69_000).contains(&long), "{long}");
    }
}
