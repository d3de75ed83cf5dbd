// SPDX-License-Identifier: MPL-2.0
//! The benchmark's report: a header naming the machine and the command,
//! the tables printed, and docs/benchmark.md written whole, or with only
//! the sections of `--only N` replaced.

use std::path::Path;
use std::time::Instant;

use crate::Config;
use crate::table::{Section, splice};

/// The trimmed output of a command, empty when it cannot run.
fn shell(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// The CPU model from /proc/cpuinfo.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The 1-minute load average: other processes on the machine skew results.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// How the run was started, for the header and the "Rerun alone" note.
pub struct RunInfo {
    pub only: Option<u32>,
    pub started: Instant,
    pub load_before: String,
}

/// The command line that reproduces this run.
fn command(cfg: &Config, only: Option<u32>) -> String {
    let mut flags = Vec::new();
    if cfg.quick {
        flags.push("--quick".to_string());
    }
    if let Some(n) = only {
        flags.push(format!("--only {n}"));
    }
    format!(
        "cargo run --release --example bench{}",
        if flags.is_empty() {
            String::new()
        } else {
            format!(" -- {}", flags.join(" "))
        }
    )
}

fn date() -> String {
    shell("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
}

/// Prints the header and the tables, then writes docs/benchmark.md.
pub fn report(cfg: &Config, run: &RunInfo, mut sections: Vec<Section>) {
    let command = command(cfg, run.only);
    let header = format!(
        "Machine: {} CPUs (nproc), {}; {}; {}\nCommand: `{command}` ({} rounds in memory, {} \
         UDP round(s); total {:.0} s; load average before: {}, after: {})",
        shell("nproc", &[]),
        cpu_model(),
        gst::version_string(),
        date(),
        cfg.rounds,
        cfg.udp_rounds,
        run.started.elapsed().as_secs_f64(),
        run.load_before,
        load_average(),
    );
    println!("{header}");
    for s in &sections {
        print!("{}", s.text());
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/benchmark.md");
    match run.only {
        Some(n) => {
            let rerun = format!(
                " (Rerun alone: `{command}`, {}, {:.0} s, load average before: {}, \
                 after: {}.)",
                date(),
                run.started.elapsed().as_secs_f64(),
                run.load_before,
                load_average(),
            );
            for s in &mut sections {
                s.note += &rerun;
            }
            replace_sections(&path, n, &sections);
        }
        None => write_document(&path, &header, &sections),
    }
}

/// Replaces section `n` in the existing file, keeping the rest.
fn replace_sections(path: &Path, n: u32, sections: &[Section]) {
    let old = std::fs::read_to_string(path).unwrap_or_else(|_| "# Benchmark\n\n".into());
    match std::fs::write(path, splice(&old, n, sections)) {
        Ok(()) => eprintln!("replaced section {n} in {}", path.display()),
        Err(e) => eprintln!("could not write {}: {e}", path.display()),
    }
}

/// Writes the whole file.
fn write_document(path: &Path, header: &str, sections: &[Section]) {
    let mut md = String::from("# Benchmark\n\n");
    md += &header.replace('\n', "  \n");
    md += "\n\nfps and MB/s are medians over the rounds; MB = 10^6 bytes. \
           Generated frames: `videotestsrc pattern=pinwheel horizontal-speed=3 ! \
           video/x-raw,format=I420 ! jpegenc quality=Q`, 60 distinct frames per size, cycled. \
           In-memory cases (parts 1, 2 and 5) queue all their buffers and the EOS in appsrc \
           (max-bytes=0) before PLAYING, then time PLAYING to EOS: only appsrc's streaming \
           thread runs while the clock runs.\n\n";
    for s in sections {
        md += &s.markdown();
    }
    match std::fs::write(path, md) {
        Ok(()) => eprintln!("wrote {}", path.display()),
        Err(e) => eprintln!("could not write {}: {e}", path.display()),
    }
}
