"Provenance of a run record: env.json names the code (package version, git commit, dirty tree) and the libraries that computed it."
import importlib.metadata, subprocess
from pathlib import Path
import numpy, pytest
import xstilts
from xstilts import results
from xstilts.core import project_root

LIBRARIES = {"torch", "transformers", "datasets", "numpy", "scipy", "pandas", "statsmodels", "seqeval", "accelerate"}

def _git(*args):
    "Output of `git args` in the project root, or None where git is missing or fails."
    try: r = subprocess.run(["git", *args], cwd=project_root(), capture_output=True, text=True, timeout=30)
    except OSError: return None
    return r.stdout if r.returncode == 0 else None

def _in_checkout() -> bool:
    top = _git("rev-parse", "--show-toplevel")
    return top is not None and Path(top.strip()).resolve() == project_root()

def _installed(name):
    try: return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError: return None

def test_environment_names_code_and_libraries(monkeypatch):
    results._git_state.cache_clear()
    env = results.environment(0)
    head, status = _git("rev-parse", "HEAD"), _git("status", "--porcelain", "--untracked-files=no")
    x = env["xstilts"]
    assert x["version"] == xstilts.__version__
    if _in_checkout():
        assert x["commit"] == head.strip(), x
        assert x["dirty"] is bool(status.strip()), (x, status)
    else: assert x["commit"] is None or len(x["commit"]) == 40, x
    assert x["dirty"] is None or isinstance(x["dirty"], bool)
    assert set(env["versions"]) == LIBRARIES and env["versions"] == {n: _installed(n) for n in LIBRARIES}
    assert env["versions"]["numpy"] == numpy.__version__
    import torch, transformers   # the top-level keys other code reads stay
    assert env["torch"] == torch.__version__ and env["transformers"] == transformers.__version__ and env["seed"] == 0
    # a second run of the process does not ask git again
    misses = results._git_state.cache_info().misses
    def no_git(*a, **k): raise AssertionError(f"git asked again: {a}")
    monkeypatch.setattr(subprocess, "run", no_git)
    again = results.environment(1)
    assert again["xstilts"] == x and again["versions"] == env["versions"] and again["seed"] == 1
    assert results._git_state.cache_info().misses == misses
    again["versions"]["numpy"] = "mutated"   # callers get their own dict
    assert results.package_versions()["numpy"] == numpy.__version__

def test_outside_a_checkout(tmp_path, monkeypatch):
    "A project folder that no git checkout tracks, and a process without git, record no commit."
    (tmp_path/"settings.ini").write_text("[DEFAULT]\n"); (tmp_path/"xstilts").mkdir()
    monkeypatch.setenv("XSTILTS_HOME", str(tmp_path))
    assert results.code_version() == {"version": xstilts.__version__, "commit": None, "dirty": None}
    monkeypatch.delenv("XSTILTS_HOME")
    results._git_state.cache_clear()
    try:
        with monkeypatch.context() as m:
            m.setenv("PATH", str(tmp_path/"nothing"))   # git is not found
            assert results.code_version() == {"version": xstilts.__version__, "commit": None, "dirty": None}
    finally: results._git_state.cache_clear()   # the next caller asks git again
    if _in_checkout(): assert results.code_version()["commit"] == _git("rev-parse", "HEAD").strip()
