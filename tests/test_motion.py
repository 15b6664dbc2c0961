"""World-grounded motion (the trajectory, the floor, the feet) and the animation files, opened by Blender."""

import os
import shutil
import subprocess

import numpy as np
import pytest

from lifting.app import animation
from lifting.app import inference
from lifting.app import motion
from lifting.app import retarget
from lifting.core import skeleton
from lifting.data import bvh
from lifting.data import cameras
from lifting.data import synthetic

LAYOUT = skeleton.get_layout("paper14")
J = {n: i for i, n in enumerate(LAYOUT.joints)}


def _walk(frames=90):
  """World poses (metres, y up) of the demo generator's walker, its feet on the floor, moved so that the lower foot
  of every frame stays where it is (the walk's own root motion)."""
  demo = synthetic.make_demo_data(seed=2, num_train_sequences=1, num_test_sequences=1, num_frames=frames,
                                  num_cameras=1)
  cam = demo.train_3d[0].astype(np.float64) / 1000.0
  root = cam[:, list(LAYOUT.root_joints)].mean(axis=1, keepdims=True)
  world = (cam - root) * np.array([1.0, -1.0, -1.0])
  world[..., 1] -= world[:, list(motion.ANKLES), 1].min(axis=1).min()
  lower = np.argmin(world[:, list(motion.ANKLES), 1], axis=1)
  step = np.zeros((frames, 3))
  for t in range(1, frames):
    ankle = motion.ANKLES[lower[t]]
    step[t, [0, 2]] = world[t - 1, ankle, [0, 2]] - world[t, ankle, [0, 2]]
  return world + np.cumsum(step, axis=0)[:, None, :]


def _film(world, camera):
  """``(Lifted, frame_of, truth root [F, 3] camera metres)`` of world poses seen by a static ``camera``."""
  mm = world * 1000.0 * np.array([1.0, 1.0, 1.0])
  cam3d = cameras.world_to_camera(mm, camera) / 1000.0
  px = cameras.camera_to_pixels(cam3d * 1000.0, camera)
  root = cam3d[:, list(LAYOUT.root_joints)].mean(axis=1)
  rel = cam3d - root[:, None]
  h2r = np.linalg.norm(rel[:, J["head"]], axis=-1)
  lifted = inference.Lifted(rel / h2r[:, None, None], camera.focal * h2r / root[:, 2], np.zeros((len(world), 14), np.int8),
                            px, np.ones(len(world), bool), LAYOUT.joints, tuple(map(str, range(len(world)))))
  return lifted, np.arange(len(world)), root


def _height(world):
  """The stature `metres_per_unit` assumes for this body (its head-to-root length and legs)."""
  rel = world - world[:, list(LAYOUT.root_joints)].mean(axis=1, keepdims=True)
  h2r = np.median(np.linalg.norm(rel[:, J["head"]], axis=-1))
  legs = np.median([np.linalg.norm(world[:, h] - world[:, k], axis=-1) + np.linalg.norm(world[:, k] - world[:, a], axis=-1)
                    for h, k, a in zip(motion.HIPS, motion.KNEES, motion.ANKLES)])
  return (h2r + legs) / (1 - motion.HEAD_ABOVE - motion.ANKLE_ABOVE)


def _camera(size=(1920, 1080), focal=1400.0):
  position = np.array([0.0, 1500.0, 4500.0])
  rotation = cameras.ring_cameras(1)[0].rotation  # Replaced below: looking at the path's centre.
  target = np.array([0.0, 900.0, 0.0])
  z = (target - position) / np.linalg.norm(target - position)
  x = np.cross(z, [0.0, 1.0, 0.0])
  x /= np.linalg.norm(x)
  rotation = np.stack([x, np.cross(z, x), z])
  return cameras.Camera(rotation, position, focal, (size[0] / 2, size[1] / 2), size)


def test_intrinsics_from_metadata_flags_or_the_stated_default():
  default = motion.intrinsics((1920, 1080))
  assert default.source == "default" and default.center == (960.0, 540.0)
  assert default.focal_px == pytest.approx(26.0 * np.hypot(1920, 1080) / np.hypot(36, 24))
  assert motion.intrinsics((1920, 1080), fov_deg=90.0).focal_px == pytest.approx(960.0)
  assert motion.intrinsics((1920, 1080), focal_mm=50.0, metadata_focal_mm=28.0).source == "metadata"
  with pytest.raises(ValueError, match="--fov: expected"):
    motion.intrinsics((100, 100), fov_deg=0.0)


def test_a_walk_filmed_by_a_known_camera_is_placed_back_in_the_world():
  world = _walk()
  camera = _camera()
  lifted, frame_of, root = _film(world, camera)
  intr = motion.Intrinsics(camera.focal, camera.center, camera.image_size, "test")
  placed = motion.world_motion(lifted, frame_of, intr, 30.0, _height(world), pin=False)
  error = np.linalg.norm(placed.root - root, axis=-1).mean()
  assert error < 0.01  # Metres: from exact 2D the trajectory is exact but for its smoothing.
  up = placed.ground.up
  truth_up = camera.rotation[:, 1]  # World +y in the camera frame.
  # This generator's walker barely travels and leans about 10 degrees: its body axis gives the up direction only
  # roughly (the floor's plane, where the feet cover ground, is tested below; real walks in benchmarks/world.py).
  assert np.degrees(np.arccos(np.clip(up @ truth_up, -1, 1))) < 15.0
  ankles = placed.world[:, list(motion.ANKLES), 1]
  assert abs(np.percentile(ankles, 5) - motion.ANKLE_ABOVE * _height(world)) < 0.03
  assert placed.contacts.any()  # A foot stands on the floor.
  pinned = motion.world_motion(lifted, frame_of, intr, 30.0, _height(world), pin=True)
  feet = pinned.feet[0]
  assert feet["after"]["skating_mm"] < 5.0 and feet["after"]["skating_mm"] <= feet["before"]["skating_mm"]


def test_the_floor_is_the_plane_of_the_feet_where_they_cover_an_area():
  rng = np.random.default_rng(0)
  tilt = np.asarray(motion.world_frame(motion.Ground(np.array([0.0, -1.0, 0.0]), 0.0), np.zeros(3))[0])
  truth_up = np.array([0.1, -0.95, -0.3]) / np.linalg.norm([0.1, -0.95, -0.3])
  side = np.cross(truth_up, [0.0, 0.0, 1.0])
  side /= np.linalg.norm(side)
  ahead = np.cross(side, truth_up)
  spots = rng.uniform(-1.5, 1.5, (200, 2)) @ np.stack([side, ahead]) + np.array([0.0, 1.5, 5.0])
  poses = np.zeros((200, 14, 3))
  lean = truth_up + np.array([0.15, 0.0, 0.0])  # Bodies that lean: the feet still give the floor.
  for k, ankle in enumerate(motion.ANKLES):
    poses[:, ankle] = spots + (0.07 + 0.3 * k) * truth_up
  poses[:, J["neck"]] = spots + 1.4 * lean
  ground = motion.estimate_ground(poses)
  assert np.degrees(np.arccos(np.clip(ground.up @ truth_up, -1, 1))) < 1.0
  assert tilt.shape == (3, 3)


def test_pinned_feet_hold_still_and_stay_on_the_floor():
  world = _walk(60)
  sliding = world.copy()
  sliding[:, J["l_ankle"], 0] += np.linspace(0.0, 0.3, 60)  # The left ankle skates 30 cm.
  contact = np.zeros((60, 2), bool)
  contact[10:40, 0] = True
  pinned = motion.pin_feet(sliding, contact)
  ankle = pinned[10:40, J["l_ankle"]]
  assert np.abs(ankle - ankle[0]).max() < 1e-6
  assert ankle[0, 1] == pytest.approx(motion.ANKLE_ABOVE * motion.DEFAULT_HEIGHT_M)
  shin = np.linalg.norm(pinned[:, J["l_knee"]] - pinned[:, J["l_ankle"]], axis=-1)
  np.testing.assert_allclose(shin[10:40], np.median(shin), rtol=1e-6)  # Legs keep their lengths.
  assert motion.foot_metrics(pinned, contact)["skating_mm"] < motion.foot_metrics(sliding, contact)["skating_mm"]


def test_the_bvh_carries_root_motion_in_centimetres_and_the_glb_is_valid_gltf(tmp_path):
  import pygltflib
  world = _walk(45)
  animation.write_bvh(str(tmp_path / "motion.bvh"), world, 30.0)
  read = bvh.read_bvh(str(tmp_path / "motion.bvh"))
  assert read.frames.shape[0] == 45 and read.frame_time == pytest.approx(1 / 30)
  positions = bvh.forward_kinematics(read, retarget.NAMES)
  hips = positions[:, retarget.NAMES.index("Hips")]
  truth = world[:, list(LAYOUT.root_joints), 0].mean(axis=1)
  np.testing.assert_allclose(hips[-1, 0] - hips[0, 0], 100 * (truth[-1] - truth[0]), atol=0.5)
  feet = positions[:, [retarget.NAMES.index("LeftFoot"), retarget.NAMES.index("RightFoot")], 1]
  assert feet.min() == pytest.approx(100 * world[:, list(motion.ANKLES), 1].min(), abs=1.0)
  animation.write_glb(str(tmp_path / "motion.glb"), world, 30.0)
  gltf = pygltflib.GLTF2().load(str(tmp_path / "motion.glb"))
  assert len(gltf.nodes) == len(retarget.NAMES) + 1 and len(gltf.skins[0].joints) == len(retarget.NAMES)
  times = gltf.accessors[gltf.animations[0].samplers[0].input]
  assert times.count == 45 and times.max[0] == pytest.approx(44 / 30)
  rotations = animation._quaternions(np.eye(3)[None])  # pylint: disable=protected-access
  np.testing.assert_allclose(rotations, [[0, 0, 0, 1]])


_BLENDER = """
import bpy, builtins, sys
import numpy
if not hasattr(numpy, "bool"):  # Debian's Blender 3.4 glTF importer still says numpy.bool.
  numpy.bool = bool
_open = builtins.open
builtins.open = lambda file, mode="r", *a, **k: _open(file, mode.replace("U", ""), *a, **k)  # BVH: mode 'rU'.
path = sys.argv[sys.argv.index("--") + 1]
bpy.ops.wm.read_factory_settings(use_empty=True)
if path.endswith(".glb"):
  bpy.ops.import_scene.gltf(filepath=path)
else:
  bpy.ops.import_anim.bvh(filepath=path, update_scene_fps=True, update_scene_duration=True)
armature = [o for o in bpy.data.objects if o.type == "ARMATURE"][0]
keys = {len(fc.keyframe_points) for fc in armature.animation_data.action.fcurves}
scene = bpy.context.scene
low = []
for f in range(int(scene.frame_start), int(scene.frame_end) + 1, 5):
  scene.frame_set(f)
  low.append(min((armature.matrix_world @ b.head).z for b in armature.pose.bones))
print("RESULT", len(armature.pose.bones), min(keys), max(keys), min(low), max(low))
"""


@pytest.mark.skipif(shutil.which("blender") is None, reason="needs Blender (apt-get install blender python3-numpy)")
@pytest.mark.parametrize("kind", ["bvh", "glb"])
def test_blender_imports_the_animation_with_a_key_per_frame_and_the_feet_on_the_floor(tmp_path, kind):
  world = _walk(30)
  path = str(tmp_path / f"motion.{kind}")
  (animation.write_bvh if kind == "bvh" else animation.write_glb)(path, world, 30.0)
  script = tmp_path / "check.py"
  script.write_text(_BLENDER)
  out = subprocess.run(["blender", "-b", "--factory-startup", "--python", str(script), "--", path],
                       capture_output=True, text=True, timeout=300)
  lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT")]
  assert lines, out.stdout[-2000:] + out.stderr[-2000:]
  bones, fewest, most, lowest, highest_low = (float(v) for v in lines[-1].split()[1:])
  assert bones == len(retarget.NAMES) and fewest == most == 30  # One key per frame on every channel.
  unit = 100.0 if kind == "bvh" else 1.0  # BVH in centimetres, glTF in metres.
  floor = world[:, list(motion.ANKLES), 1].min()
  assert lowest == pytest.approx(unit * floor, abs=0.02 * unit)  # The lowest joint (an ankle) on the floor.
  assert highest_low < unit * 0.2
  assert os.path.getsize(path) > 0
