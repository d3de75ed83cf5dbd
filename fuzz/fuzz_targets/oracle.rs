// SPDX-License-Identifier: MPL-2.0
//! Rules of docs/PROTOCOL.md that more than one fuzz target checks the
//! crate against, written apart from the code under test. Included with
//! `mod oracle;`; not a fuzz target itself.

use gstudpjpeg::wire::Kind;

/// The kind of chunk `index` of a frame cut into `count` chunks: the last
/// is E (even when it is also the first), the first S, the others C.
pub fn chunk_kind(index: usize, count: usize) -> Kind {
    if index + 1 == count {
        Kind::End
    } else if index == 0 {
        Kind::Start
    } else {
        Kind::Centre
    }
}
