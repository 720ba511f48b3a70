"""Log templates as matchers: literals must appear in order, each `<*>` spans at least one character, and
the template covers the whole line. Whitespace runs are collapsed on both sides before matching.

Besides matching, this module holds the general, dataset-independent rules about what a log template
looks like: `canonicalize` (the usual Loghub post-processing: adjacent wildcards merge, numbers left in a
template become wildcards) and `mask_variables` (a rule-based template for a raw line, used where no
model output can be trusted).
"""

from __future__ import annotations

import re
from functools import lru_cache

WILDCARD = "<*>"
_WS = re.compile(r"\s+")


def normalize_ws(text: str) -> str:
    """Collapse whitespace runs to one space and strip the ends."""
    return _WS.sub(" ", text).strip()


@lru_cache(maxsize=65536)
def template_regex(template: str) -> re.Pattern[str]:
    """A compiled pattern that full-matches the (whitespace-normalised) lines of `template`.

    Kept for callers that want a regex; `template_matches` uses the linear-time `match_spans` instead,
    which cannot backtrack catastrophically on long lines with many wildcards.
    """
    parts = normalize_ws(template).split(WILDCARD)
    return re.compile("(?:.+?)".join(re.escape(p) for p in parts), re.DOTALL)


def match_literals(literals: list[str], line: str) -> list[tuple[int, int]] | None:
    """Spans of the wildcards when `literals` (the pieces between wildcards) match the whole of `line`.

    `literals` has one more element than there are wildcards (pieces may be empty). Each wildcard must
    cover at least one character. Placing every inner literal at its leftmost possible position is
    optimal for this pattern class, so the check is linear (no backtracking). Returns None on mismatch.
    """
    n = len(line)
    first, last = literals[0], literals[-1]
    if len(literals) == 1:
        return [] if line == first else None
    if not line.startswith(first):
        return None
    tail_start = n - len(last)
    if not line.endswith(last) or tail_start < len(first) + 1:
        return None
    spans: list[tuple[int, int]] = []
    pos = len(first)
    for piece in literals[1:-1]:
        at = line.find(piece, pos + 1) if piece else pos + 1
        if at < 0 or at + len(piece) > tail_start - 1:
            return None
        spans.append((pos, at))
        pos = at + len(piece)
    if tail_start < pos + 1:
        return None
    spans.append((pos, tail_start))
    return spans


def match_spans(template: str, line: str) -> list[tuple[int, int]] | None:
    """Spans (start, end) in `normalize_ws(line)` covered by each `<*>` of `template`, or None on mismatch."""
    return match_literals(normalize_ws(template).split(WILDCARD), normalize_ws(line))


def template_matches(template: str, line: str) -> bool:
    """True when `template` matches the whole of `line` (see module docstring)."""
    return match_spans(template, line) is not None


def literal_chars(template: str) -> int:
    """How specific a template is: the number of non-space literal characters."""
    return sum(len(p.replace(" ", "")) for p in normalize_ws(template).split(WILDCARD))


def is_all_wildcards(template: str) -> bool:
    """True when the template has no literal character at all (it would match any line)."""
    return literal_chars(template) == 0


# --- general rules about log templates --------------------------------------------------------------

# The post-processing rules that LILAC / LogPPT apply to LLM templates (after Khan et al.'s guidelines
# for Loghub ground truth), reimplemented: path-like tokens are delimited coarsely, the rest finely.
_PATH_DELIMS = re.compile(r"""(\s|,|!|;|:|=|\||"|'|\[|\]|\(|\)|\{|\})""")
_TOKEN_DELIMS = re.compile(r"""(\s|,|!|;|:|=|\||"|'|\[|\]|\(|\)|\{|\}|\.|-|\+|@|#|\$|%|&|/)""")
_PATH = re.compile(r"(?:/[^/]+)+")
_DIGITS = re.compile(r"\d+")
_HEX = re.compile(r"0[xX][0-9a-fA-F]+|(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}")
_HEX_ANYWHERE = re.compile(r"(?<![\w*])0[xX][0-9a-fA-F]+(?![\w*])")
_WORD_WITH_VAR = re.compile(r"[^\s/]*<\*>[^\s/]*")
_CONSTANT_VALUES = frozenset({"true", "false", "null"})
# an identifier that embeds a long number: `blk_-695229…`, `attempt_1445…_0020_m_3`, `DFSClient_1537…_1`
_ID = re.compile(r"(?<![\w<*>-])(?=[\w-]*[A-Za-z_])[\w-]*\d{4,}[\w-]*(?![\w<*>-])")
_NEGATIVE = re.compile(r"(?<![^\s(\[=:,])-<\*>")  # a sign belongs to its number
_ADJACENT = re.compile(r"<\*>(?:<\*>)+")
_JOINED = re.compile(r"<\*>(?:(?:[.:/@#]|#<\*>#)<\*>)+")

#: Common timestamp forms: `Sat Jul  9 22:53:22 2005`, `Jun 14 15:16:01`, `2017-07-03 20:25:13.378`.
TIMESTAMP = re.compile(
    r"(?:(?:[A-Z][a-z]{2},? )?[A-Z][a-z]{2} +\d{1,2},? (?:\d{4} )?\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?"
    r"(?: [A-Z]{3,4})?(?: \d{4})?"
    r"|\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)"
)


@lru_cache(maxsize=65536)
def canonicalize(template: str) -> str:
    """Bring a template to the usual Loghub form (the LILAC/LogPPT post-processing rules, extended).

    Whitespace runs collapse; a timestamp, an identifier embedding a long number (`blk_-6952…`), a
    `0x…` hex value and a path-like token (`/a/b`) become `<*>`; a token (between punctuation) that is
    all digits, hex or true/false/null becomes `<*>`; a token gluing a wildcard to other characters
    (`task_<*>`, `0x<*>`, `<*>MB`) becomes `<*>`; a minus sign joins its number; wildcards that are
    adjacent or joined by `.`, `:`, `/`, `@` or `#` (an `ip:port`, a dotted number, `pid/tid`) merge
    into one. Wildcards separated by a space stay apart.

    >>> canonicalize("Connected to 10.0.0.1:8080 in 35 ms")
    'Connected to <*> in <*> ms'
    >>> canonicalize("job_{id} done: task_<*> took 0x<*>")
    'job_{id} done: <*> took <*>'
    """
    t = normalize_ws(template)
    t = _ID.sub(WILDCARD, t)
    t = TIMESTAMP.sub(WILDCARD, t)
    t = _HEX_ANYWHERE.sub(WILDCARD, t)
    t = "".join(WILDCARD if _PATH.fullmatch(tok) else tok for tok in _PATH_DELIMS.split(t))
    out = []
    for tok in _TOKEN_DELIMS.split(t):
        if (_DIGITS.fullmatch(tok) or _HEX.fullmatch(tok) or tok.lower() in _CONSTANT_VALUES
                or (WILDCARD in tok and tok != "<*>/<*>" and _WORD_WITH_VAR.fullmatch(tok))):
            tok = WILDCARD
        out.append(tok)
    t = _ADJACENT.sub(WILDCARD, "".join(out))
    t = _NEGATIVE.sub(WILDCARD, t)
    t = _JOINED.sub(WILDCARD, t)
    return _ADJACENT.sub(WILDCARD, t)


_TOKEN_SPLIT = re.compile(r"(\s+|[,;()\[\]{}\"'=|])")
_VARIABLE_TOKENS = (
    re.compile(r"[-+]?\d+(?:[.,:]\d+)*[a-zA-Z%]{0,3}"),  # 12, 0.5, 12:30:01, 10ms, 95%
    re.compile(r"0[xX][0-9a-fA-F]+"),
    re.compile(r"(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?"),   # IPv4[:port]
    re.compile(r"/\S*[/.]\S*"),                         # absolute path
    re.compile(r"(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,}"),     # hex ids, hashes
)


def _looks_variable(token: str) -> bool:
    """A whitespace/punctuation-delimited token that is almost certainly a variable value."""
    return any(p.fullmatch(token) for p in _VARIABLE_TOKENS)


def mask_variables(line: str) -> str:
    """A rule-based template for a raw log line: obvious variables (numbers, hex, IPs, paths, long IDs,
    timestamps) become `<*>`, then `canonicalize` applies.

    Conservative on purpose: words and identifiers with a digit inside (`jk2_init`) stay literal. Used
    where no model output can be trusted, and for the text a repair copies from the line.

    >>> mask_variables("Received block blk_-1608 of size 67108864 from /10.250.19.102")
    'Received block <*> of size <*> from <*>'
    """
    pieces = _TOKEN_SPLIT.split(normalize_ws(line))
    return canonicalize("".join(WILDCARD if _looks_variable(p) else p for p in pieces))
