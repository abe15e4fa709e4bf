#!/usr/bin/env python3
"""Serve a video file as an H.264 RTSP stream on 127.0.0.1 (GStreamer's gst-rtsp-server).

Runs under Debian's python3 with python3-gi and gir1.2-gst-rtsp-server-1.0 (not the project venv):
    /usr/bin/python3 tests/rtsp_server.py VIDEO --port 8554 --mount /cam
The stream plays in real time (it does not loop); it prints "ready" once it listens.
"""

import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("video")
    ap.add_argument("--port", type=int, default=8554)
    ap.add_argument("--mount", default="/cam")
    args = ap.parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f"( filesrc location={args.video} ! decodebin ! videoconvert ! "
        "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 bitrate=2000 ! "
        "rtph264pay name=pay0 pt=96 config-interval=1 )"
    )
    factory.set_shared(True)
    server.get_mount_points().add_factory(args.mount, factory)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr)
        return 1
    print("ready", flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
