"""The dashboard listens on localhost unless configured otherwise, and how to configure otherwise is documented.

Outcomes: `.streamlit/config.toml` binds the server to 127.0.0.1, points the browser there, hides error
details (tracebacks stay in the server log) and sends no usage statistics; Streamlit, run from the repo
root with `STREAMLIT_SERVER_ADDRESS` set, resolves `server.address` to that value (the override); README.md
or the config file names that override.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / ".streamlit" / "config.toml"
OVERRIDE = "STREAMLIT_SERVER_ADDRESS"


def test_the_config_binds_to_localhost_and_hides_details():
    config = tomllib.loads(CONFIG.read_text(encoding="utf-8"))
    assert config["server"]["address"] == "127.0.0.1"
    assert config["browser"]["serverAddress"] == "127.0.0.1"
    assert config["client"]["showErrorDetails"] in ("none", False)
    assert config["browser"]["gatherUsageStats"] is False
    assert config["server"].get("enableCORS", True) is True          # never switched off
    assert config["server"].get("enableXsrfProtection", True) is True


def resolved_address(**env: str) -> str:
    """`server.address` as `streamlit run` would resolve it from the repo root (config file, then the
    environment), read with `streamlit config show` in a child process (Streamlit's config is global)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")} | env
    streamlit = Path(sys.executable).with_name("streamlit")
    shown = subprocess.run([str(streamlit), "config", "show"], cwd=ROOT, env=environment, capture_output=True,
                           text=True, timeout=60, check=True).stdout
    return re.search(r'^address = "([^"]*)"', shown, re.MULTILINE).group(1)


def test_streamlit_honours_the_environment_override():
    """The override is real (the config file's 127.0.0.1 is asserted above; one child process is enough)."""
    assert resolved_address(**{OVERRIDE: "0.0.0.0"}) == "0.0.0.0"


def test_the_override_is_documented():
    documented = [path.name for path in (ROOT / "README.md", CONFIG)
                  if OVERRIDE in path.read_text(encoding="utf-8") or "--server.address" in path.read_text(encoding="utf-8")]
    assert documented, f"neither README.md nor .streamlit/config.toml says how to listen elsewhere ({OVERRIDE})"
