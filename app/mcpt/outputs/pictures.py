"""The optional pictures of a CPU run, drawn step by step: the tiled video and the bird's-eye view."""

from __future__ import annotations


class Pictures:
    """The optional visual outputs of a run: tiled video and bird's-eye view."""

    def __init__(self, video, bev, camera_ids: list[int], calibs, sizes, fps: float) -> None:
        self.tiled = self.bird = None
        if video:
            from mcpt.outputs.tiled import TiledVideoWriter

            self.tiled = TiledVideoWriter(video, camera_ids, fps)
        if bev:
            from mcpt.outputs.bev import BirdsEyeView

            self.bird = BirdsEyeView(bev, calibs, sizes, fps=fps)

    def __bool__(self) -> bool:
        return self.tiled is not None or self.bird is not None

    def draw(self, step, out) -> None:
        b, r = out.batch, out.result
        if self.tiled is not None:
            images = {cid: f.image for cid, f in step.frames.items()}
            numbers = {cid: f.index for cid, f in step.frames.items()}
            self.tiled.write(images, b.camera_id, b.bbox, r.global_id, numbers)
        if self.bird is not None:
            self.bird.update(r.global_id, r.position, step.timestamp)

    def close(self) -> None:
        for o in (self.tiled, self.bird):
            if o is not None:
                o.close()
