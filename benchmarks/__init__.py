"""Benchmark harnesses: scripts that print numbers (run from the repository root, e.g.
``python benchmarks/bench_train.py --help``); not part of the library. The tests import them."""
