// SPDX-License-Identifier: MPL-2.0
//! Both cores kept busy: `CORES` `yes > /dev/null` processes, each under
//! `timeout`, so that none outlives its bound even if the program that
//! started them dies; stopped when dropped.
//!
//! Used by the benchmark's section 8 (`#[path = "../common/busy.rs"] mod
//! busy;`) and by `tests/busy.rs`.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How many `yes` run: one per core of the project's machines.
pub const CORES: usize = 2;

pub struct Busy(Vec<Child>);

impl Busy {
    /// Starts them; each stops by itself after `bound` (at least 1 s).
    pub fn start(bound: Duration) -> Busy {
        let secs = bound.as_secs().max(1).to_string();
        Busy(
            (0..CORES)
                .map(|_| {
                    Command::new("timeout")
                        .args([secs.as_str(), "yes"])
                        .stdout(Stdio::null())
                        .spawn()
                        .expect("`timeout` and `yes` (coreutils) run")
                })
                .collect(),
        )
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        for c in &mut self.0 {
            // SIGTERM: `timeout` passes it on to `yes` (a SIGKILL would not).
            // SAFETY: kill has no memory preconditions; the pid is our child's.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let _ = c.wait();
        }
    }
}
