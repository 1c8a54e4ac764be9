from __future__ import annotations

import sys
from pathlib import Path

# The fake model API (a real HTTP server for the real SDKs) lives with the provider tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "providers"))
