"""One typed configuration: dataclasses with the reference method's values as defaults.

Loaded from YAML (``mcpt ... --config FILE``), overridden on the command line with
``--set section.key=value``, and per scene from a ``scenes: {scene_XXX: {...}}`` block.
Errors name the file, the dotted field and what was expected.

Where the reference method had scene-specific values (AIC24 test scenes 61-70 / 71-80 / 81-90),
the defaults are those of scenes 61-70. Every duration is in seconds (names end in ``_s``) and
is turned into processing steps at the rate the run actually processes (mcpt.timebase). The
reference counted frames of its 30 fps videos; ``--config reference`` gives those counts back
at 30 fps. Where mcpt's own default differs from the reference's, the comment says why.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcpt.errors import InputError


@dataclass(frozen=True)
class OperatingPoints:
    """Score thresholds that fit one detector's score distribution on people (models.yaml per detector).

    They belong to the model, not to the method: a detector whose median score on a person is 0.5
    needs other thresholds than the reference's fine-tuned YOLOv8x. ``mcpt calibrate-detector``
    measures them on a scene with ground truth.
    """

    track_high: float  # detections the single-camera tracker matches on appearance, and ReID embeds
    track_low: float  # the lowest score the tracker uses at all (second association, on overlap)
    new_track: float  # a detection may start a local track
    cluster_min_score: float  # an observation may seed or join a cross-camera cluster


# The reference method's values, tuned for its fine-tuned YOLOv8x. They also fit the simulator's
# cached perception, whose detections are scored like that detector's.
REFERENCE_OPERATING_POINTS = OperatingPoints(track_high=0.6, track_low=0.1, new_track=0.7, cluster_min_score=0.6)


@dataclass
class SCTConfig:
    """Single-camera tracker (BoT-SORT style, as modified by the reference)."""

    # score thresholds: unset (null) = the operating points of the detector in use (models.yaml), or
    # the reference's 0.6 / 0.1 / 0.7 where none is known (the simulator's cached perception)
    track_high_thresh: float | None = None
    track_low_thresh: float | None = None
    new_track_thresh: float | None = None
    match_thresh: float = 0.8  # cost limit of the first association
    second_match_thresh: float = 0.5  # IoU-distance limit for low-score boxes
    unconfirmed_match_thresh: float = 0.7
    proximity_weight: float = 0.3  # x centre distance / image diagonal
    appearance_weight: float = 0.7  # x cosine distance / 2
    proximity_thresh: float = 0.1  # share of the image diagonal; beyond it the cost is 1
    appearance_thresh: float = 0.4  # cosine distance / 2; beyond it the cost is 1
    feature_ema: float = 0.9
    # a lost local track is dropped after this (long-term identity lives at the cluster level);
    # the reference: 1 frame at 30 fps. mcpt: 0.2 s, measured on simulated scenes at 10 and 30 fps
    # (+0.002-0.003 HOTA over 0.1 s at both rates; a missed detection or two no longer ends a track)
    max_time_lost_s: float = 0.2
    # mcpt addition: a box must overlap the track's Kalman-predicted box by this IoU to match it.
    # The reference's gates (a tenth of the image diagonal) were tuned at 30 fps and let a track jump
    # to a neighbour when its own person is missed; 0 reproduces the reference.
    min_iou: float = 0.2


@dataclass
class ClusteringConfig:
    """Cross-camera grouping of one time step's observations."""

    min_height_width_ratio: float = 1.25  # boxes squatter than this are not clustering candidates
    min_score: float | None = None  # candidates need a confident detection (null: the detector's operating point)
    emb_thresh: float = 0.30  # cosine distance / 2
    euc_thresh: float = 1.0  # metres
    appearance_ratio: float = 0.5  # r in (1 - r) * distance + r * appearance (reference: visible parts / 10)


@dataclass
class ClusterTrackerConfig:
    """Tracking of clusters (multi-camera identities) over time."""

    bank_size: int = 10  # good features kept per cluster
    bank_anchors: int = 5  # the oldest features, never replaced (the identity's reference look)
    # seen for this long (steps with observations) before an identity is confirmed and output;
    # the reference: 10 frames at 30 fps (0.33 s). mcpt: 1 s, measured on simulated scenes at 10 and
    # 30 fps: 0.5 s gains up to 0.01 HOTA on some scenes and loses it on others, with 50% more ids
    confirm_s: float = 1.0
    lost_ttl_s: float = 600.0  # a lost identity is kept this long for re-linking (reference: 18000 frames)
    max_lost: int = 2000  # and at most this many lost identities (oldest dropped first)
    id_pool_s: float = 1.5  # clusters lost at most this long still take observations (reference: 15 frames)
    emb_thresh: float = 0.30  # appearance gate for matching (cosine distance / 2)
    # Reviving a lost identity from one frame's observation, on appearance alone (the reference: 0.30).
    # mcpt leaves this to the refinement's re-link, which compares whole feature banks: in our
    # benchmarks single-frame revival handed departed people's ids to newcomers. 0 = never.
    lost_emb_thresh: float = 0.0
    euc_thresh: float = 1.5  # metres, distance gate for matching active clusters
    distance_weight: float = 0.5  # vs appearance in the active-cluster cost
    # every this often active clusters match on appearance alone (0 = never; reference: every 10th frame)
    appearance_only_period_s: float = 1.0
    lost_max_speed: float = 3.0  # m/s: a lost identity cannot reappear farther than this allows (0 = no gate)
    # mcpt addition: a local track (single-camera track) is kept with the cluster it joined before
    bind_gate_m: float = 2.0  # while within this distance...
    bind_emb_gate: float = 0.30  # ... and this appearance distance (cosine / 2)
    # cost taken off the pair (local track, its previous cluster). 0, as the reference: a bonus kept
    # single-camera identity swaps between two people walking together (demo: cameras agreed on
    # 81% of shared people at 0.1, 97% at 0; photoreal held-out HOTA 0.479 -> 0.493; simulated equal)
    bind_bonus: float = 0.0
    bind_ttl_s: float = 3.0  # a binding outlives its local track's last observation by this (reference: 30 frames)
    fallback_gate_m: float = 2.0  # observations unfit for clustering join the nearest identity within this
    tentative_ttl_s: float = 0.0  # an unconfirmed cluster unseen for longer is dropped (0: at once, as the reference)
    # mcpt addition: still objects a detector takes for people (mannequins, posters, coats on a stand).
    # An identity that has never moved farther than static_move_m from where it was first seen is
    # not output once it is static_after_s old, nor is a new one at such a spot; moving once clears it.
    # A person who walked in and stands still has moved: kept. 0 = off (the reference).
    static_after_s: float = 10.0
    static_move_m: float = 1.0


@dataclass
class RefineConfig:
    """Cluster self-refinement, every ``period_s``."""

    enabled: bool = True
    split: bool = True
    merge: bool = True
    relink: bool = True
    period_s: float = 0.5  # reference: every 5 frames
    split_emb: float = 0.325  # refine_1st_emb: two feature groups this far apart -> split
    merge_emb: float = 0.325  # refine_2nd_emb
    merge_euc: float = 1.0  # refine_2nd_euc, metres
    relink_emb: float = 0.30  # refine_3rd_emb
    relink_min_features: int = 3  # mcpt addition: a young cluster needs this many bank features to re-link
    # mcpt addition: re-link only if the banks differ by less than this beyond their own spread
    # (cosine / 2; 0 = no test, as the reference)
    relink_gap: float = 0.1
    established_s: float = 3.0  # clusters older than this are not re-linked (nor merged, see below); ref. 30 frames
    # mcpt addition: also merge two established clusters, when no camera has seen both in the same
    # frame recently (the reference never merges them; false reproduces that)
    merge_established: bool = True
    merge_warmup_s: float = 1.0  # ... except in the run's first moments (reference: its first 10 frames)
    # two clusters one camera saw at the same step within this window are two people, never merged
    cannot_link_s: float = 1.6


@dataclass
class PositionConfig:
    """Fused floor position of an identity: all its cameras, a motion model, outliers rejected."""

    fuse: bool = True  # False: each row carries its own camera's foot point (as the reference)
    accel_std: float = 5.0  # m/s^2 process noise of the constant-velocity model (people stop, start and turn)
    meas_std: float = 0.25  # m, one camera's foot-point error
    outlier_m: float = 1.0  # observations farther than this from the cluster's median are not fused
    # where a person stands relative to the box: metres behind the bottom-centre, away from the camera
    foot_offset_m: float = 0.1
    vertical_axis: bool = True  # find the standing point along the image of the vertical (needs the projection)
    max_reliable_std: float = 1.0  # m; a floor position less certain than this (feet cut off) is not used
    # m: each camera's systematic error (calibration, where on the body the box ends), which averaging
    # over cameras cancels; it keeps near cameras from outweighing the others
    camera_bias_std: float = 0.15
    # mcpt addition: learn each camera's floor offset from people several cameras see at once and take
    # it off its points: calibration error the cameras do not share. Site preset (10 cameras, seeds
    # 1, 2): HOTA 0.687 -> 0.696 and 0.642 -> 0.667; shared-floor presets with exact calibrations
    # unchanged (within 0.0005). Off in the reference.
    self_calibrate: bool = True
    offset_rate: float = 0.005  # share of each residual (camera's point - the identity's mean) learnt
    offset_max_m: float = 1.0


@dataclass
class PoseUseConfig:
    """The reference method's four uses of body keypoints (where a pose model ran; each a switch).

    Counts are over the 13 COCO points CrowdPose-14 also has (mcpt.pose.keypoints.BODY), so the
    reference's thresholds keep their meaning; its scene 61-70 values are the defaults. Measured in
    bench/results/association.md (pose section, official AIC24 protocol, simulated keypoints).
    """

    # (a) the foot point of a person whose ankles are hidden, extrapolated from the visible keypoints
    # with body-ratio priors learnt from fully visible people. Shelves preset: HOTA 0.615 -> 0.919,
    # LocA 0.901 -> 0.952 over the box bottom; medium +0.006, hard +0.016
    foot: bool = True
    ankle_conf: float = 0.3  # an ankle above this is seen: the box's bottom is the feet
    ratio_conf: float = 0.8  # people whose 13 body points all exceed this teach the body ratios
    ratio_ema: float = 0.9  # weight of the ratios so far when one more person teaches them
    # (b) quality gates: an observation joins cross-camera clustering only with enough keypoints.
    # Kept as the reference: alone +0.001 on hard, 0 elsewhere; with (d) -0.010 on hard, 0 elsewhere, and
    # +0.03 on two photoreal scenes (bench/results/pose.md; those scenes are chaotic)
    gate: bool = True
    keypoint_conf: float = 0.5  # a keypoint above this counts as seen (gates, bank, crowding)
    min_limb_keypoints: int = 7  # reference: limb points > 6
    min_head_keypoints: int = 0  # reference: head points > -1 (scenes 61-70: no head requirement)
    # (c) only clear views feed an identity's feature bank. Off in mcpt: measured -0.006 HOTA on hard,
    # 0 elsewhere (the bank already refuses boxes other boxes overlap); the reference: on
    bank: bool = False
    bank_min_keypoints: int = 10  # reference: poses with >= 10 confident keypoints
    # (d) crowding: a box holding keypoints of other people is a mixed view, kept out of clustering. The
    # count includes the person's own points: the reference's num_kpts < 16 over 14 points lets one
    # point of someone else in; over 13 points that is at most 14 (alone: +0.002 on hard, 0 elsewhere)
    crowd: bool = True
    max_crowd_keypoints: int = 14


@dataclass
class AssociationConfig:
    sct: SCTConfig = field(default_factory=SCTConfig)
    clustering: ClusteringConfig = field(default_factory=ClusteringConfig)
    tracker: ClusterTrackerConfig = field(default_factory=ClusterTrackerConfig)
    refine: RefineConfig = field(default_factory=RefineConfig)
    position: PositionConfig = field(default_factory=PositionConfig)
    pose: PoseUseConfig = field(default_factory=PoseUseConfig)
    use_appearance: bool = True  # ablation: False ignores embeddings everywhere
    use_world: bool = True  # ablation: False ignores floor positions in matching
    # Every appearance threshold above is in the reference ReID model's scale; a model whose different
    # people lie farther apart needs them stretched. They are multiplied by this factor. null = the ReID
    # model's appearance_scale in models.yaml (mcpt calibrate-reid, mcpt adapt reid), 1 where unknown.
    appearance_scale: float | None = None


# (section, field) of every threshold on a cosine distance; appearance_scale multiplies them all
APPEARANCE_THRESHOLDS = (
    ("sct", "appearance_thresh"),
    ("clustering", "emb_thresh"),
    ("tracker", "emb_thresh"),
    ("tracker", "lost_emb_thresh"),
    ("tracker", "bind_emb_gate"),
    ("refine", "split_emb"),
    ("refine", "merge_emb"),
    ("refine", "relink_emb"),
    ("refine", "relink_gap"),
)


def with_appearance_scale(cfg: AssociationConfig, model_scale: float) -> AssociationConfig:
    """``cfg`` with its appearance thresholds multiplied by its ``appearance_scale``, or by ``model_scale``
    (the ReID model's) where the user left it unset. The result's scale is 1: applying it again changes
    nothing."""
    scale = model_scale if cfg.appearance_scale is None else cfg.appearance_scale
    if not scale > 0:
        raise InputError(None, f"expected a factor above 0, got {scale!r}", field="association.appearance_scale")
    sections = {}
    for section, name in APPEARANCE_THRESHOLDS:
        sub = sections.get(section, getattr(cfg, section))
        sections[section] = dataclasses.replace(sub, **{name: getattr(sub, name) * scale})
    return dataclasses.replace(cfg, appearance_scale=1.0, **sections)


def with_operating_points(cfg: AssociationConfig, op: OperatingPoints) -> AssociationConfig:
    """``cfg`` with every score threshold the user left unset taken from ``op``."""

    def pick(v: float | None, default: float) -> float:
        return default if v is None else v

    s, c = cfg.sct, cfg.clustering
    return dataclasses.replace(
        cfg,
        sct=dataclasses.replace(
            s,
            track_high_thresh=pick(s.track_high_thresh, op.track_high),
            track_low_thresh=pick(s.track_low_thresh, op.track_low),
            new_track_thresh=pick(s.new_track_thresh, op.new_track),
        ),
        clustering=dataclasses.replace(c, min_score=pick(c.min_score, op.cluster_min_score)),
    )


def thresholds_resolved(cfg: AssociationConfig) -> AssociationConfig:
    """``cfg`` ready to run: where no detector set the thresholds, the reference's values; where no ReID
    model set the appearance scale, the reference's (1)."""
    return with_appearance_scale(with_operating_points(cfg, REFERENCE_OPERATING_POINTS), 1.0)


def sct_thresholds_resolved(sct: SCTConfig) -> SCTConfig:
    return thresholds_resolved(AssociationConfig(sct=sct)).sct


@dataclass
class DetectorConfig:
    conf_thresh: float = 0.1
    nms_iou: float = 0.45
    # frames skipped between detections (DeepStream nvinfer's ``interval``): the single-camera trackers
    # predict the boxes in between and ReID runs only on detected frames
    interval: int = 0


@dataclass
class PoseConfig:
    """Running the pose model (the CPU and DeepStream backends; the replay takes the keypoints it finds)."""

    enabled: bool = False  # run the manifest's pose model (or --pose FILE) on the step's person boxes
    # boxes scored at least this get a pose (null: the tracker's high threshold, as the reference)
    min_score: float | None = None
    max_boxes: int = 64  # per step at most this many (the most confident); the rest keep no pose


@dataclass
class LiveConfig:
    """Health warnings of live runs."""

    slow_warn_s: float = 5.0  # warn when the processing rate stays below the configured fps this long
    max_drift_s: float = 1.0  # warn when cameras' stream clocks drift apart by more than this


@dataclass
class Config:
    association: AssociationConfig = field(default_factory=AssociationConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    pose: PoseConfig = field(default_factory=PoseConfig)
    live: LiveConfig = field(default_factory=LiveConfig)
    scenes: dict[str, dict] = field(default_factory=dict)  # per-scene overrides (raw, applied by for_scene)

    def with_operating_points(self, op: OperatingPoints) -> Config:
        """This config with the score thresholds the user left unset taken from a detector's operating points."""
        return dataclasses.replace(self, association=with_operating_points(self.association, op))

    def with_appearance_scale(self, model_scale: float) -> Config:
        """This config with its appearance thresholds fitted to a ReID model (see AssociationConfig)."""
        return dataclasses.replace(self, association=with_appearance_scale(self.association, model_scale))

    def for_scene(self, scene: str, source: str = "config") -> Config:
        """This config with the overrides of ``scenes.<scene>`` applied."""
        over = self.scenes.get(scene)
        if not over:
            return self
        base = to_dict(self)
        base.pop("scenes")
        merged = _deep_merge(base, over)
        cfg = from_dict(Config, merged, source, prefix="")
        cfg.scenes = self.scenes
        return cfg


def to_dict(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def _deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _coerce(value: Any, tp: Any, source: str, name: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(value, args[0], source, name)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0", "on", "off"):
            return value.lower() in ("true", "yes", "1", "on")
        raise InputError(source, f"expected true or false, got {value!r}", field=name)
    if tp is int:
        if isinstance(value, bool):
            raise InputError(source, f"expected an integer, got {value!r}", field=name)
        try:
            f = float(value)
        except (TypeError, ValueError):
            raise InputError(source, f"expected an integer, got {value!r}", field=name) from None
        if f != int(f):
            raise InputError(source, f"expected an integer, got {value!r}", field=name)
        return int(f)
    if tp is float:
        if isinstance(value, bool):
            raise InputError(source, f"expected a number, got {value!r}", field=name)
        try:
            return float(value)
        except (TypeError, ValueError):
            raise InputError(source, f"expected a number, got {value!r}", field=name) from None
    if tp is str:
        return str(value)
    if origin is dict:
        if not isinstance(value, dict):
            raise InputError(source, f"expected a mapping, got {value!r}", field=name)
        return value
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, source, prefix=name + ".")
    return value


def from_dict(cls: type, data: Any, source: str, prefix: str = ""):
    if not isinstance(data, dict):
        raise InputError(source, f"expected a mapping of settings, got {data!r}", field=prefix.rstrip(".") or None)
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise InputError(
            source, f"unknown setting; expected one of {', '.join(sorted(names))}", field=prefix + str(unknown[0])
        )
    kwargs = {k: _coerce(v, hints[k], source, prefix + k) for k, v in data.items()}
    return cls(**kwargs)


def parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise InputError("--set", f"expected section.key=value, got {text!r}")
    key, value = text.split("=", 1)
    import yaml

    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError:
        parsed = value
    return key.strip().split("."), parsed


BUILTIN = {"reference": Path(__file__).parent / "configs" / "reference.yaml"}


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Defaults, then the YAML file, then ``section.key=value`` overrides."""
    import yaml

    data: dict = {}
    source = "defaults"
    if path is not None and str(path) in BUILTIN:
        path = BUILTIN[str(path)]
    if path is not None:
        path = Path(path)
        source = str(path)
        if not path.is_file():
            raise InputError(path, "config file not found")
        try:
            loaded = yaml.safe_load(path.read_text())
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            raise InputError(
                path, f"not valid YAML ({getattr(e, 'problem', e)})", line=None if mark is None else mark.line + 1
            ) from None
        if loaded is not None and not isinstance(loaded, dict):
            raise InputError(path, "expected a mapping of sections (association:, detector:, scenes:)")
        data = loaded or {}
    merged = _deep_merge(to_dict(Config()), data)
    for text in overrides:
        keys, value = parse_override(text)
        node = merged
        for k in keys[:-1]:
            if not isinstance(node.get(k), dict):
                raise InputError("--set", f"unknown section in {text!r}", field=".".join(keys))
            node = node[k]
        if keys[-1] not in node:
            raise InputError("--set", f"unknown setting in {text!r}", field=".".join(keys))
        node[keys[-1]] = value
        source = f"{source} + --set"
    return from_dict(Config, merged, source)
