"""Traces: recorded outcomes of real LLM calls, read from and written to the trace format.

A trace is a folder with models.csv, queries.csv and outcomes.csv (each may be .csv.gz); see the README.
"""

from engine.traces.model import ModelRow, Trace
from engine.traces.reader import load_trace
from engine.traces.writer import write_trace, write_trace_frames

__all__ = ["ModelRow", "Trace", "load_trace", "write_trace", "write_trace_frames"]
