"""Body keypoints: the COCO-17 layout, the pose model's output decoding, and the reference method's uses
of pose (foot point, matching quality gates, feature-bank admission, crowding)."""
