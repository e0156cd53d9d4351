"""Detectors of mislabeled samples: per-sample signals, the Beta and Gaussian mixtures that turn
them into decisions, their metrics, confident learning (cleanlab) and cleaned labels."""
