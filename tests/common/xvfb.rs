// SPDX-License-Identifier: MPL-2.0
//! An Xvfb server for the tests that open windows (the area picker, the
//! display recipes).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::process::require_tool;

/// An Xvfb server on a free display number, killed at the end.
pub struct Xvfb {
    child: Child,
    /// The display name, for DISPLAY (`:N`).
    pub display: String,
}

impl Xvfb {
    /// `-displayfd 1`: Xvfb picks a free display number itself (no race
    /// with tests running at the same time) and prints it once it is ready.
    pub fn start() -> Self {
        require_tool("/usr/bin/Xvfb", "xvfb");
        let mut child = Command::new("/usr/bin/Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1024x768x24",
                "-nolisten",
                "tcp",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(line) if line.trim().parse::<u32>().is_ok() => Xvfb {
                child,
                display: format!(":{}", line.trim()),
            },
            other => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("Xvfb did not start: {other:?}");
            }
        }
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
