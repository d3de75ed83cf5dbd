// SPDX-License-Identifier: MPL-2.0
//! Helpers for tests that run programs: the example binaries, child-process
//! guards, Ctrl+C, waiting with a time limit, root and network namespaces.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `target/<profile>`, the folder of the test binary's `deps` folder.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// `target/<profile>/examples/<name>`, built by `cargo test` with the tests.
pub fn example(name: &str) -> PathBuf {
    example_or(
        name,
        "cargo test builds the examples; run `cargo build --examples`",
    )
}

/// Writes a new key to `path` with `sender --make-key`, as a user does;
/// returns the path as the `--key-file` argument.
pub fn make_key(path: &Path) -> String {
    let made = Command::new(example("sender"))
        .arg("--make-key")
        .arg(path)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", text(&made.stderr));
    path.to_str().unwrap().to_owned()
}

/// As `example`, failing with `hint` after "... is missing: " when absent.
pub fn example_or(name: &str, hint: &str) -> PathBuf {
    let path = target_dir().join("examples").join(name);
    assert!(path.exists(), "{} is missing: {hint}", path.display());
    path
}

/// A folder holding only the plugin file, for GST_PLUGIN_PATH: a link to
/// target/<profile>/deps/libgstudpjpeg.so, which `cargo test` builds (only
/// `cargo build` copies it up to target/<profile>, and a copy there may be
/// older than the code under test).
pub fn plugin_dir() -> PathBuf {
    let built = target_dir().join("deps").join("libgstudpjpeg.so");
    assert!(
        built.exists(),
        "{} is missing: cargo test builds it with the tests",
        built.display()
    );
    let dir = target_dir().join("udpjpeg-plugin");
    let link = dir.join("libgstudpjpeg.so");
    if !link.exists() {
        std::fs::create_dir_all(&dir).unwrap();
        // A dangling link from a target folder that moved.
        let _ = std::fs::remove_file(&link);
        match std::os::unix::fs::symlink(&built, &link) {
            // Another test made it at the same time.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            made => made.unwrap(),
        }
    }
    dir
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Sends `signal` (`libc::SIGINT`, ...) to `child`.
fn signal(child: &Child, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).expect("a process id fits in pid_t");
    // SAFETY: kill(2) takes no pointers; `pid` is our own child, not yet
    // reaped (we hold its `Child`), so the id names no other process.
    let sent = unsafe { libc::kill(pid, signal) };
    assert_eq!(
        sent,
        0,
        "kill({pid}, {signal}): {}",
        std::io::Error::last_os_error()
    );
}

/// Ctrl+C: SIGINT to `child`.
pub fn interrupt(child: &Child) {
    signal(child, libc::SIGINT);
}

/// Waits up to `limit` for `child` to exit, looking every `poll`: its
/// output, or `Err` with its output after killing it when it did not exit.
pub fn wait_exit(mut child: Child, limit: Duration, poll: Duration) -> Result<Output, Output> {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err(child.wait_with_output().unwrap());
        }
        std::thread::sleep(poll);
    }
    Ok(child.wait_with_output().unwrap())
}

/// A child process, killed on drop so that no process outlives a failed
/// test.
pub struct Kill(pub Option<Child>);

/// Spawns `cmd` with stdin closed and stdout and stderr piped.
pub fn spawn_piped(cmd: &mut Command) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// `cmd`, the receiver example, told to write each frame into `dir` and to
/// open no window.
pub fn headless_receiver<'a>(cmd: &'a mut Command, dir: &Path) -> &'a mut Command {
    cmd.arg("--output-dir")
        .arg(dir)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
}

impl Kill {
    /// Spawns `cmd` with stdin closed and stdout and stderr piped.
    pub fn spawn(cmd: &mut Command) -> Kill {
        Kill(Some(spawn_piped(cmd)))
    }

    /// Ctrl+C.
    pub fn interrupt(&self) {
        interrupt(self.0.as_ref().unwrap());
    }

    /// `wait_exit` for the child.
    pub fn wait_exit(mut self, limit: Duration, poll: Duration) -> Result<Output, Output> {
        wait_exit(self.0.take().unwrap(), limit, poll)
    }
}

impl Drop for Kill {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Fails unless the test runs as root, which it needs `to` do something.
pub fn require_root(to: &str) {
    // SAFETY: geteuid(2) takes no arguments and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "this test needs root to {to}; run scripts/test.sh as root (CI does)"
    );
}

/// Fails unless the program `path` exists, naming its Debian `package`.
pub fn require_tool(path: &str, package: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: install the Debian package {package} (scripts/apt-packages-test.txt)"
    );
}

pub fn require_ip() {
    assert!(
        Command::new("ip")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success()),
        "the ip command (Debian package iproute2) is missing"
    );
}

pub fn require_gst_launch() {
    assert!(
        Command::new("gst-launch-1.0")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success()),
        "gst-launch-1.0 is missing: install the Debian package gstreamer1.0-tools"
    );
}

/// `ip <args>`, which must succeed.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace (with lo up) and its links, all removed on drop.
pub struct Netns {
    pub name: String,
    pub links: Vec<String>,
}

impl Netns {
    pub fn new(name: String) -> Netns {
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(Stdio::null())
            .status();
        ip(&["netns", "add", &name]);
        let ns = Netns {
            name,
            links: Vec::new(),
        };
        ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        ns
    }

    /// `ip -n <name> <args>`, which must succeed.
    pub fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        ip(&all);
    }

    /// `program` to run inside the namespace.
    pub fn cmd(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for link in self.links.iter().rev() {
            let _ = Command::new("ip")
                .args(["-n", &self.name, "link", "del", link])
                .stderr(Stdio::null())
                .status();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}
