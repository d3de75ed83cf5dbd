# SPDX-License-Identifier: MPL-2.0
"""Says whether this Python's OpenCV can use GStreamer pipelines."""
import sys

import cv2

# pip's opencv-python is built without GStreamer: VideoCapture and
# VideoWriter then just report "not opened" for every pipeline.
line = next((l for l in cv2.getBuildInformation().splitlines()
             if l.strip().startswith("GStreamer:")), "GStreamer: (not listed)")
if "YES" not in line:
    sys.exit(f"this OpenCV ({cv2.__file__}) has no GStreamer: {line.strip()}\n"
             "use Debian's: sudo apt install python3-opencv, run with /usr/bin/python3")
print(f"OpenCV {cv2.__version__}: {line.strip()}")
