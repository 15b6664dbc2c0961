"""Virtual pinhole cameras: a ring of cameras placed like Human3.6M's four, and their projections.

World frame: millimetres, Y up. Camera frame: x right, y DOWN, z forward (the convention of
`lifting.core.geometry`). Human3.6M films its actors with four cameras at the corners of the capture
area, about 5 m from its centre, near chest height, looking slightly down, with focal lengths
near 1150 px on 1000 x 1000 images; `ring_cameras` builds that rig around any centre.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Camera:
  rotation: np.ndarray  # [3, 3] world -> camera; camera x right, y DOWN, z forward
  position: np.ndarray  # [3] camera centre in world mm
  focal: float  # px
  center: tuple[float, float]  # principal point px
  image_size: tuple[int, int]  # (width, height)


def ring_cameras(
  num: int = 4,
  distance_mm: float = 5000.0,
  height_mm: float = 1400.0,
  focal_px: float = 1150.0,
  image_size=(1000, 1000),
  look_at_height_mm: float = 950.0,
) -> list[Camera]:
  """Cameras on a circle around the world origin (azimuths 45 + k*360/num deg), at chest
  height, looking at the origin at hip height (i.e. slightly down)."""
  if num < 1 or distance_mm <= 0 or focal_px <= 0:
    raise ValueError(f"ring_cameras: expected num >= 1, distance_mm > 0 and focal_px > 0, got {num}, "
                     f"{distance_mm} and {focal_px}")
  target = np.array([0.0, look_at_height_mm, 0.0])
  cams = []
  for k in range(num):
    az = np.deg2rad(45.0 + 360.0 * k / num)
    pos = np.array([distance_mm * np.sin(az), height_mm, distance_mm * np.cos(az)])
    z = (target - pos) / np.linalg.norm(target - pos)
    x = np.cross(z, [0.0, 1.0, 0.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)  # points down
    cams.append(
      Camera(
        rotation=np.stack([x, y, z]),
        position=pos,
        focal=float(focal_px),
        center=(image_size[0] / 2.0, image_size[1] / 2.0),
        image_size=(int(image_size[0]), int(image_size[1])),
      )
    )
  return cams


def world_to_camera(points_world: np.ndarray, camera: Camera) -> np.ndarray:
  """[..., 3] world mm -> [..., 3] camera-frame mm (x right, y down, z forward)."""
  return ((points_world - camera.position) @ camera.rotation.T).astype(np.asarray(points_world).dtype)


def camera_to_pixels(points_cam: np.ndarray, camera: Camera) -> np.ndarray:
  """[..., 3] camera-frame mm -> [..., 2] pixels (u right, v down), pinhole, no distortion."""
  uv = camera.focal * points_cam[..., :2] / points_cam[..., 2:3]
  return (uv + np.asarray(camera.center, dtype=uv.dtype)).astype(np.asarray(points_cam).dtype)
