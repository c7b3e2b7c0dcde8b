"Continued multilingual MLM as an intermediate task (`mlm`), alone and in a multi-task mix, on the world and on local text."
import json
from pathlib import Path
import pytest, torch
from xstilts.core import parse_params, RunId, XStiltsError
from xstilts.pipeline import run_one, phase1, mlm_data, mlm_languages, study_texts
from xstilts.results import run_dir
from xstilts.world import world_languages, world_corpus

SMALL = {"source": "embedded", "seeds": [1], "targets": ["udpos"], "intermediates": ["mnli", "mlm", "mnli+mlm"],
         "world": {"n_train": 120, "n_dev": 40, "n_test": 40, "corpus_sentences": 400},
         "pretrain": {"steps": 40, "vocab_size": 500, "batch_size": 16},
         "intermediate_train": {"epochs": 3, "batch_size": 16, "lr": 0.002}, "train": {"epochs": 1, "batch_size": 16}}

def params(**kw): return parse_params({"study": "t", **SMALL, **kw})

def test_mlm_reads_every_evaluated_language_and_holds_out_dev(xs_env):
    p = params()
    train, dev, prov = mlm_data(p, p.train_for("mlm", "intermediate"))
    assert mlm_languages(p) == ["en", *[l for l in world_languages() if l != "en"]] == prov["languages"]
    for l in mlm_languages(p):   # each language's corpus: its first 95% trains, the last 5% scores
        corpus = world_corpus(l, p.world)
        k = min(200, len(corpus) // 20)
        assert [e["text"] for e in train if e["language"] == l] == corpus[:len(corpus) - k]
        assert [e["text"] for e in dev if e["language"] == l] == corpus[len(corpus) - k:]
    assert prov["n_train"] == len(train) and prov["dev"] == "mlm:holdout" and not prov["substituted"]
    pc = params(task_train={"mlm": {"max_train_examples": 500}})
    capped = mlm_data(pc, pc.train_for("mlm", "intermediate"))[0]
    assert len(capped) == 500 and len({e["language"] for e in capped}) == len(mlm_languages(p))
    texts = study_texts(p)   # vocabulary trimming keeps every piece MLM reads
    assert all(set(world_corpus(l, p.world)[:5]) <= set(texts[l]) for l in mlm_languages(p))

def test_mlm_alone_and_in_a_multitask_mix(xs_env):
    p = params(models=["tiny-xs"])
    from xstilts.models import encoder_path
    from safetensors.torch import load_file
    base = load_file(Path(encoder_path("tiny-xs", p))/"model.safetensors")
    path, h = phase1(p, "tiny-xs", "mlm", 1)
    assert h["data"]["languages"] == mlm_languages(p) and h["steps"] >= 10
    assert h["mlm_head"] == "kept from pretraining"   # it continues the pretraining objective with the pretraining head
    first, last = sum(h["losses"][:10]) / 10, sum(h["losses"][-10:]) / 10
    assert last < first - 0.1, h["losses"]   # masked pieces are predicted better after training
    assert 0.05 < h["selected_dev"] < 1   # masked-piece accuracy on the held-out text, far above chance (1 / 500 pieces)
    after = load_file(Path(path)/"model.safetensors")
    assert after.keys() == base.keys() and (after["embeddings.word_embeddings.weight"] - base["embeddings.word_embeddings.weight"]).abs().max() > 1e-3
    # multi-task: one encoder, an NLI head and an MLM head whose output layer is the shared embeddings
    from xstilts.models import load_with_head
    from xstilts.train import tie_encoders
    ms = {"mnli": load_with_head(path, "pair-classification", 3), "mlm": load_with_head(path, "mlm")}
    assert ms["mlm"].mlm_head_source == "new"   # a phase-1 encoder keeps no MLM head
    shared = tie_encoders(ms)
    assert ms["mlm"].lm_head.decoder.weight is shared.embeddings.word_embeddings.weight is ms["mnli"].base_model.embeddings.word_embeddings.weight
    rid = RunId("tiny-xs", "mnli+mlm", "udpos", 1)
    assert run_one(p, rid, raise_errors=True) == "done"
    m = json.loads((run_dir("t", rid)/"metrics.json").read_text())
    assert set(m["phase1"]["tasks"]) == {"mnli", "mlm"} and set(m["phase1"]["task_of_step"]) == {"mnli", "mlm"}
    assert m["phase1"]["data"]["official_train"] == "mnli:train + mlm:train" and set(m["phase1"]["selected_dev_per_task"]) == {"mnli", "mlm"}
    assert {s["language"] for s in m["scores"]} == set(world_languages())
    import yaml   # its record fingerprints the world's data it read: the labelled tasks' examples, and the corpus MLM trains on
    from xstilts.models import corpus_key
    w = yaml.safe_load((run_dir("t", rid)/"params.yaml").read_text())["world"]
    assert set(w["data"]) == {"mnli", "udpos"} and w["corpus"] == corpus_key(p)["fingerprint"]

def test_mlm_on_local_text(xs_env, tmp_path, monkeypatch):
    monkeypatch.setenv("XSTILTS_DATA", str(tmp_path))
    d = tmp_path/"udpos"; d.mkdir()
    p = parse_params({"study": "t", "source": "local", "targets": ["xnli"], "intermediates": ["mlm"], "languages": ["de"], "seeds": [1]})
    (tmp_path/"mlm").mkdir()
    (tmp_path/"mlm"/"en.txt").write_text("".join(f"English line {i}.\n" for i in range(100)), encoding="utf-8")
    with pytest.raises(XStiltsError, match=r"mlm: no text for language 'de': expected .*/mlm/de.txt \(UTF-8, one sentence or paragraph per line"):
        mlm_data(p, p.train_for("mlm", "intermediate"))
    (tmp_path/"mlm"/"de.txt").write_text("".join(f"Deutsche Zeile {i}.\n\n" for i in range(60)), encoding="utf-8")
    train, dev, prov = mlm_data(p, p.train_for("mlm", "intermediate"))
    assert prov["languages"] == ["en", "de"] and len(dev) == 5 + 3 and len(train) == 95 + 57
    assert dev[-1] == {"id": "de-59", "text": "Deutsche Zeile 59.", "language": "de"}
