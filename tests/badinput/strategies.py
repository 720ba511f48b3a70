"""Shared Hypothesis settings and strategies of the bad-input suite.

One settings profile for every property here: few examples (the suite must stay fast), no per-example
deadline (the first call of a parser compiles its regexes, a sandbox run takes tens of milliseconds),
derandomized so that CI runs the same examples every time and a failure reproduces on any machine.

For a deeper local hunt, `SLS_FUZZ_EXAMPLES=2000 pytest tests/badinput tests/security` runs that many
examples per property with fresh randomness (and prints a reproduction blob for any failure).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

_EXAMPLES = int(os.environ.get("SLS_FUZZ_EXAMPLES") or 0)
settings.register_profile(
    "badinput",
    max_examples=_EXAMPLES or 60,
    deadline=None,
    derandomize=not _EXAMPLES,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture],
)
#: The decorator every property of the suite uses (`@BADINPUT`); `@BADINPUT_FEW` for expensive ones.
BADINPUT = settings.get_profile("badinput")
BADINPUT_FEW = settings(BADINPUT, max_examples=max(25, _EXAMPLES // 4))

#: Characters that break naive text handling: C0/C1 controls, NUL, line and paragraph separators, BOM,
#: zero-width and bidi controls, combining marks, a non-BMP emoji, CSV and regex metacharacters.
NASTY_CHARS = ("\x00", "\x01", "\x07", "\x08", "\x0b", "\x0c", "\x1b", "\x1c", "\x1f", "\x7f", "\x85", "\r",
               "\n", "\t", "\u2028", "\u2029", "\ufeff", "\u200b", "\u202e", "\u0301", "\U0001f600", '"', ",",
               "'", "`", "\\", "(", ")", "[", "]", "{", "}", "<", ">", "*", "|", "$", "%", "<*>", "{}", "```")

#: Lone surrogates: not valid Unicode, cannot be encoded as UTF-8 (they reach Python from JSON "\ud800"
#: escapes and from `surrogateescape` decoding).
SURROGATES = ("\ud800", "\udfff", "\udc80")

any_char = st.characters()                                          # every code point but surrogates
nasty_char = st.sampled_from(NASTY_CHARS)
surrogate = st.sampled_from(SURROGATES)

#: Text a user, a file or a model may send: mostly printable, with control characters and markup mixed in.
messy_text = st.lists(st.one_of(any_char, nasty_char, st.sampled_from(["A) ", "B) ", "def f(x):\n", "    return x\n",
                                                                     "user ", "10.0.0.1", " 42 ", "The answer is "])),
                      max_size=60).map("".join)
#: The same with lone surrogates (not valid Unicode) mixed in.
broken_text = st.lists(st.one_of(any_char, nasty_char, surrogate), min_size=1, max_size=40).map("".join)

#: Numbers in every awkward form: NaN, infinities, negatives, -0.0, subnormals, huge values.
awkward_floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([float("nan"), float("inf"), float("-inf"), -0.0, -1.0, -1e-12, 0.0, 5e-324, 1e308, 1.0, 0.5]),
)

#: What a number cell of a CSV file may hold: good numbers, numbers in odd spellings, and non-numbers.
NUMBER_CELLS = ("", " ", "0", "1", "0.5", "1.0", "2", "-1", "-0", "-0.0", "1e3", "1e-320", "1e309", "-1e309",
                "nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1_000", "0x10", "1,5", "½", "١", "+1", ".5", "5.",
                "1e", "--1", "true", "None", "null", "NA", "N/A", " 0.25 ", "\t1\n", "1\x00", "\u00a01", "3.0000001",
                "0.9999999999999999", "1.0000000000000002", "12345678901234567890")
number_cell = st.one_of(
    st.sampled_from(NUMBER_CELLS),
    awkward_floats.map(repr),
    st.integers(min_value=-10**20, max_value=10**20).map(str),
    messy_text,
)
