import numpy as np
import pytest

from mcpt.errors import InputError
from mcpt.geometry import foot_points
from mcpt.scene.layout import discover_scene, discover_scenes


def test_empty_scene_folder_is_an_error(tmp_path):
    (tmp_path / "scene_001").mkdir()
    with pytest.raises(InputError, match="no camera_XXXX folders"):
        discover_scene(tmp_path / "scene_001")
    with pytest.raises(InputError, match="no scene_XXX folders"):
        discover_scenes(tmp_path / "scene_001")


def test_discover_split_and_scene(small_scene):
    split = small_scene.parent
    scenes = discover_scenes(split)
    assert [s.name for s in scenes] == ["scene_001"]
    assert scenes[0].camera_ids == [1, 2, 3, 4]
    assert scenes[0].ground_truth is not None
    assert discover_scenes(small_scene)[0].path == small_scene
    assert all(c.calibration_path.is_file() and c.perception_path.is_file() for c in scenes[0].cameras)


def test_foot_point_is_bottom_centre():
    np.testing.assert_allclose(foot_points(np.array([[10, 20, 30, 40]])), [[25, 60]])
