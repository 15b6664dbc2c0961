"""Evaluators, one job a module, in the manner of big_vision's evaluators:

* `lifts`: a run's lift function over the device mesh (raw or averaged weights, flip averaging, temporal windows)
  and a run restored from its checkpoint;
* `test_set`: the run's own test set, every kind of weights, with the view diagnostics (during training and at
  its end);
* `baselines`: the trivial lifts every result is read beside;
* `generalisation`: the evaluation sets the config chooses (``eval.generalisation.sets``; each data protocol
  offers its own, `lifting.data.pipeline.load_evaluation_sets`) through `lifting.app.inference.Model.lift` from
  pixels, with view consistency where one instant was filmed twice;
* `history`: how the test error moved over a run's evaluations;
* `reports`: what a finished run's results hold, ``--mode=eval``, and the results files.

Every evaluation reports the errors of `lifting.core.metrics.dataset_metrics` (PA-MPJPE, N-MPJPE, PCK, AUC, per
action) and the view diagnostics (errors by the subject's yaw towards the camera, the depth-flip rate) for each
kind of weights a run keeps (raw and, with ``train.ema_decay``, their moving average); ``eval.weights`` says which
one results.json, the tables and lifts report. What a protocol adds (its name, its own metrics, a reference
result) comes from its data module (`lifting.data.pipeline.protocol_module`).
"""
