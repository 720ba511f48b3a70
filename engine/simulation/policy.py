"""The replay policy protocol and the registry every policy and baseline lives in.

A policy handles one job at a time (`run_job`), in arrival order, through a `ReplayEnv`; `finish`
returns extra artefacts (decisions, drift events, …) for the run result. The CLI and the dashboard
both list policies from `POLICIES`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from engine.errors import UnknownNameError
from engine.outcome import Outcome
from engine.simulation.env import ReplayEnv


@dataclass(frozen=True)
class ReplayOptions:
    """Settings of one replay. `feedback` is reference | verifier | none."""

    budget_usd: float | None = None
    seed: int = 0
    feedback: str = "reference"
    workspace: str | None = None
    exhausted: str = "cheapest"
    policy_params: dict = field(default_factory=dict)
    warm_start: str | None = None     # a workspace whose learned state the sls policies start from


class Policy(Protocol):
    name: str

    def run_job(self, i: int, env: ReplayEnv) -> Outcome: ...

    def finish(self) -> dict: ...


PolicyFactory = Callable[[ReplayEnv, ReplayOptions], Policy]


@dataclass(frozen=True)
class PolicyInfo:
    name: str
    factory: PolicyFactory
    description: str
    kind: str          # "baseline" | "hindsight" | "engine" | "published"
    scoring: str       # "recorded" (trace's score column) or "parsed" (our task parser + scorer)


POLICIES: dict[str, PolicyInfo] = {}


def register(name: str, description: str, kind: str, scoring: str):
    """Decorator adding a policy factory to the registry."""
    def wrap(factory: PolicyFactory) -> PolicyFactory:
        POLICIES[name] = PolicyInfo(name, factory, description, kind, scoring)
        return factory
    return wrap


def resolve(name: str, model_names: list[str]) -> tuple[PolicyInfo, dict]:
    """The registry entry for `name`; `single:<model>` is parametrised by the model."""
    _load_builtin()
    if name.startswith("single:"):
        model = name.split(":", 1)[1]
        if model not in model_names:
            raise UnknownNameError(f"policy '{name}': unknown model '{model}'; the trace has: "
                                   f"{', '.join(model_names)}")
        return POLICIES["single"], {"model": model}
    if name not in POLICIES or name == "single":
        known = ", ".join(["single:<model>", *sorted(n for n in POLICIES if n != "single")])
        raise UnknownNameError(f"unknown policy '{name}'; known policies: {known}")
    return POLICIES[name], {}


def policy_names(model_names: list[str] | None = None) -> list[str]:
    """Every policy name, with `single:<model>` expanded when the models are given."""
    _load_builtin()
    names = sorted(n for n in POLICIES if n != "single")
    singles = [f"single:{m}" for m in model_names] if model_names else ["single:<model>"]
    return singles + names


def _load_builtin() -> None:
    # Importing the modules registers their policies; done lazily so importing this module is cheap.
    from engine.simulation import adapters, baselines, published  # noqa: F401
