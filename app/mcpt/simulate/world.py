"""People walking on a floor: arrivals through doors, waypoints, pauses, groups, returns.

The floor is one rectangle, or (a site) rooms in a row joined by corridors: people walk from room to
room through the doors of neighbouring rooms and cross the corridor between them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from mcpt.simulate.params import PeopleParams, SiteParams

ARRIVE_RADIUS_M = 0.3
WALL_MARGIN_M = 0.5


@dataclass(frozen=True)
class Floor:
    width: float
    depth: float
    doors: np.ndarray  # (K, 2) points on the boundary: ways in and out
    rooms: np.ndarray | None = None  # (R, 4) x0 y0 x1 y1 of each room in a row along x; None: one room

    @property
    def room_boxes(self) -> np.ndarray:
        return self.rooms if self.rooms is not None else np.array([[0.0, 0.0, self.width, self.depth]])

    def room_of(self, p: np.ndarray) -> int:
        """The room a point is in (or nearest, in a corridor)."""
        r = self.room_boxes
        cx = np.clip(p[0], r[:, 0], r[:, 2])
        return int(np.argmin(np.abs(cx - p[0])))

    def connector(self, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        """The door of room ``a`` towards neighbouring room ``b`` and the door of ``b`` it leads to."""
        ra, rb = self.room_boxes[a], self.room_boxes[b]
        y = (max(ra[1], rb[1]) + min(ra[3], rb[3])) / 2
        if b > a:
            return np.array([ra[2], y]), np.array([rb[0], y])
        return np.array([ra[0], y]), np.array([rb[2], y])

    @classmethod
    def for_site(cls, params: PeopleParams, site: SiteParams, rng: np.random.Generator) -> Floor:
        """Rooms of the population's floor area in a row, ``corridor_m`` apart; one outside door per room."""
        n = max(1, site.rooms)
        area = max(params.population, 1) * params.area_per_person_m2 / n
        room_w = max(params.min_floor_m[0] * 0.75, float(np.sqrt(area * 1.2)))
        room_d = max(params.min_floor_m[1] * 0.75, float(np.sqrt(area / 1.2)))
        rooms, doors = [], []
        for k in range(n):
            x0 = k * (room_w + site.corridor_m)
            rooms.append([x0, 0.0, x0 + room_w, room_d])
            u = float(rng.uniform(0.2, 0.8))
            doors.append([x0 + u * room_w, 0.0 if rng.random() < 0.5 else room_d])
        width = n * room_w + (n - 1) * site.corridor_m
        return cls(width, room_d, np.array(doors), np.array(rooms))

    @classmethod
    def for_population(cls, params: PeopleParams, rng: np.random.Generator) -> Floor:
        area = max(params.population, 1) * params.area_per_person_m2
        aspect = 4.0 / 3.0
        width = max(params.min_floor_m[0], float(np.sqrt(area * aspect)))
        depth = max(params.min_floor_m[1], float(np.sqrt(area / aspect)))
        doors = []
        for _ in range(max(1, params.doors)):
            side = int(rng.integers(4))
            u = float(rng.uniform(0.15, 0.85))
            doors.append([(u * width, 0.0), (width, u * depth), (u * width, depth), (0.0, u * depth)][side])
        return cls(width, depth, np.array(doors))

    def random_point(self, rng: np.random.Generator, room: int | None = None) -> np.ndarray:
        """A point inside a room (``room``, or one at random) away from the walls."""
        m = WALL_MARGIN_M
        boxes = self.room_boxes
        if room is None:
            room = int(rng.integers(len(boxes))) if len(boxes) > 1 else 0
        x0, y0, x1, y1 = boxes[room]
        return np.array([rng.uniform(x0 + m, x1 - m), rng.uniform(y0 + m, y1 - m)])

    def clip(self, p: np.ndarray) -> np.ndarray:
        return np.clip(p, [0.0, 0.0], [self.width, self.depth])


@dataclass
class Segment:
    """One continuous stay of one identity: positions from ``start`` (frame) onwards."""

    identity: int
    start: int
    xy: np.ndarray  # (n, 2) float32

    @property
    def end(self) -> int:
        return self.start + len(self.xy)


@dataclass
class Population:
    floor: Floor
    segments: list[Segment]
    height: np.ndarray  # (num_identities,) metres
    radius: np.ndarray  # (num_identities,) metres
    frames: int

    @property
    def num_identities(self) -> int:
        return int(self.height.shape[0])

    def iter_frames(self) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """(frame, identity ids (n,), positions (n, 2)) for every frame, in order."""
        order = sorted(range(len(self.segments)), key=lambda i: self.segments[i].start)
        nxt = 0
        active: list[Segment] = []
        for t in range(self.frames):
            while nxt < len(order) and self.segments[order[nxt]].start <= t:
                active.append(self.segments[order[nxt]])
                nxt += 1
            active = [s for s in active if s.end > t]
            if active:
                ids = np.array([s.identity for s in active], np.int64)
                xy = np.array([s.xy[t - s.start] for s in active], np.float64)
            else:
                ids, xy = np.zeros(0, np.int64), np.zeros((0, 2))
            yield t, ids, xy


class _Walker:
    """One person's walk: waypoints, pauses, then an exit door."""

    def __init__(
        self,
        floor: Floor,
        params: PeopleParams,
        rng: np.random.Generator,
        dt: float,
        start: np.ndarray,
        dwell_s: float,
        room_change_prob: float = 0.0,
    ) -> None:
        self.floor, self.params, self.rng, self.dt = floor, params, rng, dt
        self.p = start.astype(np.float64)
        self.speed = float(np.clip(rng.normal(params.speed_mean, params.speed_std), 0.5, 2.2))
        self.room = floor.room_of(self.p)
        self.room_change_prob = room_change_prob
        self.route: list[np.ndarray] = []  # waypoints still to pass before ``target`` (doors, corridor)
        self.target = floor.random_point(rng, self.room)
        self.pause_left = 0.0
        self.time_left = dwell_s
        self.exiting = False
        self.heading = np.array([1.0, 0.0])

    def step(self) -> bool:
        """Advance one frame; False once the person has gone out through a door."""
        self.time_left -= self.dt
        if self.pause_left > 0:
            self.pause_left -= self.dt
            return True
        d = self.target - self.p
        dist = float(np.hypot(*d))
        if dist < ARRIVE_RADIUS_M:
            if self.route:
                self.target = self.route.pop(0)
                return True
            if self.exiting:
                return False
            self._next_target()
            return True
        angle = float(self.rng.normal(0.0, 0.15))
        c, s = np.cos(angle), np.sin(angle)
        u = d / dist
        u = np.array([c * u[0] - s * u[1], s * u[0] + c * u[1]])
        self.heading = u
        self.p = self.floor.clip(self.p + u * min(self.speed * self.dt, dist))
        return True

    def _next_target(self) -> None:
        fl, rng = self.floor, self.rng
        rooms = len(fl.room_boxes)
        if self.time_left <= 0:
            self.exiting = True
            doors = fl.doors
            self.target = doors[int(rng.integers(len(doors)))].copy()
            self._route_to(fl.room_of(self.target), then=self.target)
            return
        if rng.random() < self.params.pause_prob:
            self.pause_left = float(rng.uniform(*self.params.pause_s))
        room = self.room
        if rooms > 1 and rng.random() < self.room_change_prob:
            room = min(max(room + (1 if rng.random() < 0.5 else -1), 0), rooms - 1)
        self._route_to(room, then=fl.random_point(rng, room))

    def _route_to(self, room: int, then: np.ndarray) -> None:
        """Through the doors of every room between here and ``room``, then to ``then``."""
        stops = []
        step = 1 if room > self.room else -1
        for a in range(self.room, room, step):
            out_door, in_door = self.floor.connector(a, a + step)
            stops += [out_door, in_door]
        self.room = room
        stops.append(then)
        self.target, self.route = stops[0], stops[1:]


def _walk(walker: _Walker, max_steps: int) -> np.ndarray:
    out = [walker.p.copy()]
    while len(out) < max_steps and walker.step():
        out.append(walker.p.copy())
    return np.array(out, np.float32)


def _follow(leader: np.ndarray, lateral: float, behind: float, floor: Floor, rng: np.random.Generator) -> np.ndarray:
    """A companion walking beside/behind the leader's path."""
    vel = np.diff(leader, axis=0, prepend=leader[:1]).astype(np.float64)
    heading = np.zeros_like(vel)
    last = np.array([1.0, 0.0])
    for i, v in enumerate(vel):
        n = float(np.hypot(*v))
        if n > 1e-6:
            last = v / n
        heading[i] = last
    perp = np.stack([-heading[:, 1], heading[:, 0]], axis=1)
    wobble = np.cumsum(rng.normal(0, 0.01, size=leader.shape), axis=0)
    wobble -= np.linspace(0, 1, len(leader))[:, None] * wobble[-1:]
    xy = leader + lateral * perp - behind * heading + wobble
    return np.clip(xy, [0, 0], [floor.width, floor.depth]).astype(np.float32)


def simulate_population(
    params: PeopleParams, frames: int, fps: float, rng: np.random.Generator, site: SiteParams | None = None
) -> Population:
    floor = Floor.for_site(params, site, rng) if site is not None else Floor.for_population(params, rng)
    room_change = site.room_change_prob if site is not None else 0.0
    dt = 1.0 / fps
    duration = frames * dt
    segments: list[Segment] = []
    heights: list[float] = []
    radii: list[float] = []

    def new_identity() -> int:
        heights.append(float(np.clip(rng.normal(1.72, 0.08), 1.5, 1.95)))
        radii.append(float(rng.uniform(0.22, 0.28)))
        return len(heights) - 1

    def dwell() -> float:
        return max(10.0, float(rng.exponential(params.mean_dwell_s)))

    # (time in seconds, identity or -1 for a new one, group size, start inside the floor)
    arrivals: list[tuple[float, int, int, bool]] = []
    n0 = round(params.population * params.start_inside)
    placed = 0
    while placed < n0:
        size = int(rng.integers(2, 4)) if rng.random() < params.group_share else 1
        size = min(size, n0 - placed)
        arrivals.append((0.0, -1, size, True))
        placed += size
    rate = params.population / params.mean_dwell_s  # people per second, for a steady population
    t = float(rng.exponential(1.0 / rate)) if rate > 0 else duration
    while t < duration:
        size = int(rng.integers(2, 4)) if rng.random() < params.group_share else 1
        arrivals.append((t, -1, size, False))
        t += float(rng.exponential(size / rate))

    i = 0
    while i < len(arrivals):
        t0, ident, size, inside = arrivals[i]
        i += 1
        start_frame = round(t0 * fps)
        if start_frame >= frames:
            continue
        if inside:
            start = floor.random_point(rng)
        else:
            start = floor.doors[int(rng.integers(len(floor.doors)))].astype(np.float64)
        walker = _Walker(
            floor, params, rng, dt, start, dwell() * (float(rng.uniform(0.2, 1.0)) if inside else 1.0), room_change
        )
        path = _walk(walker, frames - start_frame)
        leader = ident if ident >= 0 else new_identity()
        segments.append(Segment(leader, start_frame, path))
        for k in range(1, size):
            lateral = 0.6 if k == 1 else -0.6
            behind = 0.0 if k == 1 else 0.5
            segments.append(
                Segment(new_identity(), start_frame, _follow(path.astype(np.float64), lateral, behind, floor, rng))
            )
        end_t = (start_frame + len(path)) * dt
        if size == 1 and end_t < duration and rng.random() < params.return_prob:
            back = end_t + float(rng.uniform(*params.return_gap_s))
            if back < duration:
                # keep arrivals sorted by time so identities are created in time order
                j = i
                while j < len(arrivals) and arrivals[j][0] <= back:
                    j += 1
                arrivals.insert(j, (back, leader, 1, False))
    return Population(floor, segments, np.array(heights), np.array(radii), frames)
