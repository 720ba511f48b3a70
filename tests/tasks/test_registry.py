"""The task registry, and the protocol contract every registered task must keep."""

from __future__ import annotations

import pytest

from engine.errors import UnknownNameError
from engine.jobs import Verdict
from engine.tasks import TASKS, Task, get_task

from .helpers import job

EXPECTED = {"log_parsing", "code_generation", "text_classification", "multiple_choice"}

SAMPLES = {
    "log_parsing": ("User alice logged in from 10.0.0.7", "User {name} logged in from {ip}", "User <*> logged in from <*>"),
    "code_generation": ("Write a function to double a number.", "```python\ndef double(x):\n    return 2 * x\n```",
                        "assert double(4) == 8"),
    "text_classification": ("Loved it!", "Label: positive", "positive"),
    "multiple_choice": ("2 + 2 = ?\nA) 3\nB) 4\nC) 5\nD) 22\nAnswer:", "The answer is B.", "B"),
}


def test_registry_holds_the_four_tasks_under_their_names():
    assert set(TASKS) == EXPECTED
    assert all(name == task.name for name, task in TASKS.items())


def test_get_task_and_unknown_names():
    assert get_task("log_parsing") is TASKS["log_parsing"]
    with pytest.raises(UnknownNameError) as err:
        get_task("summarisation")
    message = str(err.value)
    assert "summarisation" in message and all(name in message for name in EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_task_keeps_the_protocol(name):
    task = get_task(name)
    assert isinstance(task, Task)
    text, raw, reference = SAMPLES[name]
    labels = ("positive", "negative") if name == "text_classification" else ()
    j = job(name, text, reference=reference, labels=labels)

    messages = task.prompt(j)
    assert [role for role, _ in messages] == ["system", "user"]
    assert all(isinstance(content, str) and content.strip() for _, content in messages)

    output = task.parse(raw, j)
    assert isinstance(output, str) and output

    verdict = task.verify(j, output)
    assert isinstance(verdict, Verdict) and verdict.ok is True

    assert task.score(j, output) == 1.0
    assert task.score(job(name, text, labels=labels), output) is None

    key = task.cache_key(j)
    assert isinstance(key, str) and key == task.cache_key(job(name, text, reference="other", labels=labels))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_verify_never_reads_the_reference(name):
    task = get_task(name)
    text, raw, reference = SAMPLES[name]
    labels = ("positive", "negative") if name == "text_classification" else ()
    output = task.parse(raw, job(name, text, labels=labels))
    with_ref = task.verify(job(name, text, reference=reference, labels=labels), output)
    wrong_ref = task.verify(job(name, text, reference="something else entirely", labels=labels), output)
    assert with_ref == wrong_ref


def test_parse_copes_with_garbage_for_every_task():
    for name, task in TASKS.items():
        for raw in ("", "\r\n", "```", "lorem ipsum " * 200, "\x00\x01 binary"):
            assert isinstance(task.parse(raw, job(name, SAMPLES[name][0])), str)
