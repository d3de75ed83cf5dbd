# SPDX-License-Identifier: MPL-2.0
"""Sends numpy frames as udpjpeg with OpenCV's VideoWriter."""
import argparse
import sys

import cv2
import numpy as np

p = argparse.ArgumentParser()
p.add_argument("--host", default="127.0.0.1")
p.add_argument("--port", type=int, default=5000)
p.add_argument("--frames", type=int, default=90)
a = p.parse_args()

width, height, fps = 320, 240, 30.0
pipeline = (f"appsrc ! videoconvert ! jpegenc quality=85 ! udpjpegpay ! "
            f"udpsink host={a.host} port={a.port}")
out = cv2.VideoWriter(pipeline, cv2.CAP_GSTREAMER, 0, fps, (width, height), True)
if not out.isOpened():
    sys.exit("VideoWriter not opened: run check_opencv.py, then "
             "gst-inspect-1.0 udpjpegpay (GST_PLUGIN_PATH)")

for i in range(a.frames):
    frame = np.zeros((height, width, 3), np.uint8)  # BGR
    x = i * 4 % width
    frame[:, x:x + 16] = (0, 200, 255)  # a bar moving right
    out.write(frame)
out.release()  # sends end-of-stream: the last frames go out
print(f"sent {a.frames} frames")
