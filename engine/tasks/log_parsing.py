"""Log parsing: turn one raw log line into its template, with `<*>` for every variable part.

The interesting part is `parse_template`, which turns a real, messy LLM completion into a template,
using the log line itself as evidence (never the reference). General rules about completions and log
templates, nothing keyed to a data set:

1. **Candidates.** The completion is cut into candidate answers: each line, with list markers, labels
   ("Template:", "The template is:"), surrounding quotes/backticks and a dangling closing quote removed,
   and the quoted parts of sentences such as ``The template of '…' is '…'``; code fences are skipped.
2. **Placeholders.** In each candidate, `{name}`, `{}`, `${name}`, `$name`, `<name>`, `[name]`,
   `%s`/`%d` and `<*>` (with variants) become wildcards, unless the same text occurs verbatim in the
   line (then it is literal text, e.g. ``IOThunderboltSwitch<0>``).
3. **Choice.** The first candidate that matches the whole line *as written* wins (its wildcards may
   span several tokens, spaces and punctuation): answers come first in a completion, and later lines
   are usually explanations or invented examples for other logs, which do not match. A candidate that
   matches is kept as written: Loghub's annotators let one `<*>` cover a number with its unit and a
   parenthesised conversion, a URL path with its protocol, a list, a brace-wrapped word, so splitting
   a wildcard or turning it back into text would make right answers wrong. Only what no annotation
   convention puts inside a variable leaves it (`_keep`): separators at its ends (``lr<*>`` over
   ``lr:0x1f`` is ``lr:<*>``), brackets it does not balance, brackets around the whole value, the key of
   a ``key=value``, a stretch without a letter or digit. Whether a wildcard is over-general is a
   question for the judge (several lines), not for the parser (one line).
4. **Repair.** When no candidate matches, the candidate that agrees best with the line is aligned to it
   token by token: text the model dropped is copied from the line, text the line does not have is
   removed, wildcards keep covering what they were aligned with.
5. **Evidence from the line (repairs only).** What a wildcard of a *repaired* candidate covers decides
   what it becomes: the placeholder's own name (``{blockMap}`` over ``blockMap``) stays text;
   separators and dot leaders at its ends, brackets it does not balance, brackets/quotes around the
   whole value, the key of a ``key=value`` and text without a letter or digit stay text; digit-free
   phrases and code identifiers stay text; a wildcard over several tokens that include plain words is
   re-derived token by token; wildcards over one timestamp merge into one.
6. **Fallback.** When no candidate agrees enough with the line to be repaired, a rule-based template
   of the line itself is used (`templates.mask_variables`).
7. **Canonical form.** `templates.canonicalize` applies the usual Loghub conventions (the LILAC/LogPPT
   post-processing: numbers and IDs left in the text become `<*>`, ``task_<*>`` becomes `<*>`, adjacent
   or ``:``/``.``-joined wildcards merge into one).

The stateless verifier accepts a template only when it matches its own line and is not all wildcards;
the judge (`LogParsingTask.new_judge`) also looks across lines. The scorer is exact match with the
reference after whitespace normalisation.

Measured on the loghub-dev trace with ``bench/reparse_loghub.py``.
"""

from __future__ import annotations

import difflib
import re
from typing import NamedTuple

from engine.jobs import Job, Verdict
from engine.tasks.templates import (
    TIMESTAMP,
    WILDCARD,
    canonicalize,
    is_all_wildcards,
    mask_variables,
    match_literals,
    match_spans,
    normalize_ws,
    template_matches,
)

SYSTEM_PROMPT = (
    "You are a log parser. Given one log line, you return its template: the line with every variable "
    "part (numbers, IDs, IP addresses, paths, user names, durations, ...) replaced by <*>, and all "
    "constant text kept exactly as it is."
)
USER_PROMPT = (
    "Log line:\n{line}\n\n"
    "Reply with the template only, on one line, without quotes or explanation."
)


class _Var(NamedTuple):
    """A placeholder of a candidate template: its name and the text it was written as."""

    name: str
    text: str


_SENTINEL = "\x00"

# Placeholders LLMs write for variables. Order matters: `<*>` before `<name>`.
_PLACEHOLDER = re.compile(
    r"<\*>|<\s*\*+\s*>|\[\*\]"            # <*> and its variants
    r"|\{\{[^{}\n]{0,60}\}\}"          # {{name}}
    r"|\$?\{[^{}\n]{0,60}\}"           # {name}, {}, ${name}
    r"|<[A-Za-z_][\w .:/-]{0,40}>"     # <name>
    r"|\[[A-Za-z_][\w .-]{0,40}\]"     # [name]
    r"|%(?:l{0,2}[sdifuxXp]|\.\d+f)"   # printf conversions
    r"|\$[A-Za-z_]\w*"                # $name
)

_LIST_MARKER = re.compile(r"^(?:[-*•>]+|\d{1,2}[.)])\s+")
_LABEL = re.compile(
    r"^(?:(?:the|a|log|event|output|final|parsed|resulting|corresponding)\s+)*"
    r"(?:template|output|answer|result|log template)"
    r"(?:\s+(?:is|would be|for (?:the|this) (?:log|line|message)[^:]*))?\s*[:=-]\s*",
    re.IGNORECASE,
)
_QUOTES = "'\"`"
_QUOTED = re.compile(r"'([^'\n]+)'|\"([^\"\n]+)\"|`([^`\n]+)`")


def _unquoted(text: str) -> list[str]:
    """`text` without the quotes/backticks around it; also without a dangling closing quote (completions
    of prompts ending in ``is '`` close the quote after the answer), both readings when ambiguous."""
    text = text.strip()
    while len(text) >= 2 and text[0] in _QUOTES and text[-1] == text[0]:
        text = text[1:-1].strip()
    if text and text[0] in _QUOTES and text.count(text[0]) % 2 == 1:
        text = text[1:].lstrip()
    if text and text[-1] in _QUOTES:
        if text.count(text[-1]) % 2 == 1:
            return [text[:-1].rstrip()]
        return [text, text[:-1].rstrip()]  # `isn't … done.'`: the quote may close the answer
    return [text]


def extract_candidates(raw: str) -> list[str]:
    """Candidate answers in a completion, in the order they should be tried (duplicates removed)."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    out: list[str] = []
    seen: set[str] = set()

    def add(candidate: str) -> None:
        candidate = candidate.strip()
        if candidate and candidate not in seen:
            seen.add(candidate)
            out.append(candidate)

    lines = [ln for ln in text.split("\n") if ln.strip() and not ln.strip().startswith("```")]
    for ln in lines:
        stripped = _LIST_MARKER.sub("", ln.strip())
        for variant in _unquoted(_LABEL.sub("", stripped)) + _unquoted(stripped) + [ln]:
            add(variant)
        for m in _QUOTED.finditer(ln):
            add(next(g for g in m.groups() if g is not None))
    return out


def _to_parts(candidate: str, line: str) -> list[str | _Var]:
    """Split a candidate into literal text and placeholders (placeholders found verbatim in the line are text)."""
    parts: list[str | _Var] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(candidate):
        token = m.group(0)
        if token != WILDCARD and token in line:
            continue
        if m.start() > pos:
            parts.append(candidate[pos:m.start()])
        name = token.strip("{}$<>[]%")
        parts.append(_Var(name, token))
        pos = m.end()
    if pos < len(candidate):
        parts.append(candidate[pos:])
    return parts


def _pieces(parts: list[str | _Var]) -> tuple[list[str], list[_Var]]:
    """Whitespace-normalised literal pieces between the variables (adjacent variables merged)."""
    flat = "".join(p if isinstance(p, str) else _SENTINEL for p in parts)
    variables = [p for p in parts if isinstance(p, _Var)]
    merged_vars: list[_Var] = []
    pieces = normalize_ws(flat).split(_SENTINEL)
    # merge adjacent variables: an empty inner piece means two wildcards side by side
    out_pieces = [pieces[0]]
    for var, piece in zip(variables, pieces[1:], strict=True):
        if out_pieces[-1] == "" and len(out_pieces) > 1:
            out_pieces[-1] = piece
            merged_vars[-1] = _Var("", merged_vars[-1].text + var.text)
            continue
        merged_vars.append(var)
        out_pieces.append(piece)
    return out_pieces, merged_vars


_SEPARATORS = ":=,; "
_PAIRS = {"(": ")", "[": "]", "{": "}", "<": ">", "'": "'", '"': '"'}
_CLOSERS = {")": "(", "]": "[", "}": "{", ">": "<"}
_PLAIN_WORD = re.compile(r"[A-Za-z][a-z]+|[a-z]{2,}|[A-Z]{2,}")
_MONTH_DAY = re.compile(
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|mon(?:day)?|tue(?:s(?:day)?)?|wed(?:nesday)?"
    r"|thu(?:rs(?:day)?)?|fri(?:day)?|sat(?:urday)?|sun(?:day)?", re.IGNORECASE)
_PUNCT = "()[]{}<>,;:.'\"!?"
_KEY_VALUE = re.compile(r"([A-Za-z_][\w.-]*=)(.+)")
_CODE_IDENTIFIER = re.compile(r"[A-Za-z_][\w:.]*")
_CODE_SHAPE = re.compile(r"[a-z][A-Z]|_")


def _is_constant_text(text: str) -> bool:
    """Digit-free text that reads as part of the log statement rather than a value: a phrase of several
    words, or a code identifier (CamelCase, snake_case, `Class::method`). Single plain words (`admin`,
    `tsc`) stay variables: user and host names look like that."""
    if any(c.isdigit() for c in text):
        return False
    if " " in text:
        return True
    return bool(_CODE_IDENTIFIER.fullmatch(text)) and bool(_CODE_SHAPE.search(text))


_BRACKETS = frozenset(_PAIRS) | frozenset(_CLOSERS)
_RELATIVE_PATH = re.compile(r"\.+/")  # `./bin`, `../lib`: the dots belong to the path


def _peel(covered: str) -> tuple[str, str, str]:
    """`covered` split into (lead, core, trail): separators around the value, and brackets it does not
    balance, peeled off one at a time from either end. Indices and running bracket counts keep this linear
    (a line of a million unbalanced brackets must not take minutes)."""
    counts = dict.fromkeys(_BRACKETS, 0)
    for c in covered:
        if c in counts:
            counts[c] += 1
    i, j = 0, len(covered)
    while True:
        while i < j and covered[i] in _SEPARATORS + "." and not _RELATIVE_PATH.match(covered, i):
            i += 1
        while j > i and covered[j - 1] in _SEPARATORS:
            j -= 1
        last, first = covered[j - 1] if j > i else "", covered[i] if j > i else ""
        if j - i > 1 and last in _CLOSERS and counts[last] > counts[_CLOSERS[last]]:
            counts[last] -= 1
            j -= 1
        elif j - i > 1 and first in _PAIRS and _PAIRS[first] != first and counts[first] > counts[_PAIRS[first]]:
            counts[first] -= 1
            i += 1
        else:
            return covered[:i], covered[i:j], covered[j:]


def _fill(covered: str, var: _Var | None) -> str:
    """What stands in the template for the line text `covered` that a placeholder was aligned with."""
    if var is not None and var.name:
        key = covered.strip(_SEPARATORS + ".").casefold()
        if key in (var.name.strip().casefold(), var.text.casefold()):
            return covered  # the "placeholder" names the very text the line has there
    # a value does not include the separators around it (`lr{x}` over `lr:0x1f` is `lr:<*>`), nor a
    # bracket it does not open or close itself (`{n}` over `2057)` is `<*>)`)
    lead, core, trail = _peel(covered)
    if not core:
        return covered if not any(c.isalnum() for c in covered) else WILDCARD
    return lead + _fill_value(core) + trail


def _fill_value(core: str) -> str:
    """What stands in the template for a value-like stretch of the line (separators already removed)."""
    if not any(c.isalnum() for c in core):
        return core  # a value has at least one letter or digit: `****`, `-`, `.` are message text
    # brackets or quotes around the whole value belong to the message (`[{id}]` written as `{id}`)
    if len(core) > 2 and _PAIRS.get(core[0]) == core[-1] and core[-1] not in core[1:-1]:
        inner = core[1:-1]
        body = inner.strip()
        if not body:
            return core
        lead, trail = inner[:len(inner) - len(inner.lstrip())], inner[len(inner.rstrip()):]
        return core[0] + lead + _fill_value(body) + trail + core[-1]
    if _is_constant_text(core):
        return core
    if " " in core:
        if TIMESTAMP.fullmatch(core):
            return WILDCARD
        tokens = core.split(" ")
        if any(_PLAIN_WORD.fullmatch(t.strip(_PUNCT)) and not _MONTH_DAY.fullmatch(t.strip(_PUNCT)) for t in tokens):
            # one placeholder over several tokens, some of them plain words: the model stopped early or
            # lumped message text into a variable; keep the words, mask the values
            return mask_variables(core)
        return " ".join(_fill(t, None) for t in tokens)
    key_value = _KEY_VALUE.fullmatch(core)
    if key_value:
        return key_value.group(1) + _fill_value(key_value.group(2))  # in `key=value` the key is text
    return WILDCARD


def _keep(covered: str) -> str:
    """What stands in the template for the line text `covered` by a wildcard of a candidate that matches
    its line as written: the wildcard, whatever it spans (several tokens, spaces, punctuation, words:
    Loghub's annotators write one `<*>` over a number with its unit and a parenthesised conversion, a
    URL path with its protocol, a list). Only what no annotation convention puts inside a variable is
    given back to the text: separators at its ends (``lr<*>`` over ``lr:0x1f`` is ``lr:<*>``), brackets it
    does not balance (``<*>`` over ``2057)`` is ``<*>)``), brackets around the whole value and the key of
    a ``key=value`` (see `_value_ends`), and a stretch without a letter or digit."""
    lead, core, trail = _peel(covered)
    if not core:
        return covered if not any(c.isalnum() for c in covered) else WILDCARD
    if not any(c.isalnum() for c in core):
        return covered
    return lead + _value_ends(core) + trail


def _value_ends(core: str) -> str:
    """A wildcard over `core`, less what Loghub's conventions keep outside a variable: the brackets or
    quotes around the whole value (``[<*>]``) and the key of a ``key=value`` (``size=<*>``)."""
    if len(core) > 2 and _PAIRS.get(core[0]) == core[-1] and core[-1] not in core[1:-1]:
        inner = core[1:-1]
        if inner.strip() and any(c.isalnum() for c in inner):
            return core[0] + inner[:len(inner) - len(inner.lstrip())] + WILDCARD + \
                inner[len(inner.rstrip()):] + core[-1]
    key_value = _KEY_VALUE.fullmatch(core)
    if key_value and " " not in core:
        return key_value.group(1) + WILDCARD
    return WILDCARD


def _match(parts: list[str | _Var], line: str) -> str | None:
    """The template a candidate gives for `line` if it matches it as written, else None. Its wildcards
    are kept whatever they span (see `_keep`); its literal text is kept as written."""
    pieces, _variables = _pieces(parts)
    spans = match_literals(pieces, line)
    if spans is None:
        return None
    out = [pieces[0]]
    for (start, end), piece in zip(spans, pieces[1:], strict=True):
        out.append(_keep(line[start:end]))
        out.append(piece)
    return "".join(out)


_MAX_REPAIRS = 12  # candidates considered for repair (bounds the time spent on rambling completions)
_TOKEN = re.compile(r"\x00|\w+|\s+|[^\w\s]")


def _repair(parts: list[str | _Var], line: str) -> tuple[str, float]:
    """Align a non-matching candidate with `line` token by token; return the repaired template and how
    much of the line the candidate accounted for (0..1)."""
    pieces, variables = _pieces(parts)
    flat = _SENTINEL.join(pieces)
    t_tokens = _TOKEN.findall(flat)
    l_tokens = _TOKEN.findall(line)
    matcher = difflib.SequenceMatcher(None, t_tokens, l_tokens, autojunk=False)
    out: list[str] = []
    agreed = 0
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        line_text = "".join(l_tokens[j1:j2])
        if op == "equal":
            out.append(line_text)
            agreed += len(line_text.strip())
        elif op == "replace" and _SENTINEL in t_tokens[i1:i2]:
            out.append(_fill(line_text, None))
            agreed += len(line_text.strip())
        elif op in ("replace", "insert"):
            out.append(line_text)
        # delete: text the line does not have is dropped
    total = max(1, len(line.replace(" ", "")))
    return "".join(out), agreed / total


def _merge_timestamps(template: str, line: str) -> str:
    """Make each timestamp of the line that wildcards already touch one `<*>` (`at {date} {time}`
    over `at Sat Jul  9 22:53:22 2005` is `at <*>`)."""
    regions = [m.span() for m in TIMESTAMP.finditer(line)]
    spans = match_spans(template, line) if regions else None
    if not spans:
        return template
    segments: list[tuple[int, int, bool]] = []  # (start, end, is_wildcard) covering the whole line
    pos = 0
    for start, end in spans:
        if start > pos:
            segments.append((pos, start, False))
        segments.append((start, end, True))
        pos = end
    if pos < len(line):
        segments.append((pos, len(line), False))
    for r_start, r_end in regions:
        inside = [seg for seg in segments if seg[0] < r_end and seg[1] > r_start]
        if not any(wild for _, _, wild in inside):
            continue
        first, last = inside[0], inside[-1]
        merged: list[tuple[int, int, bool]] = []
        if not first[2] and first[0] < r_start:
            merged.append((first[0], r_start, False))
        merged.append((min(r_start, first[0]) if first[2] else r_start,
                       max(r_end, last[1]) if last[2] else r_end, True))
        if not last[2] and last[1] > r_end:
            merged.append((r_end, last[1], False))
        k = segments.index(first)
        segments[k:k + len(inside)] = merged
    return "".join(WILDCARD if wild else line[a:b] for a, b, wild in segments)


class ParsedTemplate(NamedTuple):
    """A parsed template and how it was obtained: `match` (a candidate matched the line as written),
    `repair` (a candidate was aligned to the line) or `fallback` (rule-based template of the line)."""

    template: str
    source: str


# `key=value` in the text of a template that already masks another value: Loghub's annotators make every
# value of a key=value list a variable (`tty=NODEVssh` beside `uid=<*>` is `tty=<*>`)
# (not a code identifier such as `Domain=NSURLErrorDomain` or `com.apple.x`: those are kept as text)
_KEY_LITERAL = re.compile(r"(?<![\w<*>={])([A-Za-z_][\w.-]*=)([\w.:/@-]+)(?=[\s,;)\]]|$)")
_KEY_BEFORE = re.compile(r"[A-Za-z_][\w.-]*=$")
_KEY_WILDCARD = re.compile(r"[A-Za-z_][\w.-]*=<\*>")


def _mask_key_values(template: str) -> str:
    """Literal values of `key=value` pairs become `<*>` when the template masks another such value."""
    if not _KEY_WILDCARD.search(template):
        return template

    def value(m: re.Match) -> str:
        text = m.group(2)
        identifier = _CODE_SHAPE.search(text) or (text.count(".") >= 2 and not any(c.isdigit() for c in text))
        return m.group(0) if identifier or WILDCARD in text else m.group(1) + WILDCARD

    return _KEY_LITERAL.sub(value, template)


def _finish(template: str, line: str) -> str:
    """Canonical form of a template that matches `line` (kept as is if canonical form would not match)."""
    canonical = canonicalize(_mask_key_values(_merge_timestamps(template, line)))
    return canonical if template_matches(canonical, line) else normalize_ws(template)


def parse_template_detailed(raw: str, line: str, *, repair: bool = True, fallback: bool = True,
                            min_agreement: float = 0.5) -> ParsedTemplate:
    """Extract the template for log `line` from a raw completion `raw` (see the module docstring).

    `repair` allows aligning a non-matching candidate to the line; `fallback` allows the rule-based
    template of the line when nothing usable is left. With both off, an unusable completion yields its
    first candidate as written (source `unmatched`), which the verifier then rejects. `min_agreement` is
    the share of the line a non-matching candidate must account for to be repaired.
    """
    line = normalize_ws(line.replace(_SENTINEL, " "))
    candidates = extract_candidates(raw.replace(_SENTINEL, " "))
    parsed = [_to_parts(c, line) for c in candidates]
    for parts in parsed:
        template = _match(parts, line)
        if template is not None:
            template = _finish(template, line)
            if not is_all_wildcards(template):
                return ParsedTemplate(template, "match")
    if repair:
        best, best_score = "", -1.0
        for parts in parsed[:_MAX_REPAIRS]:
            repaired, agreement = _repair(parts, line)
            if agreement > best_score:
                best, best_score = repaired, agreement
        if best_score >= min_agreement and template_matches(best, line):
            template = _finish(best, line)
            if not is_all_wildcards(template):
                return ParsedTemplate(template, "repair")
    if fallback:
        return ParsedTemplate(mask_variables(line), "fallback")
    first = "".join(p if isinstance(p, str) else WILDCARD for p in parsed[0]) if parsed else ""
    return ParsedTemplate(canonicalize(first), "unmatched")


def parse_template(raw: str, line: str, *, repair: bool = True, fallback: bool = True) -> str:
    """The template for log `line` in the raw completion `raw` (see `parse_template_detailed`)."""
    return parse_template_detailed(raw, line, repair=repair, fallback=fallback).template


class LogParsingTask:
    """The `log_parsing` task: one log line in, its `<*>` template out.

    `repair` and `fallback` are passed to `parse_template`. With the fallback on (default), every
    completion yields a template that matches its line, so the verifier only rejects what other sources
    (a cache, a user) produce; turn it off to let the verifier reject unusable completions (and escalate).
    """

    name = "log_parsing"

    def __init__(self, *, repair: bool = True, fallback: bool = True):
        self.repair = repair
        self.fallback = fallback

    def prompt(self, job: Job) -> list[tuple[str, str]]:
        """System + user messages asking for the template of `job.text` only."""
        return [("system", SYSTEM_PROMPT), ("user", USER_PROMPT.format(line=job.text.strip()))]

    def parse(self, raw: str, job: Job) -> str:
        """The template in a raw completion, checked and repaired against the job's line."""
        return parse_template(raw, job.text, repair=self.repair, fallback=self.fallback)

    def verify(self, job: Job, output: str) -> Verdict:
        """Accept a template that matches its own line and is not all wildcards."""
        if not output.strip():
            return Verdict(False, "empty template")
        if is_all_wildcards(output):
            return Verdict(False, "template is all wildcards")
        # NUL is the parser's internal separator, read as a space in the line (as `parse_template` does)
        if not template_matches(output, job.text.replace(_SENTINEL, " ")):
            return Verdict(False, "template does not match the log line")
        return Verdict(True, "template matches the log line")

    def score(self, job: Job, output: str) -> float | None:
        """1.0 when the template equals the reference after whitespace normalisation, else 0.0."""
        if job.reference is None:
            return None
        return 1.0 if normalize_ws(output) == normalize_ws(job.reference) else 0.0

    def cache_key(self, job: Job) -> str:
        """The whitespace-normalised log line."""
        return normalize_ws(job.text)

    def rule_answer(self, job: Job) -> str:
        """A template without a model: the line with its obvious variables masked (`mask_variables`), for a
        job the budget pays no model for. Not verified, never cached."""
        return mask_variables(job.text)

    def new_judge(self) -> LogTemplateJudge:
        """A stateful label-free verifier that can reject (contracts §2): see `LogTemplateJudge`."""
        return LogTemplateJudge(self)


# --- the judge: a stateful, label-free verifier that looks across lines -------------------------------------

_JUDGE_LINES = 4_000          # recent lines kept as evidence (bounded: the judge is in every snapshot)
_JUDGE_VALUES = 8             # distinct values kept per (shape, position)
_JUDGE_TEMPLATES = 20_000     # verified / refuted templates kept
_MIN_OTHER_LINES = 2          # other lines a template must match before a constant wildcard is over-general
_MIN_VARIANTS = 3             # distinct values at one position before a literal there is under-general
_MIN_CONTEXT = 2              # tokens a line must share with others besides the varying one


_DIGIT_RUN = re.compile(r"\d+")


def _tokens(line: str) -> list[str]:
    return normalize_ws(line).split(" ")


def _longest_literal(template: str) -> str:
    return max(normalize_ws(template).split(WILDCARD), key=len)


class LogTemplateJudge:
    """A label-free verifier for log templates that can say no (see `LogParsingTask.new_judge`).

    It remembers recent lines, the templates it verified and those feedback refuted, and judges a
    template for a line by signals that need no reference:

    * it matches its line and is not all wildcards (the stateless check);
    * feedback: a template refuted for a line of the same shape is rejected, a confirmed one accepted;
    * consistency: a verified template that matches the line and differs from this one is a contradiction;
      a verified template whose wildcard runs on over more tokens than on the lines it was verified for
      does not fit this line (multi-token wildcards stay allowed where they were verified as such);
    * over-general: a wildcard covering the same digit-free text in every line (≥ 3 with this one) the
      template matches — text constant across its lines is message text, not a variable;
    * under-general: a literal token of the line that takes ≥ 3 distinct values across lines identical
      in every other token — a value the template failed to mask;
    * agreement: a template another call already proposed for the same line (two models agree) is
      accepted unless a negative signal holds.

    With no evidence either way it accepts (a judge that rejects every new line would escalate every
    call). `learn(job, output, correct)` records feedback that says whether an output was right.
    """

    def __init__(self, task: LogParsingTask | None = None):
        self.task = task or LogParsingTask()
        self.lines: dict[str, None] = {}                       # recent distinct lines (insertion order)
        self.variants: dict[tuple, dict[str, None]] = {}        # (n tokens, position, other tokens) -> values
        self.verified: dict[str, str | None] = {}               # templates accepted or confirmed -> longest literal
        self.confirmed: dict[str, None] = {}
        self.refuted: dict[tuple[str, str], None] = {}         # (template, line shape)
        self.proposals: dict[str, dict[str, None]] = {}         # line -> templates proposed for it
        self.widths: dict[str, list[set[int]]] = {}             # template -> tokens each wildcard covered

    # -- evidence ------------------------------------------------------------------------------------------
    def observe(self, line: str) -> None:
        """Remember a line as evidence (every line the judge is asked about is observed)."""
        line = normalize_ws(line)
        if line in self.lines:
            return
        self.lines[line] = None
        if len(self.lines) > _JUDGE_LINES:
            del self.lines[next(iter(self.lines))]
        toks = _tokens(line)
        if len(toks) > 64:
            return
        for p, tok in enumerate(toks):
            key = (len(toks), p, tuple(toks[:p]), tuple(toks[p + 1:]))
            values = self.variants.setdefault(key, {})
            if tok not in values and len(values) < _JUDGE_VALUES:
                values[tok] = None
        if len(self.variants) > 64 * _JUDGE_LINES:
            for key in list(self.variants)[:len(self.variants) // 2]:
                del self.variants[key]

    @staticmethod
    def _shape(line: str) -> str:
        """Lines of one shape: the same text once numbers are masked (`blk_1` and `blk_2` alike)."""
        return _DIGIT_RUN.sub("0", mask_variables(line))

    # -- signals -------------------------------------------------------------------------------------------
    def _over_general(self, template: str, line: str) -> str | None:
        anchor = _longest_literal(template)
        covered: list[list[str]] = []
        for other in self.lines:
            if other == line or (anchor and anchor not in other):
                continue
            spans = match_spans(template, other)
            if spans is not None:
                covered.append([other[a:b] for a, b in spans])
                if len(covered) >= 12:
                    break
        if len(covered) < _MIN_OTHER_LINES:
            return None
        own = match_spans(template, line) or []
        for k, (a, b) in enumerate(own):
            text = line[a:b]
            if any(c.isdigit() for c in text) or _KEY_BEFORE.search(line, 0, a):
                continue           # numbers, and the values of key=value pairs, are variables by convention
            if all(k < len(c) and c[k] == text for c in covered):
                return f"wildcard {k + 1} covers '{text[:40]}' in all {len(covered) + 1} lines it matches"
        return None

    def _under_general(self, template: str, line: str) -> str | None:
        toks = _tokens(line)
        if not _MIN_CONTEXT <= len(toks) - 1 <= 64:
            return None            # a one- or two-word line has no context that could show a value
        spans = match_spans(template, line) or []
        pos = 0
        for p, tok in enumerate(toks):
            start, end = pos, pos + len(tok)
            pos = end + 1
            if any(a < end and b > start for a, b in spans):
                continue           # (partly) under a wildcard
            values = self.variants.get((len(toks), p, tuple(toks[:p]), tuple(toks[p + 1:])), {})
            if len(values | {tok: None}) >= _MIN_VARIANTS:
                return f"literal '{tok[:40]}' takes {len(values | {tok: None})} values across lines alike otherwise"
        return None

    @staticmethod
    def _wildcard_widths(template: str, line: str) -> list[int] | None:
        spans = match_spans(template, line)
        return None if spans is None else [len(line[a:b].split()) for a, b in spans]

    def _run_on(self, template: str, line: str) -> str | None:
        """A verified template whose wildcard here covers more tokens than on any line it was verified for
        (`rhost=<*>` verified over one address, now over `10.0.0.1 user=root`)."""
        known = self.widths.get(template)
        widths = self._wildcard_widths(template, line) if known else None
        if not known or widths is None or len(widths) != len(known):
            return None
        for k, (width, seen) in enumerate(zip(widths, known, strict=True)):
            if width > max(seen):
                return f"wildcard {k + 1} covers {width} tokens here, at most {max(seen)} where it was verified"
        return None

    def _contradiction(self, template: str, line: str) -> str | None:
        for other, anchor in reversed(self.verified.items()):
            if other == template or (anchor if anchor is not None else _longest_literal(other)) not in line:
                continue           # a template matches only lines holding each of its literals (cheap test)
            if template_matches(other, line) and self._run_on(other, line) is None:
                return f"a verified template matches the line: '{other[:60]}'"
        return None

    # -- the verifier contract -----------------------------------------------------------------------------
    def verify(self, job: Job, output: str) -> Verdict:
        """Accept or reject `output` for `job` (label-free; see the class docstring)."""
        line = normalize_ws(job.text.replace(_SENTINEL, " "))
        self.observe(line)
        basic = self.task.verify(job, output)
        if not basic.ok:
            return basic
        template = normalize_ws(output)
        proposed = self.proposals.setdefault(line, {})
        agreed = template in proposed
        proposed[template] = None
        if len(self.proposals) > _JUDGE_LINES:
            del self.proposals[next(iter(self.proposals))]
        if (template, self._shape(line)) in self.refuted:
            return Verdict(False, "feedback refuted this template for lines of this shape")
        run_on = self._run_on(template, line)
        if run_on is not None:
            return Verdict(False, run_on)       # the template stays verified for the lines it fits
        if template in self.confirmed:
            self._remember(template, line)
            return Verdict(True, "feedback confirmed this template")
        for signal in (self._contradiction, self._over_general, self._under_general):
            reason = signal(template, line)
            if reason is not None:
                self.verified.pop(template, None)   # a rejected template no longer speaks for its lines
                return Verdict(False, reason)
        self._remember(template, line)
        return Verdict(True, "two calls agree on the template" if agreed else
                       "template matches the line; no line contradicts it")

    def _remember(self, template: str, line: str) -> None:
        self.verified.pop(template, None)
        self.verified[template] = _longest_literal(template)
        widths = self._wildcard_widths(template, line)
        if widths is not None:
            known = self.widths.setdefault(template, [set() for _ in widths])
            if len(known) == len(widths):
                for seen, width in zip(known, widths, strict=True):
                    seen.add(width)
        if len(self.verified) > _JUDGE_TEMPLATES:
            oldest = next(iter(self.verified))
            del self.verified[oldest]
            self.widths.pop(oldest, None)

    def learn(self, job: Job, output: str, correct: bool) -> None:
        """Feedback that says whether `output` was right for `job` (reference, confirmed/refuted hit, user)."""
        template, line = normalize_ws(output), normalize_ws(job.text.replace(_SENTINEL, " "))
        self.observe(line)
        if correct:
            self.confirmed[template] = None
            self.refuted.pop((template, self._shape(line)), None)
            self._remember(template, line)
            if len(self.confirmed) > _JUDGE_TEMPLATES:
                del self.confirmed[next(iter(self.confirmed))]
        else:
            self.refuted[(template, self._shape(line))] = None
            self.confirmed.pop(template, None)
            self.verified.pop(template, None)
            if len(self.refuted) > _JUDGE_TEMPLATES:
                del self.refuted[next(iter(self.refuted))]
