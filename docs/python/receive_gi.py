# SPDX-License-Identifier: MPL-2.0
"""Receives udpjpeg frames into numpy arrays with PyGObject and appsink."""
import argparse
import sys

import gi
import numpy as np

gi.require_version("Gst", "1.0")
gi.require_version("GstApp", "1.0")
from gi.repository import GLib, Gst, GstApp  # noqa: E402,F401 (GstApp: try_pull_sample)

p = argparse.ArgumentParser()
p.add_argument("--address", default="0.0.0.0")
p.add_argument("--port", type=int, default=5000)
p.add_argument("--frames", type=int, default=0, help="stop after this many (0: never)")
a = p.parse_args()

Gst.init(None)
try:
    # udpsrc timeout: an element message GstUDPSrcTimeout after 1 s without
    # a datagram (the property is in nanoseconds).
    pipeline = Gst.parse_launch(
        f"udpsrc address={a.address} port={a.port} timeout=1000000000 ! "
        "udpjpegdepay ! jpegdec ! videoconvert ! video/x-raw,format=BGR ! "
        "appsink name=sink drop=true max-buffers=2")
except GLib.Error as e:  # "no element udpjpegdepay" when the plugin is not found
    sys.exit(f"{e.message}: set GST_PLUGIN_PATH to the folder holding libgstudpjpeg.so")
sink = pipeline.get_by_name("sink")
bus = pipeline.get_bus()


def to_numpy(sample):
    """The BGR frame of `sample` as a (height, width, 3) uint8 array."""
    caps = sample.get_caps().get_structure(0)
    width, height = caps.get_value("width"), caps.get_value("height")
    buffer = sample.get_buffer()
    ok, info = buffer.map(Gst.MapFlags.READ)
    try:
        stride = info.size // height  # rows are padded to 4 bytes
        rows = np.frombuffer(info.data, np.uint8).reshape(height, stride)
        return rows[:, :width * 3].reshape(height, width, 3).copy()
    finally:
        buffer.unmap(info)


def failure():
    """Why no frame comes, from the bus, or None."""
    msg = bus.pop_filtered(Gst.MessageType.ELEMENT | Gst.MessageType.ERROR)
    if msg is None:
        return None
    if msg.type == Gst.MessageType.ERROR:
        return msg.parse_error()[0].message
    if msg.get_structure().has_name("GstUDPSrcTimeout"):
        return f"no datagram for 1 s on port {a.port}: is the sender running?"
    return None


pipeline.set_state(Gst.State.PLAYING)
count = 0
try:
    while a.frames == 0 or count < a.frames:
        sample = sink.try_pull_sample(100 * Gst.MSECOND)
        if sample is None:
            why = failure()
            if why:
                sys.exit(why)
            continue
        frame = to_numpy(sample)
        count += 1
        print(f"frame {count}: {frame.shape} {frame.dtype}", flush=True)
finally:
    pipeline.set_state(Gst.State.NULL)
print(f"received {count} frames")
