// SPDX-License-Identifier: MPL-2.0
//! The `stats` property's blurb names exactly the fields of the structure
//! the property returns.

use std::collections::BTreeSet;

use gst::prelude::*;

/// The words of `text`, kebab-case names (`frames-lost`) whole.
fn words(text: &str) -> BTreeSet<&str> {
    text.split(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
        .map(|w| w.trim_matches('-'))
        .filter(|w| !w.is_empty())
        .collect()
}

/// Each field of `element`'s `stats` structure is named in the property's
/// blurb, and every kebab-case name in the blurb is a field, the
/// structure's name or one of the element's properties. (A one-word name
/// that is not a field cannot be told from prose, so it goes unchecked.)
pub fn assert_stats_blurb_names_every_field(element: &gst::Element) {
    let blurb = element
        .find_property("stats")
        .and_then(|p| p.blurb().map(str::to_owned))
        .expect("a stats property with a blurb");
    let stats = element.property::<gst::Structure>("stats");
    let fields: BTreeSet<&str> = stats.fields().map(|f| f.as_str()).collect();
    let words = words(&blurb);
    let missing: Vec<_> = fields.difference(&words).collect();
    assert!(missing.is_empty(), "the blurb misses {missing:?}: {blurb}");
    let properties: BTreeSet<String> = element
        .list_properties()
        .iter()
        .map(|p| p.name().to_string())
        .collect();
    let unknown: Vec<_> = words
        .iter()
        .filter(|w| w.contains('-'))
        .filter(|n| {
            !fields.contains(*n) && **n != stats.name().as_str() && !properties.contains(**n)
        })
        .collect();
    assert!(
        unknown.is_empty(),
        "the blurb names {unknown:?}, not fields of {stats}"
    );
}
