"""The association configuration's durations (seconds) as counts of processing steps at one rate."""

from __future__ import annotations

from dataclasses import dataclass

from mcpt.config import AssociationConfig
from mcpt.timebase import period_steps, to_steps


@dataclass(frozen=True)
class StepCounts:
    confirm: int  # steps with observations before an identity is confirmed
    lost_ttl: int  # a lost identity is freed after this many steps unseen
    id_pool: int  # clusters lost at most this long still take observations
    appearance_only_period: int  # 0 = never
    bind_ttl: int  # a local-track binding outlives its last use by this (>= 1)
    tentative_ttl: int  # an unconfirmed cluster unseen longer than this is dropped
    refine_period: int  # 0 = never
    established: int  # clusters older than this are established
    merge_warmup: int  # established clusters may merge during the first steps of a run
    cannot_link: int  # window of the "one camera saw both" test (>= 1)
    static_after: int  # an identity that never moved is a still object after this many steps (0 = never)

    @classmethod
    def at(cls, cfg: AssociationConfig, fps: float) -> StepCounts:
        tc, rc = cfg.tracker, cfg.refine
        return cls(
            confirm=to_steps(tc.confirm_s, fps),
            lost_ttl=to_steps(tc.lost_ttl_s, fps),
            id_pool=to_steps(tc.id_pool_s, fps),
            appearance_only_period=period_steps(tc.appearance_only_period_s, fps),
            bind_ttl=max(1, to_steps(tc.bind_ttl_s, fps)),
            tentative_ttl=to_steps(tc.tentative_ttl_s, fps),
            refine_period=period_steps(rc.period_s, fps),
            established=to_steps(rc.established_s, fps),
            merge_warmup=to_steps(rc.merge_warmup_s, fps),
            cannot_link=max(1, to_steps(rc.cannot_link_s, fps)),
            static_after=to_steps(tc.static_after_s, fps),
        )
