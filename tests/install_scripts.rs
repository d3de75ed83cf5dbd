// SPDX-License-Identifier: MPL-2.0
//! The scripts that compile the project stop with a message naming the
//! rustup line when rustc is older than Cargo.toml's `rust-version` (as
//! Debian 12's 1.63 is), instead of failing later with a compiler error.
//! A fake `rustc` first on PATH plays the old compiler.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const RUSTUP_LINE: &str = "curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh";

/// The `rust-version` of Cargo.toml.
fn rust_version() -> &'static str {
    env!("CARGO_PKG_RUST_VERSION")
}

/// A fresh folder holding an executable `rustc` that prints `version_line`,
/// a `cargo` that would fail loudly should a script go on to build, and a
/// `dpkg-query` that reports every package installed (so that
/// scripts/install-deps.sh skips apt and goes on to the Rust check).
fn fake_toolchain(version_line: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "udpjpeg-fake-rustc-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    write_script(&dir.join("rustc"), &format!("echo '{version_line}'"));
    write_script(
        &dir.join("cargo"),
        "echo 'fake cargo must not run' >&2; exit 99",
    );
    write_script(&dir.join("dpkg-query"), "printf 'install ok installed'");
    dir
}

fn write_script(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Runs `bash <script> <args>` from the crate root with `first` ahead of
/// the usual PATH.
fn run_with_path_first(first: &Path, script: &str, args: &[&str]) -> Output {
    let path = format!("{}:{}", first.display(), std::env::var("PATH").unwrap());
    Command::new("bash")
        .arg(script)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("PATH", path)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn assert_refuses_old_rustc(out: &Output, script: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{script}: {stderr}");
    let want = format!("rustc 1.63.0 is older than {}", rust_version());
    assert!(stderr.contains(&want), "{script}: no '{want}' in: {stderr}");
    assert!(
        stderr.contains(RUSTUP_LINE),
        "{script}: no rustup line in: {stderr}"
    );
    assert!(
        !stderr.contains("fake cargo"),
        "{script} went on to cargo: {stderr}"
    );
}

#[test]
fn every_compiling_script_names_rustup_when_rustc_is_too_old() {
    let fake = fake_toolchain("rustc 1.63.0 (4b91a6ea7 2022-08-08)");
    for script in [
        "scripts/lib/require-rust.sh",
        "scripts/install-deps.sh",
        "scripts/demo.sh",
        "scripts/test.sh",
        "scripts/install-plugin.sh",
        "scripts/build-deb.sh",
    ] {
        assert_refuses_old_rustc(&run_with_path_first(&fake, script, &[]), script);
    }
    std::fs::remove_dir_all(fake).unwrap();
}

#[test]
fn the_rust_check_accepts_rust_version_and_newer() {
    let exact = format!("rustc {}.0 (0 2026-01-01)", rust_version());
    for line in [
        exact.as_str(),
        "rustc 1.100.0 (0 2030-01-01)",
        "rustc 2.0.0-nightly",
    ] {
        let fake = fake_toolchain(line);
        let out = run_with_path_first(&fake, "scripts/lib/require-rust.sh", &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{line}: {stderr}");
        std::fs::remove_dir_all(fake).unwrap();
    }
}

#[test]
fn the_rust_check_names_rustup_when_rust_is_missing() {
    // A PATH with only the tools the check itself uses: no cargo, no rustc.
    let bare = fake_toolchain("unused");
    for f in ["rustc", "cargo", "dpkg-query"] {
        std::fs::remove_file(bare.join(f)).unwrap();
    }
    for tool in ["sed", "dirname"] {
        let real = ["/usr/bin", "/bin"]
            .iter()
            .map(|d| Path::new(d).join(tool))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("{tool} is not in /usr/bin or /bin"));
        std::os::unix::fs::symlink(real, bare.join(tool)).unwrap();
    }
    let out = Command::new("/bin/bash")
        .arg("scripts/lib/require-rust.sh")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("PATH", &bare)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is not installed"), "{stderr}");
    assert!(stderr.contains(RUSTUP_LINE), "{stderr}");
    std::fs::remove_dir_all(bare).unwrap();
}
