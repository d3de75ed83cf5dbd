# SPDX-License-Identifier: MPL-2.0
"""Receives udpjpeg frames into numpy arrays with OpenCV."""
import argparse
import subprocess
import sys

import cv2

p = argparse.ArgumentParser()
p.add_argument("--address", default="0.0.0.0")
p.add_argument("--port", type=int, default=5000)
p.add_argument("--frames", type=int, default=0, help="stop after this many (0: never)")
a = p.parse_args()

# A missing element makes VideoCapture wait forever: ask GStreamer first.
# (--exists alone also wants the plugin's version to be at least GStreamer's.)
exists = ["gst-inspect-1.0", "--exists", "--atleast-version=0.1.0", "udpjpegdepay"]
if subprocess.run(exists).returncode != 0:
    sys.exit("udpjpegdepay not found: set GST_PLUGIN_PATH to the folder "
             "holding libgstudpjpeg.so (or install the plugin)")

# watchdog fails the pipeline when no datagram came for 1 s, so VideoCapture
# returns "not opened" instead of blocking until a sender starts. (It does
# not end read() when a running sender stops: read() then waits on.)
pipeline = (f"udpsrc address={a.address} port={a.port} ! watchdog timeout=1000 ! "
            "udpjpegdepay ! jpegdec ! videoconvert ! video/x-raw,format=BGR ! "
            "appsink drop=true max-buffers=2")
cap = cv2.VideoCapture(pipeline, cv2.CAP_GSTREAMER)
if not cap.isOpened():
    sys.exit(f"no frame within 1 s on port {a.port}: is the sender running?")

count = 0
while a.frames == 0 or count < a.frames:
    ok, frame = cap.read()  # frame: numpy array, shape (height, width, 3), BGR
    if not ok:
        break
    count += 1
    print(f"frame {count}: {frame.shape} {frame.dtype}", flush=True)
cap.release()
print(f"received {count} frames")
