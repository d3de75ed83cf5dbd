# SPDX-License-Identifier: MPL-2.0
"""The webcam server: captures with OpenCV, sends with VideoWriter."""
import argparse
import sys

import cv2

p = argparse.ArgumentParser()
p.add_argument("--camera", default="0", help="camera number, or a GStreamer pipeline")
p.add_argument("--host", default="127.0.0.1")
p.add_argument("--port", type=int, default=5000)
a = p.parse_args()

if a.camera.isdigit():
    camera = cv2.VideoCapture(int(a.camera))
else:
    camera = cv2.VideoCapture(a.camera, cv2.CAP_GSTREAMER)
if not camera.isOpened():
    sys.exit(f"camera {a.camera} not opened")
width = int(camera.get(cv2.CAP_PROP_FRAME_WIDTH))
height = int(camera.get(cv2.CAP_PROP_FRAME_HEIGHT))
fps = camera.get(cv2.CAP_PROP_FPS) or 30.0

# Replaces imencode, the chunking into S/C/E datagrams and sendto.
out = cv2.VideoWriter(
    f"appsrc ! videoconvert ! jpegenc quality=80 ! udpjpegpay mtu=1400 ! "
    f"udpsink host={a.host} port={a.port}",
    cv2.CAP_GSTREAMER, 0, fps, (width, height), True)
if not out.isOpened():
    sys.exit("VideoWriter not opened: run check_opencv.py and gst-inspect-1.0 udpjpegpay")

count = 0
while True:
    ok, frame = camera.read()
    if not ok:
        break
    out.write(frame)
    count += 1
camera.release()
out.release()
print(f"sent {count} frames of {width}x{height}")
