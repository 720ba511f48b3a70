"""The code-generation plug-in: code extraction from messy completions, tests from jobs, verify and score."""

from __future__ import annotations

import pytest

from engine.tasks.code_generation import CodeGenerationTask, extract_code, extract_tests, strip_examples

from .helpers import job

FENCE = "```"

# (id, raw completion, expected code)
EXTRACT = [
    ("fenced-python-with-prose",
     f"Here's a function that squares a number:\n\n{FENCE}python\ndef square(x):\n    return x * x\n{FENCE}\n\n"
     "It multiplies x by itself.",
     "def square(x):\n    return x * x"),
    ("bare-fence", f"{FENCE}\ndef square(x):\n    return x * x\n{FENCE}", "def square(x):\n    return x * x"),
    ("py-tag-and-crlf", f"Sure!\r\n{FENCE}py\r\ndef square(x):\r\n    return x * x\r\n{FENCE}\r\n",
     "def square(x):\n    return x * x"),
    ("solution-then-usage-block",
     f"{FENCE}python\ndef square(x):\n    return x * x\n{FENCE}\nExample:\n{FENCE}python\nprint(square(4))  # 16\n{FENCE}",
     "def square(x):\n    return x * x"),
    ("usage-inside-the-block",
     f"{FENCE}python\nimport math\n\ndef hyp(a, b):\n    return math.sqrt(a * a + b * b)\n\n"
     f"# Example usage:\nprint(hyp(3, 4))\nresult = hyp(5, 12)\nassert result == 13\n{FENCE}",
     "import math\n\ndef hyp(a, b):\n    return math.sqrt(a * a + b * b)\n\n# Example usage:"),
    ("main-guard-dropped",
     f"{FENCE}python\ndef main_value():\n    return 42\n\nif __name__ == '__main__':\n    print(main_value())\n{FENCE}",
     "def main_value():\n    return 42"),
    ("setup-kept",
     f"{FENCE}python\nimport sys\nsys.setrecursionlimit(10000)\nMOD = int(1e9) + 7\n\n"
     f"def f(n):\n    return n % MOD\n{FENCE}",
     "import sys\nsys.setrecursionlimit(10000)\nMOD = int(1e9) + 7\n\ndef f(n):\n    return n % MOD"),
    ("helpers-in-two-blocks",
     f"First a helper:\n{FENCE}python\ndef is_even(n):\n    return n % 2 == 0\n{FENCE}\nThen:\n"
     f"{FENCE}python\ndef count_even(xs):\n    return sum(is_even(x) for x in xs)\n{FENCE}",
     "def is_even(n):\n    return n % 2 == 0\n\ndef count_even(xs):\n    return sum(is_even(x) for x in xs)"),
    ("other-language-ignored",
     f"In C:\n{FENCE}c\nint sq(int x) {{ return x * x; }}\n{FENCE}\nIn Python:\n{FENCE}python\ndef sq(x):\n    return x * x\n{FENCE}",
     "def sq(x):\n    return x * x"),
    ("only-other-language", f"{FENCE}javascript\nfunction sq(x) {{ return x * x; }}\n{FENCE}", ""),
    ("code-llama-tags",
     " \n[PYTHON]\ndef first(xs):\n    return xs[0]\n[/PYTHON]\n[TESTS]\n# Test case 1:\nassert first([1]) == 1\n[/TESTS]\n",
     "def first(xs):\n    return xs[0]"),
    ("unfenced-after-prose",
     "Sure, here is the code.\n\ndef last(xs):\n    return xs[-1]\n\nThis returns the last element.",
     "def last(xs):\n    return xs[-1]"),
    ("repl-transcript", ">>> def inc(x):\n...     return x + 1\n>>> inc(2)\n3", "def inc(x):\n    return x + 1"),
    ("markdown-escapes", f"{FENCE}python\ndef add\\_one(x):\n    return x + 1\n{FENCE}", "def add_one(x):\n    return x + 1"),
    ("docstring-with-doctest-kept",
     f'{FENCE}\ndef first(xs):\n    """\n    >>> first([1, 2])\n    1\n    """\n    return xs[0]\n{FENCE}',
     'def first(xs):\n    """\n    >>> first([1, 2])\n    1\n    """\n    return xs[0]'),
    ("unterminated-fence", f"{FENCE}python\ndef f():\n    return 1\n", "def f():\n    return 1"),
    ("prose-only", "A perfect square is a number that is the square of an integer.", ""),
]


@pytest.mark.parametrize("raw,expected", [c[1:] for c in EXTRACT], ids=[c[0] for c in EXTRACT])
def test_extract_code(raw, expected):
    assert extract_code(raw) == expected


def test_strip_examples_leaves_scripts_alone():
    script = "x = int(input())\nprint(x * 2)"
    assert strip_examples(script) == script


MBPP_TEXT = ("Write a function to find the maximum of two numbers.\n"
             "Your code should pass these tests:\n\n"
             "assert max_of_two(1, 2) == 2\nassert max_of_two(-1, -5) == -1\nassert max_of_two(3, 3) == 3\n")


def test_tests_from_mbpp_text_and_from_meta():
    assert extract_tests(job("code_generation", MBPP_TEXT)) == [
        "assert max_of_two(1, 2) == 2", "assert max_of_two(-1, -5) == -1", "assert max_of_two(3, 3) == 3"]
    assert extract_tests(job("code_generation", "Write f.", tests=["assert f() == 1"])) == ["assert f() == 1"]
    assert extract_tests(job("code_generation", "Write f.")) == []


def test_verify_runs_the_tests_in_the_sandbox():
    task = CodeGenerationTask()
    j = job("code_generation", MBPP_TEXT)
    good = task.verify(j, "def max_of_two(a, b):\n    return a if a > b else b")
    assert good.ok is True and "3 tests passed" in good.reason
    bad = task.verify(j, "def max_of_two(a, b):\n    return a")
    assert bad.ok is False and "AssertionError" in bad.reason
    hang = CodeGenerationTask(timeout_s=1).verify(j, "def max_of_two(a, b):\n    while True:\n        pass")
    assert hang.ok is False and ("timeout" in hang.reason or "cpu" in hang.reason)


@pytest.mark.parametrize("code,ok", [
    ("def f(x):\n    return x", True),
    ("class A:\n    def m(self):\n        return 1", True),
    ("x = 1\nprint(x)", False),
    ("def f(:\n    pass", False),
    ("", False),
])
def test_verify_without_tests_is_a_syntax_check(code, ok):
    verdict = CodeGenerationTask().verify(job("code_generation", "Write a function to reverse a list."), code)
    assert verdict.ok is ok
    assert verdict.reason


def test_score_runs_the_reference_asserts_only():
    task = CodeGenerationTask()
    reference = ("def max_of_two(a, b):\n    return 999\n\n"       # a reference solution must not shadow the code
                 "assert max_of_two(1, 2) == 2\nassert max_of_two(7, 3) == 7\n")
    j = job("code_generation", "Write max_of_two.", reference=reference)
    assert task.score(j, "def max_of_two(a, b):\n    return max(a, b)") == 1.0
    assert task.score(j, "def max_of_two(a, b):\n    return min(a, b)") == 0.0
    assert task.score(j, "") == 0.0
    assert task.score(job("code_generation", "Write f."), "def f(): pass") is None
    assert task.score(job("code_generation", "Write f.", reference="def f():\n    return 1"), "def f(): pass") is None


def test_prompt_and_cache_key():
    task = CodeGenerationTask()
    messages = task.prompt(job("code_generation", MBPP_TEXT))
    assert [r for r, _ in messages] == ["system", "user"]
    assert "```python" in messages[0][1] and "max_of_two" in messages[1][1]
    assert task.cache_key(job("code_generation", "  Write   a function.\n")) == "Write a function."
