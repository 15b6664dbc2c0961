"""Command line: ``lifting`` (installed) or ``python run.py`` (a checkout), with
``[--config=experiments/X.py[:profile]] [--workdir=DIR] [--mode=train|eval|adapt|lift]``.

With no arguments it trains the paper's Adv + SS + TD on the real demo set shipped in the package
(`lifting/demo_config.py`, `lifting.data.demo`) for a few minutes on a CPU, then prints the test error beside
the flat pose's and the supervised reference's. Training resumes by itself from
the newest good checkpoint in ``--workdir`` (damaged steps are set aside; README, "Reliability").
``--mode=eval`` evaluates the newest good checkpoint (``--results_dir`` puts its results elsewhere);
``--mode=adapt`` prepares in-the-wild 2D poses for ``config.data.extra`` (`lifting.training.adapt`);
``--mode=lift --input=FILE --output=DIR`` lifts 2D keypoints, with the shipped model unless
``--workdir`` names a run. With ``--config.distributed=True`` run one copy per host
(`lifting.training.distributed`); only process 0 prints, logs and writes.
"""

import os
import sys

from absl import app
from absl import flags
from ml_collections import config_flags

_PACKAGE = os.path.dirname(os.path.abspath(__file__))
_DEFAULTS = os.path.join(_PACKAGE, "default_config.py")  # Where every config field is set and documented.
_PROG = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] not in ("", "-c") else "lifting"


def _bad_override(e: Exception):
  reason = " ".join(str(e).replace("\\n", " ").replace("\\'", "'").strip("'\"").split())
  sys.exit(f"{_PROG}: error: bad --config override: {reason}")


try:  # config_flags reads --config.* overrides here, at definition time.
  config_flags.DEFINE_config_file(
      "config", os.path.join(_PACKAGE, "demo_config.py"),
      "Experiment config file; override fields with --config.a.b=value.", lock_config=True)
except (AttributeError, KeyError, TypeError, ValueError) as e:
  _bad_override(e)
_WORKDIR = flags.DEFINE_string("workdir", "runs/default", "Directory for checkpoints, logs and results.")
_MODE = flags.DEFINE_enum(
    "mode", "train", ["train", "eval", "adapt", "lift"],
    "train: train (resuming if possible), evaluating at intervals; eval: evaluate the latest checkpoint on the test "
    "split, writing results.json and results.md; adapt: complete and domain-adapt the 2D poses of "
    "config.adapt.sources to the training data and cache them for data.extra; lift: lift the keypoints in --input "
    "with the model in --workdir (a training run or an exported model, with its own config.json; --config is "
    "ignored; without --workdir, the shipped model) and write them to --output.")
_RESULTS_DIR = flags.DEFINE_string(
    "results_dir", None, "eval: where results.json and results.md go (default --workdir): evaluating a run on other "
    "test inputs (detector-like 2D, another dataset's test set) keeps the run's own results.")
# --mode=lift
_INPUT = flags.DEFINE_string("input", None, "lift: keypoint file or folder (COCO JSON, OpenPose JSON folder or file, "
                             "LSP/LSPET .mat, MPII CSV, .npy/.npz/.csv arrays [F, J, 2|3]), or a video (any format "
                             "ffmpeg reads), an image or a folder of images (the [video] extra: MediaPipe Pose).")
_OUTPUT = flags.DEFINE_string("output", None, "lift: output folder (poses3d.npz, poses3d.json, pictures/).")
_FORMAT = flags.DEFINE_string("format", None, "lift: input format (default: from the file); one of "
                              "lsp, lspet, mpii_csv, coco, openpose, array.")
_LAYOUT = flags.DEFINE_string("layout", None, "lift: joint layout of array inputs, e.g. coco17, openpose25, h36m17.")
_MIN_SCORE = flags.DEFINE_list("min_score", ["0"], "lift: joints with a lower confidence are missing; one value, or "
                               "one per joint of the input's layout (comma-separated).")
_IMAGE_SIZE = flags.DEFINE_list("image_size", None, "lift: W,H; joints further outside the image are missing.")
_PICTURES = flags.DEFINE_integer("pictures", 4, "lift: PNGs (2D input and two 3D views) of this many poses.")
_CONTACT_SHEET = flags.DEFINE_integer("contact_sheet", 0, "lift: a contact sheet of this many random poses (0: none).")
_ANIMATE = flags.DEFINE_bool("animate", False, "lift: the whole sequence as animation.gif and animation.mp4 "
                             "(1200 x 620, 3D beside 2D).")
_VIEWER = flags.DEFINE_bool("viewer", False, "lift: also viewer.html, an interactive 3D viewer of every pose "
                             "(one self-contained file; opens offline in any browser).")
_SMOOTH = flags.DEFINE_float("smooth", 0.0, "lift: average each joint over time with a Gaussian of this many frames "
                             "(0: off; video input: 1 unless given). Only for one person's video in frame order; 1 "
                             "was chosen on held-out training videos (README: smoothing lifted video).")
_TRACK = flags.DEFINE_integer("track", None, "lift: keep one person's track only (inputs with several people per "
                               "frame are tracked; poses3d.json gives each pose's track).")
# --mode=lift on a video, an image or a folder of images (lifting/app/video.py; the [video] extra).
_OVERLAY = flags.DEFINE_bool("overlay", True, "lift, video input: overlay.mp4, the frames with the 2D skeletons "
                             "beside each person's 3D lift turning slowly.")
_BVH = flags.DEFINE_bool("bvh", False, "lift, video input: motion.bvh per person (centimetres): a rigid skeleton with "
                         "root motion, one rotation per joint and frame, its feet on the floor, for animation tools.")
_GLB = flags.DEFINE_bool("glb", False, "lift, video input: motion.glb per person (binary glTF, metres): a skinned "
                         "skeleton with its animation, for Blender, three.js and game engines.")
_HEIGHT = flags.DEFINE_float("height", 1.7, "lift: the people's stature in metres, which sizes the motion in the "
                             "world (the root's trajectory, the BVH and glTF skeletons).")
_FOCAL_MM = flags.DEFINE_float("focal_mm", None, "lift: the camera's 35 mm-equivalent focal length, for the root's "
                               "trajectory, when the file does not say (default: 26, a phone's main camera).")
_FOV = flags.DEFINE_float("fov", None, "lift: the camera's field of view across the image width in degrees (instead "
                          "of --focal_mm).")
_PIN_FEET = flags.DEFINE_bool("pin_feet", True, "lift, video input: hold each foot still while it is on the floor in "
                              "the world poses and animations (inverse kinematics), so feet neither skate nor sink.")
_NUM_PEOPLE = flags.DEFINE_integer("num_people", 1, "lift, video input: the most people MediaPipe Pose looks for "
                                   "in a frame (tracked over time).")
_FPS = flags.DEFINE_float("fps", 30.0, "lift: frame rate given to a folder of images (a video has its own).")
_MAX_SIDE = flags.DEFINE_integer("max_side", 1920, "lift, video input: frames larger than this many pixels on "
                                 "their long side are downscaled first.")
_SHOW_CONFIG = flags.DEFINE_bool("show_config", False, "Print the config (after --config.* overrides) and exit; "
                                  "each field is documented where lifting/default_config.py (experiments/default.py "
                                  "in a checkout) sets it.")
_ADAPT_STEPS = flags.DEFINE_integer("adapt_steps", 0, "lift: adapt a copy of the lifter to the input's own 2D for "
                                    "this many steps of the unsupervised losses before lifting it (0: off; "
                                    "experimental: on the footage protocol it made lifts worse, docs/footage.md; "
                                    "needs a model exported with its discriminators, as the shipped one is).")
_COMPLETION = flags.DEFINE_string("completion", "auto", "lift: completion network folder (run.py --mode=adapt's "
                                  "completion/), 'auto' (the one the run's data.extra came from) or 'none'.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  from lifting.training import allocator
  allocator.tune()  # Before JAX starts its threads (lifting/training/allocator.py says why).
  import jax  # Imported here so that --help is fast; importing touches no backend.

  from lifting.training import logs

  logs.setup_cli_logging()

  config = flags.FLAGS.config
  if _MODE.value == "lift":  # Before the training modules (and Orbax) are imported: a lift starts in seconds.
    try:
      _lift()
    except (ValueError, OSError) as e:
      sys.exit(f"{_PROG}: error: {e}")
    return
  if _SHOW_CONFIG.value:
    print(f"# {flags.FLAGS['config'].config_filename}, after overrides; each field is documented where "
          f"{_DEFAULTS} sets it.")
    def leaves(node, prefix):
      for key in sorted(node):
        if isinstance(node[key], dict):
          yield from leaves(node[key], f"{prefix}{key}.")
        else:
          yield f"{prefix}{key}", node[key]
    for name, value in leaves(config.to_dict(), "config."):
      print(f"{name} = {value!r}")
    return
  from lifting import train
  from lifting.evaluators import reports
  from lifting.training import distributed
  try:
    if "://" in _WORKDIR.value:
      raise ValueError(f"--workdir: expected a filesystem path (with --config.distributed=True, one every host "
                       f"sees), got the URL {_WORKDIR.value!r}: logs and results are written with open(); "
                       "mount the bucket (e.g. gcsfuse) and give its path")
    distributed.initialize(config.distributed)  # Before anything touches a JAX backend.
    first = jax.process_index() == 0  # Only process 0 prints (and, in lifting, logs and writes).
    if _MODE.value == "adapt":
      from lifting.training import adapt
      meta = adapt.prepare(config, _WORKDIR.value)
      if first:
        print(adapt.summary(meta))
      return
    if _MODE.value == "train":
      results = train.train_and_evaluate(config, _WORKDIR.value)
    else:
      config = _eval_config(config)
      if _RESULTS_DIR.value:
        os.makedirs(_RESULTS_DIR.value, exist_ok=True)
      results = reports.evaluate(config, _WORKDIR.value, results_dir=_RESULTS_DIR.value)
  except (ValueError, OSError, FloatingPointError) as e:  # Config, data, file and divergence problems: one line.
    sys.exit(f"{_PROG}: error: {e}")
  if not first:
    return
  if _MODE.value == "train":  # A line per seed's run.
    for workdir, r in zip(train.run_folders(config, _WORKDIR.value)[1], results.values()):
      _print_result(r, workdir)
  else:
    _print_result(results, _WORKDIR.value)
  if _MODE.value == "eval":
    print(open(os.path.join(_RESULTS_DIR.value or _WORKDIR.value, "results.md")).read(), end="")
    for alignment, m in results.get("mpi_inf_3dhp", {}).items():
      print(f"MPI-INF-3DHP, {alignment} alignment: PCK@150 {m['pck']:.1f}%, AUC {m['auc']:.1f}%")


def _eval_config(flag_config):
  """--mode=eval: the workdir's own config.json unless --config names a file, with every --config.* override given
  applied to it (evaluating with other test inputs, e.g. --config.data.noise_2d.test=True)."""
  import re

  from lifting import configs
  argv = sys.argv[1:]
  if any(re.match(r"^--?config(=|$)", a) for a in argv):
    return flag_config
  config = configs.load(_WORKDIR.value)
  for arg in argv:
    match = re.match(r"^--?(?:no)?config\.([^=]+)", arg)
    if match:
      *path, last = match.group(1).split(".")
      source, target = flag_config, config
      for key in path:
        source, target = source[key], target[key]
      target[last] = source[last]
  configs.validate(config)
  return config


def _print_result(results: dict, workdir: str) -> None:
  if "pa_mpjpe" in results:
    flat = results["baselines"]["flat"]["pa_mpjpe"]
    reference = results.get("supervised_reference")
    supervised = (f"; the supervised lifter, trained on the same set's 3D, scores {reference['pa_mpjpe']:.1f} mm"
                  if reference else "")
    print(f"step {int(results['step'])}: test PA-MPJPE {results['pa_mpjpe']:.1f} mm ({results['pa_mpjpe'] / flat:.2f}x "
          f"the flat pose), N-MPJPE {results['n_mpjpe']:.1f} mm, PCK@150 {100 * results['pck']:.1f}%, AUC "
          f"{100 * results['auc']:.1f}% over {int(results['num_poses']):,} poses; a flat pose scores PA-MPJPE "
          f"{flat:.1f} mm{supervised} (workdir {workdir})")
  if results.get("collapsed_to_flat"):
    print(f"warning: the lifter has collapsed to a flat pose (depth spread x{results['depth_spread_ratio']:.3f} of "
          "the truth's): it has not learned depth; see the learning rates and the loss weights")


def _lift():
  import jax

  from lifting import cache
  from lifting.app import lift_files
  # Compiled lift functions persist between commands, so a second lift skips XLA's compile
  # ($LIFTING_CACHE/jax, default ~/.cache/lifting/jax; the same folder holds the parsed-BVH cache).
  jax.config.update("jax_compilation_cache_dir", cache.folder("jax"))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  if not _INPUT.value or not _OUTPUT.value:
    raise ValueError("--mode=lift needs --input=FILE and --output=DIR (and optionally --workdir=a trained run)")
  size = None
  if _IMAGE_SIZE.value:
    try:
      size = tuple(int(v) for v in _IMAGE_SIZE.value)
      assert len(size) == 2
    except (ValueError, AssertionError):
      raise ValueError(f"--image_size: expected W,H in pixels, got {','.join(_IMAGE_SIZE.value)}") from None
  try:
    min_score = [float(v) for v in _MIN_SCORE.value]
  except ValueError:
    raise ValueError(f"--min_score: expected numbers, got {','.join(_MIN_SCORE.value)}") from None
  given = lambda name: flags.FLAGS[name].present  # noqa: E731  (absent: the input kind's default)
  options = lift_files.LiftOptions(
      completion=None if _COMPLETION.value.lower() == "none" else _COMPLETION.value,
      min_score=(min_score[0] if len(min_score) == 1 else tuple(min_score)) if given("min_score") else None,
      smooth=_SMOOTH.value if given("smooth") else None, track=_TRACK.value, adapt_steps=_ADAPT_STEPS.value,
      height_m=_HEIGHT.value, focal_mm=_FOCAL_MM.value, fov_deg=_FOV.value, fps=_FPS.value,
      pictures=_PICTURES.value if given("pictures") else None, viewer=_VIEWER.value,
      contact_sheet=_CONTACT_SHEET.value, animate=_ANIMATE.value, format=_FORMAT.value, layout=_LAYOUT.value,
      image_size=size, bvh=_BVH.value, glb=_GLB.value, overlay=_OVERLAY.value, max_side=_MAX_SIDE.value,
      num_people=_NUM_PEOPLE.value, pin_feet=_PIN_FEET.value)
  workdir = _WORKDIR.value if given("workdir") else None  # None: the shipped model.
  from lifting.app import frames
  if frames.is_media(_INPUT.value):
    _lift_video(workdir, options)
    return
  for name in ("bvh", "glb", "overlay", "num_people", "max_side", "pin_feet"):
    if given(name):
      raise ValueError(f"--{name} applies to video and image input; {_INPUT.value} is read as keypoints")
  out = lift_files.lift_file(workdir, _INPUT.value, _OUTPUT.value, options)
  c = out["joint_counts"]
  several = f" in {len(out['tracks'])} tracks" if len(out["tracks"]) > 1 else ""
  degenerate = out["degenerate_poses"]
  print(f"lifted {out['valid_poses']:,} of {out['num_poses']:,} poses{several} ({out['input_layout']} -> paper14) "
        f"with step {out['step']} of {out['model']}: {c['observed']:,} joints observed, {c['completed']:,} completed, "
        f"{c['missing']:,} missing (fallback)"
        f"{f'; skipped {degenerate} degenerate poses (joints at one point)' if degenerate else ''}"
        f"; wrote {', '.join(out['files'][:6])}"
        f"{' ...' if len(out['files']) > 6 else ''} in {out['output']}")


def _lift_video(workdir, options):
  from lifting.app import video
  for name in ("format", "layout", "image_size", "contact_sheet", "animate"):
    if flags.FLAGS[name].present:
      raise ValueError(f"--{name} applies to keypoint files; {_INPUT.value} is read as a video or images")
  out = video.lift_video(workdir, _INPUT.value, _OUTPUT.value, options=options)
  for warning in out.get("warnings", []):
    print(f"warning: {warning}", file=sys.stderr)
  gaps = f"; no person in {len(out['gaps'])} frames (gaps)" if out["gaps"] else ""
  original = out["downscaled_from"]
  scaled = f", downscaled from {original[0]}x{original[1]}" if original else ""
  several = f" in {len(out['tracks'])} tracks" if len(out["tracks"]) > 1 else ""
  print(f"lifted {out['valid_poses']:,} of {out['num_poses']:,} poses{several} from {out['frames']:,} frames "
        f"({out['frame_size'][0]}x{out['frame_size'][1]}{scaled}, {out['fps']:g} fps){gaps} with step {out['step']} "
        f"of {out['model']}; wrote {', '.join(out['files'][:6])}{' ...' if len(out['files']) > 6 else ''} in "
        f"{out['output']}")


_HELP = ("-h", "-?", "--help", "--helpshort", "--helpfull")


def _parse_flags(argv):
  """absl's parser, but a bad ``--config.x`` gives one line instead of a traceback, and help exits 0."""
  if any(a in _HELP for a in argv[1:]):
    full = "--helpfull" in argv[1:]
    print(__doc__)
    print(flags.FLAGS.get_help() if full else flags.FLAGS.module_help(__name__))
    print(f"\nConfig fields (--config.FIELD=VALUE): every field is set, with a comment saying what it does, in "
          f"{_DEFAULTS} (experiments/default.py in a checkout); experiments/*.py override some of them "
          f"(experiments/README.md). --show_config prints a config with the values a run would use.")
    sys.exit(0)
  try:
    parsed = flags.FLAGS(argv)
  except flags.Error as e:
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    if "Traceback (most recent call last):" in lines:  # config_flags wraps the config file's own error in one.
      given = [a.split("=", 1)[1] for a in argv[1:] if a.startswith("--config=")]
      sys.exit(f"{_PROG}: error: the config file {given[-1] if given else 'lifting/demo_config.py'!r} failed to "
               f"load: {lines[-1]}")
    sys.exit(f"{_PROG}: error: {e}")
  except Exception as e:  # pylint: disable=broad-except
    where = _config_file_frame(e)
    if where is not None:  # The config file itself failed: its file and line, not absl's stack.
      sys.exit(f"{_PROG}: error: the config file failed to load: {type(e).__name__}: {e}\n{where}")
    if isinstance(e, (AttributeError, KeyError, TypeError, ValueError)):
      _bad_override(e)
    raise
  import ml_collections
  if not isinstance(flags.FLAGS.config, ml_collections.ConfigDict):
    sys.exit(f"{_PROG}: error: the config file {flags.FLAGS['config'].config_filename!r}: get_config() returned "
             f"{type(flags.FLAGS.config).__name__}, expected an ml_collections.ConfigDict")
  return parsed


def _config_file_frame(e: BaseException) -> str | None:
  """``  File "...", line N`` and the line's code, for the innermost frame of an exception raised in a config
  file's own code (a syntax error in it, or an error while it imports or builds its config); else ``None``."""
  if isinstance(e, SyntaxError) and e.filename and not e.filename.startswith("<"):
    return f'  File "{e.filename}", line {e.lineno}\n    {(e.text or "").strip()}'
  import traceback
  library = (os.sep + "site-packages" + os.sep, os.sep + "dist-packages" + os.sep, "<frozen", _PACKAGE + os.sep)
  ours = [f for f in traceback.extract_tb(e.__traceback__) if not any(m in f.filename for m in library)
          and f.filename != os.path.abspath(sys.argv[0])]
  if not ours:
    return None
  f = ours[-1]
  return f'  File "{f.filename}", line {f.lineno}, in {f.name}\n    {(f.line or "").strip()}'



def _quiet_closed_loops(unraisable) -> None:
  """``sys.unraisablehook`` of the command: after a failed checkpoint read, TensorStore's threads still finish
  reads whose callbacks reach Orbax's event loop, closed by then; each would print a traceback of
  ``RuntimeError: Event loop is closed`` (hundreds of them, a different number each run). Those are dropped;
  anything else goes to Python's own hook."""
  value = unraisable.exc_value
  if isinstance(value, RuntimeError) and str(value) == "Event loop is closed":
    return
  sys.__unraisablehook__(unraisable)


def run() -> None:
  """The ``lifting`` console command and ``python run.py``."""
  sys.unraisablehook = _quiet_closed_loops
  # Of the same reads, asyncio logs every failed future nobody awaited ("Future exception was never retrieved",
  # a TensorStore spec each, thousands of lines): the failure is reported once, by the restore.
  import logging
  logging.getLogger("asyncio").setLevel(logging.CRITICAL)
  app.run(main, flags_parser=_parse_flags)
