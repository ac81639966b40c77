"""The benchmark suite: `python -m bench NAME` (see bench/README.md).

Speed targets are checked here, on demand, never by timed tests. Each benchmark builds large synthetic data in a
database of its own, times operations over several runs and prints medians with ratios against a baseline
measured in the same run, so the numbers compare across machines.
"""
