"Shared fixtures: every test writes runs, caches and reports into its own temporary folders."
import os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

@pytest.fixture
def xs_env(tmp_path, monkeypatch):
    "Environment with XSTILTS_RUNS/CACHE/REPORTS in tmp_path (also set in this process)."
    env = dict(os.environ)
    for k in ("RUNS", "CACHE", "REPORTS"):
        d = tmp_path/k.lower(); env[f"XSTILTS_{k}"] = str(d); monkeypatch.setenv(f"XSTILTS_{k}", str(d))
    return env

def xstilts(*args, env, timeout=1200):
    "Run the `xstilts` command of this environment."
    return subprocess.run([str(BIN/"xstilts"), *map(str, args)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
