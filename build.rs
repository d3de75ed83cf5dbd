// SPDX-License-Identifier: MPL-2.0
//! Build script: `gst_plugin_version_helper::info()` gives
//! `gst::plugin_define!` the plugin's version, commit id and release date.

fn main() {
    gst_plugin_version_helper::info()
}
