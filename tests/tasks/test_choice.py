"""Text classification and multiple choice: answer normalisation, allowed answers, verify, score."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from engine.tasks.choice import (
    MultipleChoiceTask,
    TextClassificationTask,
    allowed_letters,
    normalize_label,
    parse_label,
    parse_letter,
    question_options,
)

from .helpers import job, real_trace

LABELS = ("positive", "negative", "neutral")

LABEL_CASES = [
    ("positive", "positive"),
    ("Negative", "negative"),
    ("  'neutral'.\n", "neutral"),
    ("Label: Positive", "positive"),
    ("Sentiment: **negative**", "negative"),
    ("The answer is: neutral", "neutral"),
    ("negative (the reviewer hated the battery)", "negative"),
    ("This review is clearly positive because it praises the screen.", "positive"),
    ("It could be positive or negative.", ""),          # two labels named: no guess
    ("I cannot classify this.", ""),
    ("", ""),
]


@pytest.mark.parametrize("raw,expected", LABEL_CASES)
def test_parse_label(raw, expected):
    assert parse_label(raw, LABELS) == expected


def test_parse_label_prefers_the_longest_overlapping_label():
    assert parse_label("The mood is very positive overall.", ("positive", "very positive")) == "very positive"
    assert parse_label("Category: Billing Issue", ("billing issue", "billing")) == "billing issue"


def test_parse_label_without_labels_cleans_the_answer():
    assert parse_label("Label: 'Urgent'.\nBecause the customer is angry.") == "Urgent"


def test_classification_verify_and_score():
    task = TextClassificationTask()
    j = job("text_classification", "Great phone, terrible battery.", reference="Negative.", labels=LABELS)
    assert task.verify(j, "negative").ok is True
    assert task.verify(j, "angry").ok is False
    assert task.verify(j, "").ok is False
    free = job("text_classification", "Route this ticket.")
    assert task.verify(free, "billing").ok is None
    assert task.verify(free, "").ok is False
    assert task.score(j, "negative") == 1.0 and task.score(j, "positive") == 0.0
    assert task.score(free, "billing") is None
    assert normalize_label(' "Billing Issue". ') == "billing issue"


def test_classification_prompt_lists_the_labels_and_cache_key_includes_them():
    task = TextClassificationTask()
    j = job("text_classification", "Great phone.", labels=LABELS)
    system = task.prompt(j)[0][1]
    assert all(label in system for label in LABELS)
    assert task.cache_key(j) != task.cache_key(job("text_classification", "Great phone."))


QUESTION = """Which gas do plants take in for photosynthesis?
A) oxygen
B) carbon dioxide
C) nitrogen
D) helium
Answer:"""

FEW_SHOT = """Which planet is closest to the Sun?
A) Venus
B) Mercury
C) Mars
D) Earth
Answer:
B

What is frozen water called?
(A) steam
(B) ice
(C) fog
Answer:"""

LETTER_CASES = [
    ("B", QUESTION, "B"),
    ("B\n", QUESTION, "B"),
    ("b", QUESTION, "B"),
    ("(B)", QUESTION, "B"),
    ("B) carbon dioxide", QUESTION, "B"),
    ("B. carbon dioxide", QUESTION, "B"),
    ("D (helium is inert)", QUESTION, "D"),
    ("The answer is (B).", QUESTION, "B"),
    ("Answer: C", QUESTION, "C"),
    ("I believe the correct option is B because plants absorb CO2.", QUESTION, "B"),
    ("carbon dioxide", QUESTION, "B"),
    ("Carbon dioxide.", QUESTION, "B"),
    ("Plants take in carbon dioxide from the air.", QUESTION, "B"),
    ("A hypothesis would be needed here", QUESTION, ""),     # "A" as a word is not an answer
    ("I do not know.", QUESTION, ""),
    ("E", QUESTION, ""),                                      # not an option of this question
    ("B or C", QUESTION, ""),
    ("ice", FEW_SHOT, "B"),
    ("C", FEW_SHOT, "C"),
    ("D", FEW_SHOT, ""),                                      # the last question only has A-C
]


@pytest.mark.parametrize("raw,question,expected", LETTER_CASES)
def test_parse_letter(raw, question, expected):
    assert parse_letter(raw, question) == expected


def test_options_and_allowed_letters():
    assert question_options(FEW_SHOT) == {"A": "steam", "B": "ice", "C": "fog"}
    assert allowed_letters(QUESTION) == ("A", "B", "C", "D")
    assert allowed_letters("What is 2 + 2?") == ("A", "B", "C", "D")
    assert allowed_letters("Pick one:\nA. red\nB. green\nC. blue\nD. cyan\nE. magenta") == tuple("ABCDE")


def test_multiple_choice_verify_score_prompt_cache_key():
    task = MultipleChoiceTask()
    j = job("multiple_choice", FEW_SHOT, reference="B")
    assert task.verify(j, "B").ok is True
    assert task.verify(j, "D").ok is False
    assert task.verify(j, "").ok is False
    assert task.score(j, "B") == 1.0 and task.score(j, "C") == 0.0
    assert task.score(job("multiple_choice", FEW_SHOT), "B") is None
    assert "A, B, C" in task.prompt(j)[0][1]
    key = task.cache_key(j)
    assert "frozen water" in key and "closest to the Sun" not in key and "Answer" not in key


def _recorded_letter(text: str) -> str:
    """The letter of a recorded ARC output, read as plainly as possible ("" when it is not a letter)."""
    m = re.fullmatch(r"\s*\(?([A-E])[).]?\s*", text)
    return m.group(1) if m else ""


def test_arc_parses_agree_with_the_recorded_outputs():
    folder = real_trace("arc-dev")
    queries = pd.read_csv(folder / "queries.csv.gz", keep_default_na=False, dtype=str)
    outcomes = pd.read_csv(folder / "outcomes.csv.gz", keep_default_na=False, dtype=str)
    rows = outcomes.merge(queries[["query_id", "text"]], on="query_id")
    parsed = [parse_letter(raw, text) for raw, text in zip(rows["raw_output"], rows["text"], strict=True)]
    recorded = [_recorded_letter(out) for out in rows["output"]]
    agree = sum(p == r for p, r in zip(parsed, recorded, strict=True)) / len(rows)
    bare = [(p, r) for p, r, out in zip(parsed, recorded, rows["output"], strict=True) if out.strip() in "ABCDE"]
    assert agree >= 0.99
    assert all(p == r for p, r in bare)
