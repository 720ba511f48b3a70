"""Small online building blocks shared by the predictors (internal)."""

from __future__ import annotations

import math

from river import linear_model, optim, preprocessing

LOGIT_CLIP = 12.0


def sigmoid(z: float) -> float:
    """Logistic function, safe for any finite `z`."""
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-min(z, 700.0)))
    ez = math.exp(max(z, -700.0))
    return ez / (1.0 + ez)


def logit(p: float, eps: float = 1e-6) -> float:
    """Inverse of `sigmoid`, with `p` clipped to [eps, 1 - eps]."""
    p = min(max(p, eps), 1.0 - eps)
    return math.log(p / (1.0 - p))


class AdaGrad(optim.AdaGrad):
    """River's AdaGrad, reading the learning rate once per step rather than once per weight.

    The updates are identical; on dict weights the step runs about twice as fast, which matters on
    the hot path (four linear models learn on every feedback event).
    """

    def _step_with_dict(self, w, g):
        lr, eps, g2 = self.learning_rate, self.eps, self.g2
        for i, gi in g.items():
            acc = g2[i] + gi * gi
            g2[i] = acc
            w[i] -= lr / (acc + eps) ** 0.5 * gi
        return w


class OffsetLogisticRegression(linear_model.LogisticRegression):
    """River's `LogisticRegression` with a per-call offset ("base margin") added to the raw score.

    The offset lets a logistic model learn a *correction* on top of another estimate (a hand prior, or
    the Beta counts): the gradient is taken at `offset + w·x`, so the weights only learn what the
    offset does not already explain. Outside `raw_one`/`learn_with_offset` the offset is 0, so the
    object stays a plain River classifier (`predict_proba_one`, `clone`, pickling all work).
    """

    _offset = 0.0

    def _raw_dot_one(self, x: dict) -> float:
        return self._weights.dot(x) + self.intercept + self._offset

    def raw_one(self, x: dict) -> float:
        """The learned part of the score, `w·x + intercept`, without any offset."""
        return self._weights.dot(x) + self.intercept

    def learn_with_offset(self, x: dict, y: float, offset: float) -> None:
        """One SGD step at `offset + w·x` for a target `y` in [0, 1] (soft targets split into two
        weighted steps, since River's log loss takes hard labels)."""
        self._offset = offset
        try:
            if y >= 1.0 or y <= 0.0:
                self.learn_one(x, y >= 1.0)
            else:
                self.learn_one(x, True, w=y)
                self.learn_one(x, False, w=1.0 - y)
        finally:
            del self._offset

    def scale_weights(self, factor: float) -> None:
        """Multiply every weight (not the intercept) by `factor`: a soft reset used by `forget`.

        River has no public setter for the weights of a linear model, hence the private attribute.
        """
        weights = self._weights
        for key in list(weights.to_dict()):
            weights[key] = weights[key] * factor


class HierarchicalMean:
    """Running means of a target over nested keys, each level shrunk towards the level above.

    `keys` go from the most general to the most specific (e.g. `(model,)`, `(model, task)`, ...). The
    estimate at a level is `(sum + k * parent) / (n + k)` with `k = kappa[level]`, starting from a
    caller-supplied prior; levels without data are transparent. Sums can decay exponentially
    (`discount` per update of the cell). Cells are plain lists, so the object pickles cheaply; beyond
    `max_cells` the older half of the most specific cells is dropped.
    """

    def __init__(self, kappa: tuple[float, ...], discount: float = 1.0, max_cells: int = 1_000_000):
        self.kappa = tuple(kappa)
        self.discount = discount
        self.max_cells = max_cells
        self._cells: dict[tuple, list[float]] = {}     # key -> [n, sum]

    def predict(self, keys: tuple[tuple, ...], prior: float) -> tuple[float, float]:
        """(estimate, events at the most specific level)."""
        mean, n = prior, 0.0
        cells = self._cells
        for level, key in enumerate(keys):
            cell = cells.get(key)
            if cell is None:
                n = 0.0
                continue
            n = cell[0]
            if n > 0.0:
                k = self.kappa[level]
                mean = (cell[1] + k * mean) / (n + k)
        return mean, n

    def learn(self, keys: tuple[tuple, ...], y: float) -> None:
        """Add one observation `y` to every level."""
        cells, gamma = self._cells, self.discount
        for key in keys:
            cell = cells.get(key)
            if cell is None:
                cells[key] = [1.0, y]
            else:
                if gamma < 1.0:
                    cell[0] *= gamma
                    cell[1] *= gamma
                cell[0] += 1.0
                cell[1] += y
        if len(cells) > self.max_cells:
            self._evict()

    def _evict(self) -> None:
        """Drop the older half of the most specific cells (their data also lives one level up)."""
        deepest = max(map(len, self._cells))
        victims = [k for k in self._cells if len(k) == deepest]
        for key in victims[: len(victims) // 2]:
            del self._cells[key]

    def scale(self, first: str, factor: float) -> None:
        """Multiply the counts of every cell whose key starts with `first` (a model) by `factor`."""
        for key, cell in self._cells.items():
            if key[0] == first:
                cell[0] *= factor
                cell[1] *= factor

    def drop(self, first: str) -> None:
        """Forget every cell whose key starts with `first`."""
        self._cells = {k: v for k, v in self._cells.items() if k[0] != first}


class LogLinearEstimator:
    """A positive target per model: `exp(hierarchical mean of log y + per-model residual regression)`.

    * the hierarchical mean (`HierarchicalMean`, keys chosen by the caller) gives a robust level per
      model / task / dataset / ... from its first observation on;
    * a River `LinearRegression` per model (AdaGrad, no intercept) over caller-standardised features
      learns the residual — e.g. longer inputs give longer outputs — bounded by `residual_clip`;
    * a smearing factor per model (Duan's estimator, exponentially weighted) turns the log-space
      estimate into an estimate of the mean, so sums of predictions (budgets) are unbiased.
    """

    def __init__(self, kappa: tuple[float, ...], lr: float = 0.05, discount: float = 1.0,
                 residual_clip: float = 2.0, smear_rate: float = 0.02, smear_warmup: int = 5):
        self.kappa = tuple(kappa)
        self.lr = lr
        self.discount = discount
        self.residual_clip = residual_clip
        self.smear_rate = smear_rate
        self.smear_warmup = smear_warmup
        self._means = HierarchicalMean(kappa, discount)
        self._heads: dict[str, linear_model.LinearRegression] = {}
        self._smear: dict[str, list[float]] = {}      # model -> [factor, observations]

    def _head(self, model: str) -> linear_model.LinearRegression:
        head = self._heads.get(model)
        if head is None:
            head = self._heads[model] = linear_model.LinearRegression(
                optimizer=AdaGrad(self.lr), intercept_lr=0.0)
        return head

    def predict_log(self, model: str, keys: tuple[tuple, ...], prior_log: float, x: dict) -> tuple[float, float]:
        """(log-space estimate without smearing, events at the most specific level)."""
        mean, n = self._means.predict(keys, prior_log)
        head = self._heads.get(model)
        if head is not None and x:
            clip = self.residual_clip
            mean += max(-clip, min(clip, head.predict_one(x)))
        return mean, n

    def smearing(self, model: str) -> float:
        """E[exp(residual)] for `model` (1.0 before two observations)."""
        smear = self._smear.get(model)
        return smear[0] if smear is not None else 1.0

    def predict(self, model: str, keys: tuple[tuple, ...], prior_log: float, x: dict) -> float:
        """Estimate of the mean of the target (in the target's exp-space)."""
        return math.exp(self.predict_log(model, keys, prior_log, x)[0]) * self.smearing(model)

    def learn(self, model: str, keys: tuple[tuple, ...], prior_log: float, x: dict, log_y: float) -> None:
        """Learn one observation, given in log space."""
        level, _ = self._means.predict(keys, prior_log)
        head = self._head(model)
        if x:
            clip = self.residual_clip
            residual = max(-clip, min(clip, head.predict_one(x)))
            head.learn_one(x, log_y - level)
        else:
            residual = 0.0
        smear = self._smear.setdefault(model, [1.0, 0.0])
        smear[1] += 1.0
        seen = smear[1] - self.smear_warmup
        if seen > 0.0:   # the first residuals are measured against the prior: too biased to smear with
            rate = max(1.0 / seen, self.smear_rate)
            smear[0] += rate * (min(math.exp(log_y - level - residual), 20.0) - smear[0])
        self._means.learn(keys, log_y)

    def forget(self, model: str, factor: float) -> None:
        """Discount the counts of `model` by `factor` (its residual head is kept)."""
        self._means.scale(model, factor)

    def reset(self, model: str) -> None:
        """Forget everything about `model`."""
        self._means.drop(model)
        self._heads.pop(model, None)
        self._smear.pop(model, None)


class JobScaler:
    """Standardises a job's continuous features, learning each job once (not once per model).

    Keeps a one-entry cache keyed on the identity of the (cached, shared) job-features dict, so the
    models of one job reuse one scaled vector. Values are clipped to +-`clip` standard deviations.
    """

    def __init__(self, keys: tuple[str, ...], clip: float = 3.0):
        self.keys = tuple(keys)
        self.clip = clip
        self._scaler = preprocessing.StandardScaler()
        self._version = 0
        self._learned: object | None = None
        self._cache: tuple[object, int, dict[str, float]] | None = None

    def transform(self, feats: dict) -> dict[str, float]:
        """The standardised, clipped continuous features of `feats` (do not mutate the result)."""
        cache = self._cache
        if cache is not None and cache[0] is feats and cache[1] == self._version:
            return cache[2]
        raw = {k: float(feats[k]) for k in self.keys if k in feats}
        clip = self.clip
        scaled = {k: max(-clip, min(clip, v)) for k, v in self._scaler.transform_one(raw).items()} if raw else {}
        self._cache = (feats, self._version, scaled)
        return scaled

    def learn(self, feats: dict) -> None:
        """Update the running means / variances with `feats`, unless this very dict was just learned."""
        if feats is self._learned:
            return
        raw = {k: float(feats[k]) for k in self.keys if k in feats}
        if raw:
            self._scaler.learn_one(raw)
            self._version += 1
        self._learned = feats

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_learned"] = None      # references to caller dicts are caches, not state
        state["_cache"] = None
        return state


class ScalarStandardizer:
    """Running mean / standard deviation of one number (Welford); `z` is clipped to +-`clip`."""

    def __init__(self, clip: float = 3.0):
        self.clip = clip
        self.n = 0.0
        self.mean = 0.0
        self._m2 = 0.0

    def learn(self, value: float) -> None:
        """Add one value."""
        self.n += 1.0
        delta = value - self.mean
        self.mean += delta / self.n
        self._m2 += delta * (value - self.mean)

    def z(self, value: float) -> float | None:
        """The standardised value, or None while the spread is unknown (fewer than 2 distinct values)."""
        if self.n < 2.0 or self._m2 <= 1e-12:
            return None
        z = (value - self.mean) / math.sqrt(self._m2 / self.n)
        return max(-self.clip, min(self.clip, z))
