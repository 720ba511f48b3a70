"""Verified log templates as matchers, indexed so a lookup does not scan every template.

Matching semantics are those of :mod:`engine.tasks.templates`: literals in order, each ``<*>`` spans
at least one character, the template covers the whole (whitespace-normalised) line. The most specific
matching template wins: most literal characters (`literal_chars`), then fewest wildcards, then the
template text and the entry id (so the winner never depends on insertion order).

Index (per scope partition; candidates are always a superset of the matching templates):

* **exact** — templates without a wildcard, in a dict keyed by their normalised text;
* **prefix trie** (as in LILAC) — templates whose first token(s) are fully literal, under the path of
  those leading tokens; each node keeps its templates bucketed by their last token when that one is
  fully literal (a line can only match if its own last token is the same), else in an "any" bucket;
* **suffix trie** — templates starting with a wildcard but ending in literal tokens, under the path of
  their reversed trailing tokens;
* **anchors** — templates wildcarded at both ends, under their longest fully literal middle token
  (such a token must appear as a whole token of any line they match);
* **fallback** — the rest (e.g. ``<*>:<*>``), scanned on every lookup.

Why a literal token is a sound key: lines and templates are whitespace-normalised, so a literal token
with a space (or the line boundary) on each side in the template appears as a whole token of every
line the template matches, at the same position when it precedes the first wildcard.

Each bucket is kept sorted by specificity, so a lookup evaluates candidates from the most specific
down and stops at the first match in a bucket. The match itself is a linear greedy scan of the literal
segments (prefix, leftmost occurrences in order, suffix), which decides exactly what the regular
expression of `template_regex` decides but cannot backtrack catastrophically.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from engine.tasks.templates import WILDCARD, literal_chars, normalize_ws

__all__ = ["TemplateIndex", "TemplateMatch", "Scope", "specificity"]

log = logging.getLogger(__name__)

Scope = Literal["dataset", "task"]
_ANY = ""  # bucket key for templates whose last token is not fully literal (tokens are never empty)


def specificity(template: str) -> tuple[int, int]:
    """How specific a template is: (literal characters, -wildcards); larger is more specific."""
    return literal_chars(template), -normalize_ws(template).count(WILDCARD)


@dataclass(frozen=True, slots=True)
class TemplateMatch:
    """The template that matched a line."""

    entry_id: str
    template: str
    dataset: str
    literal_chars: int


class _Matcher:
    """One template compiled into literal segments, with its sort key and its place in the index."""

    __slots__ = ("entry_id", "template", "dataset", "segments", "min_len", "key", "location")

    def __init__(self, entry_id: str, template: str, dataset: str):
        norm = normalize_ws(template)
        self.entry_id = entry_id
        self.template = template
        self.dataset = dataset
        self.segments = norm.split(WILDCARD)
        self.min_len = sum(len(s) for s in self.segments) + len(self.segments) - 1
        lit, neg_wild = specificity(template)
        self.key = (lit, neg_wild, norm, entry_id)
        self.location: tuple = ()

    def matches(self, line: str) -> bool:
        """Whether the template matches the whole of `line` (already whitespace-normalised)."""
        segs = self.segments
        if len(segs) == 1:
            return line == segs[0]
        if len(line) < self.min_len:
            return False
        first, last = segs[0], segs[-1]
        if not line.startswith(first) or not line.endswith(last):
            return False
        pos = len(first)
        limit = len(line) - len(last)  # where the suffix literal starts
        for seg in segs[1:-1]:
            # Leftmost placement after a wildcard of >= 1 character; leftmost is optimal for the
            # remaining segments, so a failure here means no placement exists.
            idx = line.find(seg, pos + 1, limit - 1)
            if idx < 0:
                return False
            pos = idx + len(seg)
        return pos < limit


@dataclass(slots=True)
class _Node:
    children: dict[str, _Node] = field(default_factory=dict)
    buckets: dict[str, list[_Matcher]] = field(default_factory=dict)


def _insort(bucket: list[_Matcher], matcher: _Matcher) -> None:
    bisect.insort(bucket, matcher, key=_key)


def _key(m: _Matcher) -> tuple:
    return m.key


class _Partition:
    """The index of the templates of one scope key (one dataset, or the whole task)."""

    __slots__ = ("exact", "prefix", "suffix", "anchors", "fallback", "size")

    def __init__(self) -> None:
        self.exact: dict[str, list[_Matcher]] = {}
        self.prefix = _Node()
        self.suffix = _Node()
        self.anchors: dict[str, list[_Matcher]] = {}
        self.fallback: list[_Matcher] = []
        self.size = 0

    # -- placement ---------------------------------------------------------------------------------
    def add(self, m: _Matcher) -> None:
        norm = m.key[2]
        self.size += 1
        if len(m.segments) == 1:
            _insort(self.exact.setdefault(norm, []), m)
            m.location = ("exact", norm)
            return
        tokens = norm.split(" ")
        lead = 0
        while WILDCARD not in tokens[lead]:
            lead += 1  # stops before the end: the template has a wildcard
        if lead:
            node = self.prefix
            for tok in tokens[:lead]:
                node = node.children.setdefault(tok, _Node())
            last = tokens[-1]
            bucket_key = last if WILDCARD not in last else _ANY
            _insort(node.buckets.setdefault(bucket_key, []), m)
            m.location = ("prefix", tuple(tokens[:lead]), bucket_key)
            return
        trail = 0
        while WILDCARD not in tokens[-1 - trail]:
            trail += 1
        if trail:
            node = self.suffix
            path = tuple(reversed(tokens[-trail:]))
            for tok in path:
                node = node.children.setdefault(tok, _Node())
            _insort(node.buckets.setdefault(_ANY, []), m)
            m.location = ("suffix", path, _ANY)
            return
        anchors = [t for t in tokens[1:-1] if WILDCARD not in t]
        if anchors:
            anchor = max(anchors, key=lambda t: (len(t), t))
            _insort(self.anchors.setdefault(anchor, []), m)
            m.location = ("anchor", anchor)
            return
        _insort(self.fallback, m)
        m.location = ("fallback",)

    def remove(self, m: _Matcher) -> None:
        kind = m.location[0]
        self.size -= 1
        if kind == "exact":
            _discard(self.exact, m.location[1], m)
        elif kind in ("prefix", "suffix"):
            root = self.prefix if kind == "prefix" else self.suffix
            _, path, bucket_key = m.location
            trail = [root]
            for tok in path:
                trail.append(trail[-1].children[tok])
            _discard(trail[-1].buckets, bucket_key, m)
            # prune empty nodes so the tries do not keep growing under churn
            for depth in range(len(path), 0, -1):
                node = trail[depth]
                if node.buckets or node.children:
                    break
                del trail[depth - 1].children[path[depth - 1]]
        elif kind == "anchor":
            _discard(self.anchors, m.location[1], m)
        else:
            self.fallback.remove(m)

    # -- lookup ------------------------------------------------------------------------------------
    def candidates(self, line: str, tokens: list[str]) -> Iterator[list[_Matcher]]:
        """Buckets that may hold a matching template (each sorted by ascending specificity)."""
        exact = self.exact.get(line)
        if exact:
            yield exact
        last = tokens[-1]
        node = self.prefix
        for tok in tokens:
            node = node.children.get(tok)
            if node is None:
                break
            if node.buckets:
                bucket = node.buckets.get(last)
                if bucket:
                    yield bucket
                bucket = node.buckets.get(_ANY)
                if bucket:
                    yield bucket
        node = self.suffix
        for tok in reversed(tokens):
            node = node.children.get(tok)
            if node is None:
                break
            bucket = node.buckets.get(_ANY)
            if bucket:
                yield bucket
        if self.anchors:
            for tok in set(tokens):
                bucket = self.anchors.get(tok)
                if bucket:
                    yield bucket
        if self.fallback:
            yield self.fallback


def _discard(buckets: dict[str, list[_Matcher]], key: str, m: _Matcher) -> None:
    bucket = buckets[key]
    bucket.remove(m)
    if not bucket:
        del buckets[key]


class TemplateIndex:
    """Verified templates of one task, indexed for fast most-specific-match lookup.

    `scope` decides whether a template learned on one dataset (log system) may match the lines of
    another: ``"dataset"`` (default) keeps one partition per dataset — the safe choice, since a
    generic template such as ``<*> <*> closed`` learned on one system would claim lines of another
    whose structure it has never been verified on; ``"task"`` shares templates across datasets (more
    hits when systems share a logging library).

    >>> idx = TemplateIndex()
    >>> idx.add("e1", "Received block <*> of size <*>", dataset="HDFS")
    True
    >>> idx.add("e2", "Received block <*> of size <*> from <*>", dataset="HDFS")
    True
    >>> idx.lookup("Received block blk_1 of size 67 from /10.0.0.1", dataset="HDFS").entry_id
    'e2'
    >>> idx.lookup("Received block blk_1 of size 67", dataset="Spark") is None
    True
    """

    def __init__(self, scope: Scope = "dataset"):
        if scope not in ("dataset", "task"):
            raise ValueError(f"scope must be 'dataset' or 'task', got {scope!r}")
        self.scope: Scope = scope
        self._partitions: dict[str, _Partition] = {}
        self._by_id: dict[str, _Matcher] = {}

    def _scope_key(self, dataset: str) -> str:
        return dataset if self.scope == "dataset" else "*"

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._by_id

    def add(self, entry_id: str, template: str, dataset: str = "default") -> bool:
        """Index `template` under `entry_id` (replacing an earlier template with that id).

        Returns False (and indexes nothing) for a template made only of wildcards: it would match
        every line and can never be a safe cache answer.
        """
        if literal_chars(template) == 0:
            log.debug("template %r has no literal characters: not indexed", template)
            return False
        if entry_id in self._by_id:
            self.remove(entry_id)
        matcher = _Matcher(entry_id, template, dataset)
        self._partitions.setdefault(self._scope_key(dataset), _Partition()).add(matcher)
        self._by_id[entry_id] = matcher
        return True

    def remove(self, entry_id: str) -> bool:
        """Remove the template of `entry_id`; False when it was not indexed."""
        matcher = self._by_id.pop(entry_id, None)
        if matcher is None:
            return False
        key = self._scope_key(matcher.dataset)
        part = self._partitions[key]
        part.remove(matcher)
        if part.size == 0:
            del self._partitions[key]
        return True

    def lookup(self, line: str, dataset: str = "default", *, normalized: bool = False) -> TemplateMatch | None:
        """The most specific template matching `line`, or None.

        Pass ``normalized=True`` when `line` is already whitespace-normalised (saves a regex pass).
        """
        part = self._partitions.get(self._scope_key(dataset))
        if part is None:
            return None
        norm = line if normalized else normalize_ws(line)
        best: _Matcher | None = None
        for bucket in part.candidates(norm, norm.split(" ")):
            for m in reversed(bucket):
                if best is not None and m.key <= best.key:
                    break  # the rest of this bucket is less specific than what we have
                if m.matches(norm):
                    best = m
                    break
        if best is None:
            return None
        return TemplateMatch(best.entry_id, best.template, best.dataset, best.key[0])

    def templates(self) -> Iterable[tuple[str, str, str]]:
        """All indexed (entry_id, template, dataset) triples."""
        return ((m.entry_id, m.template, m.dataset) for m in self._by_id.values())

    def stats(self) -> dict[str, int]:
        """How the templates are spread over the index structures (for benchmarks and debugging)."""
        out = {"templates": len(self._by_id), "partitions": len(self._partitions)}
        for m in self._by_id.values():
            out[m.location[0]] = out.get(m.location[0], 0) + 1
        return out
