"""The recorded-trace backend of the pipeline: a model call answered from a `ReplayEnv` (no network,
exact, repeatable). The same `Pipeline` runs on it in a replay and in the live `Engine` (`sls replay
--through-engine`), so both give the same figures."""

from __future__ import annotations

from engine.jobs import Job
from engine.pipeline import Call
from engine.simulation.env import ReplayEnv


class ReplayBackend:
    """`Backend` over a trace's recorded outcomes. A job is found by its id (a trace's query id)."""

    verdict_scores = False   # a trace's score column grades answers without a reference

    def __init__(self, env: ReplayEnv):
        self.env = env
        self._col = {m: k for k, m in enumerate(env.models)}

    def call(self, job: Job, model: str, *, limit_usd: float) -> Call:
        env = self.env
        i, j = env.index(job.job_id), self._col[model]
        result = env.answer(i, j, limit_usd)
        return Call(model, result.raw, result.cost_usd, result.latency_s, result.input_tokens,
                    result.output_tokens, truncated=result.truncated, output=result.output, score=result.score,
                    verdict=None if result.truncated else env.verify(i, j))

    @property
    def partial(self) -> bool:
        """Only some outcomes were recorded (a workspace's own jobs): a job without one is `missing`."""
        return self.env.trace.recorded is not None

    def candidates(self, job: Job) -> list[str]:
        env = self.env
        return [env.models[j] for j in env.available(env.index(job.job_id))]

    def input_tokens(self, job: Job, model: str) -> float:
        return self.env.input_tokens(self.env.index(job.job_id), self._col[model])

    def worst_case_usd(self, job: Job, model: str, output_tokens: float | None = None) -> float:
        """A recorded answer's cost is known exactly: it is its own worst case."""
        return self.env.cost(self.env.index(job.job_id), self._col[model])

    def reference_score(self, job: Job, answer: str) -> float:
        return self.env.score_answer(self.env.index(job.job_id), answer)

    def has_job(self, job: Job) -> bool:
        try:
            self.env.index(job.job_id)
        except KeyError:
            return False
        return True
