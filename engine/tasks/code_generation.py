"""Code generation: a Python function for a request, checked by running tests in a sandbox.

Parsing (`extract_code`) takes the code out of a completion: fenced blocks (```python, ```py, bare
```), Code Llama's ``[PYTHON]…[/PYTHON]`` and ``<code>…</code>``; blocks in other languages and the
model's own ``[TESTS]`` are ignored. When several Python blocks are present, the ones that define
something (a function, a class) are merged in order and usage-only blocks (examples, prints) dropped.
Without fences, leading prose is skipped and the longest stretch of lines that parses as Python is
kept. Top-level example code is then removed from the solution (``if __name__ == "__main__":`` blocks,
bare calls such as ``print(f(3))``, the model's own asserts) so that it cannot fail or hang the tests.

Tests come from the job: MBPP-style text ("Your code should pass these tests:" followed by
``assert …`` lines) or ``job.meta["tests"]`` (a string or a list of strings).

Verification is label-free:

* with tests: the code and the tests run together in the sandbox; ok means every test passed;
* without tests: the code must be syntactically valid Python (``ast.parse``) that defines at least one
  function. That is all a label-free verifier can do for RouterBench MBPP jobs, whose prompts carry
  only the one-line request (no signature, no tests) — it rejects prose, truncated or broken code,
  but cannot tell a correct function from a wrong one.

Scoring: when the reference contains asserts, they run against the code in the sandbox (1.0 when all
pass, else 0.0; the reference's own function definitions are never run); otherwise None.
"""

from __future__ import annotations

import ast
import builtins
import re
import textwrap
import threading
from collections import OrderedDict

from engine.jobs import Job, Verdict
from engine.tasks.sandbox import NOT_RUN, SandboxResult, run_python
from engine.tasks.templates import normalize_ws

SYSTEM_PROMPT = (
    "You are an expert Python programmer. Answer with one self-contained Python solution: the function "
    "(and any imports or helpers it needs) in a single ```python fenced block, with no example usage, no "
    "tests and no explanation."
)
USER_PROMPT = "{request}"
TESTS_MARKER = re.compile(r"your code should pass (?:these|the following) tests?\s*:?", re.IGNORECASE)

_FENCE = re.compile(r"```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_TAGGED = re.compile(r"\[PYTHON\]\s*\n?(.*?)(?:\[/PYTHON\]|\Z)|<code>(.*?)(?:</code>|\Z)", re.DOTALL)
_PYTHON_LANGS = {"", "python", "py", "python3", "py3", "python2", "ipython", "pycon"}
_CODE_START = re.compile(r"^(?:def |class |import |from \S+ import |async def |@\w)")
_MARKDOWN_ESCAPE = re.compile(r"\\([_*\[\]#<>])")
_MAX_UNFENCED_LINES = 300  # bounds the prefix search (one parse per line) on rambling completions
_REPL = re.compile(r"^(?:>>>|\.\.\.)(?: |$)")


def _clean_block(block: str) -> str:
    """Dedent a block, turn a REPL transcript (starting with `>>> `) into plain code, and undo markdown
    escapes (`divide\\_list`) when that is what keeps the block from parsing."""
    lines = block.replace("\t", "    ").split("\n")
    first = next((ln.lstrip() for ln in lines if ln.strip()), "")
    if _REPL.match(first):
        lines = [_REPL.sub("", ln.lstrip()) for ln in lines if _REPL.match(ln.lstrip())]
    code = textwrap.dedent("\n".join(lines)).strip("\n")
    if _parses(code) is None:
        unescaped = _MARKDOWN_ESCAPE.sub(r"\1", code)
        if unescaped != code and _parses(unescaped) is not None:
            return unescaped
    return code


# What `ast.parse` raises for text that is not Python: besides SyntaxError and ValueError (NUL bytes, lone
# surrogates), CPython's parser gives up on deeply nested input ("not not not …", "- - - … 1") with
# MemoryError or RecursionError. A completion can hold anything, so all four mean "not valid Python".
PARSE_ERRORS = (SyntaxError, ValueError, MemoryError, RecursionError)


def _parses(code: str) -> ast.Module | None:
    try:
        return ast.parse(code)
    except PARSE_ERRORS:
        return None


def _defines(tree: ast.Module | None) -> bool:
    return tree is not None and any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) for node in tree.body)


def _longest_parsing_prefix(lines: list[str]) -> str:
    """The longest prefix of `lines` that parses as Python (trailing prose cut off)."""
    for end in range(len(lines), 0, -1):
        code = "\n".join(lines[:end]).strip("\n")
        if code and _parses(code) is not None:
            return code
    return ""


def _unfenced(text: str) -> str:
    lines = text.split("\n")
    start = next((i for i, ln in enumerate(lines) if _CODE_START.match(ln.strip())), None)
    if start is None:
        return ""
    return _longest_parsing_prefix(lines[start:start + _MAX_UNFENCED_LINES])


_DEMO_CALLS = frozenset({"print", "input", "pprint"})


def _calls(expr: ast.AST, names: set[str] | frozenset[str]) -> bool:
    """True when `expr` calls one of `names` (plain-name calls only)."""
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in names
               for n in ast.walk(expr))


def _is_example_statement(node: ast.stmt, local_names: set[str]) -> bool:
    """Top-level code that demonstrates rather than sets up: asserts, a `__main__` block, and statements
    that call the solution's own functions or print/input (`print(f(3))`, `r = f(2)`, loops over tests)."""
    demo = local_names | _DEMO_CALLS
    if isinstance(node, ast.Assert):
        return True
    if isinstance(node, ast.If):
        # `if __name__ == "__main__":` (found by walking the test: `ast.unparse` recurses and can overflow)
        parts = list(ast.walk(node.test))
        main_guard = (any(isinstance(n, ast.Name) and n.id == "__name__" for n in parts)
                      and any(isinstance(n, ast.Constant) and n.value == "__main__" for n in parts))
        return main_guard or _calls(node, demo)
    if isinstance(node, ast.Expr):
        return not isinstance(node.value, ast.Constant) and _calls(node.value, demo)
    if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
        return node.value is not None and _calls(node.value, demo)
    if isinstance(node, ast.For | ast.While | ast.With | ast.Try):
        return _calls(node, demo)
    return False


def strip_examples(code: str) -> str:
    """Remove top-level example usage from a solution that defines functions or classes.

    Keeps imports, definitions, constants and other set-up (``sys.setrecursionlimit(…)``, ``MOD = int(1e9)``);
    drops asserts, ``if __name__ == "__main__":`` blocks and statements that call the solution's own
    functions or print/input. Code that defines nothing (a script) is returned unchanged.
    """
    tree = _parses(code)
    if not _defines(tree):
        return code
    lines = code.split("\n")
    local_names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)}
    drop: set[int] = set()
    for node in tree.body:
        if _is_example_statement(node, local_names):
            first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            drop.update(range(first - 1, node.end_lineno or node.lineno))
    kept = [ln for i, ln in enumerate(lines) if i not in drop]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip("\n")


def extract_code(raw: str) -> str:
    """The Python solution in a completion (see the module docstring); "" when there is none."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"\[TESTS\].*?(?:\[/TESTS\]|\Z)", "", text, flags=re.DOTALL)
    blocks = [_clean_block(m.group(2)) for m in _FENCE.finditer(text) if m.group(1).lower() in _PYTHON_LANGS]
    blocks += [_clean_block(m.group(1) or m.group(2) or "") for m in _TAGGED.finditer(text)]
    blocks = [b for b in blocks if b.strip()]
    if blocks:
        trees = [_parses(b) for b in blocks]
        defining = [b for b, t in zip(blocks, trees, strict=True) if _defines(t)]
        if defining:
            unique = list(dict.fromkeys(defining))
            return strip_examples("\n\n".join(unique))
        parsing = [b for b, t in zip(blocks, trees, strict=True) if t is not None]
        return (parsing or blocks)[0]
    code = _unfenced(_clean_block(text))
    return strip_examples(code) if code else ""


def extract_tests(job: Job) -> list[str]:
    """The tests a job carries: `job.meta["tests"]`, or the assert lines after "Your code should pass
    these tests:" in its text."""
    meta = job.meta.get("tests") if job.meta else None
    if meta:
        return [meta] if isinstance(meta, str) else [str(t) for t in meta]
    found = TESTS_MARKER.search(job.text)
    if not found:
        return []
    return _asserts(job.text[found.end():])


def _asserts(text: str) -> list[str]:
    """The `import` and `assert` statements in `text` (anything else, e.g. a reference solution, is left out)."""
    tree = _parses(textwrap.dedent(text).strip())
    if tree is not None:
        return [ast.get_source_segment(textwrap.dedent(text).strip(), node) or ast.unparse(node)
                for node in tree.body if isinstance(node, ast.Assert | ast.Import | ast.ImportFrom)]
    return [ln.strip() for ln in text.split("\n") if ln.strip().startswith(("assert ", "assert("))]


def run_tests(code: str, tests: list[str], *, timeout_s: float = 5) -> SandboxResult:
    """Run `code` followed by `tests` in the sandbox. A passing or failing verdict is memoised per
    (code, tests): replays and what-if sweeps ask the same question many times, and the answer of a
    deterministic test run does not change. Timeouts and sandbox errors are never memoised."""
    key = (code, tuple(tests), timeout_s)
    with _VERDICTS_LOCK:
        hit = _VERDICTS.get(key)
        if hit is not None:
            _VERDICTS.move_to_end(key)
            return hit
    result = _run_tests(code, tests, timeout_s=timeout_s)
    if not result.timed_out and result.killed_reason in (None, "", "memory limit"):
        with _VERDICTS_LOCK:
            _VERDICTS[key] = result
            if len(_VERDICTS) > 20_000:
                _VERDICTS.popitem(last=False)
    return result


_VERDICTS: OrderedDict = OrderedDict()
_VERDICTS_LOCK = threading.Lock()


def _run_tests(code: str, tests: list[str], *, timeout_s: float = 5) -> SandboxResult:
    """Run `code` followed by `tests` in the sandbox."""
    return run_python(code + "\n\n" + "\n".join(tests) + "\n", timeout_s=timeout_s)


_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*)(?::|$)")
_MAIN_LINE = re.compile(r'File "(?:[^"\n]*/)?main\.py", line (\d+)')
_BUILTIN_EXCEPTIONS = frozenset(name for name, obj in vars(builtins).items()
                                if isinstance(obj, type) and issubclass(obj, BaseException))


def _failure(result: SandboxResult, code: str = "", tests: list[str] | None = None) -> str:
    """Why a run failed, in words of our own: the limit that stopped it, or the built-in exception class
    and the test (ours, from the job) where it was raised. Never the program's own output — the verdict
    reason is logged and stored, and generated code may print anything (a file it read, a key)."""
    if result.killed_reason:
        return result.killed_reason
    lines = [ln for ln in result.stderr.strip().split("\n") if ln.strip()]
    if not lines:
        return f"exit status {result.returncode}"
    if result.returncode is None:          # never started: the message is the sandbox's own, not the program's
        return lines[-1][:200]
    match = _EXCEPTION_LINE.match(lines[-1].strip())
    name = match.group(1).rsplit(".", 1)[-1] if match else ""
    what = name if name in _BUILTIN_EXCEPTIONS else "an exception of the program's own"
    where = [int(n) for n in _MAIN_LINE.findall(result.stderr)]
    if tests and where:
        first_test_line = code.count("\n") + 3          # code, a blank line, then one test per line
        for line in reversed(where):                     # the innermost frame that is one of the tests
            k = line - first_test_line
            if 0 <= k < len(tests):
                return f"{what} in test {k + 1}: {tests[k][:120]}"
    return f"{what} (exit status {result.returncode})"


class CodeGenerationTask:
    """The `code_generation` task: a request in, Python code out."""

    name = "code_generation"

    def __init__(self, *, timeout_s: float = 5):
        self.timeout_s = timeout_s

    def prompt(self, job: Job) -> list[tuple[str, str]]:
        """System + user messages asking for one fenced Python solution."""
        return [("system", SYSTEM_PROMPT), ("user", USER_PROMPT.format(request=job.text.strip()))]

    def parse(self, raw: str, job: Job) -> str:
        """The Python code in a raw completion ("" when there is none)."""
        return extract_code(raw)

    def verify(self, job: Job, output: str) -> Verdict:
        """Run the job's tests in the sandbox; without tests, check for valid Python defining a function."""
        if not output.strip():
            return Verdict(False, "no code found")
        tests = extract_tests(job)
        if tests:
            result = run_tests(output, tests, timeout_s=self.timeout_s)
            if result.ok:
                return Verdict(True, f"{len(tests)} tests passed ({result.isolation} sandbox)")
            if result.killed_reason == NOT_RUN:    # no sandbox: unknown, not wrong (and nothing learned)
                return Verdict(None, f"tests not run: {result.stderr.removeprefix('not run: ')}")
            return Verdict(False, f"tests failed: {_failure(result, output, tests)}")
        try:
            tree = ast.parse(output)
        except PARSE_ERRORS as exc:
            return Verdict(False, f"not valid Python: {exc or type(exc).__name__}")
        functions = [n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        if not functions:
            return Verdict(False, "valid Python but defines no function")
        return Verdict(True, f"valid Python defining {', '.join(functions[:3])} (no tests: syntax check only)")

    def score(self, job: Job, output: str) -> float | None:
        """1.0 when the asserts of the reference pass against the code, 0.0 otherwise; None without asserts."""
        if not job.reference:
            return None
        statements = _asserts(job.reference)
        tests = [t for t in statements if t.lstrip().startswith("assert")]
        if not tests:
            return None
        imports = [t for t in statements if not t.lstrip().startswith("assert")]
        if not output.strip():
            return 0.0
        result = run_tests(output, imports + tests, timeout_s=self.timeout_s)
        if result.killed_reason == NOT_RUN:
            return None                            # not run (no sandbox): ungraded, not wrong
        return 1.0 if result.ok else 0.0

    def cache_key(self, job: Job) -> str:
        """The whitespace-normalised request (tests included: they pin the function's name)."""
        return normalize_ws(job.text)
