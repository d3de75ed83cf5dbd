// SPDX-License-Identifier: MPL-2.0
//! Optional credentials for the viewer: HTTP basic auth (RFC 7617) with one
//! user name and a password read from a file, as mjpg-streamer offers.
//!
//! Basic auth over plain HTTP sends the password in clear (base64 is an
//! encoding, not a cipher): it keeps casual viewers out on a LAN and no
//! more.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::digest::{SHA256, digest};
use subtle::ConstantTimeEq;

/// What the browser shows when it asks for the credentials.
pub const REALM: &str = "udpjpeg viewer";

/// The credentials a request must carry.
pub struct Credentials {
    /// SHA-256 of `name:password`: every check then compares two 32-byte
    /// digests in constant time, so neither the time taken nor the length
    /// of what is compared tells a guesser how close it came.
    digest: Vec<u8>,
}

impl Credentials {
    /// The credentials for `user`, whose password is in `password_file`
    /// (one trailing newline, as an editor or `echo` leaves, is not part
    /// of it). The error says what is wrong, naming the flag.
    pub fn load(user: &str, password_file: &Path) -> Result<Self, String> {
        if user.is_empty() || user.contains(':') {
            // A colon would end the name early: basic auth sends "name:password".
            return Err(format!(
                "--user {user:?}: the name must be non-empty and without ':'"
            ));
        }
        let text = std::fs::read_to_string(password_file).map_err(|e| {
            format!(
                "--password-file {}: cannot read it: {e}",
                password_file.display()
            )
        })?;
        let password = strip_newline(&text);
        if password.is_empty() {
            return Err(format!(
                "--password-file {}: the file holds no password",
                password_file.display()
            ));
        }
        Ok(Credentials {
            digest: digest(&SHA256, format!("{user}:{password}").as_bytes())
                .as_ref()
                .to_vec(),
        })
    }

    /// Whether the value of an `Authorization` header carries them.
    pub fn accept(&self, authorization: Option<&str>) -> bool {
        let Some(given) = authorization.and_then(basic_credentials) else {
            return false;
        };
        digest(&SHA256, &given).as_ref().ct_eq(&self.digest).into()
    }

    /// The `WWW-Authenticate` value of a 401 answer.
    pub fn challenge() -> String {
        format!("Basic realm=\"{REALM}\", charset=\"UTF-8\"")
    }
}

/// `text` without one trailing "\n" or "\r\n".
fn strip_newline(text: &str) -> &str {
    let text = text.strip_suffix('\n').unwrap_or(text);
    text.strip_suffix('\r').unwrap_or(text)
}

/// The decoded `name:password` of a `Basic <base64>` header value.
fn basic_credentials(value: &str) -> Option<Vec<u8>> {
    let (scheme, token) = value.trim().split_once(' ')?;
    // The scheme name is case-insensitive (RFC 7235, section 2.1).
    if !scheme.eq_ignore_ascii_case("Basic") {
        return None;
    }
    STANDARD.decode(token.trim()).ok()
}
