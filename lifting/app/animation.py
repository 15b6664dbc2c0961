"""Animation files of world-grounded motion: BVH with root motion, and binary glTF (a skinned skeleton with its
animation) that Blender, three.js and game engines import.

Both come from one rigid skeleton (`lifting.app.retarget`) solved on a person's world poses (`lifting.app.motion`:
metres, y up, the floor at y = 0, z towards the camera), so the hips travel and the feet stand on the floor:

* ``motion.bvh`` (`write_bvh`): centimetres, the root's position and every joint's rotation (Z, X, Y) per frame,
  one frame per video frame.
* ``motion.glb`` (`write_glb`): metres, glTF 2.0's units; one node per joint (the rest pose a T-pose, the
  character facing +Z, its left on +X), a thin box per bone skinned to its joint so viewers show the figure, and one
  animation whose keys are the frames: the root's translation and every joint's rotation (quaternions, linear).
  Written with pygltflib. No FBX: no maintained library writes it from Python.
"""

from __future__ import annotations

import numpy as np

from lifting.app import retarget

GLB_BONE_WIDTH_M = 0.04  # The boxes that show the skeleton.


def skeleton_clip(world: np.ndarray, units_per_m: float) -> retarget.Retargeted:
  """The rigid skeleton and joint rotations of one person's world poses ``[F, 14, 3]`` (metres, y up, z towards the
  camera; every frame finite), in ``units_per_m`` (100: centimetres)."""
  world = np.asarray(world, np.float64)
  # `retarget` takes camera-frame millimetres (y down, z forward) and turns them y up: the same half turn back.
  camera_like = world * np.array([1.0, -1.0, -1.0]) * 1000.0
  return retarget.retarget(camera_like, units=units_per_m / 1000.0)


def write_bvh(path: str, world: np.ndarray, fps: float) -> retarget.Retargeted:
  """``motion.bvh`` of one person's world poses ``[F, 14, 3]`` (metres) in centimetres, with root motion."""
  from lifting.data import bvh
  clip = skeleton_clip(world, 100.0)
  bvh.write_bvh(path, retarget.to_motion(clip, 1.0 / fps))
  return clip


def _quaternions(rotations: np.ndarray) -> np.ndarray:
  """``[..., 3, 3]`` rotation matrices -> ``[..., 4]`` unit quaternions (x, y, z, w), w >= 0."""
  r = np.asarray(rotations, np.float64)
  w = np.sqrt(np.maximum(1.0 + r[..., 0, 0] + r[..., 1, 1] + r[..., 2, 2], 0.0)) / 2
  x = np.sqrt(np.maximum(1.0 + r[..., 0, 0] - r[..., 1, 1] - r[..., 2, 2], 0.0)) / 2
  y = np.sqrt(np.maximum(1.0 - r[..., 0, 0] + r[..., 1, 1] - r[..., 2, 2], 0.0)) / 2
  z = np.sqrt(np.maximum(1.0 - r[..., 0, 0] - r[..., 1, 1] + r[..., 2, 2], 0.0)) / 2
  x = np.copysign(x, r[..., 2, 1] - r[..., 1, 2])
  y = np.copysign(y, r[..., 0, 2] - r[..., 2, 0])
  z = np.copysign(z, r[..., 1, 0] - r[..., 0, 1])
  q = np.stack([x, y, z, w], axis=-1)
  return q / np.linalg.norm(q, axis=-1, keepdims=True)


def _box(a: np.ndarray, b: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray]:
  """Eight corners and twelve triangles of a box of ``width`` around the segment from ``a`` to ``b``."""
  axis = b - a
  length = np.linalg.norm(axis)
  u = axis / length if length > 1e-9 else np.array([0.0, 1.0, 0.0])
  side = np.cross(u, [0.0, 0.0, 1.0] if abs(u[2]) < 0.9 else [1.0, 0.0, 0.0])
  side /= np.linalg.norm(side)
  up = np.cross(u, side)
  h = width / 2
  corners = [a + s * h * side + t * h * up for s in (-1, 1) for t in (-1, 1)]
  corners += [b + s * h * side + t * h * up for s in (-1, 1) for t in (-1, 1)]
  faces = [(0, 1, 3), (0, 3, 2), (4, 6, 7), (4, 7, 5), (0, 4, 5), (0, 5, 1), (2, 3, 7), (2, 7, 6), (0, 2, 6),
           (0, 6, 4), (1, 5, 7), (1, 7, 3)]
  return np.asarray(corners), np.asarray(faces)


def write_glb(path: str, world: np.ndarray, fps: float, name: str = "lifted") -> retarget.Retargeted:
  """``motion.glb`` of one person's world poses ``[F, 14, 3]`` (metres): see the module docstring."""
  import pygltflib
  clip = skeleton_clip(world, 1.0)
  names, parents, offsets = clip.names, clip.parents, clip.offsets
  frames = len(clip.root_positions)
  rest = np.zeros((len(names), 3))  # Rest-pose joint positions (the rest rotations are identities).
  for k, parent in enumerate(parents):
    rest[k] = offsets[k] if parent < 0 else rest[parent] + offsets[k]
  rest[0] = clip.root_positions[0]
  blobs, views, accessors = [], [], []

  def add(array: np.ndarray, kind: str, component=pygltflib.FLOAT, target=None, bounds=False) -> int:
    data = np.ascontiguousarray(array).tobytes()
    offset = sum(len(b) for b in blobs)
    blobs.append(data + b"\0" * (-len(data) % 4))
    views.append(pygltflib.BufferView(buffer=0, byteOffset=offset, byteLength=len(data), target=target))
    flat = np.asarray(array).reshape(len(array), -1)
    accessors.append(pygltflib.Accessor(
        bufferView=len(views) - 1, componentType=component, count=len(array), type=kind,
        min=flat.min(0).tolist() if bounds else None, max=flat.max(0).tolist() if bounds else None))
    return len(accessors) - 1

  vertices, joints, triangles = [], [], []
  for k, parent in enumerate(parents):
    if parent < 0 or np.linalg.norm(offsets[k]) < 1e-6:
      continue
    corners, faces = _box(rest[parent], rest[k], GLB_BONE_WIDTH_M)
    triangles.append(faces + len(vertices) * 8)
    vertices.append(corners)
    joints.append(parent)
  positions = np.concatenate(vertices).astype(np.float32)
  joint_ids = np.zeros((len(positions), 4), np.uint16)
  joint_ids[:, 0] = np.repeat(joints, 8)
  weights = np.zeros((len(positions), 4), np.float32)
  weights[:, 0] = 1.0
  indices = np.concatenate(triangles).reshape(-1).astype(np.uint16)
  inverse_bind = np.tile(np.eye(4, dtype=np.float32), (len(names), 1, 1))
  inverse_bind[:, 3, :3] = -rest  # glTF matrices are column-major: the translation is the last column.
  attrs = pygltflib.Attributes(POSITION=add(positions, pygltflib.VEC3, target=pygltflib.ARRAY_BUFFER, bounds=True),
                               JOINTS_0=add(joint_ids, pygltflib.VEC4, pygltflib.UNSIGNED_SHORT,
                                            pygltflib.ARRAY_BUFFER),
                               WEIGHTS_0=add(weights, pygltflib.VEC4, target=pygltflib.ARRAY_BUFFER))
  primitive = pygltflib.Primitive(attributes=attrs, indices=add(indices, pygltflib.SCALAR, pygltflib.UNSIGNED_SHORT,
                                                                pygltflib.ELEMENT_ARRAY_BUFFER))
  times = add((np.arange(frames) / fps).astype(np.float32), pygltflib.SCALAR, bounds=True)
  quats = _quaternions(clip.local_rotations).astype(np.float32)  # [F, J, 4]
  samplers, channels = [], []
  for k in range(len(names)):
    samplers.append(pygltflib.AnimationSampler(input=times, output=add(quats[:, k], pygltflib.VEC4),
                                               interpolation="LINEAR"))
    channels.append(pygltflib.AnimationChannel(sampler=len(samplers) - 1,
                                               target=pygltflib.AnimationChannelTarget(node=k, path="rotation")))
  samplers.append(pygltflib.AnimationSampler(input=times, output=add(clip.root_positions.astype(np.float32),
                                                                     pygltflib.VEC3), interpolation="LINEAR"))
  channels.append(pygltflib.AnimationChannel(sampler=len(samplers) - 1,
                                             target=pygltflib.AnimationChannelTarget(node=0, path="translation")))
  nodes = []
  for k, joint in enumerate(names):
    kids = [c for c, p in enumerate(parents) if p == k]
    translation = rest[0] if k == 0 else offsets[k]
    nodes.append(pygltflib.Node(name=joint, children=kids or None, translation=[float(v) for v in translation]))
  mesh_node = len(nodes)
  nodes.append(pygltflib.Node(name=f"{name}_figure", mesh=0, skin=0))
  gltf = pygltflib.GLTF2(
      asset=pygltflib.Asset(version="2.0", generator="lifting"), scene=0,
      scenes=[pygltflib.Scene(nodes=[0, mesh_node])], nodes=nodes,
      meshes=[pygltflib.Mesh(name=f"{name}_figure", primitives=[primitive])],
      skins=[pygltflib.Skin(inverseBindMatrices=add(inverse_bind, pygltflib.MAT4), joints=list(range(len(names))),
                            skeleton=0)],
      animations=[pygltflib.Animation(name=name, samplers=samplers, channels=channels)],
      accessors=accessors, bufferViews=views, buffers=[pygltflib.Buffer(byteLength=sum(len(b) for b in blobs))])
  gltf.set_binary_blob(b"".join(blobs))
  gltf.save_binary(path)
  return clip
