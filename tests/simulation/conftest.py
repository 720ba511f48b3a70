from pathlib import Path

import pandas as pd
import pytest

from engine.traces import load_trace, write_trace_frames
from engine.traces.writer import trace_frames

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def slice_trace(tmp_path_factory):
    """Every 20th job of the sample (150 jobs, a newcomer model joining mid-stream included, over every task and dataset), written as a trace folder."""
    models, queries, outcomes = trace_frames(load_trace(ROOT / "sample_data" / "demo"))
    queries = queries.iloc[::20]
    outcomes = outcomes[outcomes["query_id"].isin(set(queries["query_id"]))]
    folder = tmp_path_factory.mktemp("trace") / "slice"
    write_trace_frames(folder, models, queries, pd.DataFrame(outcomes))
    return load_trace(folder)
