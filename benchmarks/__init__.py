"""Benchmarks: how fast the course runs, grades and draws, measured side by side.

Run ``python -m benchmarks`` (or ``make bench``). Every result that has a target is a ratio
of two things measured in the same run, repeated, with the median reported, because
absolute numbers on shared machines are noisy. Not part of the test suite (no timed tests);
``tests/benchmarks/test_smoke.py`` runs the same code on tiny sizes so it cannot rot.
"""
