"""What is known before the first call: list prices from the price database and sizes from names."""

import pytest

from engine.catalog import Catalog, ModelSpec, with_known_facts
from engine.predictors.cost import CostPredictor
from engine.predictors.features import model_features
from engine.prices import list_prices, size_from_name
from engine.traces.model import ModelRow


def test_a_well_known_model_gets_its_list_prices_and_an_unknown_one_none():
    assert list_prices("gpt-3.5-turbo-1106", "openai") == (1.0, 2.0)
    # found without its organisation prefix and '-chat' suffix, at any provider
    assert list_prices("mistralai/mixtral-8x7b-chat", "mistralai") is not None
    assert list_prices("surely-not-a-model-xyz", "nobody") is None


@pytest.mark.parametrize(("name", "size"), [("meta/llama-2-70b-chat", 70.0), ("mixtral-8x7b", 56.0),
                                            ("Yi-34B-Chat", 34.0), ("WizardLM-13B-V1.2", 13.0),
                                            ("gpt-3.5-turbo", None), ("claude-v2", None), ("j2-mid", None)])
def test_the_size_a_name_states(name, size):
    assert size_from_name(name) == size


def test_a_trace_without_prices_gets_list_prices_as_a_prior_never_as_charged_prices():
    rows = [ModelRow("gpt-3.5-turbo-1106", "openai"), ModelRow("own-model", "acme", 2.0, 4.0, 7.0),
            ModelRow("nobody-knows-me", "acme")]
    catalog = Catalog.from_trace_models(rows)
    listed, given, unknown = catalog.get("gpt-3.5-turbo-1106"), catalog.get("own-model"), catalog.get("nobody-knows-me")
    assert (listed.list_input_usd_per_mtok, listed.list_output_usd_per_mtok) == (1.0, 2.0)
    assert not listed.has_prices and listed.cost(1000, 1000) is None      # never charged
    assert listed.blended_price == pytest.approx(0.75 * 1.0 + 0.25 * 2.0)
    assert given.list_input_usd_per_mtok is None and given.blended_price == pytest.approx(2.5)   # the trace's win
    assert unknown.blended_price is None and unknown.params_b is None
    # the quality prior sees a price for the listed model, and the size its name does not state stays unknown
    assert "log_price" in model_features(listed) and "price_unknown" in model_features(unknown)


def test_list_prices_start_the_cost_predictor_and_observed_costs_still_win():
    cheap = with_known_facts(ModelSpec("gpt-3.5-turbo-1106", "openai"))
    dear = with_known_facts(ModelSpec("gpt-4-1106-preview", "openai"))
    cp = CostPredictor()
    feats = {"task": "t"}
    assert cp.is_learned(cheap)
    assert cp.predict(feats, dear, 1000, 200) > 5 * cp.predict(feats, cheap, 1000, 200)   # known before any call
    for _ in range(40):
        cp.learn(feats, cheap, 1000, 200, 0.05)                       # this host charges far more than the list
    assert cp.predict(feats, cheap, 1000, 200) == pytest.approx(0.05, rel=0.1)


def test_an_edited_catalog_keeps_its_list_prices():
    catalog = Catalog.from_trace_models([ModelRow("gpt-3.5-turbo-1106", "openai")])
    again = Catalog.from_json(catalog.to_json())
    assert again.get("gpt-3.5-turbo-1106").list_output_usd_per_mtok == 2.0
    assert again.get("gpt-3.5-turbo-1106").blended_price == pytest.approx(1.25)
