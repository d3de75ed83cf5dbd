// SPDX-License-Identifier: MPL-2.0
//! The standard Huffman tables of ITU-T T.81 Annex K (K.3.3), the ones an
//! RTP/JPEG (RFC 2435) receiver rebuilds for every frame, and whether a
//! table defined in a frame's DHT segment is one of them in its usual slot.
//!
//! Pure: no GStreamer types, no panics on any input.

/// One Huffman table: how many codes there are of each length 1..=16, then
/// the symbols in code order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    pub counts: [u8; 16],
    pub symbols: &'static [u8],
}

/// The DC symbols of both standard DC tables: the categories 0 to 11.
const DC_SYMBOLS: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];

/// Table K.3: luminance DC.
pub const DC_LUMINANCE: Table = Table {
    counts: [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0],
    symbols: &DC_SYMBOLS,
};

/// Table K.4: chrominance DC.
pub const DC_CHROMINANCE: Table = Table {
    counts: [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0],
    symbols: &DC_SYMBOLS,
};

/// Table K.5: luminance AC.
pub const AC_LUMINANCE: Table = Table {
    counts: [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d],
    symbols: &[
        0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61,
        0x07, 0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52,
        0xd1, 0xf0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25,
        0x26, 0x27, 0x28, 0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45,
        0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64,
        0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83,
        0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
        0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6,
        0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3,
        0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8,
        0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa,
    ],
};

/// Table K.6: chrominance AC.
pub const AC_CHROMINANCE: Table = Table {
    counts: [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77],
    symbols: &[
        0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61,
        0x71, 0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33,
        0x52, 0xf0, 0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18,
        0x19, 0x1a, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44,
        0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63,
        0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a,
        0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97,
        0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4,
        0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca,
        0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7,
        0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa,
    ],
};

/// The standard table an RTP/JPEG receiver puts in a slot: class 0 (DC) or
/// 1 (AC), destination 0 (luminance) or 1 (chrominance). `None` for the
/// slots 2 and 3, which RTP/JPEG never fills.
pub fn standard(class: u8, slot: u8) -> Option<&'static Table> {
    match (class, slot) {
        (0, 0) => Some(&DC_LUMINANCE),
        (1, 0) => Some(&AC_LUMINANCE),
        (0, 1) => Some(&DC_CHROMINANCE),
        (1, 1) => Some(&AC_CHROMINANCE),
        _ => None,
    }
}

/// What the tables of one DHT segment payload (after its length) are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dht {
    /// Every table is the standard one of the slot it is defined for.
    Standard,
    /// At least one table differs from the standard one of its slot (or
    /// fills a slot RTP/JPEG does not use).
    Own,
    /// The payload is cut short or names a class above 1.
    Malformed,
}

/// Reads every table of a DHT segment payload and compares each with the
/// standard table of its slot.
pub fn classify(mut payload: &[u8]) -> Dht {
    let mut own = false;
    while let Some((&tc_th, rest)) = payload.split_first() {
        let (class, slot) = (tc_th >> 4, tc_th & 0x0F);
        let Some(counts) = rest.get(..16) else {
            return Dht::Malformed;
        };
        let n: usize = counts.iter().map(|&c| usize::from(c)).sum();
        let Some(symbols) = rest.get(16..16 + n) else {
            return Dht::Malformed;
        };
        if class > 1 {
            return Dht::Malformed;
        }
        own |= standard(class, slot).is_none_or(|t| t.counts != counts || t.symbols != symbols);
        payload = &rest[16 + n..];
    }
    if own { Dht::Own } else { Dht::Standard }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DHT payload defining `table` in (`class`, `slot`).
    fn payload(class: u8, slot: u8, table: &Table) -> Vec<u8> {
        let mut v = vec![class << 4 | slot];
        v.extend_from_slice(&table.counts);
        v.extend_from_slice(table.symbols);
        v
    }

    #[test]
    fn each_table_has_as_many_symbols_as_codes() {
        for t in [DC_LUMINANCE, DC_CHROMINANCE, AC_LUMINANCE, AC_CHROMINANCE] {
            let n: usize = t.counts.iter().map(|&c| usize::from(c)).sum();
            assert_eq!(n, t.symbols.len());
        }
        // K.5 and K.6: 162 AC symbols, every run/size pair and EOB, ZRL.
        assert_eq!(AC_LUMINANCE.symbols.len(), 162);
        assert_eq!(AC_CHROMINANCE.symbols.len(), 162);
    }

    #[test]
    fn the_four_standard_tables_in_one_segment_are_standard() {
        let mut all = Vec::new();
        for (class, slot) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
            all.extend(payload(class, slot, standard(class, slot).unwrap()));
        }
        assert_eq!(classify(&all), Dht::Standard);
        assert_eq!(classify(&[]), Dht::Standard);
    }

    #[test]
    fn a_standard_table_in_another_slot_is_own() {
        assert_eq!(classify(&payload(0, 1, &DC_LUMINANCE)), Dht::Own);
        assert_eq!(classify(&payload(1, 2, &AC_LUMINANCE)), Dht::Own);
    }

    #[test]
    fn one_changed_symbol_is_own() {
        let mut p = payload(1, 0, &AC_LUMINANCE);
        let last = p.len() - 1;
        p.swap(last, last - 1);
        assert_eq!(classify(&p), Dht::Own);
    }

    #[test]
    fn cut_or_invalid_payloads_are_malformed() {
        let p = payload(0, 0, &DC_LUMINANCE);
        for end in 1..p.len() {
            assert_eq!(classify(&p[..end]), Dht::Malformed, "cut at {end}");
        }
        let mut bad_class = p.clone();
        bad_class[0] = 0x20;
        assert_eq!(classify(&bad_class), Dht::Malformed);
    }
}
