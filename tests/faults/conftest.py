"""Fixtures of the fault suite: the fake Anthropic API, an isolated environment, the pre-warmed fork server
(defined in `fault_helpers`, which the fleet suite shares)."""

from fault_helpers import _fork_server, api, isolated  # noqa: F401 - pytest finds fixtures by name here
