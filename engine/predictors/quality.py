"""Quality predictor: P(good answer) for a (job, model), with an honest uncertainty.

The estimate is built in stages, each refining the one before.

1. **Pooled rate and feature prior.** The success rate of all models pooled per task and dataset (in
   units of jobs: the outcomes of one job on several models are strongly correlated), plus a hand
   prior (bigger / pricier / top tier → slightly higher, `HAND_PRIOR_WEIGHTS`), plus the *prior head*:
   a River logistic regression over model features (price, size, provider, tier), alone and crossed
   with task and dataset indicators, learning from every event of every model what the features
   say beyond the pooled rate. A model with no data — at the start, or a newcomer mid-stream —
   starts here, with only `prior_strength` pseudo-observations behind it (wide uncertainty).

2. **Hierarchical Beta-Bernoulli counts.** Levels model → (model, task) → (model, task, dataset) →
   (model, task, dataset, shape), where `shape` is a hash of the job text with its variables masked
   (log lines of one template share it). Each level is a Beta posterior whose prior mean is the
   estimate from the level above and whose prior strength is `min(kappa[level], N_above)`: a parent
   informs a child with at most the between-cell concentration `kappa` (how alike sibling cells are)
   and never with more evidence than it has itself. Every step uses the level's *exclusive* data
   (its cell minus the child cell on the path), so no outcome is counted twice and a cell's prior
   mean never contains the cell's own data (leave-cell-out). `kappa` per (level, task) is estimated
   by empirical Bayes (method of moments, see `_update_kappas`), refreshed every `eb_every` events (or
   every cells/4 events, whichever is longer, so the refresh costs O(1) per event). Counts can
   decay exponentially (`discount`), and `forget` / `reset` discount or drop a model's counts.

3. **Within-cell heads.** A shared River logistic regression over standardised job features (and,
   for numeric model features such as price and size, their products with the job features), plus
   one per model over the job features, learn — offset by the Beta logit — what counts cannot see:
   variation *inside* a cell (e.g. lines with many variables are harder for some models).

This is stacking by precision: a Beta posterior *is* the precision-weighted average of its prior
mean (weight `k`) and the observed rate (weight `n`), so the counts dominate once a cell has
evidence, and the logistic parts act as the prior and as the within-cell adjustment (bounded by
`RESIDUAL_CLIP`). The uncertainty is that of the Beta posterior with `N` pseudo-observations at the
deepest level holding evidence: `std = sqrt(p (1 - p) / (N + 1))`; `sample` draws from that Beta.

Measured prequentially (`bench/predictor_eval.py`; predict every model, then learn every outcome),
log-loss against add-one running means per model / per (model, dataset): loghub-dev 0.153 vs 0.625 /
0.519 (the shape level: a template a model got right once it gets right again), arc-dev 0.476 vs
0.484, mbpp-dev 0.662 vs 0.666 (one dataset, few useful job features: little to gain there).
"""

from __future__ import annotations

import math
import random

from river import preprocessing

from engine.catalog import ModelSpec
from engine.predictors._online import LOGIT_CLIP, AdaGrad, OffsetLogisticRegression, logit, sigmoid
from engine.predictors.features import CONTINUOUS_KEYS, model_features

N_LEVELS = 4
LEVEL_NAMES = ("model", "task", "dataset", "shape")
# Hand prior (logit per feature unit) used before any data: bigger, pricier and top-tier models are
# assumed slightly better. Deliberately small: the data overrule it quickly.
HAND_PRIOR_WEIGHTS = {"log_price": 0.25, "log_params": 0.35, "tier_rank": 0.3}
HAND_PRIOR_CLIP = 1.0
NUMERIC_MODEL_FEATURES = ("log_price", "log_params", "tier_rank")   # crossed with job features
POOLED_KAPPA = 10.0          # a dataset's pooled rate shrinks towards its task's with this strength
# The prior mean stays within [0.05, 0.95]: it is partly fitted to the model's own data (pooled rate,
# prior head), and a prior must never all but rule an outcome out.
ROOT_LOGIT_CLIP = math.log(0.95 / 0.05)
RESIDUAL_CLIP = 3.0          # the within-cell heads move a logit by at most this much
FEATURE_CLIP = 3.0           # standardised job features are clipped to +-3 sd
KAPPA_BOUNDS = (0.5, 500.0)
PRIOR_STRENGTH_MAX = 50.0    # the feature prior is never worth more than 50 observations
EB_MIN_MODELS = 3            # models with data on a task before the prior strength is estimated
EB_MIN_CELLS = 5             # cells with >= 2 events before a level's kappa is estimated


def hand_prior_logit(model_feats: dict) -> float:
    """The hand prior's logit shift for a model with these features (0 = no opinion)."""
    z = 0.0
    for key, weight in HAND_PRIOR_WEIGHTS.items():
        z += weight * max(-2.0, min(2.0, model_feats.get(key, 0.0)))
    return max(-HAND_PRIOR_CLIP, min(HAND_PRIOR_CLIP, z))


class _ModelState:
    """Per-model constants (features, derived keys), its own within-cell head and its event clock."""

    __slots__ = ("spec", "feats", "hand_logit", "crosses", "prior_x", "head", "clock")

    def __init__(self, spec: ModelSpec, head: OffsetLogisticRegression, clock: float = 0.0):
        self.spec = spec
        self.feats = model_features(spec)
        self.hand_logit = hand_prior_logit(self.feats)
        # numeric model feature × continuous job feature: (model value, {job key: crossed key})
        self.crosses = [(self.feats[name], {k: f"{name}*{k}" for k in CONTINUOUS_KEYS})
                        for name in NUMERIC_MODEL_FEATURES if self.feats.get(name)]
        self.prior_x: dict[tuple[str, str], dict[str, float]] = {}
        self.head = head
        self.clock = clock      # events learned for this model: the time base of `discount`

    def prior_features(self, task: str, dataset: str) -> dict[str, float]:
        """Inputs of the prior head: model features, alone and crossed with task and dataset."""
        x = self.prior_x.get((task, dataset))
        if x is None:
            x = {}
            for name, value in self.feats.items():
                x[name] = value
                x[f"{name}|t={task}"] = value
                x[f"{name}|d={dataset}"] = value
            self.prior_x[(task, dataset)] = x
        return x


class _JobView:
    """What the predictor derives from one job's features: built once per job, reused per model."""

    __slots__ = ("feats", "version", "task", "dataset", "shape", "x_job", "cont")

    def __init__(self, feats: dict, version: int, scaler: preprocessing.StandardScaler):
        self.feats = feats
        self.version = version
        self.task = str(feats.get("task", "default"))
        self.dataset = str(feats.get("dataset", "default"))
        self.shape = str(feats.get("shape", ""))
        cont = {k: float(feats[k]) for k in CONTINUOUS_KEYS if k in feats}
        # clipped: early on, a rare value can sit dozens of standard deviations out
        self.cont = {k: max(-FEATURE_CLIP, min(FEATURE_CLIP, v))
                     for k, v in scaler.transform_one(cont).items()} if cont else {}
        x_job = dict(self.cont)
        for key, value in feats.items():
            if key not in x_job and isinstance(value, int | float):
                x_job[key] = float(value)      # indicators: length bucket, hashed words
        self.x_job = x_job


class QualityPredictor:
    """P(good answer) per (job, model) with an uncertainty, learned online from every graded event.

    `model` arguments are a `ModelSpec` (registered on first sight, re-registered if it changed) or a
    name (an unknown name becomes a model whose features say nothing). Job features come from
    `engine.predictors.features.job_features`.

    Parameters
    ----------
    prior_strength
        Pseudo-observations behind the feature prior of a model with no data, until empirical Bayes
        has measured how much models differ on the task (small = wide uncertainty).
    kappa
        Between-cell concentration for the task, dataset and shape levels until empirical Bayes has
        enough cells (always, when `empirical_bayes` is False).
    empirical_bayes
        Re-estimate the concentrations per (level, task) from the data, at least `eb_every` events apart.
    discount
        Exponential forgetting of the counts per event of the model (1.0 = none; 0.999 ≈ remembers
        the last 1,000 events of each model). Tracks non-stationary behaviour.
    prior_lr, residual_lr, own_lr
        AdaGrad learning rates of the prior head, the shared and the per-model within-cell heads.
    residual_l2
        L2 penalty of the within-cell heads.
    max_shape_cells
        Bound on the (model, task, dataset, shape) cells kept; beyond it the older half is dropped,
        one-off shapes first (their evidence also lives in the dataset level above).
    seed
        Seed of the generator used by `sample`.

    >>> from engine.catalog import ModelSpec
    >>> qp = QualityPredictor()
    >>> feats = {"task": "log_parsing", "dataset": "HDFS", "shape": "ab12", "log_chars": 4.0}
    >>> big, tiny = ModelSpec("big", "x", 10, 30, 400), ModelSpec("tiny", "x", 0.1, 0.1, 1)
    >>> qp.predict(feats, big)[0] > qp.predict(feats, tiny)[0]
    True
    >>> for _ in range(20):
    ...     qp.learn(feats, tiny, 1.0)
    >>> mean, std = qp.predict(feats, tiny)
    >>> mean > 0.9 and std < 0.1
    True
    """

    def __init__(self, *, prior_strength: float = 2.0, kappa: tuple[float, float, float] = (20.0, 10.0, 2.0),
                 empirical_bayes: bool = True, eb_every: int = 200, discount: float = 1.0,
                 prior_lr: float = 0.005, residual_lr: float = 0.005, own_lr: float = 0.01,
                 residual_l2: float = 1e-4, max_shape_cells: int = 500_000, seed: int = 0):
        if not 0.0 < discount <= 1.0:
            raise ValueError(f"discount must be in (0, 1], got {discount}")
        if len(kappa) != N_LEVELS - 1 or min(kappa) <= 0:
            raise ValueError(f"kappa needs {N_LEVELS - 1} positive values (task, dataset, shape), got {kappa}")
        self.prior_strength = prior_strength
        self.kappa = tuple(kappa)
        self.empirical_bayes = empirical_bayes
        self.eb_every = eb_every
        self.discount = discount
        self.prior_lr = prior_lr
        self.residual_lr = residual_lr
        self.own_lr = own_lr
        self.residual_l2 = residual_l2
        self.max_shape_cells = max_shape_cells
        self.seed = seed

        self._rng = random.Random(seed)
        self._models: dict[str, _ModelState] = {}
        # cells[level][key] = [successes, trials, sum of leave-cell-out prior means, model clock at update]
        self._cells: list[dict[tuple, list[float]]] = [{} for _ in range(N_LEVELS)]
        self._pooled: dict[tuple[str, ...], tuple[float, float]] = {}   # all models: (task[, dataset])
        self._kappa_by_task: dict[str, list[float | None]] = {}          # None = not estimated yet
        self._default_kappas = (math.inf, *self.kappa)   # level 0 is capped by the prior strength alone
        self._prior_head = OffsetLogisticRegression(optimizer=AdaGrad(prior_lr), intercept_lr=0.0)
        self._shared_head = self._new_head(residual_lr)
        self._scaler = preprocessing.StandardScaler()
        self._scaler_version = 0
        self._last_scaled: dict | None = None
        self._n_learned = 0
        self._next_eb = eb_every
        self._view: _JobView | None = None

    def _new_head(self, lr: float) -> OffsetLogisticRegression:
        return OffsetLogisticRegression(optimizer=AdaGrad(lr), intercept_lr=0.0, l2=self.residual_l2)

    # ------------------------------------------------------------------ models

    def add_model(self, spec: ModelSpec) -> None:
        """Register a model, or update its catalog entry (what was learned about it is kept)."""
        state = self._models.get(spec.name)
        if state is None:
            self._models[spec.name] = _ModelState(spec, self._new_head(self.own_lr))
        elif state.spec != spec:
            self._models[spec.name] = _ModelState(spec, state.head, state.clock)

    @property
    def models(self) -> list[str]:
        """Names of the known models, in registration order."""
        return list(self._models)

    def _state(self, model: str | ModelSpec) -> _ModelState:
        if isinstance(model, ModelSpec):
            state = self._models.get(model.name)
            if state is None or state.spec is not model and state.spec != model:
                self.add_model(model)
                state = self._models[model.name]
            return state
        state = self._models.get(model)
        if state is None:
            self.add_model(ModelSpec(model, "unknown"))
            state = self._models[model]
        return state

    # ------------------------------------------------------------------ prediction

    def predict(self, job_feats: dict, model: str | ModelSpec) -> tuple[float, float]:
        """(mean, std) of P(good answer) for this job on this model."""
        p, std, _ = self.predict_detail(job_feats, model)
        return p, std

    def predict_detail(self, job_feats: dict, model: str | ModelSpec) -> tuple[float, float, float]:
        """(mean, std, n_obs), `n_obs` being the (discounted) events at the (model, task, dataset) level."""
        state = self._state(model)
        view = self._job_view(job_feats)
        p_beta, strength, n_obs = self._counts_estimate(state, view, None)
        p = sigmoid(max(-LOGIT_CLIP, min(LOGIT_CLIP, logit(p_beta) + self._residual(state, view))))
        return p, math.sqrt(p * (1.0 - p) / (strength + 1.0)), n_obs

    def sample(self, job_feats: dict, model: str | ModelSpec, rng: random.Random | None = None) -> float:
        """A Thompson draw of P(good answer): a Beta with the predicted mean and pseudo-count."""
        state = self._state(model)
        view = self._job_view(job_feats)
        p_beta, strength, _ = self._counts_estimate(state, view, None)
        p = sigmoid(max(-LOGIT_CLIP, min(LOGIT_CLIP, logit(p_beta) + self._residual(state, view))))
        return (rng or self._rng).betavariate(max(p * strength, 1e-3), max((1.0 - p) * strength, 1e-3))

    def _job_view(self, job_feats: dict) -> _JobView:
        view = self._view   # one-entry cache: predicting 8 models for a job derives its view once
        if view is None or view.feats is not job_feats or view.version != self._scaler_version:
            view = self._view = _JobView(job_feats, self._scaler_version, self._scaler)
        return view

    def _pooled_logit(self, view: _JobView) -> float:
        s_t, n_t = self._pooled.get((view.task,), (0.0, 0.0))
        p = (s_t + 1.0) / (n_t + 2.0)
        s_d, n_d = self._pooled.get((view.task, view.dataset), (0.0, 0.0))
        if n_d > 0.0:
            p = (s_d + POOLED_KAPPA * p) / (n_d + POOLED_KAPPA)
        return logit(p)

    def _prior_offset(self, state: _ModelState, view: _JobView) -> float:
        return self._pooled_logit(view) + state.hand_logit

    def _kappas(self, task: str) -> list[float | None]:
        kappas = self._kappa_by_task.get(task)
        if kappas is None:
            kappas = self._kappa_by_task[task] = [None] * N_LEVELS
        return kappas

    def _counts_estimate(self, state: _ModelState, view: _JobView,
                         priors_out: list[float] | None) -> tuple[float, float, float]:
        """(Beta posterior mean at the deepest level, its pseudo-count N, events at the dataset level).

        A level without exclusive data is transparent, unless empirical Bayes has measured how much its
        cells differ: then a new cell there is only as certain as its `kappa` allows (a new log template
        is uncertain when templates are known to differ; a level never seen twice changes nothing).
        `priors_out`, when given, receives each level's leave-cell-out prior mean.
        """
        name, task = state.spec.name, view.task
        keys = ((name,), (name, task), (name, task, view.dataset), (name, task, view.dataset, view.shape))
        counts = [(0.0, 0.0)] * N_LEVELS
        now, gamma = state.clock, self.discount
        for level in range(N_LEVELS):
            cell = self._cells[level].get(keys[level])
            if cell is not None:
                if gamma < 1.0 and cell[3] != now:
                    decay = gamma ** (now - cell[3])
                    counts[level] = (cell[0] * decay, cell[1] * decay)
                else:
                    counts[level] = (cell[0], cell[1])
        estimated = self._kappas(task)
        defaults = self._default_kappas
        x_prior = state.prior_features(task, view.dataset)
        q = sigmoid(max(-ROOT_LOGIT_CLIP, min(ROOT_LOGIT_CLIP,
                                             self._prior_offset(state, view) + self._prior_head.raw_one(x_prior))))
        strength = estimated[0] if estimated[0] is not None else self.prior_strength
        for level in range(N_LEVELS):
            if priors_out is not None:
                priors_out.append(q)
            s, n = counts[level]
            if level + 1 < N_LEVELS:   # exclusive data: this cell minus the child cell on the path
                s, n = s - counts[level + 1][0], n - counts[level + 1][1]
            kappa = estimated[level]
            if n > 1e-9:
                k = min(kappa if kappa is not None else defaults[level], strength)
                q = (min(max(s, 0.0), n) + k * q) / (n + k)
                strength = n + k
            elif kappa is not None and kappa < strength:
                strength = kappa
        return q, strength, counts[2][1]

    def _residual(self, state: _ModelState, view: _JobView) -> float:
        z = self._shared_head.raw_one(self._shared_features(state, view)) + state.head.raw_one(view.x_job)
        return max(-RESIDUAL_CLIP, min(RESIDUAL_CLIP, z))

    @staticmethod
    def _shared_features(state: _ModelState, view: _JobView) -> dict[str, float]:
        if not state.crosses:
            return view.x_job
        x = dict(view.x_job)
        cont = view.cont
        for value, keys in state.crosses:
            for k, v in cont.items():
                x[keys[k]] = value * v
        return x

    # ------------------------------------------------------------------ learning

    def learn(self, job_feats: dict, model: str | ModelSpec, score: float | None) -> None:
        """Learn from one graded outcome (`score` in [0, 1]); an ungraded one (None / NaN) is ignored."""
        if score is None or not math.isfinite(score):
            return
        y = min(1.0, max(0.0, float(score)))
        state = self._state(model)
        if job_feats is not self._last_scaled:      # the scaler sees each job once, not once per model
            cont = {k: float(job_feats[k]) for k in CONTINUOUS_KEYS if k in job_feats}
            if cont:
                self._scaler.learn_one(cont)
                self._scaler_version += 1
            self._last_scaled = job_feats
        view = self._job_view(job_feats)

        priors: list[float] = []
        p_beta, _, _ = self._counts_estimate(state, view, priors)
        base = logit(p_beta)

        # within-cell heads: one joint step of the shared and the model's own weights at the same score
        x_shared = self._shared_features(state, view)
        raw_shared = self._shared_head.raw_one(x_shared)
        raw_own = state.head.raw_one(view.x_job)
        self._shared_head.learn_with_offset(x_shared, y, base + raw_own)
        state.head.learn_with_offset(view.x_job, y, base + raw_shared)

        # feature prior, then the pooled rate (in units of jobs: each event weighs 1 / number of models)
        offset = self._prior_offset(state, view)
        self._prior_head.learn_with_offset(state.prior_features(view.task, view.dataset), y, offset)
        weight = 1.0 / len(self._models)
        for key in ((view.task,), (view.task, view.dataset)):
            s, n = self._pooled.get(key, (0.0, 0.0))
            self._pooled[key] = (s + weight * y, n + weight)

        # counts, decayed to the model's clock first
        state.clock += 1.0
        now, gamma = state.clock, self.discount
        name = state.spec.name
        keys = ((name,), (name, view.task), (name, view.task, view.dataset),
                (name, view.task, view.dataset, view.shape))
        for level in range(N_LEVELS):
            table = self._cells[level]
            cell = table.get(keys[level])
            if cell is None:
                table[keys[level]] = [y, 1.0, priors[level], now]
                continue
            if gamma < 1.0:
                decay = gamma ** (now - cell[3])
                cell[0] *= decay
                cell[1] *= decay
                cell[2] *= decay
            cell[0] += y
            cell[1] += 1.0
            cell[2] += priors[level]
            cell[3] = now

        self._n_learned += 1
        if len(self._cells[-1]) > self.max_shape_cells:
            self._evict_shapes()
        if self.empirical_bayes and self._n_learned >= self._next_eb:
            self._update_kappas()
            # the refresh visits every cell: space refreshes so that costs O(1) per event on average
            self._next_eb = self._n_learned + max(self.eb_every, sum(map(len, self._cells)) // 4)

    def _evict_shapes(self) -> None:
        """Keep the shape level bounded: drop the older half of its cells, one-off shapes first."""
        table = self._cells[-1]
        excess = len(table) - self.max_shape_cells // 2
        oldest = list(table)[: len(table) // 2]
        victims = [k for k in oldest if table[k][1] < 2.0][:excess]
        victims += [k for k in oldest if table[k][1] >= 2.0][: excess - len(victims)]
        for key in victims:
            del table[key]

    def _update_kappas(self) -> None:
        """Empirical Bayes by the method of moments: how alike are cells around their prior means?

        With `tau^2` the between-cell variance of the true rates (the observed variance minus the
        binomial noise), a Beta prior of strength `kappa = mean p(1-p) / tau^2 - 1` has exactly that
        variance. Levels 1-3 compare each cell's observed rate with its leave-cell-out prior mean. The
        prior strength (level 0) compares the models' rates on a task with the task's pooled rate —
        conservative, since the features explain part of that spread, but never fitted to the model's
        own data (the prior head is, which would make a newcomer look far too certain).
        """
        for key, (s_t, n_t) in list(self._pooled.items()):
            if len(key) == 1:
                pooled = s_t / n_t if n_t else 0.5
                self._estimate_kappa(key[0], 0, [(s, n, pooled * n) for k, (s, n, _, _)
                                                 in self._cells[1].items() if k[1] == key[0]])
        for level in range(1, N_LEVELS):
            by_task: dict[str, list[tuple[float, float, float]]] = {}
            for key, (s, n, e, _) in self._cells[level].items():
                by_task.setdefault(key[1], []).append((s, n, e))
            for task, cells in by_task.items():
                self._estimate_kappa(task, level, cells)

    def _estimate_kappa(self, task: str, level: int, cells: list[tuple[float, float, float]]) -> None:
        between = noise = total = used = 0.0
        for s, n, e in cells:
            if n < 2.0:
                continue
            rate, prior = s / n, e / n
            var = prior * (1.0 - prior)
            between += n * (rate - prior) ** 2 - var      # n × between-cell variance, noise removed
            noise += var
            total += n
            used += 1.0
        if used < (EB_MIN_MODELS if level == 0 else EB_MIN_CELLS):
            return
        kappa = noise / used / max(between / total, 1e-6) - 1.0
        upper = PRIOR_STRENGTH_MAX if level == 0 else KAPPA_BOUNDS[1]
        self._kappas(task)[level] = min(max(kappa, KAPPA_BOUNDS[0]), upper)

    # ------------------------------------------------------------------ drift

    def forget(self, model: str, factor: float) -> None:
        """Discount what was learned about `model` by `factor` in [0, 1] — its counts and its own head's
        weights — so its uncertainty grows and new evidence weighs more (e.g. after a drift alarm)."""
        if not 0.0 <= factor <= 1.0:
            raise ValueError(f"factor must be in [0, 1], got {factor}")
        state = self._models.get(model)
        if state is None:
            return
        for table in self._cells:
            for key, cell in table.items():
                if key[0] == model:
                    cell[0] *= factor
                    cell[1] *= factor
                    cell[2] *= factor
        state.head.scale_weights(factor)

    def reset(self, model: str) -> None:
        """Drop what was learned about `model` itself: it falls back to what its features predict."""
        state = self._models.get(model)
        if state is None:
            return
        for level, table in enumerate(self._cells):
            self._cells[level] = {k: v for k, v in table.items() if k[0] != model}
        state.head = self._new_head(self.own_lr)

    # ------------------------------------------------------------------ introspection

    @property
    def kappas(self) -> dict[str, dict[str, float]]:
        """Current concentration per task and level (`model` = the feature prior's strength)."""
        defaults = (self.prior_strength, *self.kappa)
        return {task: {name: (value if value is not None else default)
                       for name, value, default in zip(LEVEL_NAMES, values, defaults, strict=True)}
                for task, values in self._kappa_by_task.items()}

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_view"] = None          # caches hold references to caller dicts: not part of the state
        state["_last_scaled"] = None
        return state
