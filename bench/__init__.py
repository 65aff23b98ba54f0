"""Benchmarks of the job core; each module is a script (see RESULTS.md for how to run them)."""
