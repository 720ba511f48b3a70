"""TemplateIndex: matching semantics, most-specific choice, scopes, removal, and equivalence with a
brute-force scan over random templates and lines (seeded)."""

from __future__ import annotations

import random

import pytest

from engine.cache.bench import instantiate, synthetic_templates
from engine.cache.log_templates import TemplateIndex, specificity
from engine.tasks.templates import normalize_ws, template_matches, template_regex


def _single(template: str) -> TemplateIndex:
    idx = TemplateIndex()
    assert idx.add("t", template, "d")
    return idx


@pytest.mark.parametrize(("template", "line", "expected"), [
    ("connect to <*> port <*>", "connect to 10.0.0.1 port 22", True),
    ("connect to <*> port <*>", "connect to 10.0.0.1 port", False),         # each <*> spans >= 1 char
    ("connect to <*> port <*>", "connect  to\t10.0.0.1 port 22 ", True),    # whitespace is normalised
    ("connect to <*> port <*>", "please connect to h port 22", False),       # whole line: prefix
    ("connect to <*>", "connect to h port 22", True),                        # <*> spans spaces
    ("<*> closed", "session 4 closed now", False),                           # whole line: suffix
    ("a <*> b <*> c", "a x c y b", False),                                   # literals in order
    ("a <*> b <*> c", "a x b y c", True),
    ("a<*><*>b", "axb", False),                                               # two wildcards: >= 2 chars
    ("a<*><*>b", "axyb", True),
    ("<*> x <*>", "x x", False),
    ("<*> x <*>", "a x b", True),
    ("<*>=<*>", "k=v", True),
    ("exact line", "exact line", True),
    ("exact line", "exact line!", False),
    ("x <*> x <*> x", "x x x x x", True),
    ("x <*> x <*> x", "x x x x", False),
])
def test_matching_semantics_agree_with_templates_module(template, line, expected):
    assert template_matches(template, line) is expected
    hit = _single(template).lookup(line, "d")
    assert (hit is not None) is expected


def test_most_specific_template_wins():
    idx = TemplateIndex()
    idx.add("generic", "Received block <*> of size <*> from <*>", "HDFS")
    idx.add("specific", "Received block <*> of size 67108864 from <*>", "HDFS")
    idx.add("other", "<*> of size <*> from <*>", "HDFS")
    got = idx.lookup("Received block blk_1 of size 67108864 from /10.0.0.1", "HDFS")
    assert got.entry_id == "specific" and got.literal_chars == specificity(got.template)[0]
    assert idx.lookup("Received block blk_1 of size 12 from /10.0.0.1", "HDFS").entry_id == "generic"
    assert idx.lookup("Sent block blk_1 of size 12 from /10.0.0.1", "HDFS").entry_id == "other"


def test_dataset_scope_isolates_and_task_scope_shares():
    per_dataset, per_task = TemplateIndex("dataset"), TemplateIndex("task")
    for idx in (per_dataset, per_task):
        idx.add("e", "Connection closed by <*>", "OpenSSH")
    assert per_dataset.lookup("Connection closed by 1.2.3.4", "OpenSSH").entry_id == "e"
    assert per_dataset.lookup("Connection closed by 1.2.3.4", "Linux") is None
    assert per_task.lookup("Connection closed by 1.2.3.4", "Linux").entry_id == "e"
    with pytest.raises(ValueError):
        TemplateIndex("global")  # type: ignore[arg-type]


def test_remove_and_replace():
    idx = TemplateIndex()
    idx.add("a", "job <*>", "d")
    idx.add("b", "job <*> done in <*> s", "d")
    assert idx.lookup("job 7 done in 3 s", "d").entry_id == "b"
    assert idx.remove("b") and not idx.remove("b") and "b" not in idx
    assert idx.lookup("job 7 done in 3 s", "d").entry_id == "a"  # falls back to the generic one
    idx.add("a", "task <*> done", "d")  # same id, new template: replaced
    assert idx.lookup("job 7 done", "d") is None and len(idx) == 1 and idx.lookup("task 7 done", "d").entry_id == "a"
    assert idx.remove("a") and len(idx) == 0 and idx.lookup("task 7 done", "d") is None


def test_all_wildcard_templates_are_refused():
    idx = TemplateIndex()
    assert not idx.add("w", "<*> <*>", "d") and len(idx) == 0


def _brute_force(templates: dict[str, tuple[str, str]], line: str, dataset: str, scope: str) -> str | None:
    """The reference: scan every template with the regex of engine.tasks.templates."""
    norm = normalize_ws(line)
    best = None
    for eid, (tpl, ds) in templates.items():
        if (scope == "task" or ds == dataset) and template_regex(tpl).fullmatch(norm):
            key = (*specificity(tpl), normalize_ws(tpl), eid)
            best = max(best, key) if best else key
    return best[-1] if best else None


_ALPHABET = ["a", "b", "ab", "x", ":", "a:", "<*>", "<*>", "<*>", "a<*>", "<*>b", "<*><*>", "<*>:<*>"]


def _random_template(rng: random.Random) -> str:
    return " ".join(rng.choice(_ALPHABET) for _ in range(rng.randint(1, 6)))


def _random_line(rng: random.Random, templates: list[str]) -> str:
    if rng.random() < 0.6:
        parts = rng.choice(templates).split("<*>")
        return "".join(p + (rng.choice(["a", "b", "x y", ":", "ab a", "1"]) if i < len(parts) - 1 else "")
                       for i, p in enumerate(parts))
    return " ".join(rng.choice(["a", "b", "ab", "x", ":", "a:", "1", "b:a"]) for _ in range(rng.randint(1, 8)))


@pytest.mark.parametrize("scope", ["dataset", "task"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_index_equals_brute_force_on_adversarial_random_templates(seed, scope):
    rng = random.Random(seed)
    idx = TemplateIndex(scope)
    templates: dict[str, tuple[str, str]] = {}
    for i in range(300):
        tpl, ds = _random_template(rng), rng.choice(["d1", "d2", "d3"])
        if idx.add(f"t{i}", tpl, ds):
            templates[f"t{i}"] = (tpl, ds)
    texts = [t for t, _ in templates.values()]
    hits = 0
    for phase in range(2):
        for _ in range(500):
            line, ds = _random_line(rng, texts), rng.choice(["d1", "d2", "d3"])
            got = idx.lookup(line, ds)
            assert (got.entry_id if got else None) == _brute_force(templates, line, ds, scope), (line, ds)
            hits += got is not None
        if phase == 0:  # invalidate half of them, then check again
            for eid in rng.sample(sorted(templates), len(templates) // 2):
                assert idx.remove(eid)
                del templates[eid]
            texts = [t for t, _ in templates.values()]
    assert hits > 300  # the check is about matches, not only about agreeing on misses


def test_index_equals_brute_force_on_synthetic_log_templates():
    rng = random.Random(5)
    pairs = synthetic_templates(1500, seed=5, datasets=4)
    idx = TemplateIndex()
    templates = {}
    for i, (ds, tpl) in enumerate(pairs):
        assert idx.add(f"t{i}", tpl, ds)
        templates[f"t{i}"] = (tpl, ds)
    hits = 0
    for _ in range(300):
        ds, tpl = rng.choice(pairs)
        line = instantiate(tpl, rng)
        if rng.random() < 0.3:
            toks = line.split(" ")
            toks[rng.randrange(len(toks))] = "zz"
            line = " ".join(toks)
        got = idx.lookup(line, ds)
        assert (got.entry_id if got else None) == _brute_force(templates, line, ds, "dataset"), line
        hits += got is not None
    assert 150 < hits < 300


def test_stats_reports_layout():
    idx = TemplateIndex()
    for i, tpl in enumerate(["a <*>", "<*> b", "<*> mid <*>", "<*>:<*>", "exact"]):
        idx.add(str(i), tpl, "d")
    assert idx.stats() == {"templates": 5, "partitions": 1, "prefix": 1, "suffix": 1, "anchor": 1,
                           "fallback": 1, "exact": 1}
