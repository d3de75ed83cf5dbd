// SPDX-License-Identifier: MPL-2.0
//! The shared key: 32 bytes written as 64 hex digits, from the `key`
//! property or a key file. Its bytes never reach a log: [`Key`]'s Debug
//! shows nothing of it, and errors say what is wrong without quoting it.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Hex digits in a key.
pub const HEX_LEN: usize = 64;

#[derive(Clone, PartialEq, Eq)]
pub struct Key([u8; 32]);

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(hidden)")
    }
}

/// Why a key cannot be used. The messages name what to change, never the
/// key's digits.
#[derive(Debug)]
pub enum KeyError {
    /// Not 64 characters (the count found).
    Length(usize),
    /// A character that is not a hex digit, at this position (from 1).
    NotHex(usize),
    /// The key file cannot be read.
    Unreadable(PathBuf, std::io::Error),
    /// The key file is larger than a key and a newline.
    FileTooLong(PathBuf),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Length(n) => write!(
                f,
                "the key has {n} characters; it must be exactly {HEX_LEN} hex digits (32 bytes)"
            ),
            KeyError::NotHex(at) => write!(
                f,
                "character {at} of the key is not a hex digit (0-9, a-f, A-F)"
            ),
            KeyError::Unreadable(path, err) => {
                write!(f, "cannot read the key file {}: {err}", path.display())
            }
            KeyError::FileTooLong(path) => write!(
                f,
                "the key file {} holds more than {HEX_LEN} hex digits and a newline",
                path.display()
            ),
        }
    }
}

impl std::error::Error for KeyError {}

/// A key read from a file, and whether users other than its owner can
/// read that file.
#[derive(Debug)]
pub struct KeyFile {
    pub key: Key,
    pub readable_by_others: bool,
}

impl Key {
    pub fn from_hex(text: &str) -> Result<Key, KeyError> {
        let text = text.as_bytes();
        if text.len() != HEX_LEN {
            return Err(KeyError::Length(text.len()));
        }
        let mut key = [0u8; 32];
        for (i, pair) in text.chunks_exact(2).enumerate() {
            let digit = |j: usize| hex_digit(pair[j]).ok_or(KeyError::NotHex(2 * i + j + 1));
            key[i] = (digit(0)? << 4) | digit(1)?;
        }
        Ok(Key(key))
    }

    /// A key file holds the 64 hex digits, and may end with one newline.
    pub fn from_file(path: &Path) -> Result<KeyFile, KeyError> {
        let unreadable = |err| KeyError::Unreadable(path.to_owned(), err);
        let file = std::fs::File::open(path).map_err(unreadable)?;
        let mode = file.metadata().map_err(unreadable)?.mode_bits();
        let mut text = Vec::with_capacity(HEX_LEN + 1);
        file.take(HEX_LEN as u64 + 2)
            .read_to_end(&mut text)
            .map_err(unreadable)?;
        if text.len() > HEX_LEN + 1 {
            return Err(KeyError::FileTooLong(path.to_owned()));
        }
        if text.last() == Some(&b'\n') {
            text.pop();
        }
        let text = String::from_utf8(text)
            .map_err(|e| KeyError::NotHex(e.utf8_error().valid_up_to() + 1))?;
        Ok(KeyFile {
            key: Key::from_hex(&text)?,
            readable_by_others: mode & 0o044 != 0,
        })
    }

    /// A new key from the operating system's random source.
    pub fn generate() -> Result<Key, getrandom::Error> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key)?;
        Ok(Key(key))
    }

    /// The 64 hex digits, lower case, for writing a new key file.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub(super) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

fn hex_digit(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Permission bits of a file (all bits set where there are none, so that
/// a file of unknown permissions is warned about).
trait ModeBits {
    fn mode_bits(&self) -> u32;
}

impl ModeBits for std::fs::Metadata {
    #[cfg(unix)]
    fn mode_bits(&self) -> u32 {
        std::os::unix::fs::PermissionsExt::mode(&self.permissions())
    }

    #[cfg(not(unix))]
    fn mode_bits(&self) -> u32 {
        0o777
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1F";

    fn write_file(name: &str, text: &str, mode: u32) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("udpjpeg-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn hex_digits_of_either_case_make_the_key() {
        let key = Key::from_hex(HEX).unwrap();
        assert_eq!(key.bytes()[..3], [0, 1, 2]);
        assert_eq!(key.bytes()[31], 0x1f);
        assert_eq!(key.to_hex(), HEX.to_lowercase());
    }

    #[test]
    fn wrong_lengths_and_digits_are_errors_that_do_not_quote_the_key() {
        assert!(matches!(
            Key::from_hex(&HEX[1..]),
            Err(KeyError::Length(63))
        ));
        assert!(matches!(Key::from_hex(""), Err(KeyError::Length(0))));
        let bad = format!("{}g", &HEX[..63]);
        let err = Key::from_hex(&bad).unwrap_err();
        assert!(matches!(err, KeyError::NotHex(64)), "{err:?}");
        assert!(!err.to_string().contains(&HEX[..20]), "{err}");
        assert!(matches!(
            Key::from_hex(&"é".repeat(32)),
            Err(KeyError::NotHex(1))
        ));
        assert_eq!(format!("{:?}", Key::from_hex(HEX).unwrap()), "Key(hidden)");
    }

    #[test]
    fn key_files_allow_one_trailing_newline_and_say_who_can_read_them() {
        let ok = Key::from_file(&write_file("a.key", &format!("{HEX}\n"), 0o600)).unwrap();
        assert_eq!(ok.key, Key::from_hex(HEX).unwrap());
        assert!(!ok.readable_by_others);
        let open = Key::from_file(&write_file("b.key", HEX, 0o644)).unwrap();
        assert!(open.readable_by_others);
        let two = write_file("c.key", &format!("{HEX}\n\n"), 0o600);
        assert!(matches!(
            Key::from_file(&two),
            Err(KeyError::FileTooLong(_))
        ));
        let short = write_file("d.key", &HEX[..10], 0o600);
        assert!(matches!(Key::from_file(&short), Err(KeyError::Length(10))));
        let missing = std::env::temp_dir().join("udpjpeg-no-such.key");
        let err = Key::from_file(&missing).unwrap_err();
        assert!(matches!(err, KeyError::Unreadable(..)));
        assert!(err.to_string().contains("udpjpeg-no-such.key"), "{err}");
    }

    #[test]
    fn generated_keys_differ() {
        assert_ne!(Key::generate().unwrap(), Key::generate().unwrap());
    }
}
