"""The optional pictures of a CPU run, drawn step by step: the tiled video and the bird's-eye view."""

from __future__ import annotations


class Pictures:
    """The optional visual outputs of a run: tiled video and bird's-eye view.

    When the tiled video's grid has a free cell, it shows the live bird's-eye view, which is then
    kept even without a ``bev`` file of its own.
    """

    def __init__(
        self, video, bev, camera_ids: list[int], calibs, sizes, fps: float, *, tile_width: int = 640, trail_s=5.0
    ) -> None:
        self.tiled = self.bird = None
        if video:
            from mcpt.outputs.tiled import TiledVideoWriter

            self.tiled = TiledVideoWriter(video, camera_ids, fps, tile_width)
        free_tile = self.tiled is not None and self.tiled.free_tile_size is not None and bool(calibs)
        if bev or free_tile:
            from mcpt.outputs.bev import BirdsEyeView

            self.bird = BirdsEyeView(bev or None, calibs, sizes, fps=fps, trail_s=trail_s)

    def __bool__(self) -> bool:
        return self.tiled is not None or self.bird is not None

    def draw(self, step, out) -> None:
        b, r = out.batch, out.result
        # the floor plan first, so that the tiled video's cell shows this very step
        if self.bird is not None:
            self.bird.update(r.global_id, r.position, step.timestamp)
        if self.tiled is not None:
            images = {cid: f.image for cid, f in step.frames.items()}
            numbers = {cid: f.index for cid, f in step.frames.items()}
            size = self.tiled.free_tile_size
            extra = self.bird.render(size) if size is not None and self.bird is not None else None
            self.tiled.write(
                images,
                b.camera_id,
                b.bbox,
                r.global_id,
                numbers,
                time_s=step.timestamp,
                extra=extra,
                keypoints=b.keypoints,
            )

    def close(self) -> None:
        for o in (self.tiled, self.bird):
            if o is not None:
                o.close()
