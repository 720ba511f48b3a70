"""Closed-answer tasks: text classification (one of a set of labels) and multiple choice (a letter).

Both parsers read a completion the way a careful grader would: an exact answer first, then an answer
announced in prose ("Label: spam", "The answer is (B)"), then an answer given by its text (a label word,
or the text of one of the options listed in the question), and give up ("") rather than guess between
several candidates.

Text classification: the allowed answers are `job.labels`. With labels, the verifier accepts exactly
one of them. Without labels the task cannot know what is allowed: the parser returns the cleaned
answer, and the verifier returns ok=None (cannot judge) for a non-empty answer and ok=False for an empty
one, so feedback in verifier mode neither rewards nor punishes free-form labels.

Multiple choice: the allowed answers are the letters of the options listed in the question (the last
block of lines such as ``A) …``, ``(B) …``, ``C. …``; few-shot prompts list earlier questions first), A–D
when none are listed. The verifier accepts one of those letters.

Scores are exact matches with the normalised reference (1.0/0.0), None without a reference.
"""

from __future__ import annotations

import re

from engine.jobs import Job, Verdict
from engine.tasks.templates import normalize_ws

_QUOTES = "\"'`“”‘’*_"
_LEAD_IN = re.compile(
    r"^(?:(?:the|my|final|correct|predicted|best)\s+)*"
    r"(?:answer|label|category|class|classification|sentiment|prediction|output|result|choice|option)"
    r"(?:\s+(?:is|would be|should be))?\s*[:=\-]?\s*",
    re.IGNORECASE,
)


def normalize_label(text: str) -> str:
    """Case-folded label without surrounding whitespace, quotes, markup or final punctuation."""
    text = normalize_ws(text).strip(_QUOTES + " ")
    text = re.sub(r"[.!?,;:]+$", "", text).strip(_QUOTES + " ")
    return text.casefold()


def _word_pattern(label: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w-])" + re.escape(label) + r"(?![\w-])", re.IGNORECASE)


def parse_label(raw: str, labels: tuple[str, ...] | list[str] = ()) -> str:
    """The label a completion gives, spelled as in `labels` ("" when it names none or several).

    Without `labels`, the first line of the answer, cleaned of quotes, a "Label:" lead-in and final
    punctuation (original case kept).
    """
    text = raw.replace("\r\n", "\n").strip()
    if not text:
        return ""
    first = next((ln for ln in text.split("\n") if ln.strip()), "")
    cleaned = _LEAD_IN.sub("", normalize_ws(first).strip(_QUOTES + " ")).strip()
    if not labels:
        cleaned = re.sub(r"[.!?,;:]+$", "", cleaned).strip(_QUOTES + " ")
        return cleaned
    by_norm = {normalize_label(label): label for label in labels}
    for candidate in (first, cleaned):
        if normalize_label(candidate) in by_norm:
            return by_norm[normalize_label(candidate)]
    # "Label: spam (because …)" — a label right at the start of the answer
    for norm in sorted(by_norm, key=len, reverse=True):
        if norm and re.match(re.escape(norm) + r"(?![\w-])", normalize_label(cleaned)):
            return by_norm[norm]
    # labels mentioned in prose: accept only when exactly one is (longest labels win overlaps)
    mentioned = {}
    for norm in sorted(by_norm, key=len, reverse=True):
        for m in _word_pattern(norm).finditer(text):
            if not any(a <= m.start() < b for a, b in mentioned.values()):
                mentioned.setdefault(norm, (m.start(), m.end()))
    if len(mentioned) == 1:
        return by_norm[next(iter(mentioned))]
    return ""


# --- multiple choice -----------------------------------------------------------------------------------

DEFAULT_LETTERS = ("A", "B", "C", "D")
_OPTION_LINE = re.compile(r"^\s*(?:\(([A-J])\)|([A-J])[).:])\s+(.+?)\s*$")
_LONE_LETTER = re.compile(r"^\s*[(\[]?([A-Ja-j])[)\].:]?\s*$")
_LETTER_FIRST = re.compile(r"^\s*[(\[]?([A-J])(?:[)\].:]|\s*[-–—(]|\s*$)")
_ANNOUNCED = re.compile(  # keywords in any case, the letter itself upper case ("the answer is a lot" is no A)
    r"(?i:answer|option|choice)\s*(?i:is|would be|should be|:)?\s*(?i:option\s+|choice\s+)?"
    r"[(\[]?\*{0,2}([A-J])\*{0,2}[)\]]?(?![\w'])")
_STANDALONE = re.compile(r"(?<![\w'])[(\[]?([A-J])(?:[)\].:,]|(?=\s|$))(?![\w'])")


def question_options(text: str) -> dict[str, str]:
    """The options (letter -> text) of the last question in `text`: the last run of consecutive option
    lines lettered A, B, C, …"""
    runs: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.replace("\r\n", "\n").split("\n"):
        m = _OPTION_LINE.match(line)
        if m:
            letter = m.group(1) or m.group(2)
            expected = chr(ord("A") + len(current))
            if letter == expected:
                current[letter] = m.group(3)
                continue
            if letter == "A":
                runs.append(current)
                current = {letter: m.group(3)}
                continue
        if current:
            runs.append(current)
            current = {}
    if current:
        runs.append(current)
    runs = [r for r in runs if len(r) >= 2]
    return runs[-1] if runs else {}


def allowed_letters(text: str) -> tuple[str, ...]:
    """The option letters of the last question in `text` (A–D when it lists none)."""
    options = question_options(text)
    return tuple(options) if options else DEFAULT_LETTERS


def _norm_text(text: str) -> str:
    return re.sub(r"[^\w ]+", "", normalize_ws(text).casefold()).strip()


def parse_letter(raw: str, question: str = "") -> str:
    """The option letter a completion gives for `question` ("" when it gives none or several)."""
    text = raw.replace("\r\n", "\n").strip().strip("*_` ")
    if not text:
        return ""
    options = question_options(question)
    letters = tuple(options) if options else DEFAULT_LETTERS
    m = _LONE_LETTER.match(text)
    if m and m.group(1).upper() in letters:
        return m.group(1).upper()
    m = _LETTER_FIRST.match(text)
    if m and m.group(1) in letters:
        return m.group(1)
    announced = {g for g in _ANNOUNCED.findall(text) if g in letters}
    if len(announced) == 1:
        return announced.pop()
    by_text = _match_option_text(text, options)
    if by_text:
        return by_text
    standalone = {g for g in _STANDALONE.findall(text) if g in letters and not _is_article(g, text)}
    if len(standalone) == 1:
        return standalone.pop()
    return ""


def _is_article(letter: str, text: str) -> bool:
    """An "A" or "I" used as a word ("A hypothesis", "I think") rather than as an option letter."""
    return letter in "AI" and re.search(rf"(?<![\w'])[{letter}]\s+[a-z]", text) is not None \
        and re.search(rf"(?<![\w'])[(\[]?{letter}[)\].:]", text) is None


def _match_option_text(text: str, options: dict[str, str]) -> str:
    """The option whose text the completion gives (starts with it, or is the start of it)."""
    if not options:
        return ""
    answer = _norm_text(text.split("\n")[0])
    if not answer:
        return ""
    hits = []
    for letter, option in options.items():
        norm = _norm_text(option)
        if not norm:
            continue
        if answer == norm or answer.startswith(norm + " ") or (len(answer) >= 4 and norm.startswith(answer)):
            hits.append(letter)
    if len(hits) == 1:
        return hits[0]
    # otherwise an option quoted whole somewhere in the prose, if exactly one is
    mentioned = [letter for letter, option in options.items()
                 if len(_norm_text(option)) >= 4 and re.search(r"(?<!\w)" + re.escape(_norm_text(option)) + r"(?!\w)",
                                                                _norm_text(text))]
    return mentioned[0] if len(mentioned) == 1 else ""


def _last_question(text: str) -> str:
    """The final question of a (possibly few-shot) prompt, without answer-format instructions."""
    blocks = [b for b in re.split(r"\n\s*\n", text.replace("\r\n", "\n")) if b.strip()]
    block = blocks[-1] if blocks else text
    lines = [ln for ln in block.split("\n")
             if not re.match(r"^\s*(?:answer\s*:?\s*$|print only|answer with|respond with)", ln, re.IGNORECASE)]
    return normalize_ws(" ".join(lines))


class TextClassificationTask:
    """The `text_classification` task: a text in, one of `job.labels` out."""

    name = "text_classification"

    def prompt(self, job: Job) -> list[tuple[str, str]]:
        """System + user messages asking for exactly one of the allowed labels."""
        if job.labels:
            allowed = ", ".join(job.labels)
            system = (f"You are a precise text classifier. Answer with exactly one of these labels and nothing "
                      f"else: {allowed}.")
        else:
            system = "You are a precise text classifier. Answer with the label only, nothing else."
        return [("system", system), ("user", job.text.strip())]

    def parse(self, raw: str, job: Job) -> str:
        """The label in a raw completion, spelled as in `job.labels` ("" when there is none)."""
        return parse_label(raw, job.labels)

    def verify(self, job: Job, output: str) -> Verdict:
        """One of `job.labels`; without labels: None for a non-empty answer, False for an empty one."""
        if not output.strip():
            return Verdict(False, "no label found")
        if not job.labels:
            return Verdict(None, "no label set to check against")
        if output in job.labels:
            return Verdict(True, "an allowed label")
        return Verdict(False, f"not one of the {len(job.labels)} allowed labels")

    def score(self, job: Job, output: str) -> float | None:
        """1.0 when the label equals the reference (case, quotes, final punctuation ignored), else 0.0."""
        if not job.reference:
            return None
        return 1.0 if normalize_label(output) == normalize_label(job.reference) else 0.0

    def cache_key(self, job: Job) -> str:
        """The whitespace-normalised text, with the label set (the same text under other labels differs)."""
        key = normalize_ws(job.text)
        return f"{key} || labels: {'|'.join(job.labels)}" if job.labels else key


class MultipleChoiceTask:
    """The `multiple_choice` task: a question with lettered options in, one letter out."""

    name = "multiple_choice"

    def prompt(self, job: Job) -> list[tuple[str, str]]:
        """System + user messages asking for the letter only."""
        letters = allowed_letters(job.text)
        system = (f"You answer multiple-choice questions. Reply with the letter of the correct option only "
                  f"({', '.join(letters)}), with no explanation.")
        return [("system", system), ("user", job.text.strip())]

    def parse(self, raw: str, job: Job) -> str:
        """The option letter in a raw completion ("" when there is none)."""
        return parse_letter(raw, job.text)

    def verify(self, job: Job, output: str) -> Verdict:
        """One of the letters the question lists."""
        letters = allowed_letters(job.text)
        if output in letters:
            return Verdict(True, "an allowed option letter")
        return Verdict(False, f"no option letter among {'/'.join(letters)}")

    def score(self, job: Job, output: str) -> float | None:
        """1.0 when the letter equals the reference letter, else 0.0."""
        if not job.reference:
            return None
        reference = parse_letter(job.reference, job.text) or job.reference.strip().upper()
        return 1.0 if output.strip().upper() == reference else 0.0

    def cache_key(self, job: Job) -> str:
        """The last question of the prompt with its options (few-shot examples and instructions dropped)."""
        return _last_question(job.text)
