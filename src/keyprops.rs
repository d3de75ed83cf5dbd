// SPDX-License-Identifier: MPL-2.0
//! The `key` and `key-file` properties that `udpjpegpay` and
//! `udpjpegdepay` share, and the key they make at READY->PAUSED.
//!
//! ```text
//! udpjpegpay key-file=/etc/udpjpeg/cam.key ! udpsink host=192.0.2.10 port=5000
//! ```
//!
//! `key` is write-only and never logged: [`KeySettings`]'s Debug shows
//! only whether it is set. `key-file` is the one to use, because a `key=`
//! on a launch line can appear in GStreamer's own logs and in `ps`.

use std::fmt;
use std::path::Path;

use gst::glib;
use gst::prelude::*;

use std::sync::Mutex;

use crate::seal::{Key, KeyFile};

#[derive(Default, Clone)]
pub struct KeySettings {
    key: Option<String>,
    file: Option<String>,
}

impl fmt::Debug for KeySettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySettings")
            .field("key", &self.key.as_ref().map(|_| "(set, hidden)"))
            .field("file", &self.file)
            .finish()
    }
}

/// The two param specs; `what` says what the key does in this element.
pub fn param_specs(what: &str) -> [glib::ParamSpec; 2] {
    [
        glib::ParamSpecString::builder("key")
            .nick("Key")
            .blurb(&format!(
                "{what}: 64 hex digits (32 bytes), write-only and never logged. Prefer \
                 key-file: a key= on a command line shows in ps and in GStreamer's own logs. \
                 Changes only in NULL or READY"
            ))
            .write_only()
            .mutable_ready()
            .build(),
        glib::ParamSpecString::builder("key-file")
            .nick("Key file")
            .blurb(&format!(
                "{what}: a file holding the 64 hex digits of the key (a newline may end it), \
                 readable by its owner only (chmod 600; a warning otherwise); make one with \
                 the sender example's --make-key. Empty (the default): no key, no seal. \
                 Changes only in NULL or READY"
            ))
            .mutable_ready()
            .build(),
    ]
}

impl KeySettings {
    /// Sets `key` or `key-file` from a property value; empty means unset.
    pub fn set(&mut self, name: &str, value: &glib::Value) {
        let v: Option<String> = value.get().expect("type checked upstream");
        let v = v.filter(|s| !s.is_empty());
        match name {
            "key" => self.key = v,
            _ => self.file = v,
        }
    }

    pub fn file(&self) -> Option<&str> {
        self.file.as_deref()
    }

    pub fn is_set(&self) -> bool {
        self.key.is_some() || self.file.is_some()
    }

    /// The key, if one is set, or what is wrong with the settings, naming
    /// the property.
    pub fn resolve(&self) -> Result<Option<KeyFile>, String> {
        match (&self.key, &self.file) {
            (None, None) => Ok(None),
            (Some(_), Some(_)) => {
                Err("both key and key-file are set: set one of them (key-file is safer)".into())
            }
            (Some(hex), None) => Key::from_hex(hex)
                .map(|key| {
                    Some(KeyFile {
                        key,
                        readable_by_others: false,
                    })
                })
                .map_err(|e| format!("key property: {e}")),
            (None, Some(path)) => Key::from_file(Path::new(path))
                .map(Some)
                .map_err(|e| format!("key-file property: {e}")),
        }
    }
}

/// Whether the key may change now: only in NULL or READY.
pub fn may_change(element: &gst::Element) -> bool {
    let (_, current, pending) = element.state(gst::ClockTime::ZERO);
    current <= gst::State::Ready && pending <= gst::State::Ready
}

/// Sets `key` or `key-file` of `element` in `keys`, in NULL or READY
/// only (otherwise a warning under `cat`, and nothing changes).
pub fn set(
    keys: &Mutex<KeySettings>,
    element: &gst::Element,
    cat: gst::DebugCategory,
    name: &str,
    value: &glib::Value,
) {
    if !may_change(element) {
        gst::warning!(
            cat,
            obj = element,
            "{name} changes only in NULL or READY: ignored"
        );
        return;
    }
    let mut keys = keys.lock().unwrap();
    keys.set(name, value);
    gst::debug!(cat, obj = element, "Keys now {keys:?}");
}

/// The key `element` starts with at READY->PAUSED, if any, or what is
/// wrong, naming the property: countdown datagrams cannot be sealed. A
/// key file other users can read is a warning on the bus.
pub fn key_at_start(
    keys: &KeySettings,
    countdown: bool,
    element: &gst::Element,
) -> Result<Option<Key>, String> {
    if keys.is_set() && countdown {
        return Err(
            "key-file (or key) needs wire-format=sce: countdown datagrams cannot be \
             sealed; set wire-format=sce, or no key"
                .into(),
        );
    }
    let Some(file) = keys.resolve()? else {
        return Ok(None);
    };
    if file.readable_by_others {
        let path = keys.file().unwrap_or_default();
        gst::element_warning!(
            element,
            gst::ResourceError::Settings,
            ("The key file {path} can be read by other users: chmod 600 {path}")
        );
    }
    Ok(Some(file.key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(key: Option<&str>, file: Option<&str>) -> KeySettings {
        KeySettings {
            key: key.map(str::to_owned),
            file: file.map(str::to_owned),
        }
    }

    #[test]
    fn errors_name_the_property_and_debug_hides_the_key() {
        let hex = "ab".repeat(32);
        let both = settings(Some(&hex), Some("/x")).resolve().unwrap_err();
        assert!(both.contains("key-file"), "{both}");
        let short = settings(Some("abc"), None).resolve().unwrap_err();
        assert!(short.starts_with("key property:"), "{short}");
        let missing = settings(None, Some("/nonexistent/k"))
            .resolve()
            .unwrap_err();
        assert!(missing.starts_with("key-file property:"), "{missing}");
        assert!(settings(Some(&hex), None).resolve().unwrap().is_some());
        assert!(settings(None, None).resolve().unwrap().is_none());
        let shown = format!("{:?}", settings(Some(&hex), None));
        assert!(!shown.contains("abab"), "{shown}");
    }
}
