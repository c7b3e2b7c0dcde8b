"The project's promises: templates keep their papermill tag, bad params stop with one line, notebooks and library stay in sync."
import json, os, shutil, subprocess, sys
from pathlib import Path
import pytest, yaml
from conftest import ROOT, BIN, xstilts

TEMPLATES = sorted((ROOT/"nbs"/"runs").glob("*.ipynb"))

def test_templates_exist():
    assert {t.name for t in TEMPLATES} >= {"task_pair.ipynb", "summary.ipynb"}

@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_parameters_tag_survives_nbdev_clean(template, tmp_path):
    nb = tmp_path/template.name
    shutil.copy(template, nb)
    d = json.loads(nb.read_text())  # make it dirty the way Jupyter does, so cleaning has work to do
    for c in d["cells"]: c["metadata"]["collapsed"] = False; c["metadata"]["execution"] = {"x": 1}
    d["metadata"]["widgets"] = {}
    nb.write_text(json.dumps(d))
    r = subprocess.run([str(BIN/"nbdev_clean"), "--fname", str(nb)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    cells = json.loads(nb.read_text())["cells"]
    assert all("collapsed" not in c["metadata"] for c in cells), "nbdev_clean did clean"
    tagged = [c for c in cells if "parameters" in c["metadata"].get("tags", [])]
    assert len(tagged) == 1 and tagged[0]["cell_type"] == "code"

BAD = {  # what is wrong -> (params change, text the one-line error must contain)
    "misspelt key": ({"train": {"lerning_rate": 1e-4}}, "unknown key 'train.lerning_rate'"),
    "unknown task": ({"targets": ["xnli", "xnlii"]}, "'xnlii' is not a target task. Did you mean 'xnli'?"),
    "unknown intermediate": ({"intermediates": ["mnli", "squadd"]}, "'squadd'"),
    "extra grid off the main one": ({"targets": ["pawsx"], "also": {"control": {"models": ["random-xs"], "targets": ["xnli"]}}},
                                    "also.control.targets: ['xnli'] not in the study's targets (pawsx)"),
    "unknown language": ({"languages": ["klingon"]}, "'klingon' is not a language"),
    "negative learning rate": ({"train": {"lr": -1e-5}}, "train.lr: Input should be greater than 0"),
    "unknown model": ({"models": ["xlm-roberta-huge"]}, "Unknown model 'xlm-roberta-huge'"),
    "wrong type": ({"seeds": "three"}, "seeds"),
}

@pytest.mark.parametrize("what", BAD)
def test_bad_params_one_line_and_no_run_dir(what, tmp_path, xs_env):
    change, expected = BAD[what]
    d = yaml.safe_load((ROOT/"params"/"embedded.yaml").read_text())
    for k, v in change.items(): d[k] = {**d[k], **v} if isinstance(v, dict) else v
    f = tmp_path/"bad.yaml"; f.write_text(yaml.safe_dump(d))
    r = xstilts("run", f, env=xs_env, timeout=120)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], r.stderr
    assert not Path(xs_env["XSTILTS_RUNS"]).exists(), "no run directory was created"

def test_params_files_validate(xs_env):
    data = xs_env.get("XSTILTS_DATA")
    for f in sorted((ROOT/"params").glob("*.yaml")):
        r = xstilts("check", f, env=xs_env, timeout=120)
        local = "source: local" in f.read_text()
        if local and not (data and os.path.isdir(data)):   # `check` checks the data a local study reads: without it, one pointed line
            assert r.returncode == 2 and "XSTILTS_DATA" in r.stderr and len(r.stderr.strip().splitlines()) == 1, (f, r.stderr)
        else: assert r.returncode == 0, (f, r.stderr)

def _git(*a, cwd): return subprocess.run(["git", *a], cwd=cwd, capture_output=True, text=True, check=True).stdout

def test_sync_check_fails_on_unexported_notebook(tmp_path):
    if _git("status", "--porcelain", "--", "nbs", "xstilts", cwd=ROOT).strip():
        pytest.skip("the working tree has uncommitted notebook/library changes; this test clones HEAD")
    clone = tmp_path/"clone"
    subprocess.run(["git", "clone", "-q", "--local", str(ROOT), str(clone)], check=True)
    env = {"XSTILTS_VENV": str(Path(sys.executable).parents[1]), "PATH": "/usr/bin:/bin"}
    ok = subprocess.run([sys.executable, "run.py", "sync"], cwd=clone, capture_output=True, text=True, env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    nb = clone/"nbs"/"07_metrics.ipynb"
    d = json.loads(nb.read_text())
    d["cells"].append({"cell_type": "code", "execution_count": None, "id": "abc", "metadata": {}, "outputs": [],
                       "source": ["#| export\n", "def f1_placeholder(): return 1\n"]})
    nb.write_text(json.dumps(d, indent=1))
    subprocess.run(["git", "commit", "-qam", "edit without export"], cwd=clone, check=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin"})
    bad = subprocess.run([sys.executable, "run.py", "sync"], cwd=clone, capture_output=True, text=True, env=env)
    assert bad.returncode != 0 and "xstilts/metrics.py" in bad.stderr, bad.stdout + bad.stderr

def test_phang2020_grid_expands_and_every_run_resolves():
    from xstilts.core import load_params
    from xstilts.grid import expand
    from xstilts.pipeline import run_params, train_specs
    p = load_params(ROOT/"params"/"phang2020.yaml")
    runs = expand(p)
    assert len(runs) == len(p.all_intermediates) * 9 * len(p.seeds) and len(p.all_intermediates) == 11
    assert p.all_intermediates[-1] == p.all_intermediates[-2] + "+mlm"   # multi-task with continued multilingual MLM
    assert p.models == ["xlm-roberta-large"] and p.intermediate_train.lr == 1e-5 and p.intermediate_train.warmup == 0.1
    for r in runs:
        d = run_params(p, r)
        assert d["run"]["id"] == str(r) and d["languages"] and d["train"]["lr"] == 1e-5
    assert p.train_for("xquad").max_length == 384 and p.train_for("xnli").max_length == 256
    assert train_specs(p, "xnli") == (["mnli:train"], "mnli:train") and train_specs(p, "xquad")[0] == ["squad:train"]

BAD_ENGINE = {  # run options -> text of the one-line error (given before any work starts)
    "slurm without sbatch": (["--engine", "slurm"], "engine slurm needs Slurm's sbatch on PATH"),
    "unknown engine": (["--engine", "slurmm"], "unknown engine 'slurmm': one of local, slurm, submitit-local"),
    "misspelt executor parameter": (["--engine", "submitit-local", "--executor", "slurm_partitionn=gpu"], "Unknown argument 'partitionn'"),
    "executor parameter for the local engine": (["--executor", "timeout_min=5"], "executor parameters are for the slurm and submitit-local engines"),
    "executor parameter without a value": (["--engine", "submitit-local", "--executor", "timeout_min"], "--executor expects key=value"),
}

@pytest.mark.parametrize("what", BAD_ENGINE)
def test_bad_engine_options_one_line_and_no_work(what, xs_env):
    if what == "slurm without sbatch" and shutil.which("sbatch"): pytest.skip("this machine has Slurm")
    args, expected = BAD_ENGINE[what]
    r = xstilts("run", "params/embedded.yaml", "--quick", *args, env=xs_env, timeout=120)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and expected in lines[0], r.stderr
    assert not Path(xs_env["XSTILTS_RUNS"]).exists() and not Path(xs_env["XSTILTS_REPORTS"]).exists(), "nothing was written"

@pytest.mark.parametrize("lib, expected", [
    ("/nowhere/libfast.so", "XSTILTS_MALLOC=/nowhere/libfast.so: no such file"),
    ("libtcmaloc_minimal.so.4", "XSTILTS_MALLOC=libtcmaloc_minimal.so.4: the dynamic loader cannot preload it (cannot open shared object file)")])
def test_bad_allocator_library_one_line_and_no_work(xs_env, lib, expected):
    "A `XSTILTS_MALLOC` naming a file that is not there, or a misspelt library name, stops the run with one line, before anything is read or written."
    r = xstilts("run", "params/embedded.yaml", "--quick", env={**xs_env, "XSTILTS_MALLOC": lib}, timeout=120)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and expected in lines[0], r.stderr
    assert r.stdout == "" and not any(Path(xs_env[f"XSTILTS_{k}"]).exists() for k in ("RUNS", "REPORTS", "CACHE"))

def _run_py():
    import importlib.util
    spec = importlib.util.spec_from_file_location("xstilts_run_py", ROOT/"run.py")
    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
    return m

@pytest.mark.parametrize("cpus, mem, expected", [(2, 22.0, 2), (16, 120.0, 16), (16, 9.0, 4), (8, 1.0, 1), (6, None, 6)])
def test_study_workers_one_per_cpu_as_many_as_memory_holds(cpus, mem, expected, monkeypatch):
    "`run.py study` uses every CPU (tiny encoders compute on one thread each), but no more workers than 2 GiB each allows."
    m = _run_py()
    monkeypatch.setattr(m.os, "sched_getaffinity", lambda pid: set(range(cpus)), raising=False)
    monkeypatch.setattr(m, "mem_available_gib", lambda: mem)
    assert m.study_workers() == expected

def test_mem_available_reads_this_machine():
    mem = _run_py().mem_available_gib()
    if mem is None: pytest.skip("no /proc/meminfo here")
    assert 0 < mem < 1e5

def test_system_packages_installs_only_what_is_missing(monkeypatch, capsys):
    "`run.py setup` asks apt for the missing packages only, and where it may not, says what each one would have given."
    m = _run_py()
    import ctypes.util
    monkeypatch.setattr(m.shutil, "which", lambda b: "/usr/bin/" + b if b in ("chromium", "apt-get") else None)
    monkeypatch.setattr(ctypes.util, "find_library", lambda n: None)   # no tcmalloc
    asked = []
    monkeypatch.setattr(m.subprocess, "run", lambda cmd, **kw: asked.append(cmd) or type("R", (), {"returncode": 0})())
    monkeypatch.setattr(m.os, "geteuid", lambda: 0)
    m.system_packages()
    assert asked == [["apt-get", "install", "-y", "-q", "--no-install-recommends", "libtcmalloc-minimal4"]]
    assert "installed libtcmalloc-minimal4 with apt" in capsys.readouterr().out
    asked.clear(); monkeypatch.setattr(m.os, "geteuid", lambda: 1000)   # not root: nothing is run, the reason is printed
    m.system_packages()
    assert asked == [] and "apt install libtcmalloc-minimal4" in capsys.readouterr().out
