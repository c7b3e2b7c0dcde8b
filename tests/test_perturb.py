"Robustness perturbations: determinism, label preservation on every format, every script of the real data, the attack, the measures."
import os, random
from pathlib import Path
import numpy as np, pandas as pd, pytest
from xstilts.core import XStiltsError, parse_params, WorldParams
from xstilts import perturb as P
from xstilts.world import world_languages

DATA = os.environ.get("XSTILTS_DATA")
real = pytest.mark.skipif(not DATA or not os.path.isdir(DATA), reason="XSTILTS_DATA not set: real-data tests need ../shared/data")
PLAIN = [n for n, p in P.PERTURBATIONS.items() if n != "codeswitch-adv"]
WORLD = dict(n_train=60, n_dev=30, n_test=30, corpus_sentences=100)
TARGETS = {"xnli": "classification", "pawsx": "classification", "udpos": "tagging", "panx": "tagging", "xquad": "span",
           "mlqa": "span", "tydiqa": "span", "xcopa": "multiple-choice", "tatoeba": "retrieval"}

def world_examples(task, lang, split="test"):
    from xstilts.data import load_examples
    r = load_examples(task, split, lang, source="embedded", world=WorldParams(**WORLD))
    return [r] if isinstance(r, dict) else list(r)

@pytest.fixture(scope="module")
def wdict(): return P.world_dictionaries()

# ---- invariants every perturbed example must satisfy

def check_preserved(e, o, fmt, name, lang="en"):
    "Assert that perturbed `o` keeps the gold labels of `e` pointing at the right words/spans."
    if o is None:
        assert fmt == "span"; return
    assert o.get("id") == e.get("id")
    if fmt == "classification": assert o["label"] == e["label"]
    if fmt == "multiple-choice":
        assert o["label"] == e["label"] and len(o["choices"]) == len(e["choices"])
        if e.get("question") in ("cause", "effect"): assert o["question"] == e["question"]  # a COPA relation is not text
    if fmt == "tagging":
        assert len(o["tokens"]) == len(o["tags"]) and all(t and not any(c.isspace() for c in t) for t in o["tokens"])
        # every entity of the original survives intact, same tags, same order of entities
        ent = lambda x: [(tuple(x["tokens"][i] for i in range(s, t)), x["tags"][s][2:]) for s, t in _spans(x["tags"])]
        if P.get_perturbation(name).family == "word": assert ent(o) == ent(e)
        else: assert [t for _, t in ent(o)] == [t for _, t in ent(e)]
        if P.get_perturbation(name).family == "char" or name == "codeswitch": assert o["tags"] == e["tags"]
        if name == "word-drop": assert _subseq(o["tokens"], e["tokens"]) and _subseq(o["tags"], e["tags"])
    if fmt == "span":
        ctx = o["context"]
        for a, t, a0, t0 in zip(o["answers"]["answer_start"], o["answers"]["text"], e["answers"]["answer_start"], e["answers"]["text"]):
            assert ctx[a:a + len(t)] == t  # findable where the gold says
            if P.get_perturbation(name).family != "char" or name in ("whitespace",): assert t == t0  # answers are never moved, split or translated
            else: assert len(P.graphemes(t)) >= len(P.graphemes(t0)) - len(P.Words.of(t0, lang).parts)  # at most one typo per word
    if fmt == "retrieval":
        assert o["gold"] == e["gold"] and o["tgt"] == e["tgt"] and [s["id"] for s in o["src"]] == [s["id"] for s in e["src"]]

def _spans(tags):
    out, s = [], None
    for i, t in enumerate(list(tags) + ["O"]):
        if s is not None and not t.startswith("I-"): out.append((s, i)); s = None
        if t.startswith("B-") or (t.startswith("I-") and s is None): s = i
    return out

def _subseq(a, b):
    it = iter(b); return all(x in it for x in a)

# ---- determinism

@pytest.mark.parametrize("name", PLAIN)
def test_same_seed_same_bytes_other_seed_differs(name, wdict):
    ex = world_examples("xnli", "xb")
    if name == "diacritics": ex = [{"id": str(i), "text_a": "Καλημέρα, café naïve à côté de Ελλάδα", "label": "0"} for i in range(20)]  # the world has no diacritics
    d = wdict.bind("xb", [l for l in world_languages() if l != "xb"])
    run = lambda seed: "\n".join(repr(P.perturb_example(e, "classification", name, 0.5, "xb", seed, d)) for e in ex).encode()
    assert run(0) == run(0)
    assert run(0) != run(1)
    assert run(0) != "\n".join(repr(e) for e in ex).encode()  # it does something

def test_perturbation_does_not_depend_on_other_examples(wdict):
    ex = world_examples("udpos", "xf")
    d = wdict.bind("xf", ["en"])
    alone = P.perturb_example(ex[5], "tagging", "codeswitch", 0.5, "xf", 3, d)
    assert alone == [P.perturb_example(e, "tagging", "codeswitch", 0.5, "xf", 3, d) for e in ex][5]

# ---- label preservation, property-style over many random examples of every format

@pytest.mark.parametrize("task", TARGETS)
def test_labels_preserved_world(task, wdict):
    fmt = TARGETS[task]; rng = random.Random(task)
    for lang in world_languages()[1:] if task == "tatoeba" else world_languages():
        d = wdict.bind(lang, [l for l in world_languages() if l != lang])
        for e in world_examples(task, lang):
            for name in PLAIN:
                if fmt == "tagging" and not P.PERTURBATIONS[name].tagging: continue
                s = rng.choice([0.1, 0.3, 0.6, 1.0])
                check_preserved(e, P.perturb_example(e, fmt, name, s, lang, rng.randrange(100), d), fmt, name, lang)

def test_qa_answers_with_typos_are_reanchored():
    e = {"id": "q1", "context": "Anna bought seven red apples in Valdor. Then she left.", "question": "What did Anna buy?",
         "answers": {"text": ["seven red apples", "apples"], "answer_start": [12, 22]}}
    seen = set()
    for seed in range(40):
        o = P.perturb_example(e, "span", "typo-insert", 1.0, "en", seed)
        for a, t in zip(o["answers"]["answer_start"], o["answers"]["text"]):
            assert o["context"][a:a + len(t)] == t
        seen.add(o["answers"]["text"][0])
        # the second answer is the last word of the first, typos included
        assert o["answers"]["text"][0].endswith(o["answers"]["text"][1])
    assert len(seen) > 5 and "seven red apples" not in seen  # every word got a typo (strength 1)
    o = P.perturb_example(e, "span", "word-drop", 1.0, "en", 0)
    assert o["answers"]["text"] == e["answers"]["text"] and "seven red apples" in o["context"] and len(o["context"]) < len(e["context"])

def test_answer_cut_inside_a_word_keeps_that_word():
    e = {"id": "q", "context": "Zyry sees Davidu today.", "question": "?", "answers": {"text": ["David"], "answer_start": [10]}}
    for seed in range(30):
        for name in ("typo-keyboard", "typo-delete", "case", "word-swap", "whitespace"):
            o = P.perturb_example(e, "span", name, 1.0, "en", seed)
            assert o["answers"]["text"] == ["David"] and o["context"][o["answers"]["answer_start"][0]:][:6] == "Davidu"

def test_ner_entities_never_move_or_split():
    e = {"id": "n", "tokens": ["Lena", "Marsh", "met", "the", "Morrow", "Bank", "in", "Valdor", "."],
         "tags": ["B-PER", "I-PER", "O", "O", "B-ORG", "I-ORG", "O", "B-LOC", "O"]}
    for seed in range(50):
        for name in ("word-drop", "word-swap", "word-repeat"):
            o = P.perturb_example(e, "tagging", name, 1.0, "en", seed)
            check_preserved(e, o, "tagging", name)
            assert [w for w, t in zip(o["tokens"], o["tags"]) if t != "O"] == ["Lena", "Marsh", "Morrow", "Bank", "Valdor"]
    with pytest.raises(XStiltsError, match="not applicable to tagging"): P.perturb_example(e, "tagging", "whitespace", 0.5, "en")

# ---- hand-worked pieces

def test_keyboard_neighbours_by_hand():
    q = P.neighbours("qwerty")
    assert set(q["a"]) == set("qwsz") and set(q["g"]) == set("fhtyvb") and set(q["p"]) == set("ol")
    assert set(P.neighbours("jcuken")["ф"]) == set("ыйця")
    e = {"id": "x", "text_a": "sss", "label": "0"}
    o = P.perturb_example(e, "classification", "typo-keyboard", 1.0, "en", 0)
    assert len(o["text_a"]) == 3 and sum(a != b for a, b in zip(o["text_a"], "sss")) == 1 and set(o["text_a"]) - {"s"} <= set(q["s"])

def test_script_respected_without_a_layout():
    e = {"id": "x", "text_a": " ".join(["ქართული"] * 20), "label": "0"}  # Georgian: no layout known, letters of its own script
    o = P.perturb_example(e, "classification", "typo-keyboard", 1.0, "ka", 0)
    assert o["text_a"] != e["text_a"] and {P.char_script(c) for c in o["text_a"] if not c.isspace()} == {"GEORGIAN"}

def test_diacritics_and_graphemes():
    o = P.perturb_example({"id": "x", "text_a": "café Ελλάδα Йошкар", "label": "0"}, "classification", "diacritics", 1.0, "fr")
    assert o["text_a"] == "cafe Ελλαδα Иошкар"
    hi = "किताब पढ़ना"  # vowel signs never split from their consonant
    for seed in range(20):
        t = P.perturb_example({"id": str(seed), "text_a": hi, "label": "0"}, "classification", "typo-swap", 1.0, "hi", seed)["text_a"]
        assert sorted(P.graphemes(t)) == sorted(P.graphemes(hi))

def test_strength_is_the_share_of_words_touched():
    e = {"id": "x", "text_a": " ".join(f"word{i}x" for i in range(200)), "label": "0"}
    for s in (0.05, 0.25, 0.5):
        o = P.perturb_example(e, "classification", "typo-swap", s, "en", 1)
        changed = sum(a != b for a, b in zip(o["text_a"].split(), e["text_a"].split()))
        assert changed == round(200 * s)

def test_muse_reader(tmp_path):
    f = tmp_path/"en-xx.txt"; f.write_text("the\tder\nthe die\r\ndog Hund\n\n", encoding="utf-8")
    assert P.read_muse(f) == {"the": ["der", "die"], "dog": ["Hund"]}
    f.write_text("the der\nbroken\n", encoding="utf-8")
    with pytest.raises(XStiltsError, match=r"en-xx.txt:2: expected"): P.read_muse(f)
    d = P.world_dictionaries().table("xa", "en")
    g = tmp_path/"xa-en.txt"; P.write_muse(d, g)
    assert P.read_muse(g) == d

def test_world_dictionary_translates_the_same_concept():
    from xstilts.world import lexicon
    lex_a, lex_b = lexicon("xa"), lexicon("xb")
    t = P.world_dictionaries().table("xa", "xb")
    from xstilts.world import transliterate
    for cid in ("apple", "market", "teacher"):
        assert transliterate(lex_b[cid][0], "Cyrillic") in t[lex_a[cid][0].lower()]

def test_measures_by_hand():
    m = pd.DataFrame([dict(model="m", inter="none", target="xnli", seed=s, language=l, perturbation=pt, value=v, n=10)
                      for s, l, pt, v in [(1, "xa", "clean", .8), (2, "xa", "clean", .6), (1, "xa", "typo-swap@0.2", .5),
                                          (2, "xa", "typo-swap@0.2", .3), (1, "xg", "clean", .5), (1, "xg", "typo-swap@0.2", .5)]])
    t = P.robustness_table(m, source="embedded").set_index("language")
    assert t.loc["xa", "clean"] == pytest.approx(70) and t.loc["xa", "perturbed"] == pytest.approx(40)
    assert t.loc["xa", "drop"] == pytest.approx(30) and t.loc["xa", "rel_drop"] == pytest.approx(30 / 70)
    assert t.loc["xa", "resource"] == "high" and t.loc["xg", "resource"] == "low" and t.loc["xg", "drop"] == 0
    assert t.loc["xa", "name"] == "typo-swap" and t.loc["xa", "strength"] == 0.2
    assert P.resource_level("en") == "high" and P.resource_level("hi") == "mid" and P.resource_level("sw") == "low" and P.resource_level("qu") == "unseen"
    preds = pd.DataFrame([dict(model="m", inter="none", target="t", seed=1, language="xa", perturbation=pt, example_id=i, score=s)
                          for pt, i, s in [("clean", "a", 1.), ("clean", "b", 1.), ("x@0.1", "a", 0.), ("x@0.1", "b", 1.)]])
    assert P.drop_scores(preds).set_index("example_id").score.to_dict() == {"a": -1.0, "b": 0.0}
    # a perturbed row that carries the clean score of its own examples (a subset) is compared with that, not the full clean score
    m2 = pd.concat([m, pd.DataFrame([dict(model="m", inter="none", target="xnli", seed=1, language="xb", perturbation=pt, value=v, n=n, clean_value=c)
                                     for pt, v, n, c in [("clean", .9, 300, None), ("typo-swap@0.2", .5, 150, .6)]])], ignore_index=True)
    t2 = P.robustness_table(m2, source="embedded").set_index("language")
    assert t2.loc["xb", "clean"] == pytest.approx(60) and t2.loc["xb", "drop"] == pytest.approx(10) and t2.loc["xa", "clean"] == pytest.approx(70)

def test_params_validation():
    base = dict(study="t", targets=["xnli", "udpos"])
    with pytest.raises(Exception, match="Unknown perturbation 'typo-keybord'.*typo-keyboard"): parse_params({**base, "perturbations": [{"name": "typo-keybord"}]}, "t")
    with pytest.raises(Exception, match=r"in \(0, 1\]"): parse_params({**base, "perturbations": [{"name": "case", "strengths": [0, 0.5]}]}, "t")
    with pytest.raises(Exception, match="cannot keep udpos's tags aligned"): parse_params({**base, "perturbations": [{"name": "whitespace"}]}, "t")
    with pytest.raises(Exception, match="Unknown task 'xnlii'"): parse_params({**base, "perturbations": [{"name": "case", "targets": ["xnlii"]}]}, "t")
    p = parse_params({**base, "perturbations": [{"name": "case", "targets": ["panx"]}]}, "t")  # a target outside the study (e.g. --quick) is skipped
    from xstilts.pipeline import study_perturbations
    assert study_perturbations(p, "xnli") == []
    with pytest.raises(Exception, match="listed twice"): parse_params({**base, "perturbations": [{"name": "case"}, {"name": "case", "targets": ["xnli"]}]}, "t")
    p = parse_params({**base, "perturbations": [{"name": "whitespace", "targets": ["xnli"], "strengths": [0.1, 0.3]}]}, "t")
    from xstilts.pipeline import study_perturbations
    assert [l for _, _, l in study_perturbations(p, "xnli")] == ["whitespace@0.1", "whitespace@0.3"] and study_perturbations(p, "udpos") == []

# ---- the attack

def test_attack_beats_random_codeswitching_on_a_trained_model(xs_env):
    "A classifier fine-tuned here (the world's English sentiment, negation-free so it learns fast): adversarial code-switching lowers accuracy more than random, within budget."
    import xstilts.pipeline as PL
    from xstilts.models import encoder_path
    from xstilts.tasks import get_task
    p = parse_params(dict(study="t", source="embedded", models=["random-xs"], targets=["xnli"], world=dict(n_train=1500, n_dev=200, n_test=100, corpus_sentences=300),
                          pretrain=dict(vocab_size=600), train=dict(epochs=3, lr=2e-3, batch_size=32, max_length=48)), "t")
    real_load = PL._load
    plain = lambda ex: [e for e in ex if " not " not in e["text_a"]]
    PL._load = lambda p_, spec, lang="en": plain(real_load(p_, spec, lang)) if spec.startswith("sst2") else real_load(p_, spec, lang)
    try:
        model, tok, h = PL.fit(p, encoder_path("random-xs", p), "sst2", p.train, 1)
        ex = PL._load(p, "sst2:dev")[:80]
    finally: PL._load = real_load
    task = get_task("sst2"); labels = tuple(h["labels"])
    q = PL._attack_query(task, PL.FORMATS[task.format], model, tok, labels, 48, p, PL._metric(task, "en", p)[1])
    clean = q(ex)[1].mean()
    assert clean > 0.8, f"the classifier did not learn (dev accuracy {clean:.2f})"
    d = P.world_dictionaries().bind("en", [l for l in world_languages() if l != "en"])
    rand = np.mean([q([P.perturb_example(e, "classification", "codeswitch", 0.2, "en", s, d) for e in ex])[1].mean() for s in range(3)])
    adv, info = P.attack(ex, "classification", "en", 0.2, d, q, budget=30)
    adv_acc = q(adv)[1].mean()
    assert adv_acc < rand - 0.1, (clean, rand, adv_acc)
    assert (info.queries <= 30).all() and info.success.sum() == (info.attacked & (q(adv)[1] == 0)).sum()
    assert info.success.sum() == round((clean - adv_acc) * len(ex))  # every lost example is an attacked one
    ks = [P._k(0.2, len(P.Words.of(e["text_a"], "en").parts), P._rng(0, "codeswitch-adv", 0.2, "en", e["id"], "search")) for e in ex]
    assert (info.switched <= ks).all()  # no more switches than random code-switching makes at this strength
    adv2, _ = P.attack(ex, "classification", "en", 0.2, d, q, budget=30)
    assert adv2 == adv  # deterministic

# ---- every script in the real data

@real
def test_no_perturbation_crashes_on_any_real_script():
    from xstilts.data import load_examples
    from xstilts.tasks import get_task
    D = P.muse_dictionaries(Path(DATA)/"muse_dictionaries")
    scripts = set()
    for task in ("xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "xcopa", "tatoeba"):
        fmt = TARGETS[task]; T = get_task(task)
        for lang in T.languages:
            for split in ("test", "dev"):
                try: r = load_examples(task, split, lang, source="local", data_dir=Path(DATA))
                except XStiltsError: continue
                break
            else: continue
            ex = [r] if isinstance(r, dict) else list(r)[:12]
            if fmt == "retrieval": ex = [{**ex[0], "src": ex[0]["src"][:40]}]
            d = D.bind(lang, [l for l in D.languages() if l != lang])
            for e in ex:
                for name in PLAIN:
                    if fmt == "tagging" and not P.PERTURBATIONS[name].tagging: continue
                    check_preserved(e, P.perturb_example(e, fmt, name, 0.5, lang, 0, d), fmt, name, lang)
            text = ex[0]["src"][0]["text"] if fmt == "retrieval" else " ".join(ex[0].get("tokens") or [ex[0].get("text_a") or ex[0].get("context") or ""])
            scripts.add(P.dominant_script([text]))
    assert {"ARABIC", "DEVANAGARI", "CJK", "THAI", "CYRILLIC", "GREEK", "HEBREW", "LATIN"} <= scripts, scripts

@real
def test_real_codeswitching_uses_muse_and_english_pivot():
    D = P.muse_dictionaries(Path(DATA)/"muse_dictionaries")
    assert "hund" in D.table("en", "de")["dog"] and "dog" in D.table("de", "en")["hund"]
    piv = D.table("de", "fr")  # no de-fr file: through English
    assert "chien" in [x.lower() for x in piv["hund"]]
    e = {"id": "1", "text_a": "Der Hund läuft schnell nach Hause.", "text_b": "Ein Tier rennt.", "label": "entailment"}
    o = P.perturb_example(e, "classification", "codeswitch", 1.0, "de", 0, D.bind("de", ["en", "fr", "ru"]))
    assert o["text_a"] != e["text_a"] and o["label"] == e["label"]
    p = parse_params(dict(study="r", source="local", targets=["xnli"], perturbations=[{"name": "codeswitch", "strengths": [0.2]}]), "r")
    from xstilts.pipeline import study_dictionaries
    assert "de" in study_dictionaries(p).languages()
