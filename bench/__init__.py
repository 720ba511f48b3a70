"""Benchmarks of the SmartLLMs Scheduler: ``python -m bench [--quick]`` (see `bench.__main__`)."""
