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

# seqeval 0.0.12, the version XTREME's published UD-POS numbers were computed with, scores the cases it reads (JSON on
# stdin) in a process of its own: it is the same `seqeval` distribution as the 1.2.2 installed here, so it cannot share
# the environment. A case is {"seq": [...]} (its get_entities) or {"gold", "pred", "resamples"} (F1, precision, recall,
# and the F1 of each resample of the sentences).
SEQEVAL_0012 = r'''
import json, sys
import seqeval
from seqeval.metrics import f1_score, precision_score, recall_score
from seqeval.metrics.sequence_labeling import get_entities
assert seqeval.__file__.startswith(sys.argv[1]), f"imported {seqeval.__file__}, not seqeval 0.0.12"
out = []
for c in json.load(sys.stdin):
    if "seq" in c: out.append(get_entities(c["seq"])); continue
    g, p = c["gold"], c["pred"]
    out.append({"f1": f1_score(g, p), "precision": precision_score(g, p), "recall": recall_score(g, p),
                "resamples": [f1_score([g[i] for i in ix], [p[i] for i in ix]) for ix in c.get("resamples", [])]})
json.dump(out, sys.stdout)
'''
UNREACHABLE = ("No matching distribution found", "Could not find a version", "NewConnectionError", "Max retries exceeded",
               "Temporary failure in name resolution", "Network is unreachable", "ConnectionError", "ReadTimeoutError", "ProxyError")

@pytest.fixture(scope="session")
def seqeval_0012(tmp_path_factory):
    """seqeval 0.0.12 itself, installed from the package registry into a folder of its own: a function scoring a list
    of cases with it in a subprocess (`SEQEVAL_0012`). Skips only when pip cannot download it (no registry)."""
    import json
    target = tmp_path_factory.mktemp("seqeval-0.0.12")
    # --use-pep517: its setup.py asks for setuptools_scm in setup_requires, which only an isolated build installs today
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps", "--use-pep517",
                        "--target", str(target), "seqeval==0.0.12"], capture_output=True, text=True, timeout=900)
    if r.returncode:
        out = r.stdout + r.stderr
        if any(s in out for s in UNREACHABLE):
            pytest.skip("the package registry cannot be reached: pip could not download seqeval 0.0.12 "
                        f"({next((l.strip() for l in out.splitlines() if any(s in l for s in UNREACHABLE)), '')})")
        raise AssertionError(f"pip could not install seqeval 0.0.12:\n{out[-3000:]}")
    def score(cases:list[dict]) -> list:
        r = subprocess.run([sys.executable, "-c", SEQEVAL_0012, str(target)], input=json.dumps(cases), capture_output=True,
                           text=True, env={**os.environ, "PYTHONPATH": str(target)}, timeout=900)
        assert r.returncode == 0, r.stderr[-3000:]
        return json.loads(r.stdout)
    return score
