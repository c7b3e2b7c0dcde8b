"""Tests of issue #39's command-line items: `python -m xstilts`, a params path that is no file, and `xstilts check` of a study's data
(what is missing, with the path looked for and the layouts known; `--list`; `--no-data`; the source and the data folder)."""
import os, re, subprocess, sys
from pathlib import Path
import pytest
from conftest import ROOT, BIN, xstilts

DATA = os.environ.get("XSTILTS_DATA")
real = pytest.mark.skipif(not DATA or not os.path.isdir(DATA),
                          reason=f"real-data tests need XSTILTS_DATA set to a data folder (e.g. ../shared/data); it is {'unset' if not DATA else f'{DATA!r}, not a folder'}")
REAL_MINI = ROOT/"params"/"real_mini.yaml"

def python_m(module, *args, env):
    "Run `python -m module args` in this environment."
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)

def one_line(r) -> str:
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xstilts: "), r.stderr
    return lines[0]

def with_data(env, data) -> dict:
    "`env` with XSTILTS_DATA set to `data` (None: unset)."
    e = {k: v for k, v in env.items() if k != "XSTILTS_DATA"}
    return e if data is None else {**e, "XSTILTS_DATA": str(data)}

# 1. python -m xstilts is the xstilts command
def test_python_m_is_the_command(xs_env):
    script = xstilts("--help", env=xs_env, timeout=300)
    assert script.returncode == 0 and script.stdout.startswith("usage: xstilts ")
    for module in ("xstilts", "xstilts.cli"):
        r = python_m(module, "--help", env=xs_env)
        assert (r.returncode, r.stdout) == (0, script.stdout), (module, r.stderr)
    r, s = python_m("xstilts", "run", "no-such.yaml", env=xs_env), xstilts("run", "no-such.yaml", env=xs_env, timeout=300)
    assert (r.returncode, r.stderr) == (s.returncode, s.stderr) and r.returncode == 2
    r = python_m("xstilts", "check", ROOT/"params"/"embedded.yaml", env=with_data(xs_env, None))
    assert r.returncode == 0 and r.stdout.startswith(f"{ROOT/'params'/'embedded.yaml'}: ok (embedded:"), r.stderr

# 2. a directory or a missing file as the params file: one line naming it
@pytest.mark.parametrize("cmd", ["check", "run"])
def test_params_directory_one_line(cmd, tmp_path, xs_env):
    r = xstilts(cmd, tmp_path, env=xs_env, timeout=300)
    assert r.returncode == 2
    assert one_line(r) == f"xstilts: No params file {tmp_path} (a directory): expected a params YAML file, e.g. params/embedded.yaml"
    assert not Path(xs_env["XSTILTS_RUNS"]).exists(), "no run directory was created"

def test_params_missing_file_one_line(tmp_path, xs_env):
    r = xstilts("check", tmp_path/"nope.yaml", env=xs_env, timeout=300)
    assert r.returncode == 2
    assert one_line(r) == f"xstilts: No params file {tmp_path/'nope.yaml'} (no such file): expected a params YAML file, e.g. params/embedded.yaml"

def test_extends_a_directory(tmp_path, xs_env):
    (tmp_path/"base").mkdir(); (tmp_path/"s.yaml").write_text("extends: base\nstudy: s\n")
    r = xstilts("check", tmp_path/"s.yaml", env=xs_env, timeout=300)
    assert r.returncode == 2 and f"No params file {tmp_path/'base'} (a directory; extended by {tmp_path/'s.yaml'})" in one_line(r)

# 3. xstilts check checks the data of a local study
def test_check_local_needs_xstilts_data(xs_env):
    r = xstilts("check", REAL_MINI, env=with_data(xs_env, None), timeout=300)
    assert r.returncode == 2 and one_line(r).startswith(f"xstilts: {REAL_MINI}: source: local, but XSTILTS_DATA is not set")
    r = xstilts("check", REAL_MINI, env=with_data(xs_env, "/nonexistent"), timeout=300)
    assert r.returncode == 2 and one_line(r).startswith(f"xstilts: {REAL_MINI}: source: local, but XSTILTS_DATA=/nonexistent is not a directory")

def test_check_names_first_missing_files_and_count(tmp_path, xs_env):
    "An empty data folder: the first three missing files by name, then how many more."
    (tmp_path/"data").mkdir()
    r = xstilts("check", ROOT/"params"/"real_sst2_xnli.yaml", env=with_data(xs_env, tmp_path/"data"), timeout=300)
    assert r.returncode == 2, r.stdout
    m = re.fullmatch(rf"xstilts: \S+real_sst2_xnli.yaml: (\d+) data files that its runs read are missing from {re.escape(str(tmp_path/'data'))} "
                     r"\(XSTILTS_DATA\): snli/s1\.dev \(snli:dev en\), snli/s2\.dev \(snli:dev en\), snli/labels\.dev \(snli:dev en\), and (\d+) more", one_line(r))
    assert m and int(m[1]) == int(m[2]) + 3 and int(m[1]) > 15, r.stderr   # every XNLI dev language, SNLI, ANLI, SST-2
    # stdout: how many splits, then a line per missing split (the files looked for, the layouts known), the first ten
    out = r.stdout.splitlines()
    assert re.fullmatch(rf"\S+real_sst2_xnli.yaml: data: (\d+) of \1 splits its runs read are missing from {re.escape(str(tmp_path/'data'))} \(XSTILTS_DATA\):", out[0]), out[0]
    assert out[1] == "  missing  snli:dev en: snli/s1.dev, snli/s2.dev, snli/labels.dev (layouts it knows: snli/s1.dev; snli_1.0/snli_1.0_dev.jsonl)"
    assert "  missing  xnli:dev de: xnli/dev-de.tsv (layouts it knows: xnli/dev-{lang}.tsv; xnli/XNLI-1.0/xnli.dev.tsv)" in out
    assert len(out) == 12 and out[-1].startswith("  … and ") and out[-1].endswith("more (--list: a line for every split its runs read)")

def test_check_no_data(tmp_path, xs_env):
    "`--no-data` checks the params and names only: a local study passes without a data folder; the first line names the source."
    r = xstilts("check", REAL_MINI, "--no-data", env=with_data(xs_env, None), timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [f"{REAL_MINI}: ok (real-mini: models 1 × intermediates 5 × targets 6 × seeds 3; 90 runs; source: local)",
                                     f"{REAL_MINI}: data not checked (--no-data)"]

def test_check_embedded_and_hub(xs_env):
    e = with_data(xs_env, None)
    r = xstilts("check", ROOT/"params"/"embedded.yaml", env=e, timeout=300)
    assert r.returncode == 0 and len(r.stdout.strip().splitlines()) == 1, r.stdout + r.stderr   # no data folder needed, no data line
    assert r.stdout.rstrip().endswith("runs; source: embedded)")
    r = xstilts("check", ROOT/"params"/"phang2020.yaml", env=e, timeout=300)
    assert r.returncode == 0 and "note: data not checked: the hub cannot be checked offline" in r.stdout, r.stdout + r.stderr

def linked_copy(src:Path, dst:Path, leave_out:str):
    "A folder of symbolic links to the files of `src`, all but `leave_out` (relative); the data itself is not copied."
    skip = src/leave_out
    for d, _, files in os.walk(src):
        for f in files:
            p = Path(d)/f
            if p == skip: continue
            q = dst/p.relative_to(src); q.parent.mkdir(parents=True, exist_ok=True); q.symlink_to(p)

@real
def test_check_real_data(tmp_path, xs_env):
    r = xstilts("check", REAL_MINI, "--list", env=with_data(xs_env, DATA), timeout=300)
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0].endswith("; source: local)") and out[1].startswith(f"{REAL_MINI}: data: all ") and str(Path(DATA).resolve()) in out[1]
    n = int(re.match(r"\S+: data: all (\d+) splits", out[1])[1])
    assert len(out) == 2 + n and all(l.startswith("  ok       ") for l in out[2:])   # --list: a line for every split, with the files found
    assert "  ok       xnli:dev de: xnli/dev-de.tsv" in out and "  ok       csqa:train en: commonsenseqa/train_rand_split.jsonl" in out
    data = tmp_path/"data"
    linked_copy(Path(DATA), data, "commonsenseqa/train_rand_split.jsonl")   # csqa's training file: every csqa run reads it
    r = xstilts("check", REAL_MINI, env=with_data(xs_env, data), timeout=300)
    assert r.returncode == 2 and one_line(r) == (f"xstilts: {REAL_MINI}: 1 data file that its runs read is missing from {data} (XSTILTS_DATA): "
                                                 "commonsenseqa/train_rand_split.jsonl (csqa:train en)")
    assert r.stdout.splitlines() == [f"{REAL_MINI}: data: 1 of {n} splits its runs read is missing from {data} (XSTILTS_DATA):",
                                     "  missing  csqa:train en: commonsenseqa/train_rand_split.jsonl (layouts it knows: commonsenseqa/train_rand_split.jsonl)"]
    # an evaluation file of a language the study names (`languages: available` evaluates only those present)
    (data/"xnli"/"dev-de.tsv").unlink()
    r = xstilts("check", REAL_MINI, "--set", "languages=[de, fr]", "--set", "intermediates=[none]", "--set", "targets=[xnli]", env=with_data(xs_env, data), timeout=300)
    assert r.returncode == 2 and one_line(r).endswith("missing from " f"{data} (XSTILTS_DATA): xnli/dev-de.tsv (xnli:dev de)"), r.stderr
    assert "  missing  xnli:dev de: xnli/dev-de.tsv (layouts it knows: xnli/dev-{lang}.tsv; xnli/XNLI-1.0/xnli.dev.tsv)" in r.stdout.splitlines()
    # the official XNLI-1.0 release (every language in one file) stands in for XTREME's missing file; XTREME's others are still read
    from test_layouts import xnli_release
    xnli_release(data, "dev")
    r = xstilts("check", REAL_MINI, "--list", "--set", "languages=[de, fr]", "--set", "intermediates=[none]", "--set", "targets=[xnli]", env=with_data(xs_env, data), timeout=300)
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert "  ok       xnli:dev de: xnli/XNLI-1.0/xnli.dev.tsv" in out and "  ok       xnli:dev fr: xnli/dev-fr.tsv" in out, out
