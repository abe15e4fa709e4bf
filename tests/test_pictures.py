"""The pictures of a run: bird's-eye view, tiled video, their colours, labels and video encoder."""

import logging
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from mcpt.outputs import encoder
from mcpt.outputs.bev import BirdsEyeView
from mcpt.outputs.colors import UNCONFIRMED, id_color, to_lab
from mcpt.outputs.floorplot import PLOT_BG
from mcpt.outputs.footprint import camera_footprint
from mcpt.outputs.labels import around_point, inside, overlaps, place
from mcpt.outputs.pictures import Pictures
from mcpt.outputs.tiled import TiledVideoWriter
from mcpt.outputs.trails import split_at_gaps
from mcpt.scene.calibration import calibration_from_matrices

SIZE = (640, 360)


def _calib(camera_id: int = 1, dx: float = 0.0):
    """A camera looking straight down: 50 px per metre, image centre over floor (dx, 0)."""
    h = np.array([[50.0, 0.0, SIZE[0] / 2 - 50.0 * dx], [0.0, -50.0, SIZE[1] / 2], [0.0, 0.0, 1.0]])
    return calibration_from_matrices(camera_id, h, image_size=SIZE)


def _near_colour(pixels: np.ndarray, colour, tol: float = 40.0) -> np.ndarray:
    return np.linalg.norm(pixels.astype(np.float64) - np.array(colour, np.float64), axis=-1) < tol


def _line_pixels(img: np.ndarray, a: np.ndarray, b: np.ndarray, t0: float, t1: float) -> np.ndarray:
    ts = np.linspace(t0, t1, 200)
    pts = np.round(a[None] + ts[:, None] * (b - a)[None]).astype(int)
    return img[pts[:, 1], pts[:, 0]]


def test_split_at_gaps_cuts_long_absences_and_jumps():
    t = np.array([0.0, 0.1, 0.2, 3.0, 3.1, 3.2, 3.3])
    x = np.array([0.0, 0.1, 0.2, 0.3, 0.4, 9.0, 9.1])
    pieces = split_at_gaps(np.column_stack([t, x, np.zeros_like(x)]), max_gap_s=1.0, max_jump_m=2.0)
    assert [len(p) for p in pieces] == [3, 2, 2]


def test_trail_is_not_drawn_across_a_gap():
    bev = BirdsEyeView(None, {1: _calib()}, {1: SIZE})
    gid = 4
    for k in range(11):  # 1 s walking from x=-3 to x=-2
        bev.update(np.array([gid]), np.array([[-3.0 + 0.1 * k, 0.0]]), 0.1 * k)
    for k in range(11):  # unseen for 5 s, then walking from x=2 to x=3
        bev.update(np.array([gid]), np.array([[2.0 + 0.1 * k, 0.0]]), 6.0 + 0.1 * k)
    plot = bev.picture_plot()
    img = plot.view(bev.picture())
    a, b, c = (plot.px(np.array(p)) for p in ([-3.0, 0.0], [-2.0, 0.0], [2.0, 0.0]))
    colour = id_color(gid)
    assert _near_colour(_line_pixels(img, a, b, 0.2, 0.8), colour).mean() > 0.9  # the walk is drawn
    assert not _near_colour(_line_pixels(img, b, c, 0.2, 0.8), colour).any()  # the gap is not


def test_live_trail_fades_with_age_and_ends_after_trail_s():
    bev = BirdsEyeView(None, {1: _calib()}, {1: SIZE}, trail_s=5.0)
    gid = 2
    for k in range(81):  # 8 s walking along y=0.3 (off the grid lines) from x=-4 to x=4
        bev.update(np.array([gid]), np.array([[-4.0 + 0.1 * k, 0.3]]), 0.1 * k)
    img = bev.render(SIZE)
    plot = bev._plots[SIZE]
    view = plot.view(img)
    colour = np.array(id_color(gid), np.float64)

    def strength(x: float) -> float:
        """How close the trail is to the id's full colour at floor point (x, 0.3): 1 = full, 0 = background."""
        u, v = np.round(plot.px(np.array([x, 0.3]))).astype(int)
        px = view[v - 1 : v + 2, u].astype(np.float64)
        bg = np.array(PLOT_BG, np.float64)
        return float(np.max((px - bg) @ (colour - bg) / np.dot(colour - bg, colour - bg)))

    recent, older, gone = strength(3.0), strength(0.0), strength(-2.5)
    assert recent > older + 0.2 and older > 0.1
    assert gone < 0.05  # seen 6.5 s ago: outside the 5 s trail


def test_first_20_id_colours_are_far_apart_in_lab():
    lab = to_lab(np.array([id_color(g) for g in range(1, 21)], np.float64))
    d = np.linalg.norm(lab[:, None] - lab[None], axis=2) + np.eye(20) * 1e9
    assert d.min() > 25.0
    # and none looks like the grey of unconfirmed boxes
    grey = to_lab(np.array([UNCONFIRMED], np.float64))
    assert np.linalg.norm(lab - grey, axis=1).min() > 25.0


def test_placed_labels_do_not_overlap_each_other_nor_the_dots():
    rng = np.random.default_rng(0)
    points = rng.uniform(180, 220, size=(10, 2))  # a crowd: ten dots within 40 px
    dots = [(int(x) - 5, int(y) - 5, int(x) + 6, int(y) + 6) for x, y in points]
    bounds = (0, 0, 400, 400)
    boxes = place([around_point(x, y, (22, 16), 7) for x, y in points], bounds, dots)
    assert all(inside(b, bounds) for b in boxes)
    for i, a in enumerate(boxes):
        assert not any(overlaps(a, d) for d in dots)
        assert not any(overlaps(a, b) for b in boxes[i + 1 :])


def test_footprint_is_the_view_cut_at_reach():
    # the image shows 12.8 x 7.2 m of floor; its bottom centre, the anchor, is floor point (0, -3.6)
    whole = camera_footprint(1, _calib(), SIZE, reach_m=10.0)
    np.testing.assert_allclose(whole.anchor, [0.0, -3.6], atol=0.05)
    np.testing.assert_allclose(np.ptp(whole.polygon, axis=0), [12.8, 7.2], atol=0.05)
    cut = camera_footprint(1, _calib(), SIZE, reach_m=4.0)
    assert np.linalg.norm(cut.polygon - cut.anchor, axis=1).max() <= 4.0 + 1e-6
    np.testing.assert_allclose(np.ptp(cut.polygon, axis=0), [8.0, 4.0], atol=0.1)


def _step(k: int, cams, gids, boxes, positions):
    frames = {c: SimpleNamespace(index=k, timestamp=k / 10, image=np.full((360, 640, 3), 70, np.uint8)) for c in cams}
    batch = SimpleNamespace(
        camera_id=np.array([c for c, _ in boxes], np.int64), bbox=np.array([b for _, b in boxes]), keypoints=None
    )
    result = SimpleNamespace(global_id=np.array(gids, np.int64), position=np.array(positions, np.float64))
    return SimpleNamespace(index=k, timestamp=k / 10, frames=frames), SimpleNamespace(batch=batch, result=result)


def _free_cell(path, frame: int = 4) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, frame)
    ok, img = cap.read()
    assert ok
    return img[360:720, 640:1280]


@pytest.mark.parametrize("with_calibration", [True, False])
def test_free_tile_shows_the_live_birds_eye_view(tmp_path, with_calibration):
    cams = [1, 2, 3]
    calibs = {c: _calib(c, dx=2.0 * c) for c in cams} if with_calibration else {}
    pics = Pictures(tmp_path / "tiled.mp4", None, cams, calibs, {c: SIZE for c in cams}, 10.0)
    for k in range(6):
        step, out = _step(k, cams, [7, -1], [(1, [100, 50, 40, 120]), (2, [300, 80, 40, 120])], [[2 + k, 0], [0, 0]])
        pics.draw(step, out)
    pics.close()
    cell = _free_cell(tmp_path / "tiled.mp4")
    if with_calibration:
        assert cell.mean() > 180 and cell.std() > 10  # the light floor plan, with something drawn on it
    else:
        assert cell.max() < 40  # nothing to show without calibrations: the cell stays dark


def test_unconfirmed_boxes_are_drawn_grey_from_the_first_frame(tmp_path):
    tiled = TiledVideoWriter(tmp_path / "t.mp4", [5], 10.0)
    img = np.full((360, 640, 3), (120, 40, 10), np.uint8)
    canvas = tiled.compose({5: img}, np.array([5]), np.array([[200.0, 100.0, 80.0, 160.0]]), np.array([-1]), {5: 0})
    tile = canvas[:360, :640]
    edge = tile[150:250, 199:202]  # the box's left side
    assert _near_colour(edge, UNCONFIRMED, 20).any()
    assert not _near_colour(img, UNCONFIRMED, 60).any()


def test_label_of_a_box_touching_the_top_goes_inside_it(tmp_path):
    tiled = TiledVideoWriter(tmp_path / "t.mp4", [5], 10.0)
    img = np.full((360, 640, 3), 200, np.uint8)
    canvas = tiled.compose({5: img}, np.array([5]), np.array([[300.0, 0.0, 80.0, 160.0]]), np.array([3]), {5: 0})
    # the tag's filled background sits just inside the box's top-left corner
    assert _near_colour(canvas[2:4, 303:306], id_color(3), 1).all()


def test_encoder_writes_a_video_that_reads_back(tmp_path):
    w = encoder.open_video_writer(tmp_path / "v.mp4", 10.0, (96, 64))
    for k in range(7):
        w.write(np.full((64, 96, 3), 30 * k, np.uint8))
    w.release()
    cap = cv2.VideoCapture(str(tmp_path / "v.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 7
    assert encoder.choose_fourcc(".mp4") in (*encoder.H264_FOURCCS, encoder.FALLBACK_FOURCC)


def test_encoder_choice_matches_what_this_machine_encodes(monkeypatch, capfd):
    monkeypatch.setattr(encoder, "_chosen", {})
    chosen = encoder.choose_fourcc(".mp4")
    assert chosen == (encoder.first_h264(".mp4") or encoder.FALLBACK_FOURCC)
    capfd.readouterr()
    monkeypatch.setattr(encoder, "_chosen", {})
    encoder.choose_fourcc(".mp4")
    assert capfd.readouterr().err == ""  # FFmpeg's complaints about missing encoders stay in the probe


def test_encoder_falls_back_to_mp4v_with_one_warning(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(encoder, "_chosen", {})
    monkeypatch.setattr(encoder, "_probe", lambda suffix: (None, "no H.264 here"))
    monkeypatch.setattr(encoder, "_ffmpeg", [None])  # and no FFmpeg with libx264 either
    with caplog.at_level(logging.WARNING, logger=encoder.__name__):
        assert encoder.choose_fourcc(".mp4") == "mp4v"
        encoder.open_video_writer(tmp_path / "a.mp4", 10.0, (64, 48)).release()
        encoder.open_video_writer(tmp_path / "b.mp4", 10.0, (64, 48)).release()
    assert len([r for r in caplog.records if "H.264" in r.getMessage()]) == 1
    assert (tmp_path / "b.mp4").stat().st_size > 0


def test_png_birds_eye_view_is_written(tmp_path):
    pics = Pictures(None, tmp_path / "bev.png", [1], {1: _calib()}, {1: SIZE}, 10.0)
    for k in range(5):
        pics.draw(*_step(k, [1], [1, 2], [(1, [0, 0, 9, 9]), (1, [0, 0, 9, 9])], [[0.1 * k, 0], [1, 1]]))
    pics.close()
    img = cv2.imread(str(tmp_path / "bev.png"))
    assert img is not None and img.shape[1] >= 640


def test_h264_through_ffmpeg_where_opencv_has_none(tmp_path, monkeypatch):
    if encoder.ffmpeg_with_x264() is None:
        pytest.skip("no FFmpeg with libx264 (pip install imageio-ffmpeg)")
    monkeypatch.setattr(encoder, "_chosen", {".mp4": encoder.FALLBACK_FOURCC})
    w = encoder.open_video_writer(tmp_path / "h.mp4", 10.0, (97, 63))  # odd sides: padded for yuv420p
    for k in range(9):
        w.write(np.full((63, 97, 3), 25 * k, np.uint8))
    w.release()
    cap = cv2.VideoCapture(str(tmp_path / "h.mp4"))
    fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode().lower()
    assert fourcc in ("avc1", "h264") and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 9


def test_confident_keypoints_are_drawn_as_a_skeleton_in_the_identity_colour(tmp_path):
    tiled = TiledVideoWriter(tmp_path / "t.mp4", [5], 10.0)
    img = np.full((360, 640, 3), 30, np.uint8)
    kp = np.zeros((2, 17, 3), np.float32)
    kp[0, :, :2] = (100.0, 100.0)
    kp[0, 11, :] = (420.0, 150.0, 0.9)  # left hip
    kp[0, 13, :] = (420.0, 250.0, 0.9)  # left knee: the thigh, a vertical line at x = 420
    kp[0, 12, :] = (480.0, 150.0, 0.9)
    kp[0, 14, :] = (480.0, 250.0, 0.2)  # an unsure knee: that thigh is not drawn
    kp[1] = np.nan  # no pose estimated for the second box
    boxes = np.array([[380.0, 50.0, 140.0, 260.0], [50.0, 50.0, 60.0, 100.0]])
    canvas = tiled.compose({5: img}, np.array([5, 5]), boxes, np.array([4, 6]), {5: 0}, keypoints=kp)
    colour = id_color(4)
    assert _near_colour(canvas[180:220, 419:422], colour, 30).any(axis=1).all()  # antialiased: the centre column
    assert not _near_colour(canvas[180:220, 478:483], colour, 30).any()
    assert not _near_colour(canvas[60:140, 60:100], id_color(6), 10).any()  # inside box 2: nothing drawn
