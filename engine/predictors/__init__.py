"""Online predictors (River, learning on every event): quality, output tokens, cost and latency.

`Predictors` is the facade the scheduler and the update manager use; the components can be used on
their own. See DESIGN.md, "Key algorithms", and each module's docstring for the choices made.
"""

from engine.predictors.cost import CostPredictor
from engine.predictors.features import job_features, model_features
from engine.predictors.latency import LatencyPredictor
from engine.predictors.predictors import Prediction, Predictors, estimate_input_tokens
from engine.predictors.quality import QualityPredictor
from engine.predictors.tokens import OutputTokenPredictor

__all__ = [
    "CostPredictor",
    "LatencyPredictor",
    "OutputTokenPredictor",
    "Prediction",
    "Predictors",
    "QualityPredictor",
    "estimate_input_tokens",
    "job_features",
    "model_features",
]
