"""Table-driven tests of job and model features."""

from __future__ import annotations

import math

import pytest

from engine.catalog import ModelSpec
from engine.jobs import Job
from engine.predictors.features import (
    CATEGORICAL_KEYS,
    CONTINUOUS_KEYS,
    N_WORD_BUCKETS,
    job_features,
    mask_variables,
    model_features,
    stable_hash,
)


def _job(text: str, dataset: str = "HDFS", job_id: str = "j") -> Job:
    return Job(job_id, "log_parsing", text, dataset)


@pytest.mark.parametrize(("text", "masked"), [
    ("PacketResponder 1 for block blk_-6952295868487656571 terminating",
     "PacketResponder <*> for block blk_<*> terminating"),
    ("ranges 2005-06-29 and x -5", "ranges <*>-<*>-<*> and x <*>"),
    ("Received block blk_123 of size 67108864 from /10.251.91.84",
     "Received block blk_<*> of size <*> from /<*>"),
    ("open /var/log/app/x.log failed", "open <*> failed"),
    ("id 0x7f3a ok", "id <*> ok"),
    ("uuid 123e4567-e89b-12d3-a456-426614174000 done", "uuid <*> done"),
    ("jk2_init() Found child 6725", "jk2_init() Found child <*>"),        # a digit glued to letters is a name
    ("Write a function to add two numbers.", "Write a function to add two numbers."),
    ("  spaced \t out  ", "spaced out"),
    ("", ""),
])
def test_mask_variables(text, masked):
    assert mask_variables(text) == masked


@pytest.mark.parametrize(("text", "key", "expected"), [
    ("abc", "digit_ratio", 0.0),
    ("a1b2", "digit_ratio", 0.5),
    ("AB cd", "upper_ratio", 0.4),
    ("a-b!", "symbol_ratio", 0.5),
    ("x 1 2 3", "log_vars", math.log1p(3)),
    ("x 1 2 3", "var_ratio", 0.75),
    ("one two three", "log_tokens", math.log1p(3)),
    ("abcd", "log_chars", math.log1p(4)),
    ("", "log_chars", 0.0),
])
def test_numeric_job_features(text, key, expected):
    assert job_features(_job(text, job_id=f"num-{text}"))[key] == pytest.approx(expected)


@pytest.mark.parametrize(("a", "b", "same"), [
    ("PacketResponder 1 for block blk_1 terminating", "PacketResponder 0 for block blk_-9 terminating", True),
    ("connection from 10.0.0.1 at 12:00", "connection from 192.168.1.20 at 13:45", True),
    ("PacketResponder 1 for block blk_1 terminating", "Received block blk_1 of size 5", False),
    ("session opened for user alice", "session opened for user bob", False),   # words are not masked
])
def test_shape_groups_lines_of_one_template(a, b, same):
    fa, fb = job_features(_job(a, job_id="a")), job_features(_job(b, job_id="b"))
    assert (fa["shape"] == fb["shape"]) is same


def test_job_features_have_expected_keys_and_types():
    feats = job_features(_job("Received block blk_123 of size 67108864 from /10.251.91.84"))
    for key in CATEGORICAL_KEYS:
        assert isinstance(feats[key], str)
    for key in CONTINUOUS_KEYS:
        assert isinstance(feats[key], float) and math.isfinite(feats[key])
    indicators = [k for k in feats if k not in CATEGORICAL_KEYS and k not in CONTINUOUS_KEYS]
    assert indicators and all(feats[k] == 1.0 for k in indicators)
    assert sum(k.startswith("len_b=") for k in indicators) == 1
    assert all(0 <= int(k[2:]) < N_WORD_BUCKETS for k in indicators if k.startswith("w="))


def test_job_features_are_cached_per_job():
    job = _job("cache me 42", job_id="cached")
    assert job_features(job) is job_features(Job("cached", "log_parsing", "cache me 42", "HDFS"))
    assert job_features(job) is not job_features(_job("cache me 42", job_id="other"))


def test_stable_hash_is_process_independent():
    assert stable_hash("hello") == 907060870      # zlib.crc32, unlike the salted built-in hash()


@pytest.mark.parametrize(("spec", "expected"), [
    (ModelSpec("a", "acme", 1.0, 1.0, 30.0),
     {"log_price": 0.0, "log_params": 0.0, "provider=acme": 1.0}),
    (ModelSpec("b", "openai"),
     {"price_unknown": 1.0, "params_unknown": 1.0, "provider=openai": 1.0}),
    (ModelSpec("c", "x", 10.0, 10.0, None, tier="top"),
     {"log_price": 1.0, "params_unknown": 1.0, "provider=x": 1.0, "tier=top": 1.0, "tier_rank": 1.0}),
    (ModelSpec("d", "x", 0.1, 0.1, 3.0, tier="cheap"),
     {"log_price": -1.0, "log_params": -1.0, "provider=x": 1.0, "tier=cheap": 1.0, "tier_rank": -1.0}),
])
def test_model_features(spec, expected):
    feats = model_features(spec)
    assert feats.keys() == expected.keys()
    for key, value in expected.items():
        assert feats[key] == pytest.approx(value)


def test_model_features_running_statistics():
    assert model_features(ModelSpec("a", "p"), {"acc": 0.7})["run_acc"] == 0.7
