"""Engine-wide settings, read once from `SLS_*` environment variables (or passed explicitly) and validated
with messages that name the setting and what it accepts."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from engine.config import DEFAULT_COST_WEIGHT, EXHAUSTED_BEHAVIOURS, FEEDBACK_MODES
from engine.errors import SettingsError

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_TRACE = REPO_ROOT / "sample_data" / "demo"


class Settings(BaseSettings):
    """Where the engine keeps its state and how it schedules.

    | variable | meaning | default |
    |---|---|---|
    | SLS_WORKSPACE | workspace directory (Chroma store, SQLite event log, snapshots) | ./workspace |
    | SLS_TRACE | trace folder the dashboard opens first | the embedded sample |
    | SLS_DATA_DIR | folder of the real traces used by benchmarks | ../shared/data |
    | SLS_CHROMA_URL | a Chroma server shared by several schedulers (http://host:port) | none: on disk |
    | SLS_REDIS_URL | a Redis server shared by a fleet: one budget, shared learning (redis://host:port/db) | none |
    | SLS_BUDGET_USD | total budget of a run (of the fleet's, with SLS_REDIS_URL) | none |
    | SLS_FEEDBACK | reference / verifier / none | reference |
    | SLS_COST_WEIGHT, SLS_LATENCY_WEIGHT | λ and μ of the utility (dimensionless) | 0.03, 0.0 |
    | SLS_MAX_ATTEMPTS | calls per job including escalations | 3 |
    | SLS_WHEN_EXHAUSTED | when the budget pays no better model: cheapest (the cheapest model that fits, else the task's free rule — log parsing masks the line's obvious variables), cache_only (cache hits only), refuse (nothing once it is spent) | cheapest |
    | SLS_CATALOG | JSON catalog file replacing the built-in one | none |
    | SLS_SEED | seed of the scheduler's exploration | 0 |
    | SLS_WARM_START | a workspace (of an earlier replay or live scheduler) whose learned state a workspace without its own starts from; only read | none |
    | SLS_SNAPSHOT_EVERY | live jobs between snapshots of the learned state (each job is logged with what it taught, so a restart applies the jobs after the last snapshot again and resumes exactly; fewer snapshots: less work per job, a longer rebuild at start) | 100 |
    """

    model_config = SettingsConfigDict(env_prefix="SLS_", extra="forbid", frozen=True)

    workspace: Path = Field(default=Path("workspace"))
    trace: Path = Field(default=SAMPLE_TRACE)
    data_dir: Path = Field(default=REPO_ROOT.parent / "shared" / "data")
    chroma_url: str | None = None
    redis_url: str | None = None
    budget_usd: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    feedback: Literal[FEEDBACK_MODES] = "reference"
    cost_weight: float = Field(default=DEFAULT_COST_WEIGHT, ge=0, le=100, allow_inf_nan=False)
    latency_weight: float = Field(default=0.0, ge=0, le=100, allow_inf_nan=False)
    max_attempts: int = Field(default=3, ge=1, le=10)
    when_exhausted: Literal[EXHAUSTED_BEHAVIOURS] = "cheapest"
    catalog: Path | None = None
    seed: int = Field(default=0, ge=0)
    snapshot_every: int = Field(default=100, ge=1)
    warm_start: Path | None = None

    @field_validator("workspace", "trace", "data_dir", "catalog", "warm_start")
    @classmethod
    def _path(cls, value: Path | None) -> Path | None:
        if value is not None and "\x00" in str(value):
            raise ValueError("must be a file system path (it holds a NUL character)")
        return value

    @field_validator("chroma_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must look like http://host:port")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must look like redis://host:port/db")
        return value


def load_settings(**overrides) -> Settings:
    """Settings from the environment with `overrides` applied; a SettingsError says what to fix."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(f"SLS_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors())
        raise SettingsError(f"invalid settings: {problems}") from None
