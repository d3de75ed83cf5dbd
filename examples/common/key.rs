// SPDX-License-Identifier: MPL-2.0
//! Keys for the examples: `--make-key FILE` writes a new one, `--key-file
//! FILE` hands one to `udpjpegpay` or `udpjpegdepay` (which read and check
//! it when the pipeline starts, and say what is wrong).
//!
//! ```text
//! sender --make-key cam.key          # 64 hex digits, mode 0600
//! sender --key-file cam.key ...      # udpjpegpay key-file=cam.key
//! receiver --key-file cam.key ...    # udpjpegdepay key-file=cam.key
//! ```

#![allow(dead_code)] // the receiver and viewer only read keys

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use gst::prelude::*;
use gstudpjpeg::seal::Key;

/// Writes a new key to `path`, readable by its owner only; never replaces
/// an existing file.
pub fn make_key(path: &Path) -> Result<(), String> {
    let key = Key::generate().map_err(|e| format!("no random source: {e}"))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    writeln!(file, "{}", key.to_hex()).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Seals (or opens) with the key in `file`, if one is given.
pub fn use_key_file(element: &gst::Element, file: Option<&Path>) {
    if let Some(file) = file {
        element.set_property("key-file", file.to_str());
    }
}

/// ", sealed with KEY" for the start-up line.
pub fn sealed_with(file: Option<&Path>) -> String {
    file.map_or(String::new(), |f| format!(", sealed with {}", f.display()))
}
