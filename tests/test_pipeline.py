"Phases 1-3 in process: any encoder by path, CPU determinism, phase-1 reuse, failures recorded with a reason."
import json, os
import torch
from pathlib import Path
import pandas as pd, pytest
from xstilts.core import parse_params, RunId, cache_dir
from xstilts.pipeline import run_one, phase1
from xstilts.results import run_dir, run_status
from xstilts.world import world_languages

SMALL = {"source": "embedded", "seeds": [1], "targets": ["xnli"], "intermediates": ["mnli"],
         "world": {"n_train": 120, "n_dev": 40, "n_test": 40, "corpus_sentences": 400},
         "pretrain": {"steps": 5, "vocab_size": 500, "batch_size": 8},
         "intermediate_train": {"epochs": 1, "batch_size": 16}, "train": {"epochs": 1, "batch_size": 16}}

def params(**kw): return parse_params({"study": "t", **SMALL, **kw})

@pytest.fixture
def local_encoder(tmp_path):
    "A transformers checkpoint in a folder: an XLM-R config and a tokenizer trained here."
    from xstilts.models import train_tokenizer, tiny_config
    from xstilts.world import world_corpus
    from xstilts.core import WorldParams
    from transformers import XLMRobertaModel
    texts = [s for l in world_languages() for s in world_corpus(l, WorldParams(corpus_sentences=300))]
    tok = train_tokenizer(texts, 400)
    d = tmp_path/"my-encoder"
    XLMRobertaModel(tiny_config("xs", len(tok), 128)).save_pretrained(d); tok.save_pretrained(d)
    return d

def test_any_encoder_by_path_runs_all_phases(xs_env, local_encoder):
    p = params(models=[str(local_encoder)])
    rid = RunId(str(local_encoder), "mnli", "xnli", 1)
    assert run_one(p, rid, raise_errors=True) == "done"
    d = run_dir("t", rid)
    preds = pd.read_parquet(d/"predictions.parquet")
    assert sorted(preds.language.unique()) == sorted(world_languages()) and len(preds) == 40 * len(world_languages())
    m = json.loads((d/"metrics.json").read_text())
    assert m["phase1"]["data"]["train"] == ["mnli:train"] and m["phase2"]["data"]["train"] == ["xnli:train"]
    assert (preds.score == (preds.gold == preds.prediction)).all()

def test_cpu_runs_repeat_exactly_and_reuse_phase1(xs_env, monkeypatch, tmp_path):
    p = params(models=["tiny-xs"])
    rid = RunId("tiny-xs", "mnli", "xnli", 1)
    assert run_one(p, rid, raise_errors=True) == "done"
    first = pd.read_parquet(run_dir("t", rid)/"predictions.parquet")
    p1 = sorted((cache_dir()/"phase1").iterdir())
    assert len(p1) == 1
    monkeypatch.setenv("XSTILTS_RUNS", str(tmp_path/"runs2"))  # a second, independent record of the same run
    stamp = (p1[0]/"DONE").stat().st_mtime_ns
    assert run_one(p, rid, raise_errors=True) == "done"
    again = pd.read_parquet(run_dir("t", rid)/"predictions.parquet")
    pd.testing.assert_frame_equal(first, again)
    assert sorted((cache_dir()/"phase1").iterdir()) == p1 and (p1[0]/"DONE").stat().st_mtime_ns == stamp, "phase 1 was reused, not retrained"
    assert phase1(p, "tiny-xs", "mnli", 1)[0] == str(p1[0])

def test_a_failing_run_is_recorded_with_its_reason(xs_env, monkeypatch):
    import xstilts.pipeline as P
    def boom(*a, **k): raise FloatingPointError("xnli seed 1: loss is nan at step 3")
    monkeypatch.setattr(P, "train_loop", boom)
    p = params(models=["random-xs"], intermediates=["none"])
    rid = RunId("random-xs", "none", "xnli", 1)
    assert run_one(p, rid) == "failed"
    d = run_dir("t", rid)
    assert run_status(d) == "failed" and (d/"FAILED").read_text().startswith("FloatingPointError: xnli seed 1: loss is nan")
    assert not (d/"DONE").exists()

def test_caches_are_keyed_by_the_text_not_only_the_settings(xs_env, monkeypatch):
    import xstilts.models as M, xstilts.world as W
    p = params(models=["random-xs"])
    k1 = M.corpus_key(p)
    real = W.world_corpus
    monkeypatch.setattr(W, "world_corpus", lambda lang, wp: [s + " x" for s in real(lang, wp)])  # a changed generator
    M._FINGERPRINTS.clear()
    k2 = M.corpus_key(p)
    assert k1["world"] == k2["world"] and k1["fingerprint"] != k2["fingerprint"]

def _changed_world(task:str):
    "Another world generator: the examples of `task` change (each id gets a suffix), every other task's stay as they were."
    import xstilts.world as W
    real = W.load_world_examples
    def load(t, split, lang, params):
        ex = real(t, split, lang, params)
        return [dict(e, id=f"{e['id']}-v2") for e in ex] if t == task else ex
    return load

def test_a_finished_run_is_stale_once_its_world_data_or_architecture_changes(xs_env, monkeypatch):
    "A change to the world generator makes stale the runs whose data it changes, and only those; so does another architecture."
    import xstilts.data as D, xstilts.world as W, xstilts.models as M, yaml
    from xstilts.core import XStiltsError
    from xstilts.grid import stale_runs
    p = params(models=["random-xs"], intermediates=["none"])
    rid = RunId("random-xs", "none", "xnli", 1)
    assert run_one(p, rid, raise_errors=True) == "done"
    assert run_one(p, rid, raise_errors=True) == "done"   # unchanged: skipped
    rec = yaml.safe_load((run_dir("t", rid)/"params.yaml").read_text())
    assert set(rec["world"]["data"]) == {"xnli"} and "generator" not in rec["world"] and rec["world"]["corpus"] == M.corpus_key(p)["fingerprint"]
    udpos = D.world_data_fingerprint("udpos", p.world)
    with monkeypatch.context() as mp:   # a generator that changes UD-POS only: this XNLI run is still current
        mp.setattr(D, "_world_code", lambda: "generator-v2-udpos"); mp.setattr(W, "load_world_examples", _changed_world("udpos"))
        assert D.world_data_fingerprint("udpos", p.world) != udpos   # the change took
        assert stale_runs(p) == [] and run_one(p, rid, raise_errors=True) == "done"
    with monkeypatch.context() as mp:   # one that changes XNLI's examples: stale, named
        mp.setattr(D, "_world_code", lambda: "generator-v2-xnli"); mp.setattr(W, "load_world_examples", _changed_world("xnli"))
        with pytest.raises(XStiltsError, match=r"finished run with different params \(world\.data\.xnli: '[0-9a-f]{16}' -> '[0-9a-f]{16}'\)"): run_one(p, rid)
        assert [ds for _, ds in stale_runs(p)] == [[f"world.data.xnli: '{rec['world']['data']['xnli']}' -> '{D.world_data_fingerprint('xnli', p.world)}'"]]
    with monkeypatch.context() as mp:   # another pretraining corpus: stale
        real = W.world_corpus
        mp.setattr(W, "world_corpus", lambda lang, wp: [s + " x" for s in real(lang, wp)]); M._FINGERPRINTS.clear()
        assert [d.split(":")[0] for _, ds in stale_runs(p) for d in ds] == ["world.corpus"]
    M._FINGERPRINTS.clear()
    with monkeypatch.context() as mp:
        mp.setitem(M.TINY_SIZES, "xs", dict(M.TINY_SIZES["xs"], intermediate_size=128))
        with pytest.raises(XStiltsError, match=r"different params \(architecture\.intermediate_size: 256 -> 128\)"): run_one(p, rid)
    assert run_status(run_dir("t", rid)) == "done"   # the finished record is untouched

def test_a_record_from_before_data_fingerprints_is_current_when_this_generator_made_it(xs_env):
    "Records that name the generator's code (`world.generator`, before per-task fingerprints): this code's are current, another's stale."
    import yaml
    from xstilts.data import _world_code
    from xstilts.grid import stale_runs
    p = params(models=["random-xs"], intermediates=["none"])
    rid = RunId("random-xs", "none", "xnli", 1)
    assert run_one(p, rid, raise_errors=True) == "done"
    f = run_dir("t", rid)/"params.yaml"; rec = yaml.safe_load(f.read_text())
    legacy = {k: v for k, v in rec["world"].items() if k not in ("data", "corpus")}
    f.write_text(yaml.safe_dump({**rec, "world": {**legacy, "generator": _world_code()}}))
    assert stale_runs(p) == [] and run_one(p, rid, raise_errors=True) == "done"
    f.write_text(yaml.safe_dump({**rec, "world": {**legacy, "generator": "0123456789abcdef"}}))
    assert stale_runs(p)[0][1][0] == "world.generator: '0123456789abcdef' -> absent"

def test_a_udpos_record_from_before_seqeval_0012_is_stale_and_panx_stays_current(xs_env):
    """UD-POS moved from seqeval 1.2.2's chunks to 0.0.12's (its scores and its checkpoint selection): a UD-POS run recorded
    before, whose params name no metric, is stale and named so; a PAN-X run recorded then keeps its params, and is current."""
    import yaml
    from xstilts.grid import stale_runs
    from xstilts.pipeline import run_params
    p = params(models=["random-xs"], intermediates=["none"], targets=["udpos", "panx"])
    for t in ("udpos", "panx"):   # finished records as this code wrote them before, without `metric`
        rid = RunId("random-xs", "none", t, 1); d = run_dir("t", rid); d.mkdir(parents=True)
        new = run_params(p, rid); assert ("metric" in new) == (t == "udpos")
        (d/"params.yaml").write_text(yaml.safe_dump({k: v for k, v in new.items() if k != "metric"})); (d/"DONE").write_text("x\n")
    assert [(str(r), ds) for r, ds in stale_runs(p)] == [(str(RunId("random-xs", "none", "udpos", 1)), ["metric: absent -> 'f1-seqeval-0.0.12'"])]

def test_a_study_with_stale_finished_runs_is_refused_before_any_work(xs_env, tmp_path, capsys):
    "The grid would skip a finished run as done and the summary present its results as the study's: changed params refuse, naming what changed."
    import yaml
    from xstilts.core import XStiltsError
    from xstilts.grid import run_study, render_summary, stale_runs
    settings = {"study": "t", **SMALL, "models": ["random-xs"], "intermediates": ["none"]}
    f = tmp_path/"t.yaml"; f.write_text(yaml.safe_dump(settings))
    p = params(models=["random-xs"], intermediates=["none"])
    rid = RunId("random-xs", "none", "xnli", 1)
    assert run_one(p, rid, raise_errors=True) == "done"
    assert stale_runs(p) == []
    before = (run_dir("t", rid)/"params.yaml").read_text()
    for call in (lambda: run_study(str(f), {"train": {"lr": 0.5}}, log=lambda *a: None),
                 lambda: render_summary(str(f), {"train": {"lr": 0.5}}, log=lambda *a: None)):
        with pytest.raises(XStiltsError, match=r"study t: 1 finished run was made with other params \(train\.lr: 0\.0005 -> 0\.5\)"): call()
    stale = stale_runs(params(models=["random-xs"], intermediates=["none"], seeds=[1, 2], world={**SMALL["world"], "n_test": 30}))
    assert [r for r, _ in stale] == [rid]   # a run not yet made (seed 2) is not stale
    assert stale[0][1][0] == "world.n_test: 40 -> 30" and stale[0][1][1].startswith("world.data.xnli: ") and len(stale[0][1]) == 2   # and its data changed with it
    assert (run_dir("t", rid)/"params.yaml").read_text() == before and run_status(run_dir("t", rid)) == "done"
    from xstilts.grid import status_table
    st = status_table(params(models=["random-xs"], intermediates=["none"], seeds=[1, 2], train={**SMALL["train"], "lr": 0.5}))
    assert st[["seed", "status", "reason"]].values.tolist() == [[1, "stale", "train.lr: 0.0005 -> 0.5"], [2, "pending", ""]]
    assert status_table(p).status.tolist() == ["done"]
    assert not (Path(os.environ["XSTILTS_REPORTS"])/"t"/"summary.ipynb").exists()   # refused before rendering anything
    from xstilts.cli import main
    assert main(["status", str(f), "--set", "train.lr=0.5"]) == 0
    assert "stale: 1 finished run was made with other params (train.lr: 0.0005 -> 0.5); `xstilts run` and `report` refuse" in capsys.readouterr().out

KILLABLE = """
import sys
from xstilts.core import parse_params, RunId
from xstilts.pipeline import run_one
p = parse_params({"study": "t", "source": "embedded", "models": ["tiny-xs"], "targets": ["xnli"], "intermediates": ["mnli"], "seeds": [1],
    "world": {"n_train": 400, "n_dev": 30, "n_test": 30, "corpus_sentences": 400}, "pretrain": {"steps": 5, "vocab_size": 500, "batch_size": 8},
    "intermediate_train": {"epochs": 2, "batch_size": 8, "checkpoint_every": 5}, "train": {"epochs": 2, "batch_size": 8, "checkpoint_every": 5}})
print(run_one(p, RunId("tiny-xs", "mnli", "xnli", 1), raise_errors=True))
"""

def _wait_for(paths, proc, timeout=300):
    import time
    t = time.time()
    while time.time() - t < timeout and proc.poll() is None:
        if any(p.exists() for p in paths()): return True
        time.sleep(0.05)
    return False

def test_sigkill_mid_training_resumes_to_identical_results(xs_env, tmp_path):
    import signal, subprocess, sys
    from conftest import ROOT
    env = dict(xs_env)
    rid = RunId("tiny-xs", "mnli", "xnli", 1)
    ref_env = {**env, "XSTILTS_RUNS": str(tmp_path/"ref-runs"), "XSTILTS_CACHE": str(tmp_path/"ref-cache")}
    r = subprocess.run([sys.executable, "-c", KILLABLE], env=ref_env, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.stdout.strip().endswith("done"), r.stderr[-2000:]
    runs, cache = Path(env["XSTILTS_RUNS"]), Path(env["XSTILTS_CACHE"])
    states = {"phase 1": lambda: list((cache/"phase1").glob("*.state/train_state.pt")) if (cache/"phase1").exists() else [],
              "phase 2": lambda: list(runs.glob("t/*/.train-state/train_state.pt"))}
    for phase, found in states.items():  # kill once in phase 1, once in phase 2
        proc = subprocess.Popen([sys.executable, "-c", KILLABLE], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert _wait_for(found, proc), f"no {phase} checkpoint appeared"
        proc.send_signal(signal.SIGKILL); proc.wait()
    r = subprocess.run([sys.executable, "-c", KILLABLE], env=env, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.stdout.strip().endswith("done"), r.stderr[-2000:]
    d, d_ref = runs/"t"/str(rid), tmp_path/"ref-runs"/"t"/str(rid)
    m, m_ref = json.loads((d/"metrics.json").read_text()), json.loads((d_ref/"metrics.json").read_text())
    assert m["phase2"].get("resumed_at"), "phase 2 was resumed from its checkpoint"
    assert m["phase2"]["losses"] == m_ref["phase2"]["losses"] and m["phase1"]["losses"] == m_ref["phase1"]["losses"]
    pd.testing.assert_frame_equal(pd.read_parquet(d/"predictions.parquet"), pd.read_parquet(d_ref/"predictions.parquet"))
    assert not (d/".train-state"/"train_state.pt").exists() and not (d/"LOCK").exists()

def test_qa_head_on_an_encoder_saved_after_nli(tmp_path, local_encoder):
    "A phase-1 encoder saved from a 3-way NLI model still gets a 2-output (start, end) QA head."
    from transformers import AutoConfig
    from xstilts.models import load_with_head
    nli = load_with_head(str(local_encoder), "classification", 3)
    assert nli.config.num_labels == 3
    nli.save_pretrained(tmp_path/"after-nli")
    qa = load_with_head(str(tmp_path/"after-nli"), "span")
    assert qa.qa_outputs.out_features == 2 and AutoConfig.from_pretrained(tmp_path/"after-nli").num_labels == 3


def test_pretraining_dropout_applies_to_pretraining_only(xs_env, monkeypatch):
    "`pretrain.dropout` is the dropout the MLM steps run with; the cached encoder keeps XLM-R's 0.1 for fine-tuning, and the setting keys the cache."
    import xstilts.models as M
    seen = []
    real = M.pretrain_mlm
    def spy(model, tok, corpus, pp, progress=False):
        seen.append(sorted({m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)}) + [model.config.attention_probs_dropout_prob])
        return real(model, tok, corpus, pp, progress)
    monkeypatch.setattr(M, "pretrain_mlm", spy)
    base = dict(study="t", source="embedded", models=["tiny-xs"], targets=["xnli"], world=dict(n_train=50, n_dev=20, n_test=20, corpus_sentences=200))
    pre = dict(vocab_size=300, steps=2, batch_size=4, max_length=16, batches="mixed", warmup=0.1)
    p0 = parse_params({**base, "pretrain": {**pre, "dropout": 0.0}}, "t")
    p1 = parse_params({**base, "pretrain": pre}, "t")
    d0, d1 = Path(M.encoder_path("tiny-xs", p0)), Path(M.encoder_path("tiny-xs", p1))
    assert d0 != d1 and seen == [[0.0, 0.0], [0.1, 0.1]]
    for d in (d0, d1):
        cfg = json.loads((d/"config.json").read_text())
        assert cfg["hidden_dropout_prob"] == cfg["attention_probs_dropout_prob"] == 0.1
    k0, k1 = (json.loads((d/"pretraining.json").read_text())["key"]["pretrain"] for d in (d0, d1))
    assert k0["dropout"] == 0.0 and "dropout" not in k1 and k0["batches"] == k1["batches"] == "mixed"

def test_perturbation_on_a_subset_is_compared_with_the_same_examples_clean(xs_env):
    p = params(models=["random-xs"], intermediates=["none"], targets=["udpos"],
               perturbations=[{"name": "typo-keyboard", "strengths": [0.5], "max_examples": 15}])
    rid = RunId("random-xs", "none", "udpos", 1)
    assert run_one(p, rid, raise_errors=True) == "done"
    d = run_dir("t", rid)
    preds = pd.read_parquet(d/"predictions.parquet")
    from xstilts.metrics import get_metric
    for s in json.loads((d/"metrics.json").read_text())["scores"]:
        if s["perturbation"] == "clean": assert s["n"] == 40; continue
        assert 0 < s["n"] <= 15, s   # the first 15 examples of 40, less any that cannot be perturbed
        x = preds[preds.language == s["language"]]
        ids = x[x.perturbation == s["perturbation"]].example_id
        clean = x[(x.perturbation == "clean") & x.example_id.isin(ids)]
        assert len(clean) == s["n"] and set(clean.example_id) <= set(x[x.perturbation == "clean"].example_id.iloc[:15])
        gold, pred = ([json.loads(v) for v in clean[c]] for c in ("gold", "prediction"))
        assert s["metric"] == "f1-seqeval-0.0.12" and s["alt_metric"] == "f1-seqeval"   # UD-POS: 0.0.12's chunks, 1.2.2's beside
        for m, key in ((s["metric"], "clean_value"), (s["alt_metric"], "alt_clean_value")):
            assert s[key] == pytest.approx(get_metric(m)(gold, pred)[0])

def test_a_run_gives_the_same_numbers_whatever_the_runners_threads(xs_env, monkeypatch):
    """A runner with 2 CPU threads (`--workers 1` on 2 cores) and one with 1 (a pool worker) pretrain the same tiny
    encoder, train the same phase-1 encoder and score the same: tiny encoders compute on one thread."""
    import torch, hashlib
    import xstilts.models as M
    from transformers import XLMRobertaForMaskedLM
    from xstilts.pipeline import phase1_dir
    p = params(models=["tiny-xs"], pretrain={"steps": 40, "vocab_size": 500, "batch_size": 32})
    pp = M.pretrain_params(M.parse_model("tiny-xs"), p)
    corpus = M.study_corpus(p); tok = M.study_tokenizer(p, corpus)
    before = torch.get_num_threads()
    def loop(threads):   # the pretraining loop itself, unpinned: does this machine's arithmetic depend on the thread count?
        torch.set_num_threads(threads); torch.manual_seed(0)
        try: return M.pretrain_mlm(XLMRobertaForMaskedLM(M.tiny_config("xs", len(tok))), tok, corpus, pp)
        finally: torch.set_num_threads(before)
    if loop(1) == loop(2): pytest.skip("this machine's kernels sum the same way with 1 and 2 threads: nothing to pin")
    digest = lambda f: hashlib.sha256(Path(f).read_bytes()).hexdigest()
    got, rid = [], RunId("tiny-xs", "mnli", "xnli", 1)
    base = {k: os.environ[f"XSTILTS_{k}"] for k in ("CACHE", "RUNS")}
    for threads in (2, 1):
        for k, v in base.items(): monkeypatch.setenv(f"XSTILTS_{k}", f"{v}-threads{threads}")   # each runner its own caches and records
        torch.set_num_threads(threads)
        try:
            assert run_one(p, rid, raise_errors=True) == "done"
            assert torch.get_num_threads() == threads   # the runner's setting is given back
        finally: torch.set_num_threads(before)
        m = json.loads((run_dir("t", rid)/"metrics.json").read_text())
        got.append((digest(Path(M.encoder_path("tiny-xs", p))/"model.safetensors"), digest(phase1_dir(p, "tiny-xs", "mnli", 1)/"model.safetensors"),
                    [(s["language"], s["value"]) for s in m["scores"]], pd.read_parquet(run_dir("t", rid)/"predictions.parquet").prediction.tolist()))
    assert got[0] == got[1]
