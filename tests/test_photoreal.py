"""The sprite bank and the photoreal renderer, on synthetic footage and sprites (fast; no model needed)."""

import cv2
import numpy as np
import pytest

from mcpt.scene.results import read_rows
from mcpt.simulate.params import make_params
from mcpt.simulate.photoreal import PhotorealCamera, ground_texture
from mcpt.simulate.scene import SimulatedScene, write_scene
from mcpt.simulate.sprites import SpriteBank, Walker, build_sprite_bank, cut_out


def person_sprite(h: int = 80, colour=(40, 60, 160), lean: int = 0) -> np.ndarray:
    """An RGBA figure: head, body, two legs (``lean`` shifts the legs: a stride)."""
    w = h // 3
    img = np.zeros((h, w, 4), np.uint8)
    cv2.circle(img, (w // 2, h // 8), h // 9, (*colour, 255), -1)
    cv2.rectangle(img, (w // 5, h // 5), (4 * w // 5, 11 * h // 20), (*colour, 255), -1)
    cv2.rectangle(img, (w // 4 + lean, 11 * h // 20), (w // 2 - 1 + lean, h - 1), (30, 30, 30, 255), -1)
    cv2.rectangle(img, (w // 2 + 1 - lean, 11 * h // 20), (3 * w // 4 - lean, h - 1), (30, 30, 30, 255), -1)
    return img


def synthetic_bank(n: int = 3) -> SpriteBank:
    colours = [(40, 60, 160), (160, 60, 40), (60, 160, 60), (120, 120, 30)]
    return SpriteBank(
        [Walker([person_sprite(80, colours[k % 4], lean) for lean in (-3, 0, 3, 0)], 80.0, 1, 6.0) for k in range(n)],
        "synthetic",
    )


class ScriptedDetector:
    """Stands in for the person detector: per call (frame), the boxes of the people drawn in it."""

    def __init__(self, boxes_per_frame: list[list[tuple]]) -> None:
        self.boxes = boxes_per_frame
        self.calls = 0

    def __call__(self, frames):
        boxes = self.boxes[self.calls]
        self.calls += 1
        return [np.array([[*b, 0.9] for b in boxes], np.float64).reshape(-1, 5)]


def test_cut_out_keeps_one_body_and_rejects_merged_and_border_cut_outs():
    bg = np.full((240, 320, 3), 128, np.uint8)
    img = bg.copy()
    sprite = person_sprite(90)
    img[50:140, 40:70] = np.where(sprite[..., 3:] > 0, sprite[..., :3], 128)
    fg = (np.abs(img.astype(int) - bg).max(axis=2) > 28).astype(np.uint8)
    box = np.array([40.0, 50, 30, 90])
    cut, why = cut_out(img, fg, box, np.zeros((0, 4)))
    assert why == "" and cut.shape[2] == 4
    assert abs(cut.shape[0] - 90) <= 1 and (cut[..., 3] > 127).sum() == pytest.approx(
        (sprite[..., 3] > 0).sum(), rel=0.1
    )
    # a second person overlapping the box: a merged cut-out mixes people
    _, why = cut_out(img, fg, box, np.array([[60.0, 60, 30, 90]]))
    assert why == "touches another person"
    # cut by the image border
    _, why = cut_out(img, fg, np.array([0.0, 50, 30, 90]), np.zeros((0, 4)))
    assert why == "at the image border"


def test_sprite_bank_from_footage_separates_walkers_and_drops_pairs(tmp_path):
    """Two people walk apart (one right, one left); two more walk side by side: their cut-outs are left out."""
    path = tmp_path / "walk.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (400, 300))
    a, b = person_sprite(90, (40, 60, 200)), person_sprite(90, (200, 60, 40))
    pair = person_sprite(90, (40, 200, 60))
    boxes = []
    for t in range(30):
        img = np.full((300, 400, 3), 128, np.uint8)
        img[20:110, 20 + 4 * t : 50 + 4 * t] = np.where(a[..., 3:] > 0, a[..., :3], 128)
        img[150:240, 350 - 4 * t : 380 - 4 * t] = np.where(b[..., 3:] > 0, b[..., :3], 128)
        here = [(23 + 4 * t, 20, 24, 90), (353 - 4 * t, 150, 24, 90)]
        for dx in (0, 16):  # two figures walking side by side: their boxes overlap
            x = 100 + 3 * t + dx
            img[200:290, x : x + 30] = np.where(pair[..., 3:] > 0, pair[..., :3], img[200:290, x : x + 30])
            here.append((x + 3, 200, 24, 90))
        writer.write(img)
        boxes.append(here)
    writer.release()
    bank = build_sprite_bank(path, ScriptedDetector(boxes))
    assert sorted(w.direction for w in bank.walkers) == [-1, 1]
    assert all(len(w.sprites) >= 20 and abs(w.height_px - 90) <= 3 for w in bank.walkers)
    assert all(abs(w.stride_px - 4) < 0.5 for w in bank.walkers)
    assert bank.rejected.get("touches another person", 0) >= 50  # both of the pair, every frame
    bank.save(tmp_path / "bank.npz")
    again = SpriteBank.load(tmp_path / "bank.npz")
    assert len(again) == 2 and all(
        np.array_equal(x, y)
        for w1, w2 in zip(bank.walkers, again.walkers, strict=True)
        for x, y in zip(w1.sprites, w2.sprites, strict=True)
    )


def test_rendered_ground_truth_box_is_the_sprites_opaque_pixels():
    params = make_params("easy", cameras=1, frames=2, seed=4, image_size=(640, 360))
    sim = SimulatedScene.build(params)
    rng = np.random.default_rng(0)
    texture, tex_to_floor = ground_texture(sim.population.floor, rng)
    cam = PhotorealCamera(sim.cameras[0], texture, tex_to_floor, [], rng)
    floor = sim.population.floor
    # a person in the middle of the floor, seen by the camera
    centre = np.array([floor.width / 2, floor.depth / 2])
    layer = cam.person_layer(0, centre, 1.75, person_sprite(80), mirror=False)
    assert layer is not None
    img, boxes = cam.render([layer], frame=0)
    empty, _ = cam.render([], frame=0)  # the same frame without the person (same noise)
    diff = np.abs(img.astype(int) - empty.astype(int)).max(axis=2) > 12
    ys, xs = np.nonzero(diff)
    seen = np.array([xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1], float)
    from mcpt.geometry import iou_xywh

    assert iou_xywh(boxes[0][None], seen[None])[0, 0] > 0.9
    # its height is the projected height of a 1.75 m person standing there
    foot, head = cam.cam.project(np.array([[*centre, 0.0], [*centre, 1.75]]))
    assert boxes[0][3] == pytest.approx(np.linalg.norm(foot - head), rel=0.05)


def test_occluders_hide_what_is_behind_them():
    params = make_params("easy", cameras=1, frames=2, seed=4, image_size=(640, 360))
    sim = SimulatedScene.build(params)
    floor = sim.population.floor
    cam0 = sim.cameras[0]
    rng = np.random.default_rng(1)
    texture, tex_to_floor = ground_texture(floor, rng)
    person_xy = np.array([floor.width / 2, floor.depth / 2])
    # a 1.1 m desk between the camera and the person: the legs are hidden, the box loses its bottom
    towards = cam0.centre[:2] - person_xy
    desk_xy = person_xy + 1.2 * towards / np.linalg.norm(towards)
    from mcpt.simulate.photoreal import Occluder

    desk = Occluder((float(desk_xy[0]), float(desk_xy[1])), (1.5, 1.5, 1.1), (60, 60, 60))
    free = PhotorealCamera(cam0, texture, tex_to_floor, [], np.random.default_rng(2))
    hidden = PhotorealCamera(cam0, texture, tex_to_floor, [desk], np.random.default_rng(2))
    sprite = person_sprite(80)
    _, b_free = free.render([free.person_layer(0, person_xy, 1.75, sprite, False)], 0)
    _, b_hidden = hidden.render([hidden.person_layer(0, person_xy, 1.75, sprite, False)], 0)
    assert 0 in b_free
    if 0 in b_hidden:  # enough shows to annotate: the visible box is the upper body
        assert b_hidden[0][1] == pytest.approx(b_free[0][1], abs=2)
        assert b_hidden[0][3] < 0.9 * b_free[0][3]


def test_photoreal_scene_is_deterministic_and_its_rows_are_visible_people(tmp_path):
    params = make_params("easy", cameras=2, frames=20, seed=3, people_population=4, image_size=(480, 270))
    bank = synthetic_bank()
    a = write_scene(tmp_path / "a", params, render=True, appearance="real", bank=bank, progress=False)
    b = write_scene(tmp_path / "b", params, render=True, appearance="real", bank=bank, progress=False)
    assert (a / "ground_truth.txt").read_bytes() == (b / "ground_truth.txt").read_bytes()
    for cam in ("camera_0001", "camera_0002"):
        ca, cb = cv2.VideoCapture(str(a / cam / "video.mp4")), cv2.VideoCapture(str(b / cam / "video.mp4"))
        for _ in range(5):
            fa, fb = ca.read()[1], cb.read()[1]
            assert np.array_equal(fa, fb)
    gt = read_rows(a / "ground_truth.txt")
    assert len(gt) > 20
    assert np.all(gt.box[:, 2] > 0) and np.all(gt.box[:, 0] >= 0) and np.all(gt.box[:, 0] + gt.box[:, 2] <= 480)
    assert set(np.unique(gt.camera)) <= {1, 2}
