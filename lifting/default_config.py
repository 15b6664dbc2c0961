"""Shared default configuration: the paper's method (Adv + SS) on the procedural demo data.

Every config (``experiments/*.py``, and `lifting.demo_config`, what ``lifting`` runs with no ``--config``)
starts from ``get_config()`` here and overrides only what it changes; a run's saved ``config.json`` is
upgraded from it (`lifting.configs.upgrade`). The argument after a config file's name picks a profile::

    python run.py --config=experiments/adv_ss.py          # "cpu": minutes on a laptop CPU
    python run.py --config=experiments/adv_ss.py:paper    # paper scale, for a GPU/TPU

Paper-scale values (Chen et al., CVPR 2019, sec. 3.7): width 1024 (Martinez et al.), batch 8192,
depth c = 10, Adam, loss weights w2D = 10, w3D = 0.001, wT = 1, random azimuth in [-pi, pi] and
elevation in [-pi/9, pi/9]. The paper does not give learning rates, their schedule and length,
dropout, the GAN loss form or the discriminator update ratio: the CPU profile's values were chosen
on held-out training actors (experiments/README.md), and the paper profile scales them (the same
schedule shape and averaging horizon over its longer run), which no GPU run here has checked.
"""

import math
import os

import ml_collections

# Where the shared data sits next to a checkout (beside its lifting/ folder); point the fields below at your copy.
_DATA = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data"))

PROFILES = ("cpu", "fast", "paper")


def get_config(profile: str = "cpu") -> ml_collections.ConfigDict:
  if profile not in PROFILES:
    raise ValueError(f"unknown config profile {profile!r}: expected one of {PROFILES}")
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.layout = "paper14"
  config.c = 10.0  # Depth of the skeleton's plane; 2D head-to-root is normalised to 1 / c.
  # One process per host of a pod or cluster (lifting/training/distributed.py); False: this process's devices only.
  config.distributed = False

  config.data = ml_collections.ConfigDict()
  config.data.source = "synthetic"  # Procedural demo poses (lifting.data.synthetic); not a benchmark.
  config.data.scale = "dataset"     # 2D scale: "dataset" (one scale, as the paper says) or "pose".
  # Beyond the paper (lifting/core/augment.py): the first lift sees a share of the inputs with generic detector-like
  # errors (jitter up to `jitter` limb sizes, joints landing on other joints, left/right swaps); 0: off.
  config.data.train_noise = ml_collections.ConfigDict(dict(share=0.0, jitter=0.15, gross_rate=0.05, swap_rate=0.02))
  config.data.supervised_fraction = 1.0  # Share of the training takes (or frames) whose 3D the supervised term uses.
  config.data.supervised_unit = "take"   # What supervised_fraction samples: whole "take"s (all cameras) or "frame"s.
  config.data.synthetic = ml_collections.ConfigDict(dict(
      seed=0, num_train_sequences=64, num_test_sequences=8, num_frames=64, num_cameras=4))
  # The "bandai" protocol (lifting/data/bandai.py, README): real mocap, train actors A + B, test C.
  config.data.bandai = ml_collections.ConfigDict(dict(
      root=os.path.join(_DATA, "bandai_namco_motion"),  # The folder that holds dataset/.
      train_actors="AB", test_actors="C",
      extra_dataset1=False,  # Add dataset-1 (other contents, actors unknown) as training 2D.
      joint_map="bandai",    # Or, for another BVH skeleton, a JSON object / .json file: paper14 joint -> BVH joint.
      num_cameras=4, camera_distance_mm=5000.0, camera_height_mm=1400.0, focal_px=1150.0, image_size=(1000, 1000),
      train_stride=1, test_stride=1,
      # "fixed": the rig as above for every take (protocol "bandai/fixed-rig"); "turned": each take's rig
      # turned by its own seeded azimuth, so the 2D covers every view ("bandai/turned-rig"; README).
      rig="turned", rig_seed=0,
      cache_dir=""))         # Parsed-BVH cache; "" = $LIFTING_CACHE or ~/.cache/lifting.
  # The "footage" protocol (lifting/data/footage.py): every bandai content, split by content, filmed by cameras drawn
  # as wide as people film (0.5-3 m high, 2-8 m away, -10 to 45 degrees, phone and webcam lenses), bodies with the
  # detectors' joints and, with detector_2d, a video detector's errors. Reads the bandai files of data.bandai.root.
  config.data.footage = ml_collections.ConfigDict(dict(
      cameras=4, seed=0, train_stride=1, test_stride=2,
      # A video detector's errors (footage.Habits) on the training and test 2D; train_swaps: also its left/right
      # swaps on the training 2D (they make front and back views look alike, and seeds then converge to a lifter
      # that mirrors depth).
      detector_2d=ml_collections.ConfigDict(dict(train=True, test=True, train_swaps=False)),
      # The training split's dataset-2 takes also filmed by the bandai protocols' turned rig (their own joints).
      bandai_rig=False))
  # Human3.6M in VideoPose3D's preprocessed files (lifting/data/h36m.py): train S1 S5 S6 S7 S8, test S9 S11.
  config.data.h36m = ml_collections.ConfigDict(dict(
      path_3d="data/data_3d_h36m.npz", path_2d_gt="data/data_2d_h36m_gt.npz",
      path_2d="",   # Optional detections (e.g. data_2d_h36m_cpn_ft_h36m_dbb.npz) as 2D inputs.
      cameras="",   # Optional JSON of known extrinsics; by default they are fitted to the 2D ground truth.
      train_subjects=("S1", "S5", "S6", "S7", "S8"), test_subjects=("S9", "S11"),
      train_stride=1, test_stride=1))

  # Detector-like 2D (lifting/data/detector_noise.py): the exact projected 2D of the training and/or test
  # split replaced by a stacked-hourglass-sized error model (jitter, gross errors, left/right swaps,
  # missing joints filled by a completion network trained on the training 2D). The paper's Table 1
  # "detected 2D" protocol, for benchmarks without images; see experiments/adv_ss_td_noisy2d.py.
  config.data.noise_2d = ml_collections.ConfigDict(dict(
      train=False, test=False, model="hourglass_mpii", scale=1.0, gross_share=0.5, swap_rate=0.02,
      missing_given_gross=0.5, missing_rate=0.005, head_segment_mm=200.0, seed=0,
      complete=True))  # False: missing joints keep the detector's low-confidence guess.

  # MPI-INF-3DHP (lifting/data/mpi_inf_3dhp.py): its official test set, and its training subjects' 2D.
  config.data.mpi_inf_3dhp = ml_collections.ConfigDict(dict(
      root=os.path.join(_DATA, "mpi_inf_3dhp"),  # The folder that holds mpi_inf_3dhp_test_set/ (and S1 ... S8/).
      train_subjects=("S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8"), train_cameras=(0, 1, 2, 4, 5, 6, 7, 8),
      train_stride=1, test_sequences=("TS1", "TS2", "TS3", "TS4", "TS5", "TS6"), test_stride=1,
      universal=True))  # Ground truth on the universal skeleton (the protocol's); False: annot3.
  # The dataset whose test set is evaluated: "" = data.source's own; "mpi_inf_3dhp" = cross-dataset (Table 2).
  config.data.test_source = ""

  # Extra single 2D poses from other sources (sec. 3.6), prepared by `run.py --mode=adapt` (config.adapt).
  config.data.extra = ml_collections.ConfigDict(dict(
      kind="none",  # "adapted" (x_sc = x_s + C(x_s)), "raw" (the same poses unadapted: the control) or "none".
      path="",      # The .npz --mode=adapt wrote; "" = the cache file that config.adapt and the data map to.
      share=0.0))   # Share of each batch's poses drawn from them; 0 = their share of all training poses.

  # Unsupervised 2D domain adaptation (sec. 3.6, eq. 7) and joint completion (sec. 4.6):
  # `run.py --mode=adapt` reads the source keypoints, completes and adapts them to the target
  # (the training 2D of config.data), and caches the result for data.extra.
  config.adapt = ml_collections.ConfigDict()
  # Comma-separated "format:path" entries (formats of lifting.data.keypoints). LSP and MPII's held-out
  # CSV are kept for in-the-wild pictures, so by default the source is LSPET and MPII's training CSV.
  config.adapt.sources = ",".join((
      f"lspet:{os.path.join(_DATA, 'lsp_2d', 'repo', 'pose_dataset', 'lsp_ext', 'joints.mat')}",
      f"mpii_csv:{os.path.join(_DATA, 'mpii_2d', 'repo', 'pose_dataset', 'mpii', 'train_joints.csv')}"))
  config.adapt.min_visible = 10      # Fewer usable joints: dropped (the paper's Kinetics cut, sec. 4.6).
  config.adapt.complete = True       # Fill the missing joints of the others; False keeps complete poses only.
  config.adapt.occluded_missing = False  # Treat annotated-but-occluded joints as missing.
  config.adapt.min_score = 0.0       # Detector files: joints below this confidence are missing.
  config.adapt.seed = 0              # Shared by every lifter seed, so all use the same adapted poses.
  config.adapt.width = 1024
  config.adapt.blocks = 4            # Adapter C: 4 residual blocks with BatchNorm (sec. 3.7) ...
  config.adapt.disc_blocks = 3       # ... domain discriminator D_D: 3, without.
  config.adapt.gan = "standard"      # Eq. 7 is the standard GAN loss.
  config.adapt.reg = 10.0            # lambda of eq. 7, on corrections in head-to-root lengths (experiments/README.md).
  config.adapt.lr = 1e-4
  config.adapt.batch_size = 8192
  config.adapt.num_steps = 10_000
  config.adapt.completion = ml_collections.ConfigDict(dict(
      width=1024, layers=2, num_steps=10_000, batch_size=8192, lr=1e-3))

  config.model = ml_collections.ConfigDict()
  config.model.width = 1024
  config.model.lifter_blocks = 4
  config.model.disc_blocks = 3
  # Lifter dropout; the discriminators use disc_dropout. 0: on held-out training actors it gave the
  # supervised reference 21.6 mm against 23.3 with 0.25, and Adv+SS+TD no worse (experiments/README.md).
  config.model.dropout = 0.0
  config.model.disc_dropout = 0.0
  # Speed (README, "Performance"): "bits" draws dropout masks from 2 random bits per unit at rate 0.25,
  # "bernoulli" from a random float per unit (Flax's nn.Dropout; the same distribution, other draws).
  config.model.dropout_rng = "bits"
  config.model.dtype = "float32"  # Of the hidden matmuls; "bfloat16" for bfloat16 hardware (GPU, TPU).
  config.model.temporal_neighbours = 1  # M: frames after the current one that T sees.
  # Beyond the paper: 1 is the paper's single-frame lifter; 3^k (9, 27, 81) a lifter that sees that many frames
  # around each one (lifting.core.models.TemporalLifter), trained on windows of as many frames.
  config.model.lifter_frames = 1
  # Beyond the paper: the pose discriminator also sees the Gram matrix of the 2D bone vectors
  # (kinematic chain space, Wandt and Rosenhahn, CVPR 2019): projected bone lengths and angles.
  config.model.disc_kcs = False
  # Beyond the paper: the lifter also outputs a 2D correction per joint (lifting.core.models.lifted_points), trained
  # to undo data.train_noise's errors, so noisy keypoints are lifted from a cleaned 2D pose.
  config.model.denoise = False
  # The 2D prior of loss.w_flow (lifting/core/flow.py): RealNVP couplings over the leading principal components of
  # the training 2D, fitted once per run before training.
  config.model.flow = ml_collections.ConfigDict(dict(dims=20, layers=6, width=128, num_steps=2000, batch_size=1024,
                                                     lr=1e-3))
  # With loss.w_bone_window: each window also holds the frame this many frames on (0: none), so the
  # bone lengths are compared across real motion, not only over the M + 1 consecutive frames T sees.
  config.model.bone_window_span = 0

  config.rotation = ml_collections.ConfigDict()
  config.rotation.azimuth_range = (-math.pi, math.pi)
  config.rotation.elevation_range = (-math.pi / 9, math.pi / 9)
  config.rotation.roll_range = (0.0, 0.0)
  # Beyond the paper (ElePose, Wandt et al., CVPR 2022): the lifter also estimates each input's camera
  # elevation; random views turn the upright pose about its own vertical and draw their elevation from the
  # estimates' batch mean and sd (elevation_range is then unused). See lifting.training.train_step.make_update.
  config.rotation.learned_elevation = False
  # The estimates' bound (radians). Unbounded, the estimate ran to -82 degrees within 600 steps: tilting every
  # lifted pose onto the line of sight makes each random turn a turn in the image plane, which shows no depth.
  config.rotation.elevation_limit = math.pi / 6
  # Beyond the paper: like learned_elevation, but the elevation (and roll) of each lifted pose is read off its own
  # body's vertical, ankles to neck (lifting.core.geometry.body_tilt), instead of a learned estimate; the random views
  # draw theirs from normals with the batch's means and sds. Excludes learned_elevation.
  config.rotation.body_elevation = False
  config.rotation.elevation_prior_min = 0.0  # Radians; see loss.w_elevation_prior.
  # Beyond the paper: the random view's camera distance in units of c (the rotated root at depth d * c), drawn
  # log-uniformly from (low, high) per window, so projections have the perspective of near and far cameras as
  # users' 2D does; (1, 1): always c, the paper's eq. 3.
  config.rotation.distance_range = (1.0, 1.0)

  # Eq. 8. A term is on when its weight is > 0; off terms cost nothing and their networks
  # (pose or temporal discriminator) are not built.
  config.loss = ml_collections.ConfigDict()
  # "lsgan" (least squares) or "standard" (eq. 5). Public reproductions found least squares
  # workable; on the demo data (1500 CPU steps, b1 = 0.5, disc_every = 3) it reached test
  # PA-MPJPE 105.5 mm where the standard loss with b1 = 0.9, disc_every = 1 ended at 155.0 mm.
  config.loss.gan = "lsgan"
  config.loss.w_adv = 1.0
  config.loss.w_2d = 10.0
  config.loss.w_3d = 0.001
  config.loss.w_temporal = 0.0   # The paper's wT = 1 when on (see adv_ss_td.py).
  config.loss.w_symmetry = 0.0   # Only in the SS + Symm ablation.
  config.loss.w_supervised = 0.0  # 3D loss on the training frames: the supervised reference only.
  # Beyond the paper (each is its own config and table row, experiments/README.md):
  config.loss.w_flip = 0.0         # Left-right flip consistency: G(mirrored x) = mirrored G(x).
  config.loss.w_bone_window = 0.0  # Bone lengths constant over each training window (of 1 + M frames).
  config.loss.r1 = 0.0             # R1 gradient penalty on the discriminators' real inputs.
  config.loss.w_denoise = 0.0      # Corrected 2D against the clean pose (model.denoise, data.train_noise).
  config.loss.w_flow = 0.0         # NLL of the projections under a normalizing flow of the 2D (ElePose; model.flow).
  # The batch's mean camera elevation (learned or body) kept at or above rotation.elevation_prior_min: cameras look
  # down at people more often than up, which tells the right lift from its mirror in depth (losses.elevation_prior).
  config.loss.w_elevation_prior = 0.0

  config.optim = ml_collections.ConfigDict()
  config.optim.lifter_lr = 2e-4
  config.optim.disc_lr = 2e-4
  config.optim.temporal_lr = 2e-4
  config.optim.b1 = 0.5           # The usual Adam momentum for GANs.
  config.optim.b2 = 0.999
  # "exponential": decay_rate per decay_steps; "cosine": warm-up, then a cosine to final_lr_fraction of
  # the rate at train.num_steps, so a run ends converged (experiments/README.md).
  config.optim.schedule = "cosine"
  config.optim.decay_rate = 0.95  # Exponential decay of every learning rate, per decay_steps.
  config.optim.decay_steps = 1000
  config.optim.warmup_steps = 2_000
  config.optim.final_lr_fraction = 0.0
  config.optim.disc_updates = 1   # Discriminator updates per lifter update ...
  config.optim.disc_every = 3     # ... made on every disc_every-th step only.

  config.train = ml_collections.ConfigDict()
  config.train.batch_size = 8192  # Global: 2D poses lifted per step, split over all devices.
  config.train.num_steps = 100_000
  config.train.log_every = 100
  config.train.eval_every = 5_000
  config.train.checkpoint_every = 5_000
  config.train.max_checkpoints = 3
  # Seeds trained together as one compiled program (lifting.train.train_seeds), in workdir/seed<k>: each
  # seed its own initialisation, batches and random draws, the program and the devices shared.
  config.train.seeds = 1
  config.train.init_from = ""  # A workdir whose latest parameters start this run (fine-tuning).
  # At the end, with a 3D test set: results.json, results.md and test_poses.png (best, typical and worst
  # test poses, also a TensorBoard image) in the workdir. False: results.json and results.md only.
  config.train.pictures = True
  # Moving average of the lifter's parameters and batch statistics (0: none), the usual way to read
  # a GAN generator: evaluated and checkpointed beside the raw weights.
  config.train.ema_decay = 0.9999  # Averages about the last 10% of the run, as 0.999 does in the CPU profile.
  # Train steps per dispatch (one lax.scan): hides the host's per-step overhead where steps are short
  # (GPU, TPU; README, "Performance"). Calls stop at every log/eval/checkpoint step: keep those multiples of it.
  config.train.steps_per_call = 10

  config.eval = ml_collections.ConfigDict()
  # The weights results.json, the tables and lifts use: "ema" (the moving average) or "raw". Both
  # are evaluated during training (test/... and test_ema/... in metrics.jsonl).
  config.eval.weights = "ema"
  # Beyond the paper: every lift (evaluation and Model.lift) is averaged with the mirrored lift of the mirrored
  # pose (lifting.core.geometry.flip_average).
  config.eval.flip_average = False
  # Beyond the paper: every lift is also averaged over the 2D turned in the image by these angles (degrees), each
  # lift turned back about the camera's axis (lifting.core.geometry.roll_average); () lifts the 2D as given.
  config.eval.roll_degrees = ()
  # The evaluations during training (every train.eval_every steps) score this many evenly spaced test poses,
  # the same ones every time; the last one scores them all (0: all, every time). Keeps evaluating to a few
  # percent of a run (results.json's "timing") without losing the curve.
  config.eval.intermediate_poses = 16_384
  # Evaluation sets scored beside the test set at the end of training and by --mode=eval, through Model.lift from
  # pixels and through the normalised path. Each protocol offers its own (lifting.data.pipeline.protocol_module):
  # bandai (lifting/data/bandai.py) dataset-1's contents (other motions; the dev half for choosing things, the test
  # half for reporting) and the test actor's motions re-posed on num_bodies seeded bodies of other proportions
  # (cross-body); footage (lifting/data/footage.py) its test and dev contents and bandai's. sets: comma-separated
  # names, or "" for the protocol's defaults (its EVAL_SETS).
  config.eval.generalisation = ml_collections.ConfigDict(dict(
      enabled=True, sets="", dataset1_stride=4, num_bodies=8, body_seed=0, cross_body_stride=8))

  if profile in ("cpu", "fast"):
    # ---- CPU-sized overrides: `python run.py` finishes in minutes on 2 cores. ----
    config.model.width = 256
    config.train.batch_size = 512
    # The converged recipe (experiments/README.md): 8000 steps of a cosine schedule with a 200-step
    # warm-up; the moving average is reported. Learning rates stay at 2e-4 (they beat 1e-3 by 11 mm on
    # held-out training actors).
    config.train.num_steps = 8_000
    config.optim.warmup_steps = 200
    config.train.log_every = 100
    config.train.eval_every = 500
    config.train.checkpoint_every = 1_000
    config.train.steps_per_call = 1  # A CPU step is long enough that dispatch costs nothing.
    config.train.ema_decay = 0.999
    config.optim.decay_steps = 200  # Only with optim.schedule = "exponential" (the profile before the recipe).
    config.adapt.width = 256
    config.adapt.batch_size = 512
    config.adapt.num_steps = 2_000
    config.adapt.completion.update(width=256, batch_size=1024, num_steps=2_000)
  if profile == "fast":
    # ---- Time to accuracy: the CPU profile in a quarter of the steps at 5x the learning rates, chosen on actor
    # A -> B (experiments/README.md, sweep `speed`): 35.9 +- 0.9 mm on B against the 8000-step profile's 38.0 +- 1.9.
    # The moving average keeps about the same share of the run (its last ~250 steps).
    config.train.num_steps = 2_000
    config.optim.update(lifter_lr=1e-3, disc_lr=1e-3, temporal_lr=1e-3, warmup_steps=100)
    config.train.ema_decay = 0.996
    config.train.eval_every = 250
    config.train.checkpoint_every = 500
  return config
