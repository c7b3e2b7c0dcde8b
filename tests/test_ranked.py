"LAReQA and Mewsli-X end to end on hand-written local files: a dual encoder fine-tuned on English pairs, ranked retrieval, mAP@20."
import json, random
from pathlib import Path
import numpy as np, pandas as pd, pytest
from xstilts.core import parse_params, RunId
from xstilts.pipeline import run_one, study_texts
from xstilts.results import run_dir

WORDS = ["zorb", "plim", "quax", "derv", "mulo", "tesk", "vorn", "gabi", "lupe", "nart", "sipo", "rulk", "fane", "hobo", "kiva", "wemp",
         "yala", "cruz", "bodi", "jint"]
LANGS = {"en": ("What does the {w} do", "The {w} {v} every day."), "es": ("Qué hace el {w}", "El {w} {v} cada día."),
         "de": ("Was macht der {w}", "Der {w} {v} jeden Tag.")}
VERBS = ["sings", "runs", "sleeps", "waits", "reads"]

def _ap20(gold, ranked):   # average precision at 20, written out: precision at each relevant hit, over min(|gold|, 20)
    hits, s = 0, 0.0
    for i, c in enumerate(ranked[:20], 1):
        if c in gold: hits += 1; s += hits / i
    return s / min(len(gold), 20)

def _squad(path, n):
    r = random.Random(1); data = []
    for i in range(n):
        w, v = r.choice(WORDS) + str(i), r.choice(VERBS)
        ctx = f"Some filler comes first. The {w} {v} every day. Nothing else happens."
        data.append({"title": "t", "paragraphs": [{"context": ctx, "qas": [{"id": f"s{i}", "question": f"What does the {w} do?",
                     "answers": [{"text": v, "answer_start": ctx.index(v)}]}]}]})
    path.parent.mkdir(parents=True, exist_ok=True); path.write_text(json.dumps({"version": "1.1", "data": data}))

def _xquad_r(d, n=12):
    d.mkdir(parents=True)
    for lang, (q, a) in LANGS.items():
        pars = []
        for i in range(n):
            w, v = WORDS[i], VERBS[i % len(VERBS)]
            s1, s2 = f"Intro {i}.", a.format(w=w, v=v)
            ctx = f"{s1} {s2}"
            pars.append({"context": ctx, "sentence_breaks": [[0, len(s1)], [len(s1) + 1, len(ctx)]],
                         "qas": [{"id": f"q{i}", "question": q.format(w=w) + "?", "answers": [{"text": w, "answer_start": ctx.index(w)}]}]})
        (d/f"{lang}.json").write_text(json.dumps({"version": "1", "data": [{"title": "t", "paragraphs": pars}]}))

def _mewslix(d, n_train=120):
    d.mkdir(parents=True)
    ctx = lambda lang, text: {"document_id": "d", "document_url": "u", "document_title": "t", "language": lang, "text": text,
                              "sentence_spans": [{"start": 0, "end": len(text)}]}
    m = lambda i, q, s, e, t: {"example_id": i, "entity_id": q, "mention_span": {"start": s, "end": e, "text": t}}
    rows = []
    for i in range(n_train):
        w = f"{WORDS[i % len(WORDS)]}{i}"; text = f"Yesterday {w} grew."
        rows.append({"contextual_mention": {"context": ctx("en", text), "mention": m(f"p{i}", f"Q{i}", 10, 10 + len(w), w)},
                     "entity": {"entity_id": f"Q{i}", "title": w, "description": f"{w} is a town."}})
    (d/"wikipedia_pairs-train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    news = []
    for lang, tmpl in (("en", "Today {w} won."), ("es", "Hoy {w} ganó."), ("de", "Heute hat {w} gewonnen.")):
        for k, w in enumerate(WORDS[:8]):
            text = tmpl.format(w=w); s = text.index(w)
            news.append({"context": ctx(lang, text), "mentions": [m(f"{lang}{k}", f"E{k}", s, s + len(w), w)]})
    (d/"wikinews_mentions-test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in news))
    names = WORDS + [f"{w}{k}" for k, w in enumerate(WORDS * 2)]   # 60 candidates: 8 named in the news, 52 distractors
    (d/"candidate_set_entities.jsonl").write_text("".join(json.dumps({"entity_id": f"E{k}", "title": w, "description": f"{w} is a team.",
        "description_language": "en", "description_url": "u", "sentence_spans": []}) + "\n" for k, w in enumerate(names)))

@pytest.fixture
def ranked_data(tmp_path, monkeypatch):
    _squad(tmp_path/"data"/"squad/v1.1/train-v1.1.json", 160)
    _xquad_r(tmp_path/"data"/"lareqa"/"xquad-r")
    _mewslix(tmp_path/"data"/"mewslix")
    monkeypatch.setenv("XSTILTS_DATA", str(tmp_path/"data"))
    return tmp_path/"data"

def study(target, model):
    return parse_params({"study": "r", "source": "local", "models": [model], "intermediates": ["none"], "targets": [target], "seeds": [1],
                         "languages": ["en", "de", "es"], "eval_split": "test", "perturbations": [{"name": "typo-keyboard", "strengths": [0.3]}],
                         "train": {"lr": 1e-3, "epochs": 4, "batch_size": 16, "max_length": 48, "evals_per_epoch": 1}})

@pytest.mark.parametrize("target", ["lareqa", "mewslix"])
def test_dual_encoder_ranked_retrieval(target, ranked_data, xs_env, tmp_path):
    from xstilts.models import train_tokenizer, tiny_config
    from transformers import XLMRobertaModel
    texts = [l for f in ranked_data.rglob("*.json*") for l in f.read_text().split('"') if " " in l]
    tok = train_tokenizer(texts * 3, 300)
    import torch; torch.manual_seed(0)
    enc = tmp_path/"enc"; XLMRobertaModel(tiny_config("xs", len(tok), 64)).save_pretrained(enc); tok.save_pretrained(enc)
    p = study(target, str(enc))
    rid = RunId(str(enc), "none", target, 1)
    assert run_one(p, rid, raise_errors=True) == "done"
    d = run_dir("r", rid)
    m, preds = json.loads((d/"metrics.json").read_text()), pd.read_parquet(d/"predictions.parquet")
    h = m["phase2"]
    assert h["data"]["train"] == (["squad:train"] if target == "lareqa" else ["mewslix:train"]) and h["data"]["dev"] == "holdout"
    assert h["data"]["n_train"] + h["data"]["n_dev"] == (160 if target == "lareqa" else 120)
    assert sum(h["losses"][-5:]) < sum(h["losses"][:5]), h["losses"]   # in-batch negatives: the loss falls
    clean = [s for s in m["scores"] if s["perturbation"] == "clean"]
    assert [s["language"] for s in clean] == ["en", "de", "es"] and all(s["metric"] == "map@20" for s in clean)
    for s in m["scores"]:   # every recorded value is the mean of an independent AP@20 over the recorded rankings
        sub = preds[(preds.language == s["language"]) & (preds.perturbation == s["perturbation"])]
        ap = [_ap20(json.loads(g), json.loads(r)) for g, r in zip(sub.gold, sub.prediction)]
        assert len(ap) == s["n"] > 0 and s["value"] == pytest.approx(np.mean(ap), abs=1e-9) and np.allclose(sub.score, ap)
        assert all(len(json.loads(r)) == 20 for r in sub.prediction)
    es = preds[(preds.language == "es") & (preds.perturbation == "clean")]
    if target == "lareqa":   # a question is relevant to its answer sentence in every language of the pool
        assert all(sorted(g[:2] for g in json.loads(x)) == ["de", "en", "es"] for x in es.gold)
        assert es[es.example_id == "q3"].gold.iloc[0] == json.dumps(["de-3-1", "en-3-1", "es-3-1"])
    else:
        assert es.gold.tolist() == [json.dumps([f"E{k}"]) for k in range(8)]
    pool = [f"{l}-{i}-{k}" for l in LANGS for i in range(12) for k in range(2)] if target == "lareqa" else [f"E{k}" for k in range(60)]
    rng = random.Random(0)   # a random ranking of the same pool, the same relevant sets
    chance = np.mean([_ap20(json.loads(g), rng.sample(pool, 20)) for _ in range(50) for g in es.gold])
    assert chance < 0.15 and all(s["value"] > 2 * chance for s in clean), (chance, clean)   # the names match across languages
    assert any(s["perturbation"] == "typo-keyboard@0.3" for s in m["scores"])
    train_text = "every day" if target == "lareqa" else "is a town"   # vocabulary trimming keeps the training pairs' text too
    assert any(train_text in t for t in study_texts(p)["en"])
