"""A budget is a ceiling on the live path under concurrency: `sls run` of 60 jobs with 8 calls in flight
against the loopback stand-in of the Anthropic API is billed (by the stand-in) no more than the budget."""

from __future__ import annotations

import json

import pytest

from engine.catalog import Catalog
from engine.cli import main
from tests.fakes.anthropic_server import FakeAnthropicServer, use_fake_server
from tests.live.test_live_engine import respond

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning"),
]

CATALOG = Catalog.default()


def billed_usd(server: FakeAnthropicServer) -> float:
    """What the stand-in delivered, priced at the catalog's list prices (what a provider would charge)."""
    by_api = {spec.api_model: spec for spec in CATALOG}
    return sum(by_api[b.model].cost(b.input_tokens, b.output_tokens) for b in server.billed)


def lines(n: int) -> list[str]:
    # every line its own template (distinct constant words), so the cache cannot answer them
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]
    return [f"service {words[i % 10]}{i // 10} {words[(i * 3) % 10]} stage {i} took {7 * i + 3} ms"
            for i in range(n)]


@pytest.mark.parametrize("budget", [0.002, 0.01])
def test_run_at_concurrency_8_is_billed_at_most_the_budget(tmp_path, monkeypatch, capsys, budget):
    with FakeAnthropicServer(responder=respond, delay_s=0.02) as server:
        use_fake_server(monkeypatch, server, tmp_path / "ws", key="sk-test-budget", timeout_s=10)
        jobs = tmp_path / "jobs.txt"
        jobs.write_text("\n".join(lines(60)) + "\n")
        code = main(["run", str(jobs), "--task", "log_parsing", "--budget", str(budget), "--concurrency", "8",
                     "--json", "--no-progress"])
        out, err = capsys.readouterr()
        assert code == 0, err
        results = [json.loads(x) for x in out.splitlines()]
        assert len(results) == 60
        billed = billed_usd(server)
        recorded = sum(r["cost_usd"] for r in results)
        assert billed <= budget + 1e-12, (billed, budget)
        assert recorded == pytest.approx(billed, rel=1e-9, abs=1e-12)   # the ledger records what was billed
        assert sum(1 for r in results if r["model"] and not r["cached"]) >= 5   # and the money was used
        # (a call's worst case, 1024 output tokens, is more than these budgets hold: each call holds what it
        # costs with a few times its expected output and is sent with that output cap, so several fit at once)
        print(f"budget ${budget}: billed ${billed:.6f} for {len(server.billed)} answers")
