"End to end: the quick embedded study and the quick real-data study through papermill, records and reports."
import json, os, re, subprocess, time
from pathlib import Path
import pandas as pd, pytest, yaml
from conftest import ROOT, BIN, xstilts

def _study(env, name): return Path(env["XSTILTS_RUNS"])/name, Path(env["XSTILTS_REPORTS"])/name

def _kernels_of(env, what=(b"ipykernel",), wait=1.0) -> list[int]:
    "Processes (kernels by default) still alive that were started for a study with this environment's runs directory."
    time.sleep(wait)   # a kernel's shutdown is asynchronous (it polls its parent every second)
    pids = []
    for d in Path("/proc").iterdir():
        try:
            if d.name.isdigit() and any(w in (d/"cmdline").read_bytes() for w in what) and f"XSTILTS_RUNS={env['XSTILTS_RUNS']}".encode() in (d/"environ").read_bytes().split(b"\0"):
                if (d/"stat").read_text().split(") ")[1][0] != "Z": pids.append(int(d.name))
        except OSError: pass
    return pids

def test_quick_embedded_study(xs_env):
    # one thread per task pair, as on the two workers below (tiny and random encoders compute on one thread whatever it says)
    r = xstilts("run", "params/embedded.yaml", "--quick", "--threads", "1", env=xs_env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert not _kernels_of(xs_env), "the kept kernel outlived the run"
    runs, reports = _study(xs_env, "embedded-quick")
    p = yaml.safe_load((ROOT/"params"/"embedded.yaml").read_text())
    q = p["quick"]; models, inters, targets, seeds = q["models"], q["intermediates"], q["targets"], q["seeds"]
    ctl = {**p["also"]["control"], **q["also"]["control"]}  # the never-pretrained control runs on the baselines only, with its own seeds
    assert ctl["intermediates"] == ["none"] and "scale" not in p["also"] and len(models) >= 2   # draws of one recipe; RQ6 is params/draws.yaml's
    n_pairs = len(models) * len(set(inters) | {"none"}) * len(targets) + len(ctl["models"]) * len(targets)
    n_runs = (n_pairs - len(ctl["models"]) * len(targets)) * len(seeds) + len(ctl["models"]) * len(targets) * len(ctl["seeds"])
    n_p1 = len(models) * len(set(inters) - {"none"}) * len(seeds)   # the grid's cost, reported before it starts
    assert f"phase 1: {n_p1} intermediate encoders needed by pending runs, 0 cached, {n_p1} to train" in r.stdout, r.stdout
    over = re.search(r"grid overhead: ([0-9.]+) s per run \((\d+) runs in (\d+) task pairs", r.stdout)   # its value is a benchmark's, printed
    assert over and int(over[2]) == n_runs and int(over[3]) == n_pairs, r.stdout
    dirs = [d for d in runs.iterdir() if d.is_dir()]
    assert len(dirs) == n_runs and all((d/"DONE").exists() for d in dirs)
    assert sorted({d.name.split("__")[1] for d in dirs if d.name.startswith(f"model={ctl['models'][0]}__")}) == ["inter=none"]
    # one record, checked in full
    d = runs/"model=tiny-xs__inter=mnli__target=xnli__seed=1"
    prm = yaml.safe_load((d/"params.yaml").read_text())
    assert prm["run"] == {"model": "tiny-xs", "inter": "mnli", "target": "xnli", "seed": 1, "id": d.name}
    preds = pd.read_parquet(d/"predictions.parquet")
    m = json.loads((d/"metrics.json").read_text())
    langs = prm["languages"]
    assert langs[0] == "en" and len(langs) >= 4 and set(preds.language) == set(langs)
    assert {s["perturbation"] for s in m["scores"]} == {"clean", "typo-keyboard@0.2", "codeswitch@0.3"} == set(preds.perturbation)
    for s in m["scores"]:  # metrics.json agrees with an independent recount from the predictions, clean and perturbed
        sub = preds[(preds.language == s["language"]) & (preds.perturbation == s["perturbation"])]
        assert s["value"] == pytest.approx((sub.gold == sub.prediction).mean()) and s["n"] == len(sub) == p["quick"]["world"]["n_test"]
    assert m["phase1"]["data"]["train"] == ["mnli:train"] and m["phase1"]["selected_step"] >= 1
    assert json.loads((d/"env.json").read_text())["seed"] == 1
    # reports: every task pair and the summary, executed and rendered
    html = (reports/"summary.html").read_text()
    assert "data:image/png;base64" in html and "Holm" in html and "Does intermediate training change robustness" in html and "codeswitch@0.3" in html
    assert "Share of the clean score kept" in html and "Δ kept" in html   # kept_share_tests in RQ2, the absolute drops in the appendix
    assert html.index('id="findings"') < html.index("RQ1 ·") < html.index("RQ2 ·") < html.index("RQ3 ·") < html.index("RQ4 ·") < html.index("RQ5 ·") < html.index("RQ6 ·") < html.index('id="appendix"')
    assert html.index("Share of the clean score kept") < html.index('id="appendix"') < html.index("Absolute drop (clean − perturbed")
    # the appendix's tables are also CSVs beside the report: the primary family's has one row per (model, target, intermediate task)
    prim = pd.read_csv(reports/"tables"/"primary-family-every-comparison.csv")
    assert len(prim) == len(targets) * len(set(inters) - {"none"}) and set(prim["draws × seeds"]) == {f"{len(models)} × {len(seeds)}"}
    assert set(prim.verdict.str.split(" \\(").str[0]) <= {"supported", "contradicted", "inconclusive", "not tested"}
    nb = json.loads((reports/"summary.ipynb").read_text())
    assert not [o for c in nb["cells"] for o in c.get("outputs", []) if o["output_type"] == "error"]
    from xstilts.grid import browser, browser_check
    if browser():   # the published page as a browser shows it: every figure, no error output, nothing fetched from elsewhere
        figs = len(re.findall(r'<img[^>]*src="data:image/png;base64', html))   # figures, not the page's icon
        b = browser_check(reports/"summary.html", screenshot=reports/"summary.png", first_screen=reports/"summary-first-screen.png")
        assert b["images"] == b["shown"] == figs >= 1 and b["error_outputs"] == b["tracebacks"] == 0 and b["external"] == b["js_errors"] == [], b
        assert b["screenshot"] and (reports/"summary-first-screen.png").exists()
        # a document: no NaN or None on the page, no bare integer index column, the findings on the first screen
        # (1400 × 900), and at most 8 screens before the appendix
        assert b["nan_text"] == [] and b["index_columns"] == 0, b
        assert b["findings_bottom"] is not None and b["findings_bottom"] <= 900 and b["screens_before_appendix"] <= 8, b
    else: print("no Chromium: the browser check of the report was skipped")
    pairs = sorted(reports.glob("model=*.ipynb"))
    assert len(pairs) == n_pairs
    assert all(pr.with_suffix(".html").exists() for pr in pairs)
    # a warm re-run skips every finished run and pair
    t = time.time()
    r2 = xstilts("run", "params/embedded.yaml", "--quick", env=xs_env)
    assert r2.returncode == 0 and "0 to do" in r2.stdout and "[1/" not in r2.stdout and "summary up to date" in r2.stdout, r2.stdout
    rp = xstilts("report", "params/embedded.yaml", "--quick", env=xs_env)   # renders the summary again, and stamps it: a run after it renders nothing
    r2b = xstilts("run", "params/embedded.yaml", "--quick", env=xs_env)
    assert rp.returncode == 0 and r2b.returncode == 0 and "summary up to date" in r2b.stdout, rp.stdout + rp.stderr + r2b.stdout
    s = xstilts("status", "params/embedded.yaml", "--quick", env=xs_env)
    assert s.returncode == 0 and "pending" not in s.stdout and "failed" not in s.stdout
    # the same study on two workers (own processes and kept kernels, so each kernel runs other pairs before a pair than
    # above; fresh cache: pretraining and phase 1 run under locks), while another runner holds one task pair: that pair
    # is left to it; once released, a re-run does only that pair, as a job of submitit's local executor (the Slurm
    # engine's path: one array task per pair, a fresh kernel, its own log)
    env2 = dict(xs_env, **{f"XSTILTS_{k}": str(Path(xs_env["XSTILTS_RUNS"]).parent/f"par_{k.lower()}") for k in ("RUNS", "CACHE", "REPORTS")})
    runs2, reports2 = _study(env2, "embedded-quick")
    # first, a runner killed (SIGKILL) once its first pair is done: its workers and their kept kernels die with it
    proc = subprocess.Popen([str(BIN/"xstilts"), "run", "params/embedded.yaml", "--quick", "--workers", "2", "--threads", "1"],
                            cwd=ROOT, env=env2, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    first = next((l for l in proc.stdout if l.startswith("[1/")), None)
    proc.kill(); proc.wait(); proc.stdout.close()
    assert first and " done (" in first, first
    assert not _kernels_of(env2, (b"ipykernel", b"spawn_main"), wait=3), "workers or kernels outlived their killed runner"
    held = "model=tiny-xs__inter=mnli__target=xcopa"
    from xstilts.results import run_lock
    with run_lock(reports2/".locks"/held) as h:
        assert h
        r3 = xstilts("run", "params/embedded.yaml", "--quick", "--workers", "2", "--threads", "1", env=env2)
    assert r3.returncode == 1 and "2 workers" in r3.stdout and "another runner is on it" in r3.stdout, r3.stdout[-3000:] + r3.stderr[-3000:]
    kept = int(re.search(r"(\d+) finished, \d+ to do", r3.stdout)[1])
    assert kept >= len(seeds), r3.stdout   # the killed runner's finished pair stays finished (its metrics are compared below)
    assert not (runs2/f"{held}__seed=1").exists() and (runs2/"model=tiny-xs__inter=mnli__target=xnli__seed=1"/"DONE").exists()
    assert not _kernels_of(env2), "the workers' kept kernels outlived the run"
    r4 = xstilts("run", "params/embedded.yaml", "--quick", "--workers", "2", "--threads", "1", "--engine", "submitit-local", env=env2)
    assert r4.returncode == 0 and f"{len(seeds)} to do" in r4.stdout and len([l for l in r4.stdout.splitlines() if l.startswith("[")]) == 1 and "mnli → xcopa" in r4.stdout, r4.stdout
    assert f"phase 1: {len(seeds)} intermediate encoders needed by pending runs, {len(seeds)} cached, 0 to train" in r4.stdout, r4.stdout   # mnli, every seed: trained for xnli
    job = re.search(r"done \(job (\d+)", r4.stdout)[1]
    logs = list((reports2/".submitit").glob(f"{job}*/*_log.*"))
    assert {l.suffix for l in logs} == {".out", ".err"} and "completed successfully" in next(l for l in logs if l.suffix == ".err").read_text() + next(l for l in logs if l.suffix == ".out").read_text(), logs
    for d in dirs:  # every run's metrics are identical to the one-worker, one-kernel study's, kept kernels or fresh
        m1, m2 = (json.loads((x/d.name/"metrics.json").read_text()) for x in (runs, runs2))
        assert [(s["language"], s["value"]) for s in m1["scores"]] == [(s["language"], s["value"]) for s in m2["scores"]], d.name

def test_quick_draws_study(xs_env):
    "Pretraining draws (`params/draws.yaml`, which extends the default study): each draw is its own encoder of the same recipe, and the report tests across them."
    r = xstilts("run", "params/draws.yaml", "--quick", "--workers", "2", "--threads", "1", env=xs_env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    runs, reports = _study(xs_env, "embedded-draws-quick")
    base, draws = yaml.safe_load((ROOT/"params"/"embedded.yaml").read_text()), yaml.safe_load((ROOT/"params"/"draws.yaml").read_text())
    q = draws["quick"]
    sc = {**draws["also"]["scale"], **q["also"]["scale"]}   # the scale axis with two draws of tiny-s, on one task pair
    n_runs = (len(q["models"]) * len(q["intermediates"]) * len(q["targets"]) + 1 + len(sc["models"]) * len(sc["intermediates"])) * len(q["seeds"])   # + the control on xnli
    assert len([d for d in runs.iterdir() if (d/"DONE").exists()]) == n_runs
    rec = {m: yaml.safe_load((runs/f"model={m}__inter=none__target=xnli__seed=1"/"params.yaml").read_text()) for m in q["models"]}
    assert rec["tiny-xs"]["pretrain"]["seed"] == base.get("pretrain", {}).get("seed", 0) and rec["tiny-xs@1"]["pretrain"]["seed"] == 1
    assert {k: v for k, v in rec["tiny-xs"]["pretrain"].items() if k != "seed"} == {k: v for k, v in rec["tiny-xs@1"]["pretrain"].items() if k != "seed"}
    assert rec["tiny-xs@1"]["world"] == rec["tiny-xs"]["world"] and rec["tiny-xs@1"]["train"] == rec["tiny-xs"]["train"]   # inherited from embedded.yaml
    enc = {json.loads((d/"pretraining.json").read_text())["key"]["pretrain"]["seed"]: d for d in (Path(xs_env["XSTILTS_CACHE"])/"encoders").glob("tiny-xs-*")}
    assert sorted(enc) == [0, 1]   # two pretrainings, one per draw
    from safetensors.torch import load_file
    w0, w1 = (load_file(enc[s]/"model.safetensors") for s in (0, 1))
    assert w0.keys() == w1.keys() and not all((w0[k] == w1[k]).all() for k in w0), "another seed, other weights"
    assert (enc[0]/"tokenizer.json").read_text() == (enc[1]/"tokenizer.json").read_text(), "the same tokenizer: one recipe"
    nb = json.loads((reports/"summary.ipynb").read_text())
    assert not [o for c in nb["cells"] for o in c.get("outputs", []) if o["output_type"] == "error"]
    html = (reports/"summary.html").read_text()
    assert "Pretraining draws" in html and "draws agreeing" in html and "sd between draws" in html and "none − random-xs" in html
    from xstilts.core import load_params
    from xstilts.results import load_predictions
    from xstilts.report import draw_tests, target_average, scale_draw_tests, claims_table, transfer_table
    import numpy as np
    p = load_params(ROOT/"params"/"draws.yaml", quick=True)
    preds = load_predictions(p.study)
    dx = draw_tests(preds, p)
    ta = target_average(preds, p).set_index(["model", "inter"])   # the average over targets, the draws as replicates of one recipe
    avg = dx[(dx.target == "average") & (dx.comparison == "mnli − none") & (dx.encoder == "tiny-xs")].iloc[0]
    from xstilts.report import baseline_flags
    kept = {t for t in q["targets"] if ("tiny-xs", t) not in baseline_flags(preds)}   # flagged baselines stay out of the average
    if kept: assert ta.loc[("tiny-xs", "mnli"), "n_draws"] == len(q["models"]) and set(ta.loc[("tiny-xs", "mnli"), "targets"].split(", ")) == kept
    assert set(dx.language) == {*[l for l in yaml.safe_load((runs/"model=tiny-xs__inter=none__target=xnli__seed=1"/"params.yaml").read_text())["languages"] if l != "en"], "avg-zero-shot"}
    tt = transfer_table(preds, p)   # the claims over the recipe's draws: its title claim is decided by the pooled target average
    claims = claims_table(tt, target_average(preds, p), p, model="tiny-xs")
    if len(kept) >= 2:
        r = ta.loc[("tiny-xs", "mnli")]
        assert claims.verdict.iloc[0] == ("supported" if r.significant and r.delta > 0 else "contradicted" if r.significant else "inconclusive")
    else: assert claims.verdict.iloc[0] == "not tested", "a claim over targets needs two unflagged targets"
    assert set(tt[tt.family == "primary"].model) <= {"tiny-xs", "tiny-s"}, "draws are replicates, not models"
    dx = dx[dx.language == "avg-zero-shot"]
    assert sorted(zip(dx.encoder, dx.target, dx.comparison)) == sorted([("tiny-xs", t, "mnli − none") for t in [*q["targets"], "average"]]
                                                                       + [("tiny-xs", "xnli", "none − random-xs"), ("tiny-s", "xnli", "mnli − none")])
    assert (dx.n_draws == 2).all() and dx.delta.between(dx.lo, dx.hi).all()
    sdt = scale_draw_tests(preds, p).iloc[0]   # RQ6 across draws: the DiD is the difference of the sizes' mean Δs, each over its draws
    assert sdt["sizes"] == "tiny-xs < tiny-s" and sdt["n_draws"] == 4 and sdt["did_lo"] <= sdt["did"] <= sdt["did_hi"]
    assert np.isclose(sdt["did"] * 100, sdt["Δ tiny-s"] - sdt["Δ tiny-xs"])
    xs = dx[(dx.target == "xnli") & (dx.comparison == "mnli − none") & (dx.encoder == "tiny-xs")].iloc[0]
    assert np.isclose(sdt["Δ tiny-xs"], xs["delta"] * 100)   # the same draws' Δ as draw_tests gives

DATA = os.environ.get("XSTILTS_DATA")

@pytest.mark.skipif(not DATA or not os.path.isdir(DATA), reason="XSTILTS_DATA not set: real-data tests need ../shared/data")
def test_quick_real_study_records_substitution(xs_env):
    r = xstilts("run", "params/real_sst2_xnli.yaml", "--quick", env=xs_env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    runs, reports = _study(xs_env, "real-sst2-xnli-quick")
    d = runs/"model=tiny-s__inter=sst2__target=xnli__seed=1"
    m = json.loads((d/"metrics.json").read_text())
    assert m["phase2"]["data"]["train"] == ["snli:dev", "anli:dev"] and m["phase2"]["data"]["official_train"] == "mnli:train"
    assert m["phase2"]["data"]["substituted"] and m["substitutions"]["target"] == ["snli:dev", "anli:dev"]
    assert m["phase1"]["data"]["train"] == ["sst2:train"] and not m["phase1"]["data"]["substituted"]
    preds = pd.read_parquet(d/"predictions.parquet")
    assert sorted(preds.language.unique()) == ["ar", "de", "en", "zh"] and (preds.groupby("language").size() == 100).all()
    html = (reports/"summary.html").read_text()
    assert "mnli:train → snli:dev + anli:dev" in html
    assert html.index('id="design"') < html.index("mnli:train → snli:dev + anli:dev") < html.index('id="findings"'), "the substitution is in the design box"
