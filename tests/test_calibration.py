import logging

import numpy as np
import pytest

from mcpt.errors import InputError
from mcpt.scene.calibration import load_calibration

from conftest import good_calibration, write_json


def test_good_calibration_round_trips_floor_points(tmp_path):
    path = write_json(tmp_path / "calibration.json", good_calibration())
    calib = load_calibration(path, 1, image_size=(1920, 1080))
    world = np.array([[0.0, 0.0], [1.5, 2.0], [-2.0, 3.0]])
    pix = calib.world_to_image(world)
    np.testing.assert_allclose(calib.image_to_world(pix), world, atol=1e-9)
    # the origin is where the camera looks: the image centre
    np.testing.assert_allclose(pix[0], [960, 540], atol=1e-6)


def test_pixels_above_the_horizon_are_not_on_the_floor(tmp_path):
    calib = load_calibration(write_json(tmp_path / "c.json", good_calibration()), 1)
    # the camera looks down 45 degrees: the horizon is 1000 px above the centre
    world = calib.image_to_world(np.array([[960.0, -600.0], [960.0, 1000.0]]))
    assert np.isnan(world[0]).all()
    assert np.isfinite(world[1]).all()


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda d: d.pop("homography matrix"), "missing key"),
        (lambda d: d.__setitem__("homography matrix", [[1, 0, 0], [0, 1, 0]]), "3x3 matrix, got shape 2x3"),
        (lambda d: d["homography matrix"][1].__setitem__(1, float("nan")), "NaN"),
        (lambda d: d.__setitem__("homography matrix", [[1, 2, 3], [2, 4, 6], [0, 0, 1]]), "singular"),
        (lambda d: d.__setitem__("camera projection matrix", [[1, 0, 0], [0, 1, 0], [0, 0, 1]]), "3x4 matrix"),
        (lambda d: d.__setitem__("homography matrix", "identity"), "matrix of numbers"),
    ],
)
def test_malformed_calibration_names_file_and_field(tmp_path, mutate, needle):
    data = good_calibration()
    mutate(data)
    path = write_json(tmp_path / "calibration.json", data)
    with pytest.raises(InputError) as e:
        load_calibration(path, 3)
    msg = str(e.value)
    assert str(path) in msg
    assert needle in msg
    assert "\n" not in msg


def test_invalid_json_and_missing_file(tmp_path):
    bad = tmp_path / "calibration.json"
    bad.write_text("{ not json")
    with pytest.raises(InputError, match="not valid JSON"):
        load_calibration(bad, 1)
    with pytest.raises(InputError, match="not found"):
        load_calibration(tmp_path / "nope.json", 1)


def test_projection_homography_disagreement_warns_with_camera_id(tmp_path, caplog):
    data = good_calibration()
    h = np.array(data["homography matrix"])
    h[0, 2] += 50 * h[2, 2]  # shift the homography's image x by 50 px
    data["homography matrix"] = h.tolist()
    with caplog.at_level(logging.WARNING):
        load_calibration(write_json(tmp_path / "c.json", data), 42)
    assert any("camera 42" in r.getMessage() and "disagree" in r.getMessage() for r in caplog.records)


def test_consistent_calibration_does_not_warn(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        load_calibration(write_json(tmp_path / "c.json", good_calibration()), 1)
    assert not caplog.records


def test_degenerate_plane_is_rejected_with_image_size(tmp_path):
    # image->world whose horizon (w = 0) crosses the image at v = 1000: only a sliver sees the floor
    h_inv = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, -0.001, 1.0]])
    path = write_json(tmp_path / "c.json", {"homography matrix": np.linalg.inv(h_inv).tolist()})
    load_calibration(path, 1)  # without an image size no plane check is possible
    with pytest.raises(InputError, match=r"only \d% of a 1920x1080 image maps onto the ground plane"):
        load_calibration(path, 1, image_size=(1920, 1080))


def test_image_mapping_to_a_line_is_rejected(tmp_path):
    # full rank, but all pixels map onto (almost) one floor point: units off by 1e9
    path = write_json(tmp_path / "c.json", {"homography matrix": np.diag([1e9, 1e9, 1.0]).tolist()})
    with pytest.raises(InputError, match="line or a point"):
        load_calibration(path, 1, image_size=(640, 480))
