"""Benchmarks (make bench): seeded databases and load measurements; results in benchmarks/results/."""
