"""End to end: every target's recorded scores equal an independent rescoring of its predictions.

The rescoring below does not import xstilts.metrics: accuracy by string equality, seqeval's own `f1_score` (1.2.2,
and for UD-POS 0.0.12, installed aside: see conftest.py), the official SQuAD v1.1 and MLQA evaluation scripts' normalisation re-implemented here, and BUCC's pair F1. It reads
only `predictions.parquet` (gold and prediction as written) and checks every score in `metrics.json`: clean,
perturbed, the clean score of the perturbed examples (`clean_value`), and for tagging the other seqeval flavour's
values beside them (`alt_value`, `alt_clean_value`). It does so on the embedded world's every
target, and on the real data in XSTILTS_DATA (real languages in their original files) for every target it holds."""
import collections, json, os, re, string, sys, unicodedata
import pandas as pd, pytest
from xstilts.core import parse_params, RunId
from xstilts.pipeline import run_one
from xstilts.results import run_dir

TARGETS = ["xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "xcopa", "tatoeba", "bucc"]
SMALL = {"study": "t", "source": "embedded", "seeds": [1], "intermediates": ["none"], "models": ["random-xs"], "targets": TARGETS,
         "world": {"n_train": 120, "n_dev": 40, "n_test": 40, "corpus_sentences": 400},
         "pretrain": {"steps": 5, "vocab_size": 500, "batch_size": 8}, "train": {"epochs": 1, "batch_size": 16},
         "perturbations": [{"name": "typo-keyboard", "strengths": [0.3], "max_examples": 25}]}

# --- the official SQuAD v1.1 evaluation (evaluate-v1.1.py), re-implemented
def _squad_norm(s):
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())

# --- the official MLQA evaluation (mlqa_evaluation_v1.py): Unicode punctuation, per-language articles
PUNCT = {chr(i) for i in range(sys.maxunicode) if unicodedata.category(chr(i)).startswith("P")} | set(string.punctuation)
ARTICLES = {"en": r"\b(a|an|the)\b", "es": r"\b(un|una|unos|unas|el|la|los|las)\b", "de": r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b",
            "vi": r"\b(của|là|cái|chiếc|những)\b", "ar": r"\sال^|ال", "hi": "", "zh": ""}

def _mixed_segmentation(text):   # Chinese: every CJK character (and punctuation mark) a token of its own
    out, tmp = [], ""
    for ch in text:
        if re.search(r"[\u4e00-\u9fa5]", ch) or ch in PUNCT:
            if tmp: out.extend(tmp.split()); tmp = ""
            out.append(ch)
        else: tmp += ch
    if tmp: out.extend(tmp.split())
    return out

def _mlqa_norm(s, lang):
    s = s.lower()
    s = "".join(ch for ch in s if ch not in PUNCT)
    if ARTICLES.get(lang): s = re.sub(ARTICLES[lang], " ", s)
    toks = _mixed_segmentation(s) if lang == "zh" else s.split()
    return " ".join(t for t in toks if t.strip())

def _f1(pred, gold, norm):
    p, g = norm(pred).split(), norm(gold).split()
    common = sum((collections.Counter(p) & collections.Counter(g)).values())
    if common == 0: return 0.0
    prec, rec = common / len(p), common / len(g)
    return 2 * prec * rec / (prec + rec)

def _qa(golds, preds, norm):
    f1 = [max(_f1(p, g, norm) for g in gs) for gs, p in zip(golds, preds)]
    return sum(f1) / len(f1)

def rescore(metric, lang, gold, pred, seqeval_0012=None):
    "The metric of one language from the recorded gold and prediction strings (`seqeval_0012`: conftest's seqeval 0.0.12)."
    if metric == "accuracy": return sum(g == p for g, p in zip(gold, pred)) / len(gold)
    if metric == "f1-seqeval":
        from seqeval.metrics import f1_score
        return f1_score([json.loads(g) for g in gold], [json.loads(p) for p in pred])
    if metric == "f1-seqeval-0.0.12":
        return seqeval_0012([{"gold": [json.loads(g) for g in gold], "pred": [json.loads(p) for p in pred]}])[0]["f1"]
    if metric == "squad": return _qa([json.loads(g) for g in gold], pred, _squad_norm)
    if metric == "mlqa": return _qa([json.loads(g) for g in gold], pred, lambda s: _mlqa_norm(s, lang))
    if metric == "bucc-f1":   # pairs: a prediction is right when it is one of the sentence's gold translations
        golds = [json.loads(g) for g in gold]
        tp = sum(p in g for g, p in zip(golds, pred) if p)
        n = sum(bool(p) for p in pred) + sum(len(g) for g in golds)
        return 2 * tp / n if n else 0.0
    raise AssertionError(f"no independent rescoring for metric {metric}")

def _run_all(tmp_path_factory, params:dict, targets:list):
    "One run of `random-xs` on each target, in a folder of its own: {target: (recorded scores, predictions)}."
    import os
    root = tmp_path_factory.mktemp("scoring")
    old = {k: os.environ.get(f"XSTILTS_{k}") for k in ("RUNS", "CACHE", "REPORTS")}
    for k in old: os.environ[f"XSTILTS_{k}"] = str(root/k.lower())
    try:
        p = parse_params(params)
        out = {}
        for t in targets:
            rid = RunId("random-xs", "none", t, 1)
            assert run_one(p, rid, raise_errors=True) == "done"
            d = run_dir(p.study, rid)
            out[t] = (json.loads((d/"metrics.json").read_text())["scores"], pd.read_parquet(d/"predictions.parquet"))
        yield out
    finally:
        for k, v in old.items():
            if v is None: os.environ.pop(f"XSTILTS_{k}", None)
            else: os.environ[f"XSTILTS_{k}"] = v

@pytest.fixture(scope="module")
def runs(tmp_path_factory): yield from _run_all(tmp_path_factory, SMALL, TARGETS)

# The same check on real data in its original files (XSTILTS_DATA): real languages, MLQA's own normalisation for ar, de, es,
# hi, vi, zh, the real tag sets. Training splits substituted as in params/real_mini.yaml (no official train here).
DATA = os.environ.get("XSTILTS_DATA")
REAL_TARGETS = ["xnli", "pawsx", "udpos", "panx", "mlqa", "xcopa", "tatoeba"]
REAL = {"study": "t-real", "source": "local", "seeds": [1], "intermediates": ["none"], "models": ["random-xs"], "targets": REAL_TARGETS,
        "languages": "available", "eval_split": "dev", "max_eval_examples": 40, "pretrain": {"vocab_size": 2000},
        "train": {"epochs": 1, "batch_size": 16, "max_train_examples": 64, "max_dev_examples": 32, "max_length": 128},
        "data": {"xnli": {"train": ["snli:dev"], "dev": "holdout"}, "pawsx": {"train": ["pawsx:dev"], "dev": "holdout"},
                 "mlqa": {"train": ["tydiqa:train"], "dev": "holdout"}, "xcopa": {"train": ["copa:train"], "dev": "copa:dev"},
                 "tatoeba": {"eval_split": "test"}},
        "perturbations": [{"name": "typo-keyboard", "strengths": [0.3], "max_examples": 20}]}

@pytest.fixture(scope="module")
def real_runs(tmp_path_factory):
    if not DATA or not os.path.isdir(DATA): pytest.skip("XSTILTS_DATA not set: the real-data scoring check needs ../shared/data")
    yield from _run_all(tmp_path_factory, REAL, REAL_TARGETS)

def check_rescoring(scores, preds, target, min_languages, max_perturbed, mlqa_metrics, seqeval_0012=None):
    "Every recorded score (clean, perturbed, the clean score of the perturbed examples, the other flavour's) equals the independent rescoring."
    assert len(scores) >= 2 * min_languages, "every zero-shot language, clean and perturbed"
    metrics = {s["metric"] for s in scores}
    assert metrics == mlqa_metrics if target == "mlqa" else len(metrics) == 1
    nonzero = 0
    for s in scores:
        x = preds[(preds.language == s["language"]) & (preds.perturbation == s["perturbation"])]
        assert len(x) == s["n"], s
        want = rescore(s["metric"], s["language"], x.gold.tolist(), x.prediction.tolist(), seqeval_0012)
        assert s["value"] == pytest.approx(want, abs=1e-6), (target, s)
        nonzero += want > 0
        if "clean_value" in s:   # the clean score of exactly the perturbed examples
            assert s["n"] <= max_perturbed
            c = preds[(preds.language == s["language"]) & (preds.perturbation == "clean") & preds.example_id.isin(x.example_id)]
            assert len(c) == len(x)
            assert s["clean_value"] == pytest.approx(rescore(s["metric"], s["language"], c.gold.tolist(), c.prediction.tolist(), seqeval_0012), abs=1e-6), (target, s)
        if "alt_metric" in s:   # the other seqeval flavour of the same predictions
            assert s["alt_value"] == pytest.approx(rescore(s["alt_metric"], s["language"], x.gold.tolist(), x.prediction.tolist(), seqeval_0012), abs=1e-6), (target, s)
            if "clean_value" in s:
                assert s["alt_clean_value"] == pytest.approx(rescore(s["alt_metric"], s["language"], c.gold.tolist(), c.prediction.tolist(), seqeval_0012), abs=1e-6), (target, s)
    assert nonzero or target == "bucc", f"{target}: every score is 0, the comparison checks nothing"
    assert (target in ("udpos", "panx")) == all("alt_metric" in s for s in scores) == any("alt_metric" in s for s in scores), target

def _seqeval_0012(request, target):
    "seqeval 0.0.12 for a tagging target (UD-POS is scored with it, PAN-X records it beside its score), else None."
    return request.getfixturevalue("seqeval_0012") if target in ("udpos", "panx") else None

@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.filterwarnings("ignore:.* seems not to be NE tag")   # XTREME scores UD-POS with seqeval on bare tags: seqeval warns per tag
def test_recorded_scores_equal_an_independent_rescoring(runs, target, request):
    check_rescoring(*runs[target], target, min_languages=8, max_perturbed=25,
                    mlqa_metrics={"mlqa", "squad"}, seqeval_0012=_seqeval_0012(request, target))   # MLQA's rules for its own languages (en), SQuAD's elsewhere

@pytest.mark.parametrize("target", REAL_TARGETS)
@pytest.mark.filterwarnings("ignore:.* seems not to be NE tag")
def test_real_data_scores_equal_an_independent_rescoring(real_runs, target, request):
    scores, preds = real_runs[target]
    check_rescoring(scores, preds, target, min_languages=7, max_perturbed=20, mlqa_metrics={"mlqa"},   # every MLQA language has its own rules
                    seqeval_0012=_seqeval_0012(request, target))
    if target == "mlqa": assert {s["language"] for s in scores} == {"ar", "de", "en", "es", "hi", "vi", "zh"}

@pytest.mark.parametrize("target", ["tatoeba", "bucc"])
def test_recorded_similarities_are_those_of_the_gold_pairs(runs, target):
    "Each retrieval example records its cosine to its gold translation (RQ4 compares them pair by pair): one per example with a translation, averaging to the recorded pair similarity."
    scores, preds = runs[target]
    for s in scores:
        x = preds[(preds.language == s["language"]) & (preds.perturbation == s["perturbation"])]
        has = ~x.gold.isin(["", "[]"])   # a sentence without a translation: an empty gold (Tatoeba) or none (BUCC)
        assert x.similarity[has].notna().all() and x.similarity[~has].isna().all(), (target, s)
        assert (x.similarity_margin.notna() == has).all(), (target, s)   # the margin (less the mean cosine to the other side) beside it
        assert x.similarity[has].between(-1 - 1e-6, 1 + 1e-6).all()
        assert s["pair_similarity"] == pytest.approx(x.similarity[has].mean(), abs=1e-5), (target, s)
