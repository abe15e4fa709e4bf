"""Simulation parameters and the easy / medium / hard presets."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from mcpt.timebase import DEFAULT_FPS


@dataclass(frozen=True)
class PeopleParams:
    """How people move. ``population`` is the mean number of people present at once."""

    population: int = 10
    area_per_person_m2: float = 14.0  # floor size scales with the population
    min_floor_m: tuple[float, float] = (12.0, 9.0)
    speed_mean: float = 1.2  # m/s
    speed_std: float = 0.25
    start_inside: float = 0.7  # share of the population present at frame 0
    mean_dwell_s: float = 90.0  # mean time a person stays before leaving
    pause_prob: float = 0.3  # chance to pause at a waypoint
    pause_s: tuple[float, float] = (2.0, 8.0)
    group_share: float = 0.2  # share of arrivals that come as groups of 2-3
    return_prob: float = 0.3  # chance that a person who left comes back later (same identity)
    return_gap_s: tuple[float, float] = (10.0, 40.0)
    doors: int = 3


@dataclass(frozen=True)
class PerceptionParams:
    """What the detector and ReID model would see. Distances are relative to box height."""

    box_jitter: float = 0.03
    miss_rate: float = 0.05
    occlusion_miss: float = 0.6  # extra miss probability at full occlusion (grows with occlusion^2)
    miss_burstiness: float = 0.8  # AR(1) correlation of detectability over 0.1 s (misses come in bursts)
    fp_rate: float = 0.15  # expected false positives per camera per frame
    score_mean: float = 0.85
    score_std: float = 0.07
    merge_prob: float = 0.15  # a heavily occluded person merged into its occluder's box
    crowd_rate_per_min: float = 0.3  # bursts of unannotated static people in one camera
    embedding_dim: int = 128
    common: float = 0.5  # shared direction of all embeddings (real ReID features are not centred)
    camera_bias: float = 0.35
    view_bias: float = 0.4  # per (person, camera) viewpoint appearance
    noise: float = 0.45  # per observation
    occlusion_mix: float = 0.6  # how much an occluder contaminates an occluded person's embedding
    lookalike_share: float = 0.2  # share of identities that resemble another identity
    lookalike_similarity: float = 0.6  # cosine similarity of look-alike prototypes
    # body keypoints as a top-down pose model would give them (COCO-17): position noise as a share of
    # the person's height in the image, and the confidence of a clearly seen keypoint
    keypoint_noise: float = 0.015
    keypoint_conf: float = 0.88
    # shelves and counters on the floor that hide the legs of people behind them (lower-body occlusion)
    shelves: int = 0
    shelf_m: tuple[float, float] = (2.4, 0.6)
    shelf_height_m: float = 1.1


@dataclass(frozen=True)
class SiteParams:
    """A real site's layout and faults (the ``site`` preset).

    Rooms in a row, joined by corridors that no camera sees; each room has its own cameras, aimed at
    parts of it (some floor seen by one camera only, some by none); every room has one outside door.
    The calibration files are written from a camera pose a little off the true one, as a hand-made
    calibration is: the floor error this gives is 0.1-0.7 m per camera (median over its view, 10
    cameras, seed 1), what hand-picked floor points give. Mannequins/posters are static "people"
    every camera of the room detects; desks hide the legs of whoever stands at them (the box ends
    at the desk's edge); staff wear one of two uniforms (near-identical appearance).
    """

    rooms: int = 3
    corridor_m: float = 6.0  # the unseen walk between two neighbouring rooms' doors
    room_change_prob: float = 0.35  # at a waypoint, the chance to walk to a neighbouring room
    hfov_deg: tuple[float, float] = (45.0, 70.0)  # narrower than the shared-floor cameras: partial views
    calib_rotation_deg: float = 0.5  # std of the written calibration's pose error, per axis
    calib_focal: float = 0.02  # relative std of its focal-length error
    calib_position_m: float = 0.1  # std of its camera-position error, per axis
    mannequins_per_room: float = 1.0  # mean number of static person-like objects per room
    desks_per_room: int = 2
    desk_m: tuple[float, float] = (1.6, 0.8)
    desk_cut: float = 0.45  # share of a person's box height the desk hides (from the bottom)
    uniform_share: float = 0.2  # share of identities in one of two uniforms
    uniform_similarity: float = 0.93  # cosine similarity of a uniformed person's look to the uniform


@dataclass(frozen=True)
class SimParams:
    cameras: int = 4
    frames: int = 300
    fps: float = DEFAULT_FPS
    seed: int = 0
    image_size: tuple[int, int] = (1920, 1080)
    height_range_m: tuple[float, float] = (3.0, 8.0)
    hfov_range_deg: tuple[float, float] = (55.0, 90.0)
    people: PeopleParams = PeopleParams()
    perception: PerceptionParams = PerceptionParams()
    site: SiteParams | None = None  # None: one shared floor that every camera looks at


PRESETS: dict[str, dict[str, dict]] = {
    "easy": {
        "people": {"group_share": 0.1, "return_prob": 0.2},
        "perception": {
            "box_jitter": 0.02,
            "miss_rate": 0.03,
            "occlusion_miss": 0.4,
            "fp_rate": 0.05,
            "merge_prob": 0.0,
            "crowd_rate_per_min": 0.0,
            "camera_bias": 0.25,
            "view_bias": 0.3,
            "noise": 0.3,
            "lookalike_share": 0.0,
            "occlusion_mix": 0.3,
        },
    },
    "medium": {"people": {}, "perception": {}},
    # a shop floor: medium, with shelves that hide the legs of about a third of the people seen
    "shelves": {"people": {}, "perception": {"shelves": 8}},
    "hard": {
        "people": {"area_per_person_m2": 9.0, "group_share": 0.35, "return_prob": 0.4},
        "perception": {
            "box_jitter": 0.05,
            "miss_rate": 0.1,
            "occlusion_miss": 0.7,
            "fp_rate": 0.4,
            "merge_prob": 0.3,
            "crowd_rate_per_min": 1.0,
            "camera_bias": 0.45,
            "view_bias": 0.5,
            "noise": 0.6,
            "lookalike_share": 0.4,
            "lookalike_similarity": 0.8,
            "occlusion_mix": 0.8,
        },
    },
    # a real site (SiteParams): rooms, blind corridors, partial views, calibration error, mannequins,
    # desks, uniforms; returns after 20-90 s through any door; 30 fps as AIC24
    "site": {
        "people": {"group_share": 0.3, "return_prob": 0.4, "return_gap_s": (20.0, 90.0), "area_per_person_m2": 12.0},
        "perception": {"fp_rate": 0.2, "crowd_rate_per_min": 0.3, "lookalike_share": 0.2},
        "top": {"fps": 30.0},
    },
}
DIFFICULTIES = tuple(PRESETS)


def make_params(difficulty: str = "medium", **overrides) -> SimParams:
    """Preset parameters with top-level, ``people_*``, ``perception_*`` and ``site_*`` keyword overrides."""
    if difficulty not in PRESETS:
        raise ValueError(f"unknown difficulty {difficulty!r}; expected one of {', '.join(DIFFICULTIES)}")
    preset = PRESETS[difficulty]
    people = replace(PeopleParams(), **preset["people"])
    perception = replace(PerceptionParams(), **preset["perception"])
    top = {}
    people_names = {f.name for f in fields(PeopleParams)}
    site_names = {f.name for f in fields(SiteParams)}
    perception_names = {f.name for f in fields(PerceptionParams)}
    for key, value in overrides.items():
        if value is None:
            continue
        if key.startswith("people_") and key[7:] in people_names:
            people = replace(people, **{key[7:]: value})
        elif key.startswith("perception_") and key[11:] in perception_names:
            perception = replace(perception, **{key[11:]: value})
        elif key in {f.name for f in fields(SimParams)} or (key.startswith("site_") and key[5:] in site_names):
            top[key] = value
        else:
            raise ValueError(f"unknown simulation parameter {key!r}")
    site = SiteParams() if difficulty == "site" else None
    top = {**preset.get("top", {}), **top}
    for key in list(top):
        if key.startswith("site_") and key[5:] in site_names:
            site = replace(site or SiteParams(), **{key[5:]: top.pop(key)})
    return SimParams(people=people, perception=perception, site=site, **top)
