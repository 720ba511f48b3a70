"""Load pickled workspace state without letting it run code: a workspace is data, not code.

The learned state (`scheduler_state.pkl`, the event log's snapshots and replay checkpoints, the cache's
unflushed writes) is pickled. A plain `pickle.loads` of a file from a workspace runs whatever callable the
file names (`os.system` through `__reduce__`), so a crafted workspace handed to `sls feedback x --workspace W`
would run code. `safe_loads` unpickles with an allow-list instead:

* classes (only classes, never functions) of the project's data modules (`engine.predictors`,
  `engine.scheduling`, `engine.updates`, `engine.cache` entries and manager state, `engine.tasks` but not
  the sandbox, `engine.jobs`, `engine.catalog`, `engine.simulation` records and policies, `engine.outcome`,
  the fleet state of `engine.fleet.sync`) and of River;
* numpy's array, dtype, scalar and random-generator reconstructors;
* the standard containers and value types (`dict`, `list`, `set`, `collections.OrderedDict`, `deque`,
  `defaultdict`, `Counter`, `datetime`, `decimal.Decimal`, …) and `copyreg._reconstructor`.

Anything else (`os.system`, `builtins.eval`, `subprocess.Popen`, `builtins.getattr`, a function of the
engine) raises `UnsafePickleError` naming the global, before anything is called. A class is only ever
rebuilt by the pickle protocol's own steps (`__new__` + `__setstate__`) or called with arguments from the
file; the allowed classes are plain value holders whose constructors touch nothing outside the process.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

from engine.errors import EngineError

#: Modules of the engine whose classes may appear in learned state (prefix match on the module name).
ENGINE_DATA_MODULES = (
    "engine.predictors", "engine.scheduling", "engine.updates", "engine.cache.entry", "engine.cache.manager",
    "engine.cache.semantic", "engine.cache.log_templates", "engine.cache.embedder", "engine.tasks",
    "engine.jobs", "engine.catalog", "engine.simulation", "engine.outcome", "engine.fleet.sync",
)
#: Engine modules that are never data, even under an allowed prefix (they start processes or open files).
ENGINE_DENIED_MODULES = ("engine.tasks.sandbox",)
#: Third-party packages whose classes may appear (River estimators and their statistics).
LIBRARY_PREFIXES = ("river",)

_BUILTIN_TYPES = frozenset({
    "dict", "list", "set", "frozenset", "tuple", "int", "float", "complex", "str", "bytes", "bytearray",
    "bool", "slice", "range", "object", "NoneType",
})
_STDLIB: dict[str, frozenset[str]] = {
    "collections": frozenset({"OrderedDict", "deque", "defaultdict", "Counter"}),
    "copyreg": frozenset({"_reconstructor"}),
    "datetime": frozenset({"datetime", "date", "time", "timedelta", "timezone"}),
    "decimal": frozenset({"Decimal"}),
    "fractions": frozenset({"Fraction"}),
    "random": frozenset({"Random"}),
    "functools": frozenset({"partial"}),   # only ever wraps another allowed global
    "math": frozenset({"inf", "nan"}),
    "pathlib": frozenset({"Path", "PosixPath", "PurePath", "PurePosixPath"}),   # paths as values, never opened
}
_NUMPY: dict[str, frozenset[str]] = {
    "numpy": frozenset({"ndarray", "dtype"}),
    "numpy.core.multiarray": frozenset({"_reconstruct", "scalar"}),
    "numpy._core.multiarray": frozenset({"_reconstruct", "scalar"}),
    "numpy.core.numeric": frozenset({"_frombuffer"}),
    "numpy._core.numeric": frozenset({"_frombuffer"}),
    "numpy.random._pickle": frozenset({"__bit_generator_ctor", "__generator_ctor", "__randomstate_ctor"}),
    "numpy.dtypes": None,        # dtype classes (Float64DType, …): any class of the module
    "numpy.random._mt19937": None, "numpy.random._pcg64": None, "numpy.random._philox": None,
    "numpy.random._sfc64": None, "numpy.random._generator": None, "numpy.random.mtrand": None,
}


class UnsafePickleError(EngineError):
    """A pickle names a global outside the allow-list: it was not loaded (and nothing of it ran)."""


def allowed(module: str, name: str) -> bool:
    """True when the global `module.name` may be loaded (without importing anything to decide)."""
    if module == "builtins":
        return name in _BUILTIN_TYPES
    if module in _STDLIB:
        return name in _STDLIB[module]
    if module in _NUMPY:
        names = _NUMPY[module]
        return names is None or name in names
    if module == "numpy" or module.startswith("numpy."):
        return False
    if module.startswith(ENGINE_DENIED_MODULES):
        return False
    # classes only: checked once the object is found
    return _under(module, ENGINE_DATA_MODULES) or _under(module, LIBRARY_PREFIXES)


def _under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if not allowed(module, name) or "." in name:
            raise UnsafePickleError(f"refused to load {module}.{name}: not a data class this workspace may hold")
        obj = super().find_class(module, name)
        needs_class = (module.startswith(("engine.", "river")) or
                       (module in _NUMPY and _NUMPY[module] is None))
        if needs_class and not isinstance(obj, type):
            raise UnsafePickleError(f"refused to load {module}.{name}: a {type(obj).__name__}, not a class")
        return obj


def safe_loads(blob: bytes) -> Any:
    """`pickle.loads(blob)` restricted to the allow-list; `UnsafePickleError` when the blob names anything
    else. Other failures (truncated or corrupt data) raise what `pickle` raises."""
    return _Unpickler(io.BytesIO(blob)).load()
