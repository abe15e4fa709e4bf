import logging

import cv2
import numpy as np
import pytest

from mcpt.sources.camera import CameraSource
from mcpt.sources.lockstep import LockstepReader


def write_video(path, frames: int, fps: float, size=(64, 48), fourcc="mp4v"):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    for i in range(frames):
        img = np.full((size[1], size[0], 3), i % 256, np.uint8)
        cv2.putText(img, str(i), (2, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
        w.write(img)
    w.release()
    return path


def read_all(sources, fps=None):
    reader = LockstepReader(sources, fps=fps)
    reader.start()
    try:
        return reader, list(reader)
    finally:
        reader.stop()


def test_cameras_with_different_frame_rates_and_sizes_align_by_time(tmp_path):
    a = write_video(tmp_path / "a.mp4", 30, 10.0, (64, 48))
    b = write_video(tmp_path / "b.mp4", 60, 20.0, (96, 64))
    reader, steps = read_all([CameraSource(1, a), CameraSource(2, b)])
    assert reader.fps == pytest.approx(10.0)
    assert len(steps) == 30
    for s in steps:
        assert set(s.frames) == {1, 2}
        # camera 2 runs twice as fast: its frame at step k is frame 2k (same stream time)
        assert s.frames[2].index == 2 * s.frames[1].index
        assert s.frames[2].image.shape == (64, 96, 3)


def test_a_file_that_ends_early_ends_only_its_camera(tmp_path):
    a = write_video(tmp_path / "a.mp4", 40, 10.0)
    b = write_video(tmp_path / "b.mp4", 15, 10.0)
    _, steps = read_all([CameraSource(1, a), CameraSource(2, b)])
    assert len(steps) == 40
    assert all(set(s.frames) == {1, 2} for s in steps[:15])
    assert all(set(s.frames) == {1} for s in steps[15:])


def test_corrupt_and_missing_videos_fail_alone(tmp_path, caplog):
    good = write_video(tmp_path / "good.mp4", 10, 10.0)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x01 not a video" * 100)
    with caplog.at_level(logging.ERROR):
        _, steps = read_all([CameraSource(1, good), CameraSource(2, bad), CameraSource(3, tmp_path / "nope.mp4")])
    assert len(steps) == 10 and all(set(s.frames) == {1} for s in steps)
    msgs = " ".join(r.getMessage() for r in caplog.records)
    assert "camera 2" in msgs and "camera 3: video not found" in msgs


def test_truncated_video_ends_early_with_a_warning(tmp_path, caplog):
    full = write_video(tmp_path / "full.avi", 60, 10.0, (160, 120), fourcc="MJPG")
    data = full.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    src = CameraSource(1, cut)
    with caplog.at_level(logging.WARNING):
        _, steps = read_all([src])
    assert 10 < len(steps) < 60
    assert src.error and "truncated" in src.error
