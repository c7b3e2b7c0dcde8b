"Every task format through phases 1-3 on the embedded world (retrieval without phase 2), scored by the registry's metric."
import json, yaml
import numpy as np, pandas as pd, pytest
from xstilts.core import parse_params, RunId
from xstilts.pipeline import run_one
from xstilts.results import run_dir
from xstilts.tasks import get_task
from xstilts.metrics import f1_from_counts

P = {"study": "fmt", "source": "embedded", "models": ["tiny-xs"], "seeds": [1],
     "world": {"n_train": 80, "n_dev": 30, "n_test": 30, "corpus_sentences": 600},
     "pretrain": {"steps": 5, "vocab_size": 800, "batch_size": 8},
     "intermediate_train": {"epochs": 1, "batch_size": 16, "max_length": 96}, "train": {"epochs": 1, "batch_size": 16, "max_length": 96}}

PAIRS = [("none", "udpos"), ("ccg", "panx"), ("squad", "xquad"), ("hellaswag", "xcopa"), ("sst2", "xnli"), ("none", "tatoeba"), ("mnli", "bucc")]

@pytest.mark.parametrize("inter,target", PAIRS, ids=[f"{i}->{t}" for i, t in PAIRS])
def test_format_runs_all_phases(inter, target, xs_env):
    p = parse_params({**P, "targets": [target], "intermediates": [inter]})
    rid = RunId("tiny-xs", inter, target, 1)
    assert run_one(p, rid, raise_errors=True) == "done"
    d = run_dir("fmt", rid)
    m = json.loads((d/"metrics.json").read_text()); preds = pd.read_parquet(d/"predictions.parquet")
    task = get_task(target)
    for s in m["scores"]:
        sub = preds[preds.language == s["language"]]
        assert len(sub) == s["n"] > 0 and 0 <= s["value"] <= 1
        if task.metric in ("f1-seqeval", "f1-seqeval-0.0.12", "bucc-f1"):  # corpus F1 from the stored per-example counts, recomputed here
            counts = np.array(list(zip(sub.score_tp, sub.score_n_pred, sub.score_n_gold)), dtype=[("tp", "i8"), ("n_pred", "i8"), ("n_gold", "i8")])
            assert s["value"] == pytest.approx(f1_from_counts(counts))
            assert sub.score.mean() == pytest.approx(s["value"]), "the linearised per-example score averages to the F1"
        else:
            assert sub.score.mean() == pytest.approx(s["value"])
    if task.format == "retrieval":
        assert "layer" in m["phase2"] and all(s["language"] != "en" for s in m["scores"])
    else:
        assert m["phase2"]["data"]["train"] == [f"{target}:train"] and m["phase2"]["selected_step"] >= 1
    if inter != "none": assert m["phase1"]["data"]["train"] == [f"{inter}:train"]

def test_multitask_intermediate_over_three_formats(xs_env):
    inter = "mnli+squad+hellaswag"  # pair classification, span extraction, multiple choice
    p = parse_params({**P, "targets": ["xnli"], "intermediates": [inter],
                      "intermediate_train": {**P["intermediate_train"], "sampling": "temperature", "temperature": 2.0},
                      "task_train": {"squad": {"max_length": 128}}})
    rid = RunId("tiny-xs", inter, "xnli", 1)
    assert run_one(p, rid, raise_errors=True) == "done"
    m = json.loads((run_dir("fmt", rid)/"metrics.json").read_text())
    h = m["phase1"]
    assert h["tasks"] == ["mnli", "squad", "hellaswag"] and h["sampling"] == "temperature"
    sizes = {t: -(-n // 16) for t, n in h["examples"].items()}  # batches per task
    z = sum(n ** 0.5 for n in sizes.values())
    assert h["probabilities"] == pytest.approx({t: n ** 0.5 / z for t, n in sizes.items()})
    assert set(h["selected_dev_per_task"]) == {"mnli", "squad", "hellaswag"}, "each head's dev score is reported"
    assert h["selected_dev"] == pytest.approx(np.mean(list(h["selected_dev_per_task"].values())))
    assert set(h["task_of_step"]) == {"mnli", "squad", "hellaswag"} and len(h["task_of_step"]) == h["steps"]
    assert h["data"]["train"] == ["mnli:train", "squad:train", "hellaswag:train"]
    prm = yaml.safe_load((run_dir("fmt", rid)/"params.yaml").read_text())
    assert prm["task_train"] == {"squad": {"max_length": 128}}

def test_target_dev_selection_is_labelled_oracle(xs_env):
    p = parse_params({**P, "targets": ["xnli"], "intermediates": ["none"], "train": {**P["train"], "selection": "target-dev"}})
    rid = RunId("tiny-xs", "none", "xnli", 1)
    assert run_one(p, rid, raise_errors=True) == "done"
    h = json.loads((run_dir("fmt", rid)/"metrics.json").read_text())["phase2"]
    assert h["selection"] == "target-dev (oracle)" and "oracle" in h["data"]["dev"] and "en" not in h["data"]["dev"].split(" in ")[1].split(", ")
