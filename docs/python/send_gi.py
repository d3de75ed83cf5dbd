# SPDX-License-Identifier: MPL-2.0
"""Sends numpy frames as udpjpeg with PyGObject and appsrc."""
import argparse
import sys

import gi
import numpy as np

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--host", default="127.0.0.1")
p.add_argument("--port", type=int, default=5000)
p.add_argument("--frames", type=int, default=90)
a = p.parse_args()

width, height, fps = 320, 240, 30
Gst.init(None)
try:
    pipeline = Gst.parse_launch(
        f"appsrc name=src format=time caps=video/x-raw,format=BGR,width={width},"
        f"height={height},framerate={fps}/1 ! videoconvert ! jpegenc quality=85 ! "
        f"udpjpegpay ! udpsink host={a.host} port={a.port}")
except GLib.Error as e:
    sys.exit(f"{e.message}: set GST_PLUGIN_PATH to the folder holding libgstudpjpeg.so")
src = pipeline.get_by_name("src")
pipeline.set_state(Gst.State.PLAYING)

for i in range(a.frames):
    frame = np.zeros((height, width, 3), np.uint8)  # BGR; width * 3 a multiple of 4
    x = i * 4 % width
    frame[:, x:x + 16] = (0, 200, 255)
    buffer = Gst.Buffer.new_wrapped(frame.tobytes())
    buffer.pts = i * Gst.SECOND // fps  # udpsink plays them at this pace
    buffer.duration = Gst.SECOND // fps
    src.emit("push-buffer", buffer)
src.emit("end-of-stream")

# Wait until every frame went out (EOS) or an error, then stop.
msg = pipeline.get_bus().timed_pop_filtered(
    10 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
pipeline.set_state(Gst.State.NULL)
if msg is None or msg.type == Gst.MessageType.ERROR:
    sys.exit(f"not sent: {msg.parse_error()[0].message if msg else 'no EOS within 10 s'}")
print(f"sent {a.frames} frames")
