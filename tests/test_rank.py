"`xstilts rank`: LogME against a hand-worked case and brute force, the scoring on known answers, the command end to end."
import json
import numpy as np, pandas as pd, pytest
from scipy import optimize, stats
from conftest import xstilts
from xstilts.rank import (ESTIMATORS, log_evidence, max_evidence, logme, order_scores, ranking_cells, score_ranking,
                          phase23_seconds, rank_table)


def _svd(X, y):
    u, s, _ = np.linalg.svd(X, full_matrices=False)
    return s**2, u.T @ y, float(y @ y)

def _exact(X, y, a, b):
    "log N(y; 0, XXᵀ/α + I/β): the marginal likelihood computed directly, not through the SVD."
    return stats.multivariate_normal(np.zeros(len(y)), X @ X.T / a + np.eye(len(y)) / b).logpdf(y)


def test_logme_hand_worked():
    # X = (1, 0)ᵀ, y = (2, 1): y ~ N(0, diag(1/α + 1/β, 1/β)) is largest at 1/β = 1², 1/α + 1/β = 2²
    X, y = np.array([[1.0], [0.0]]), np.array([2.0, 1.0])
    sigma, z, yy = _svd(X, y)
    a, b = max_evidence(sigma, z, yy, 2, 1)
    assert a == pytest.approx(1 / 3) and b == pytest.approx(1.0)
    assert log_evidence(a, b, sigma, z, yy, 2, 1) == pytest.approx(-np.log(2 * np.pi) - np.log(2) - 1)
    # LogME of labels: the mean over their one-hot columns of the maximum evidence per example
    X2, lab = np.array([[1.0, 0.5], [0.2, 1.0], [0.9, 0.1], [0.1, 0.8]]), np.array([0, 1, 0, 1])
    per = [log_evidence(*max_evidence(*_svd(X2, (lab == c).astype(float)), 4, 2), *_svd(X2, (lab == c).astype(float)), 4, 2) / 4 for c in (0, 1)]
    assert logme(X2, lab) == pytest.approx(np.mean(per))


@pytest.mark.parametrize("n,d", [(12, 3), (6, 9)])
def test_logme_fixed_point_is_the_brute_force_maximum(n, d):
    rng = np.random.default_rng(n)
    X = rng.normal(size=(n, d)); y = X @ rng.normal(size=d) + 0.5 * rng.normal(size=n)
    sigma, z, yy = _svd(X, y)
    for a, b in [(0.7, 2.3), (5.0, 0.1)]:   # the closed form is the marginal likelihood
        assert log_evidence(a, b, sigma, z, yy, n, d) == pytest.approx(_exact(X, y, a, b), rel=1e-10)
    a, b = max_evidence(sigma, z, yy, n, d); best = log_evidence(a, b, sigma, z, yy, n, d)
    grid = np.exp(np.linspace(np.log(1e-2), np.log(1e2), 81))
    G = np.array([[_exact(X, y, ga, gb) for gb in grid] for ga in grid])
    i, j = np.unravel_index(G.argmax(), G.shape)
    step = np.log(grid[1] / grid[0])
    assert best >= G.max() - 1e-9
    assert abs(np.log(grid[i] / a)) <= 2 * step and abs(np.log(grid[j] / b)) <= 2 * step   # a flat ridge: within two grid steps
    opt = optimize.minimize(lambda t: -_exact(X, y, *np.exp(t)), np.log([grid[i], grid[j]]), method="Nelder-Mead",
                            options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 4000})
    assert np.exp(opt.x) == pytest.approx([a, b], rel=1e-3) and -opt.fun == pytest.approx(best, abs=1e-8)


def _synthetic(n_inter=4):
    rng = np.random.default_rng(1)
    tt = pd.DataFrame([{"model": "m", "inter": f"i{k}", "target": t, "language": l, "perturbation": "clean", "delta": rng.normal() / 100}
                       for k in range(n_inter) for t in ("x", "y") for l in ("en", "xa", "xb", "xc")])
    avg = tt[tt.language != "en"].groupby(["model", "inter", "target", "perturbation"]).delta.mean().reset_index()
    tt = pd.concat([tt, avg.assign(language="avg-zero-shot"), tt.assign(perturbation="typo", delta=0.0)])
    est = tt[(tt.language != "avg-zero-shot") & (tt.perturbation == "clean")].drop(columns="perturbation")
    return tt, est.assign(perfect=est.delta * 3 + 1, reversed=-est.delta).drop(columns="delta")

FACTS = pd.DataFrame({"language": ["en", "xa", "xb", "xc"], "resource": ["high", "high", "low", "low"], "script": ["Latin", "Latin", "Greek", "Latin"]})

def test_order_scores_known_answers():
    m = np.array([0.03, 0.01, -0.02, 0.0])
    assert order_scores(m, m) == {"rho": 1.0, "regret": 0.0, "top2": 1.0}
    r = order_scores(-m, m)
    assert r["rho"] == pytest.approx(-1) and r["regret"] == pytest.approx(5.0) and r["top2"] == 0
    r = order_scores([0, 1, 0, 0], m)   # predicts the second best: regret 2 points, the best is among the top two with chance 1/3
    assert r["regret"] == pytest.approx(2.0) and r["top2"] == pytest.approx(1 / 3)


def test_scoring_perfect_and_reversed():
    tt, est = _synthetic()
    cells = ranking_cells(est, tt, ["perfect", "reversed"])
    assert len(cells) == 2 * 2 * 5 and set(cells.language) == {"en", "xa", "xb", "xc", "avg-zero-shot"} and (cells.n_inter == 4).all()
    s = score_ranking(cells, FACTS, costs={"perfect": 30.0, "reversed": 3.0}, phase23=300.0, n=1000).set_index(["estimator", "by", "group"])
    p, r = s.loc["perfect"], s.loc["reversed"]
    assert (p.rho == 1).all() and (p.regret == 0).all() and (p.top2 == 1).all() and (p.rho_lo == 1).all()
    assert np.allclose(r.rho, -1) and (r.top2 == 0).all() and (r.regret > 0).all()
    assert s.loc[("perfect", "all", "all targets (zero-shot average)"), "cells"] == 2          # one zero-shot-average cell per target
    assert s.loc[("perfect", "target", "x"), "cells"] == 3                                       # its zero-shot languages, not English
    assert s.loc[("perfect", "resource", "low"), "cells"] == 4 and s.loc[("perfect", "script", "Greek"), "cells"] == 2
    assert s.loc[("perfect", "target", "x"), "cost_share"] == pytest.approx(0.1) and s.loc[("reversed", "target", "x"), "seconds"] == 3.0
    # the regret is in points: the best measured Δ minus that of the predicted best, ×100
    x = tt[(tt.target == "x") & (tt.language == "avg-zero-shot") & (tt.perturbation == "clean")].delta
    c = cells[(cells.estimator == "reversed") & (cells.target == "x") & (cells.language == "avg-zero-shot")].iloc[0]
    assert c.regret == pytest.approx((x.max() - x.min()) * 100)


def test_scoring_interval_covers_a_noisy_estimator():
    tt, est = _synthetic(6)
    rng = np.random.default_rng(3)
    est = est.assign(noisy=est.perfect + rng.normal(size=len(est)) / 50)
    s = score_ranking(ranking_cells(est, tt, ["noisy"]), FACTS, n=2000).set_index(["by", "group"])
    row = s.loc[("target", "x")]
    assert -1 <= row.rho_lo <= row.rho <= row.rho_hi <= 1 and row.rho_lo < row.rho_hi


def test_phase23_seconds_counts_each_phase1_encoder_once(xs_env):
    from xstilts.core import RunId
    from xstilts.results import run_dir, write_record, PRED_COLUMNS
    preds = pd.DataFrame([dict.fromkeys(PRED_COLUMNS, "x") | {"seed": 1, "score": 1.0}])
    h1 = {"seconds": 5.0, "selected_dev": 0.5}
    for inter, target, secs in [("none", "xnli", 10.0), ("mnli", "xnli", 20.0), ("mnli", "udpos", 30.0)]:
        write_record(run_dir("s", RunId("tiny-xs", inter, target, 1)), {"a": 1}, {"scores": [], "seconds": secs, "phase1": h1 if inter != "none" else {}}, preds, {})
    assert phase23_seconds("s") == {"phase23": 55.0, "runs": 60.0, "phase1": 5.0, "n_runs": 3}


def test_rank_command_end_to_end(xs_env):
    "On the quick world: one draw and seed, two intermediate tasks, every target format (pretraining and phase 1 included)."
    r = xstilts("rank", "params/embedded.yaml", "--quick", "--set", "models=[tiny-xs]", "--set", "seeds=[1]",
                "--set", "intermediates=[none, mnli, ccg]", "--max-train", "300", "--max-eval", "60", "--pairs", "60", env=xs_env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    out = r.stdout
    assert out.startswith("rank embedded-quick: 88 rows") and "2 phase-1 encoders (2 trained now" in out and "cost per estimator (s" in out
    assert "tiny-xs → xnli: probe " in out and "tiny-xs → tatoeba: probe –" in out
    from pathlib import Path
    reports, runs = Path(xs_env["XSTILTS_REPORTS"])/"embedded-quick"/"rank", Path(xs_env["XSTILTS_RUNS"])/"embedded-quick"
    t = pd.read_csv(reports/"rank.csv")
    world = ["en", "xa", "xb", "xc", "xd", "xe", "xf", "xg", "xh"]
    want = {(i, tg, l) for i in ("mnli", "ccg") for tg in ("xnli", "udpos", "xquad", "xcopa", "tatoeba") for l in world if not (tg == "tatoeba" and l == "en")}
    assert len(t) == len(want) == 88 and set(zip(t.inter, t.target, t.language)) == want
    assert list(t.columns) == ["model", "inter", "target", "language", "encoders", *ESTIMATORS, "resource", "script"]
    probed = t.target.isin(["xnli", "udpos", "xcopa"])
    assert t[probed].probe.notna().all() and t[~probed].probe.isna().all() and t[~probed].logme.isna().all()
    assert t[t.language != "en"].alignment.notna().all() and set(t.same_format) == {0.0, 1.0}
    assert "## Predicted order per target" in (reports/"rank.md").read_text()
    info = json.loads((runs/"rank.json").read_text())
    assert set(info["seconds"]) == set(ESTIMATORS) and info["encoders"]["phase1"] == 2 and len(info["encoders"]["trained"]) == 2
    rows = pd.read_parquet(runs/"rank.parquet")
    assert len(rows) == 88 and (rows.seed == 1).all() and not any(d.is_dir() for d in runs.iterdir())   # beside the runs: no run folder made
    from xstilts.core import load_params
    p = load_params("params/embedded.yaml", {"models": ["tiny-xs"], "seeds": [1], "intermediates": ["none", "mnli", "ccg"]}, quick=True)
    assert np.allclose(rank_table(rows, p)[list(ESTIMATORS)].fillna(9).to_numpy(), t[list(ESTIMATORS)].fillna(9).to_numpy())


def test_tune_fits_on_another_study_and_the_report_scores_it(xs_env, monkeypatch):
    "`tune`: weights fitted on study A's records land beside B's runs; `score_study` of B then scores `combined`; A on A is refused."
    import xstilts.report, xstilts.results
    from xstilts.core import load_params, XStiltsError
    from xstilts.rank import tune, rank_paths, score_study
    a = load_params("params/embedded.yaml", {"study": "tune-a"}, quick=True)
    b = load_params("params/embedded.yaml", {"study": "tune-b"}, quick=True)
    g = np.random.default_rng(1)
    def study(seed_shift):
        rows, tt = [], []
        for t in ("xnli", "udpos"):
            for l in ("en", "xa", "xb"):
                pr = g.normal(size=4)
                for k in range(4):
                    rows.append(dict(model="tiny-xs", inter=f"i{k}", target=t, seed=1, language=l, probe=pr[k], logme=g.normal(),
                                     alignment=g.normal(), random=g.uniform(), same_format=0.0, english_dev=0.1))
                    tt.append(dict(model="tiny-xs", inter=f"i{k}", target=t, language=l, perturbation="clean", delta=0.01 * pr[k]))
            tt += [dict(model="tiny-xs", inter=f"i{k}", target=t, language="avg-zero-shot", perturbation="clean",
                        delta=np.mean([r["delta"] for r in tt if r["target"] == t and r["inter"] == f"i{k}" and r["language"] != "en"])) for k in range(4)]
        return pd.DataFrame(rows), pd.DataFrame(tt)
    (ra, tta), (rb, ttb) = study(0), study(1)
    for s, r in (("tune-a", ra), ("tune-b", rb)):
        rank_paths(s)["record"].parent.mkdir(parents=True, exist_ok=True); r.to_parquet(rank_paths(s)["record"])
    monkeypatch.setattr(xstilts.results, "load_predictions", lambda study, runs=None: pd.DataFrame({"x": [1]}))
    monkeypatch.setattr(xstilts.report, "transfer_table", lambda preds, p: tta)
    with pytest.raises(XStiltsError, match="not out of sample"): tune(a, a)
    fit = tune(b, a)
    assert fit["tuned_on"] == "tune-a" and fit["weights"]["probe"] > 0.9, fit   # A's Δ is its probe: the fit finds it
    assert json.loads(rank_paths("tune-b")["tuned"].read_text()) == fit
    cells, scores = score_study(b, ttb, n=200)
    comb = scores[(scores.estimator == "combined") & (scores.by == "all")]
    probe = scores[(scores.estimator == "probe") & (scores.by == "all")]
    assert len(comb) == 1 and comb.rho.iloc[0] > 0.75 and abs(comb.rho.iloc[0] - probe.rho.iloc[0]) <= 0.2
    with pytest.raises(XStiltsError, match="no estimates"): tune(b, load_params("params/embedded.yaml", {"study": "tune-c"}, quick=True))
