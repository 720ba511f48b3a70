"""The log-parsing plug-in: messy completions in, templates out; verifier; scorer."""

from __future__ import annotations

import pytest

from engine.tasks.log_parsing import (
    LogParsingTask,
    extract_candidates,
    parse_template,
    parse_template_detailed,
)
from engine.tasks.templates import template_matches

from .helpers import job

# (id, raw completion, log line, expected template, expected source)
CASES = [
    ("braces", "Accepted connection from {ip} port {port}",
     "Accepted connection from 192.168.7.21 port 50322", "Accepted connection from <*> port <*>", "match"),
    ("label-and-backticks", "The template is: `User <*> logged out after <*> seconds`",
     "User kira logged out after 35 seconds", "User <*> logged out after <*> seconds", "match"),
    ("dangling-quote-then-junk",
     "Disk quota exceeded for volume {vol}'\n\nThe template of 'foo 1' is 'foo {n}'",
     "Disk quota exceeded for volume vg02", "Disk quota exceeded for volume <*>", "match"),
    ("answer-after-other-lines",
     "Here are some templates:\nConnection reset by <*>\nWorker <*> restarted with pid <*>",
     "Worker 12 restarted with pid 4411", "Worker <*> restarted with pid <*>", "match"),
    ("code-fence", "```\nSession {id} opened for user {user}\n```",
     "Session 8812 opened for user maria", "Session <*> opened for user <*>", "match"),
    ("angle-names-and-literal-angles", "PortSwitch<3>(<addr>)::reset - link down",
     "PortSwitch<3>(0x1f)::reset - link down", "PortSwitch<3>(<*>)::reset - link down", "match"),
    ("placeholder-over-a-word-is-kept", "Cache flush completed by {scheduler}",
     "Cache flush completed by scheduler", "Cache flush completed by <*>", "match"),
    ("echo-of-the-line", "Retry 3 of 5 failed after 250 ms",
     "Retry 3 of 5 failed after 250 ms", "Retry <*> of <*> failed after <*> ms", "match"),
    ("printf", "Allocated %d bytes at %p",
     "Allocated 4096 bytes at 0x7f3a9c00", "Allocated <*> bytes at <*>", "match"),
    ("trailing-wildcard-kept-as-written", "Found child {pid}",
     "Found child 5121 in slot 7", "Found child <*>", "match"),
    ("separators-stay-text", "cpu{n} mem{m}", "cpu:3 mem:812MB", "cpu:<*> mem:<*>", "match"),
    ("brackets-stay-text", "Lease expired for {client}",
     "Lease expired for [client_91af]", "Lease expired for [<*>]", "match"),
    ("key-stays-text", "sync done {size}", "sync done size=512", "sync done size=<*>", "match"),
    ("timestamp-is-one-variable", "login from {ip} at {date} {time}",
     "login from 10.1.2.3 at Tue Mar 5 09:12:44 2024", "login from <*> at <*>", "match"),
    ("wildcard-over-identifier-kept", "{class}::evict idle={n}",
     "ConnectionPoolManager::evict idle=4", "<*>::evict idle=<*>", "match"),
    # one wildcard over several tokens, as Loghub's annotators write them: kept as written
    ("number-unit-conversion", "Memory total: <*>",
     "Memory total: 1048576 kB (1024 MB)", "Memory total: <*>", "match"),
    ("url-path-and-protocol", 'GET <*>" 200 <*>',
     'GET /images/logo.png HTTP/1.1" 200 5120', 'GET <*>" <*> <*>', "match"),
    ("list-in-one-wildcard", "Excluded nodes: {nodes}",
     "Excluded nodes: node-1, node-7, node-9", "Excluded nodes: <*>", "match"),
    ("register-dump-in-one-wildcard", "fpr29={value}",
     "fpr29=0xffffffff ffffffff ffffffff ffffffff", "fpr29=<*>", "match"),
    ("brace-wrapped-value-is-a-wildcard", "domain {root_domain} is no longer served by node {node-160}",
     "domain root_domain is no longer served by node node-160", "domain <*> is no longer served by node <*>",
     "match"),
    ("key-value-values-are-variables", "failure; uid={uid} euid={euid} tty=NODEVssh rhost={host}",
     "failure; uid=0 euid=0 tty=NODEVssh rhost=10.0.0.1", "failure; uid=<*> euid=<*> tty=<*> rhost=<*>", "match"),
    ("key-value-identifier-stays", "Error Domain=NSURLErrorDomain Code={code}",
     "Error Domain=NSURLErrorDomain Code=-1001", "Error Domain=NSURLErrorDomain Code=<*>", "match"),
    ("relative-path-keeps-its-dot", "Error loading {path}: no such file\ndone",
     "Error loading ./runtime_malloc: missing", "Error loading <*>: missing", "repair"),
    ("label-then-template", "Template: <*> bytes sent", "512 bytes sent", "<*> bytes sent", "match"),
    ("crlf-and-label-line", "Output:\r\nJob <*> finished in <*> s\r\n",
     "Job 77 finished in 3.2 s", "Job <*> finished in <*> s", "match"),
    ("markdown-bold-label", "**Template:** `Job <*> finished`", "Job 77 finished", "Job <*> finished", "match"),
    ("numbered-list", "1. Job {id} finished", "Job 77 finished", "Job <*> finished", "match"),
    ("bullet-and-quotes", '- "Job {id} finished"', "Job 77 finished", "Job <*> finished", "match"),
    ("ids-and-ip-port", "block {blk} replicated to {ip}:{port}",
     "block blk_-4512398812 replicated to 10.0.0.5:50010", "block <*> replicated to <*>", "match"),
    ("dropped-prefix-is-repaired", "eth0: link up at {speed} Mbps",
     "kernel: eth0: link up at 1000 Mbps", "kernel: eth0: link up at <*> Mbps", "repair"),
    ("extra-period-is-repaired", "Job <*> done.", "Job 77 done", "Job <*> done", "repair"),
    ("refusal-falls-back", "I'm sorry, I can't help with that.",
     "Disk /dev/sdb1 is 93% full", "Disk <*> is <*> full", "fallback"),
    ("empty-falls-back", "", "Disk /dev/sdb1 is 93% full", "Disk <*> is <*> full", "fallback"),
    ("all-wildcards-rejected", "{a} {b}", "sshd restarted", "sshd restarted", "fallback"),
]


@pytest.mark.parametrize("raw,line,expected,source", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_parse_messy_completions(raw, line, expected, source):
    parsed = parse_template_detailed(raw, line)
    assert parsed.template == expected
    assert parsed.source == source
    assert template_matches(parsed.template, line)


def test_candidates_skip_fences_and_keep_order():
    raw = "Sure!\n```text\nA {x}\n```\n'B {y}'"
    assert extract_candidates(raw)[:3] == ["Sure!", "A {x}", "B {y}"]


def test_without_repair_and_fallback_unusable_output_is_rejected():
    task = LogParsingTask(repair=False, fallback=False)
    j = job("log_parsing", "kernel: eth0: link up at 1000 Mbps")
    out = task.parse("Sorry, no idea.", j)
    assert task.verify(j, out).ok is False
    assert parse_template_detailed("eth0: link up", j.text, repair=False, fallback=False).source == "unmatched"


def test_parse_never_uses_the_reference():
    line = "Worker 12 restarted with pid 4411"
    with_ref = LogParsingTask().parse("Worker {id} restarted", job("log_parsing", line, reference="WRONG <*>"))
    assert with_ref == parse_template("Worker {id} restarted", line)


VERIFY = [
    ("User <*> logged in", "User alice logged in", True),
    ("User <*> logged out", "User alice logged in", False),
    ("<*> <*> <*>", "User alice logged", False),
    ("", "User alice logged in", False),
]


@pytest.mark.parametrize("output,line,ok", VERIFY)
def test_verify(output, line, ok):
    verdict = LogParsingTask().verify(job("log_parsing", line, reference="ignored"), output)
    assert verdict.ok is ok
    assert verdict.reason


def test_score_is_exact_match_after_whitespace_normalisation():
    task = LogParsingTask()
    j = job("log_parsing", "User alice logged in", reference="User <*> logged in")
    assert task.score(j, "User  <*> logged in ") == 1.0
    assert task.score(j, "User <*> logged <*>") == 0.0
    assert task.score(job("log_parsing", "x"), "x") is None


def test_prompt_and_cache_key():
    task = LogParsingTask()
    j = job("log_parsing", "  User alice   logged in {braces} ")
    messages = task.prompt(j)
    assert [role for role, _ in messages] == ["system", "user"]
    assert "<*>" in messages[0][1] and "User alice   logged in {braces}" in messages[1][1]
    assert task.cache_key(j) == "User alice logged in {braces}"
