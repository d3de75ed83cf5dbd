// SPDX-License-Identifier: MPL-2.0
//! The benchmark's tables: a section (title, note, header, rows) printed as
//! text and written as Markdown, the splicing of one section into an
//! existing docs/benchmark.md, and the cell formats.

use std::fmt::Write as _;

/// One table of the report.
pub struct Section {
    title: String,
    pub note: String,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Section {
    pub fn new(title: &str, note: &str, header: &[&str]) -> Self {
        Section {
            title: title.to_string(),
            note: note.to_string(),
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
        }
    }
    /// "3b." of "3b. Highest ...": the order of sections in the document.
    pub fn key(&self) -> String {
        heading_key(&self.title)
    }
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }
    pub fn text(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut s = String::new();
            for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
                let pad = w - c.chars().count();
                if i == 0 {
                    let _ = write!(s, "{c}{}", " ".repeat(pad));
                } else {
                    let _ = write!(s, "  {}{c}", " ".repeat(pad));
                }
            }
            s.trim_end().to_string() + "\n"
        };
        let mut out = format!("\n== {} ==\n", self.title);
        if !self.note.is_empty() {
            out += &format!("{}\n", self.note);
        }
        out += &line(&self.header);
        out += &(widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("  ")
            + "\n");
        for r in &self.rows {
            out += &line(r);
        }
        out
    }
    pub fn markdown(&self) -> String {
        let mut out = format!("## {}\n\n", self.title);
        if !self.note.is_empty() {
            out += &format!("{}\n\n", self.note);
        }
        out += &format!("| {} |\n", self.header.join(" | "));
        out += &format!(
            "|{}\n",
            self.header
                .iter()
                .enumerate()
                .map(|(i, _)| if i == 0 { "---|" } else { "---:|" })
                .collect::<String>()
        );
        for r in &self.rows {
            out += &format!("| {} |\n", r.join(" | "));
        }
        out + "\n"
    }
}

/// The number of a section title or Markdown heading ("3b." of "3b. Highest").
pub fn heading_key(title: &str) -> String {
    title.split_whitespace().next().unwrap_or("").to_string()
}

/// `old` (a docs/benchmark.md) with the sections numbered `n` (`n.`, `nb.`,
/// ...) replaced by `sections`, the other sections kept, in key order.
pub fn splice(old: &str, n: u32, sections: &[Section]) -> String {
    let mut parts = old.split("\n## ");
    let mut preamble = parts.next().unwrap_or("").trim_end().to_string();
    if preamble.is_empty() {
        preamble = "# Benchmark".into();
    }
    let number = |key: &str| -> Option<u32> {
        key.trim_end_matches(|c: char| !c.is_ascii_digit())
            .parse()
            .ok()
    };
    let mut blocks: Vec<(String, String)> = parts
        .map(|b| (heading_key(b), format!("## {}\n\n", b.trim_end())))
        .filter(|(key, _)| number(key) != Some(n))
        .collect();
    blocks.extend(sections.iter().map(|s| (s.key(), s.markdown())));
    blocks.sort_by(|a, b| a.0.cmp(&b.0));
    let mut md = preamble + "\n\n";
    for (_, b) in blocks {
        md += &b;
    }
    md
}

pub fn f0(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.0}")
    } else {
        "-".into()
    }
}

pub fn ratio(a: f64, b: f64) -> String {
    if a.is_finite() && b.is_finite() && b > 0.0 {
        format!("{:.2}x", a / b)
    } else {
        "-".into()
    }
}
