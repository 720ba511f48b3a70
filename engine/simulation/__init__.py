"""Replaying traces through policies, metrics and what-if sweeps."""
