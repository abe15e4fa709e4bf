import numpy as np
import pytest

from mcpt.association import refine as refine_mod
from mcpt.association.core import Associator
from mcpt.association.fusion import fuse_positions
from mcpt.association.grouping import group_observations
from mcpt.association.store import ClusterState
from mcpt.config import AssociationConfig, SCTConfig, load_config
from mcpt.tracking.sct import SingleCameraTracker

from helpers import DIM, batch, identity, look, unit


def run(assoc, batches):
    return [assoc.update(b) for b in batches]


def test_two_cameras_one_person_get_one_id():
    rng = np.random.default_rng(0)
    a = identity(1)
    stream = [
        batch(t, [(1, 1, (2.0 + 0.1 * t, 3.0), look(a, rng)), (2, 7, (2.05 + 0.1 * t, 2.98), look(a, rng))])
        for t in range(40)
    ]
    steps = run(Associator(AssociationConfig()), stream)
    ids = {int(g) for s in steps for g in s.global_id if g >= 0}
    assert ids == {1}
    last = steps[-1]
    assert (last.global_id == 1).all()
    # both rows carry the same fused position, between the two cameras' points
    assert np.allclose(last.position[0], last.position[1])
    assert 5.9 < last.position[0, 0] < 6.1


@pytest.mark.parametrize("fps", [10.0, 30.0])
def test_confirmation_takes_the_same_time_at_any_rate(fps):
    rng = np.random.default_rng(0)
    a = identity(1)
    cfg = AssociationConfig()
    n = int(2 * fps)
    stream = [batch(t, [(1, 1, (0.0, 0.0), look(a, rng))], fps=fps) for t in range(n)]
    steps = run(Associator(cfg, fps=fps), stream)
    first = next(i for i, s in enumerate(steps) if s.global_id[0] >= 0)
    # output from the step at which it has been seen for confirm_s (10 steps at 10 fps, 30 at 30 fps)
    assert first + 1 == round(cfg.tracker.confirm_s * fps)


def test_lookalikes_at_different_places_keep_two_ids():
    rng = np.random.default_rng(1)
    a = identity(1)
    b = unit(a + 0.02 * identity(2))  # nearly the same clothes
    assert (1 - a @ b) / 2 < 0.01
    stream = []
    for t in range(60):
        stream.append(
            batch(
                t,
                [
                    (1, 1, (1.0, 1.0 + 0.05 * t), look(a, rng)),
                    (2, 1, (1.02, 1.0 + 0.05 * t), look(a, rng)),
                    (1, 2, (6.0, 1.0 + 0.05 * t), look(b, rng)),
                    (2, 2, (6.02, 1.0 + 0.05 * t), look(b, rng)),
                ],
            )
        )
    steps = run(Associator(AssociationConfig()), stream)
    late = steps[-1]
    assert late.global_id[0] == late.global_id[1]
    assert late.global_id[2] == late.global_id[3]
    assert late.global_id[0] != late.global_id[2]
    assert {int(g) for s in steps for g in s.global_id if g >= 0} == {1, 2}


def _leave_and_return(stranger: bool):
    rng = np.random.default_rng(2)
    a, other = identity(1), identity(9)
    stream = [
        batch(t, [(1, 1, (2.0, 2.0 + 0.05 * t), look(a, rng)), (2, 1, (2.0, 2.0 + 0.05 * t), look(a, rng))])
        for t in range(40)
    ]
    stream += [batch(t, []) for t in range(40, 90)]  # gone for 5 s
    back = other if stranger else a
    stream += [
        batch(t, [(1, 5, (4.0, 4.0), look(back, rng)), (2, 5, (4.0, 4.0), look(back, rng))]) for t in range(90, 140)
    ]
    return run(Associator(AssociationConfig()), stream)


def test_person_who_leaves_and_comes_back_is_relinked():
    steps = _leave_and_return(stranger=False)
    first_id = steps[30].global_id[0]
    assert first_id >= 0
    returned = [int(s.global_id[0]) for s in steps[90:] if len(s.global_id)]
    assert returned[-1] == first_id
    # the id is back within a second or so, long before a new identity could be confirmed
    assert returned.index(first_id) < 15


def test_stranger_in_the_same_place_gets_a_new_id():
    steps = _leave_and_return(stranger=True)
    assert steps[-1].global_id[0] not in (-1, steps[30].global_id[0])


def test_wrongly_merged_cluster_is_split():
    rng = np.random.default_rng(3)
    a, b = identity(1), identity(2)
    assoc = Associator(AssociationConfig())
    run(assoc, [batch(t, [(1, 1, (2.0, 2.0), look(a, rng))]) for t in range(12)])
    s = assoc.store
    slot = int(s.slots_in(ClusterState.TRACKED)[0])
    # another person's looks got into the bank (e.g. after an unnoticed switch)
    for _ in range(5):
        s.add_features(slot, look(b, rng)[None], np.array([7500.0]))
    assert s.bank_n[slot] == 10
    # this step, camera 1's local track 1 shows person b and was assigned to the cluster
    obs = batch(12, [(1, 1, (2.0, 2.0), look(b, rng))])
    assign = np.array([slot])
    splits = refine_mod.split(s, assoc.bindings, assoc.cfg, assign, obs.camera_id, obs.embedding, obs.local_track_id)
    assert splits == 1
    kept = s.bank[slot, : s.bank_n[slot]]
    assert np.all(kept @ a > 0.9)  # only person a's looks remain
    assert assign[0] == -1  # b's observation left the cluster
    assert (1, 1) not in assoc.bindings.links  # and its local track will associate afresh


def test_duplicate_clusters_of_one_person_are_merged():
    rng = np.random.default_rng(4)
    a = identity(1)
    assoc = Associator(AssociationConfig())
    # camera 2's floor position is 2.5 m off at first (a bad calibration region, beyond the 1.5 m gate):
    # two clusters form and are confirmed; once the positions agree, one identity is left (camera 2's
    # observations join the older cluster or the two merge), and the duplicate's id is not output again
    stream = [
        batch(t, [(1, 1, (2.0, 2.0), look(a, rng)), (2, 1, (2.0 + (2.5 if t < 40 else 0.1), 2.0), look(a, rng))])
        for t in range(80)
    ]
    steps = run(assoc, stream)
    assert len({int(g) for g in steps[35].global_id}) == 2
    assert all(s.global_id[0] == s.global_id[1] == 1 for s in steps[-30:])


def test_same_input_same_output():
    rng = np.random.default_rng(5)
    people = [identity(k) for k in range(6)]
    stream = []
    for t in range(50):
        seen = []
        for k, p in enumerate(people):
            for cam in (1, 2, 3):
                if rng.random() < 0.9:
                    seen.append((cam, k, (k * 1.5 + 0.02 * t + rng.normal(0, 0.05), 2.0), look(p, rng)))
        stream.append(batch(t, seen))
    out1 = [s.global_id.copy() for s in run(Associator(AssociationConfig()), stream)]
    out2 = [s.global_id.copy() for s in run(Associator(AssociationConfig()), stream)]
    assert all(np.array_equal(x, y) for x, y in zip(out1, out2, strict=True))


def test_grouping_one_observation_per_camera():
    e = identity(1)[None].repeat(4, 0)
    cams = np.array([1, 1, 2, 3])
    world = np.array([[0.0, 0.0], [0.1, 0.0], [0.05, 0.0], [5.0, 5.0]])
    groups = group_observations(cams, world, e, 0.3, 1.0, 0.5)
    sizes = sorted(len(g) for g in groups)
    assert sizes == [1, 1, 2]
    for g in groups:
        assert len(set(cams[g])) == len(g)


def test_fusion_rejects_outliers_and_weights_by_precision():
    group = np.array([0, 0, 0, 1, 1])
    pts = np.array([[0.0, 0.0], [0.1, 0.0], [3.0, 0.0], [5.0, 5.0], [5.2, 5.0]])
    std = np.array([0.1, 0.1, 0.1, 0.1, 0.3])
    meas, var = fuse_positions(group, pts, std, np.zeros((2, 2)), np.array([False, False]), 1.0)
    np.testing.assert_allclose(meas[0], [0.05, 0.0])
    assert meas[1, 0] == pytest.approx((5.0 * 100 + 5.2 * 100 / 9) / (100 + 100 / 9))
    assert var[0] == pytest.approx(1 / 200)


def test_single_camera_tracker_keeps_crossing_people_apart():
    rng = np.random.default_rng(6)
    a, b = identity(1), identity(2)
    sct = SingleCameraTracker(SCTConfig())
    ids_a, ids_b = set(), set()
    for t in range(30):
        boxes = np.array([[100.0 + 10 * t, 200, 50, 150], [400.0 - 10 * t, 205, 50, 150]])
        out = sct.update(t, boxes, np.array([0.9, 0.9]), np.stack([look(a, rng), look(b, rng)]))
        ids_a.add(int(out.track_id[0]))
        ids_b.add(int(out.track_id[1]))
    assert len(ids_a) == 1 and len(ids_b) == 1 and ids_a != ids_b


def test_single_camera_tracker_low_score_boxes_keep_tracks_alive():
    rng = np.random.default_rng(7)
    a = identity(1)
    sct = SingleCameraTracker(SCTConfig())
    got = []
    for t in range(10):
        score = 0.9 if t < 5 else 0.3  # occluded: the detector is less sure
        out = sct.update(t, np.array([[100.0 + 5 * t, 200, 50, 150]]), np.array([score]), look(a, rng)[None])
        got.append(int(out.track_id[0]))
    assert got == [1] * 10


def test_config_yaml_overrides_and_errors(tmp_path):
    from mcpt.errors import InputError

    f = tmp_path / "c.yaml"
    f.write_text(
        "association:\n  tracker:\n    confirm_s: 0.4\nscenes:\n  scene_061:\n    association:\n"
        "      refine:\n        split_emb: 0.25\n"
    )
    cfg = load_config(f, ["association.refine.period_s=1"])
    assert cfg.association.tracker.confirm_s == 0.4
    assert cfg.association.refine.period_s == 1.0
    assert cfg.association.refine.split_emb == 0.325  # the reference default
    assert cfg.for_scene("scene_061").association.refine.split_emb == 0.25
    assert cfg.for_scene("scene_062").association.refine.split_emb == 0.325
    f.write_text("association:\n  tracker:\n    min_hitz: 4\n")
    with pytest.raises(InputError, match=r"c.yaml \[association.tracker.min_hitz\]: unknown setting"):
        load_config(f)
    f.write_text("association:\n  tracker:\n    confirm_s: many\n")
    with pytest.raises(InputError, match=r"\[association.tracker.confirm_s\]: expected a number"):
        load_config(f)


def test_reference_defaults():
    from mcpt.config import thresholds_resolved

    c = AssociationConfig()
    # score thresholds come from the detector in use; where none is known, the reference's
    assert (c.sct.track_high_thresh, c.sct.new_track_thresh, c.clustering.min_score) == (None, None, None)
    r = thresholds_resolved(c)
    assert (r.sct.track_high_thresh, r.sct.track_low_thresh, r.sct.new_track_thresh) == (0.6, 0.1, 0.7)
    assert r.clustering.min_score == 0.6
    assert (c.sct.proximity_weight, c.sct.appearance_weight) == (0.3, 0.7)
    assert (c.sct.proximity_thresh, c.sct.appearance_thresh, c.sct.match_thresh) == (0.1, 0.4, 0.8)
    assert (c.tracker.bank_size, c.tracker.lost_ttl_s) == (10, 600.0)
    assert (c.refine.split_emb, c.refine.merge_emb, c.refine.relink_emb) == (0.325, 0.325, 0.30)


def test_reference_durations_are_its_frame_counts_at_30_fps():
    from mcpt.association.steps import StepCounts

    cfg = load_config("reference").association
    steps = StepCounts.at(cfg, 30.0)
    assert (steps.confirm, steps.lost_ttl, steps.id_pool, steps.appearance_only_period) == (10, 18000, 15, 10)
    assert (steps.refine_period, steps.established, steps.merge_warmup) == (5, 30, 10)
    assert (steps.bind_ttl, steps.cannot_link, steps.tentative_ttl) == (30, 16, 0)
    assert SingleCameraTracker(cfg.sct, fps=30.0).max_lost_steps == 1
    # the same settings keep their length in seconds at another rate
    at10 = StepCounts.at(cfg, 10.0)
    assert (at10.confirm, at10.refine_period, at10.established) == (3, 2, 10)


def test_single_camera_tracker_handles_empty_frames():
    sct = SingleCameraTracker(SCTConfig())
    rng = np.random.default_rng(8)
    out = sct.update(0, np.array([[10.0, 10, 20, 60]]), np.array([0.9]), look(identity(1), rng)[None])
    assert out.track_id.tolist() == [1]
    out = sct.update(1, np.zeros((0, 4)), np.zeros(0), np.zeros((0, DIM), np.float32))
    assert out.track_id.shape == (0,)
    assert len(sct) == 1  # lost, kept for max_time_lost_s (2 steps at 10 fps)
    sct.update(2, np.zeros((0, 4)), np.zeros(0), np.zeros((0, DIM), np.float32))
    sct.update(3, np.zeros((0, 4)), np.zeros(0), np.zeros((0, DIM), np.float32))
    assert len(sct) == 0


def test_reference_config_turns_off_the_additions():
    cfg = load_config("reference").association
    assert cfg.sct.min_iou == 0 and cfg.tracker.bind_bonus == 0 and cfg.tracker.lost_emb_thresh == 0.30
    assert cfg.refine.merge_established is False and cfg.position.fuse is False
    assert cfg.refine.split_emb == AssociationConfig().refine.split_emb  # shared values unchanged


def test_a_mannequin_is_held_back_and_a_person_standing_still_is_kept():
    """Two cameras see a mannequin (never moves) and a person who walks in and then stands for 30 s
    beside it: the person's rows go on, the mannequin's stop once it is static_after_s old, and a
    mannequin found again at the same spot (a new identity after a gap) is held back at once."""
    rng = np.random.default_rng(3)
    person, dummy = identity(1), identity(2)
    cfg = AssociationConfig()
    after = round(cfg.tracker.static_after_s * 10)

    def person_at(t):
        return (5.0, 2.0 + min(t, 30) * 0.1)  # walks 3 m, then stands at (5, 5)

    def seen(t, with_dummy=True):
        rows = [(c, 10 + c, person_at(t), look(person, rng)) for c in (1, 2)]
        if with_dummy:
            rows += [(c, 20 + c, (6.0 + 0.02 * rng.normal(), 5.0), look(dummy, rng)) for c in (1, 2)]
        return rows

    assoc = Associator(cfg)
    steps = run(assoc, [batch(t, seen(t)) for t in range(400)])
    pid = steps[-1].global_id[0]
    assert pid >= 0 and all(s.global_id[0] == pid and s.global_id[1] == pid for s in steps[40:])
    dummy_out = [t for t, s in enumerate(steps) if (s.global_id[2:] >= 0).any()]
    assert dummy_out and max(dummy_out) < after + 5  # output while young, then held back
    assert assoc.stats.still_spots == 1
    # the mannequin unseen past its lost time-to-live comes back as a new cluster: held back from the start
    gap = [batch(t, seen(t, with_dummy=False)) for t in range(400, 400 + round(cfg.tracker.lost_ttl_s * 10) + 10)]
    run(assoc, gap)
    t0 = gap[-1].step + 1
    back = run(assoc, [batch(t, seen(t)) for t in range(t0, t0 + 40)])
    assert all((s.global_id[2:] < 0).all() for s in back)
    assert all(s.global_id[0] == pid for s in back)
    # with the mechanism off, the mannequin is an identity like any other
    off = Associator(AssociationConfig(tracker=type(cfg.tracker)(static_after_s=0.0)))
    steps_off = run(off, [batch(t, seen(t)) for t in range(400)])
    assert (steps_off[-1].global_id[2:] >= 0).all()


def test_camera_offsets_are_learnt_relative_to_the_cameras_that_see_the_same_people():
    """Three cameras see people together; camera 2's calibration puts everyone 0.4 m too far in x.
    With self-calibration the learnt offsets single out camera 2 and sum to zero (no common drift)."""
    rng = np.random.default_rng(5)
    people = [identity(k) for k in range(3)]
    bias = {1: np.zeros(2), 2: np.array([0.4, 0.0]), 3: np.zeros(2)}

    def stream(n):
        out = []
        for t in range(n):
            seen = []
            for k, p in enumerate(people):
                truth = np.array([2.0 + 3 * k + 0.02 * t, 3.0 + k])
                for c in (1, 2, 3):
                    xy = truth + bias[c] + rng.normal(scale=0.05, size=2)
                    seen.append((c, 10 * c + k, tuple(xy), look(p, rng)))
            out.append(batch(t, seen))
        return out

    base = AssociationConfig()
    assert base.position.self_calibrate  # on by default
    assoc = Associator(base)
    steps = run(assoc, stream(300))
    offsets = {c: np.array([dx, dy]) for c, dx, dy, _ in assoc.camera_offsets()}
    assert offsets[2][0] == pytest.approx(0.4 * 2 / 3, abs=0.05)  # relative to the three cameras' mean
    assert offsets[1][0] == pytest.approx(-0.4 / 3, abs=0.05)
    assert np.allclose(sum(offsets.values()), 0.0, atol=1e-6)
    # corrected, the three cameras agree: one identity per person, every row on it
    assert len({int(g) for g in steps[-1].global_id}) == 3 and (steps[-1].global_id >= 0).all()
    # switched off (as in the reference): nothing learnt
    plain = Associator(AssociationConfig(position=type(base.position)(self_calibrate=False)))
    run(plain, stream(50))
    assert plain.camera_offsets() == []
