"Tests of xstilts.data: real-data counts (XSTILTS_DATA), malformed files, GLUE/MultiNLI layouts, hub mappings."
import os, sys, json, shutil, logging, time, types
from collections import Counter
from pathlib import Path
import pytest
from xstilts.core import XStiltsError, WorldParams
from xstilts import data as D
from xstilts.data import load_examples, read_file, parse_spec, hub_examples, NLI, BINARY

DATA = os.environ.get("XSTILTS_DATA")
real = pytest.mark.skipif(not DATA or not os.path.isdir(DATA), reason="XSTILTS_DATA not set: real-data tests need ../shared/data")

XNLI_LANGS = "ar bg de el en es fr hi ru sw th tr ur vi zh".split()
# label '0' / '1' counts of the PAWS-X dev files (counted with `cut -f3 | sort | uniq -c`)
PAWSX_COUNTS = {"de": (1169, 831), "en": (1137, 863), "es": (1153, 847), "fr": (1140, 860),
                "ja": (1146, 854), "ko": (1160, 840), "zh": (1147, 853)}

def err(f, *a, **k) -> str:
    with pytest.raises(XStiltsError) as e: f(*a, **k)
    msg = str(e.value)
    assert "\n" not in msg, "errors are one line"
    return msg

def check_schema(ex, pair=True):
    assert len({e["id"] for e in ex}) == len(ex), "ids are unique"
    for e in ex:
        assert set(e) == {"id", "text_a", "text_b", "label"} and isinstance(e["id"], str)
        assert isinstance(e["text_a"], str) and e["text_a"] == e["text_a"].strip()
        assert (isinstance(e["text_b"], str) and e["text_b"]) if pair else e["text_b"] is None

# ---------------------------------------------------------------- real data (counts from each SOURCE.md)

@real
@pytest.mark.parametrize("lang", XNLI_LANGS)
def test_xnli_dev(lang):
    ex = load_examples("xnli", "dev", lang)
    assert len(ex) == 2490
    assert Counter(e["label"] for e in ex) == {"entailment": 830, "neutral": 830, "contradiction": 830}
    check_schema(ex)
    assert ex[0]["id"] == f"{lang}-dev-1" and ex[-1]["id"] == f"{lang}-dev-2490"
    # independent parse: the raw bytes of line 1 (CRLF line ends) give the same fields
    raw = (Path(DATA)/f"xnli/dev-{lang}.tsv").read_bytes().split(b"\r\n")[0].decode().split("\t")
    assert (ex[0]["text_a"], ex[0]["text_b"], ex[0]["label"]) == (raw[0].strip(), raw[1].strip(), raw[2])

@real
def test_xnli_en_first_and_last():
    ex = load_examples("xnli", "dev", "en")
    assert not any("\r" in e["label"] or "\r" in e["text_b"] for e in ex)
    assert ex[-1]["text_b"].endswith("preferable.") and ex[-1]["label"] == "entailment"

@real
@pytest.mark.parametrize("lang", sorted(PAWSX_COUNTS))
def test_pawsx_dev(lang):
    ex = load_examples("pawsx", "dev", lang)
    assert len(ex) == 2000
    zero, one = PAWSX_COUNTS[lang]
    assert Counter(e["label"] for e in ex) == {"0": zero, "1": one}
    check_schema(ex)

@real
def test_pawsx_quotes_are_text():
    "Quotes are not csv quoting: a line with a quote keeps it and stays one example."
    lines = (Path(DATA)/"pawsx/dev-fr.tsv").read_text(encoding="utf-8").split("\n")
    n = next(i for i, l in enumerate(lines, 1) if '"' in l)
    ex = {e["id"]: e for e in load_examples("pawsx", "dev", "fr")}
    s1, s2, y = lines[n-1].rstrip("\r").split("\t")
    assert ex[f"fr-dev-{n}"] == {"id": f"fr-dev-{n}", "text_a": s1.strip(), "text_b": s2.strip(), "label": y}

@real
def test_sst2():
    tr, dev = load_examples("sst2", "train"), load_examples("sst2", "dev")
    assert len(tr) == 67349 and Counter(e["label"] for e in tr) == {"1": 37569, "0": 29780}
    assert len(dev) == 872 and Counter(e["label"] for e in dev) == {"1": 444, "0": 428}
    check_schema(tr, pair=False); check_schema(dev, pair=False)
    assert dev[0] == {"id": "en-dev-2", "text_a": "it 's a charming and often affecting journey .", "text_b": None, "label": "1"}
    assert tr[0]["text_a"] == "hide new secretions from the parental units" and tr[0]["label"] == "0"

@real
def test_snli_derived_dev(caplog):
    with caplog.at_level(logging.WARNING, logger="xstilts.data"):
        D._parse.cache_clear()
        ex = load_examples("snli", "dev")
    assert len(ex) == 9842, "10,000 minus the 158 pairs without gold label, which e-SNLI already dropped"
    assert Counter(e["label"] for e in ex) == {"entailment": 3329, "contradiction": 3278, "neutral": 3235}
    assert not caplog.records, "nothing to drop: the derived files have no '-' labels"
    check_schema(ex)
    assert ex[0] == {"id": "en-dev-1", "text_a": "Two women are embracing while holding to go packages .",
                     "text_b": ex[0]["text_b"], "label": "neutral"}

ANLI = {1: (1000, {"entailment": 334, "neutral": 333, "contradiction": 333}),
        2: (1000, {"entailment": 334, "neutral": 333, "contradiction": 333}),
        3: (1200, {"entailment": 402, "neutral": 402, "contradiction": 396})}

@real
@pytest.mark.parametrize("r", [1, 2, 3])
def test_anli_rounds(r):
    ex = load_examples("anli", f"dev_r{r}")
    n, counts = ANLI[r]
    assert len(ex) == n and Counter(e["label"] for e in ex) == counts
    check_schema(ex)
    first = json.loads((Path(DATA)/f"anli/R{r}/dev.jsonl").read_text().split("\n")[0])
    assert ex[0]["id"] == first["uid"] and ex[0]["text_a"] == first["context"].strip()

@real
def test_anli_dev_is_three_rounds():
    ex = load_examples("anli", "dev")
    assert len(ex) == 3200
    assert ex == load_examples("anli", "dev_r1") + load_examples("anli", "dev_r2") + load_examples("anli", "dev_r3")
    assert Counter(e["label"] for e in ex) == {"entailment": 1070, "neutral": 1068, "contradiction": 1062}
    check_schema(ex)

@real
def test_missing_real_splits_say_what_is_there():
    assert err(load_examples, "xnli", "dev", "xx") .endswith(
        "Languages present: ar, bg, de, el, en, es, fr, hi, ru, sw, th, tr, ur, vi, zh")
    assert "XSTILTS_DATA" in err(load_examples, "xnli", "dev", "xx")
    assert err(load_examples, "sst2", "test") == "The local source has no 'sst2:test'. For sst2 it has: train, dev"
    m = err(load_examples, "mnli", "train")  # not in shared/data
    assert "MNLI/train.tsv: no such file, needed for mnli:train" in m and "XSTILTS_DATA" in m

@real
def test_cache_is_used_and_safe():
    D._parse.cache_clear()
    a = load_examples("sst2", "train"); misses = D._parse.cache_info().misses
    b = load_examples("sst2", "train")
    assert D._parse.cache_info().misses == misses and D._parse.cache_info().hits >= 1, "the second read hits the cache"
    a[0]["label"] = "corrupted"; a.clear()
    assert load_examples("sst2", "train") == b and b[0]["label"] == "0"

@real
def test_default_data_dir_is_env(monkeypatch):
    monkeypatch.delenv("XSTILTS_DATA")
    assert "XSTILTS_DATA is not set" in err(load_examples, "xnli", "dev")
    assert len(load_examples("xnli", "dev", data_dir=DATA)) == 2490

# ---------------------------------------------------------------- malformed copies of real files

@pytest.fixture
def broken(tmp_path):
    "A data folder of copies of real files, to break."
    if not DATA or not os.path.isdir(DATA): pytest.skip("XSTILTS_DATA not set: real-data tests need ../shared/data")
    for d in ("xnli", "sst2", "snli", "anli"): shutil.copytree(Path(DATA)/d, tmp_path/d)
    for p in tmp_path.rglob("*"):
        if p.is_file(): p.chmod(0o644)
    return tmp_path

def test_truncated_tsv(broken):
    p = broken/"xnli/dev-de.tsv"
    b = p.read_bytes(); lines = b.split(b"\r\n")
    cut = b"\r\n".join(lines[:16]) + b"\r\n" + lines[16].split(b"\t")[0][:10]  # line 17 cut in its first field
    p.write_bytes(cut)
    assert err(load_examples, "xnli", "dev", "de", data_dir=broken) == \
        f"{p}:17: expected 3 tab-separated fields (sentence1, sentence2, label), got 1"

def test_unknown_label(broken):
    p = broken/"xnli/dev-en.tsv"
    lines = p.read_bytes().decode("utf-8").split("\n")
    f = lines[4].split("\t"); assert f[2] in ("entailment\r", "neutral\r", "contradiction\r")
    lines[4] = "\t".join(f[:2] + ["entailed\r"])
    p.write_bytes("\n".join(lines).encode("utf-8"))
    assert err(load_examples, "xnli", "dev", "en", data_dir=broken) == \
        f"{p}:5: label 'entailed' is not one of entailment, neutral, contradiction"

def test_sst2_header_and_fields(broken):
    p = broken/"sst2/dev.tsv"
    lines = p.read_text().split("\n")
    p.write_text("\n".join([lines[0], lines[1], lines[2].replace("\t", " ")] + lines[3:]))
    assert err(load_examples, "sst2", "dev", data_dir=broken) == f"{p}:3: expected 2 tab-separated fields (sentence, label), got 1"
    p.write_text("\n".join(lines[1:]))
    assert err(load_examples, "sst2", "dev", data_dir=broken).startswith(
        f"{p}:1: expected a header with tab-separated columns sentence, label, got 'it 's a charming")

def test_snli_misaligned(broken):
    p = broken/"snli/labels.dev"
    p.write_text("\n".join(p.read_text().split("\n")[:9000]) + "\n")
    assert err(load_examples, "snli", "dev", data_dir=broken) == \
        f"{p}: 9000 lines, but s1.dev has 9842: the three e-SNLI files must be line-aligned"
    p.unlink()
    assert err(load_examples, "snli", "dev", data_dir=broken).startswith(f"{p}: no such file, needed for snli:dev")

def test_anli_truncated_and_bad_label(broken):
    p = broken/"anli/R2/dev.jsonl"
    b = p.read_bytes()
    p.write_bytes(b[:len(b)//2])  # cut mid-record
    n = b[:len(b)//2].count(b"\n") + 1
    m = err(load_examples, "anli", "dev", data_dir=broken)
    assert m.startswith(f"{p}:{n}: expected one JSON object per line, got invalid JSON")
    recs = [json.loads(l) for l in b.decode().split("\n") if l]
    recs[9]["label"] = "x"; del recs[3]["hypothesis"]
    p.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    assert err(load_examples, "anli", "dev_r2", data_dir=broken) == \
        f"{p}:4: expected fields uid, context, hypothesis, label; missing hypothesis"
    recs[3]["hypothesis"] = "h"
    p.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    assert err(load_examples, "anli", "dev_r2", data_dir=broken) == f"{p}:10: label 'x' is not one of e, n, c"

def test_edited_file_is_read_again(broken):
    assert len(load_examples("xnli", "dev", "de", data_dir=broken)) == 2490
    p = broken/"xnli/dev-de.tsv"
    p.write_bytes(b"\r\n".join(p.read_bytes().split(b"\r\n")[:100]) + b"\r\n")
    assert len(load_examples("xnli", "dev", "de", data_dir=broken)) == 100

# ---------------------------------------------------------------- GLUE MNLI / QQP and MultiNLI jsonl (written here)

MNLI_HEAD = "index promptID pairID genre sentence1_binary_parse sentence2_binary_parse sentence1_parse sentence2_parse sentence1 sentence2".split()

def mnli_row(i, s1, s2, labels, gold):
    return "\t".join([str(i), "31193", f"31193{gold[0]}", "government", "( ( x ) )", "( y )", "(ROOT x)", "(ROOT y)", s1, s2, *labels, gold])

def test_glue_mnli_tsv(tmp_path):
    (tmp_path/"MNLI").mkdir()
    (tmp_path/"MNLI/train.tsv").write_text("\t".join(MNLI_HEAD + ["label1", "gold_label"]) + "\n"
        + mnli_row(0, 'He said "no" .', "He refused .", ["entailment"], "entailment") + "\n"
        + mnli_row(1, "Cats purr .", "Cats bark .", ["contradiction"], "contradiction") + "\n")
    (tmp_path/"MNLI/dev_matched.tsv").write_text("\t".join(MNLI_HEAD + [f"label{k}" for k in range(1, 6)] + ["gold_label"]) + "\n"
        + mnli_row(0, "A", "B", ["neutral"] * 5, "neutral") + "\n")
    tr = load_examples("mnli", "train", data_dir=tmp_path)
    assert tr == [{"id": "31193e", "text_a": 'He said "no" .', "text_b": "He refused .", "label": "entailment"},
                  {"id": "31193c", "text_a": "Cats purr .", "text_b": "Cats bark .", "label": "contradiction"}]
    assert load_examples("mnli", "dev", data_dir=tmp_path) == [{"id": "31193n", "text_a": "A", "text_b": "B", "label": "neutral"}]
    p = tmp_path/"MNLI/dev_matched.tsv"
    p.write_text(p.read_text() + mnli_row(1, "A", "B", ["neutral"], "neutral") + "\n")  # a train-shaped row in dev
    assert err(load_examples, "mnli", "dev", data_dir=tmp_path) == f"{p}:3: expected 16 tab-separated fields (as in the header), got 12"

def test_multinli_jsonl_alternative(tmp_path, caplog):
    (tmp_path/"multinli_1.0").mkdir()
    recs = [dict(pairID="1e", promptID="1", genre="fiction", sentence1="S1", sentence2="H1", gold_label="entailment", annotator_labels=["entailment"]),
            dict(pairID="1n", promptID="1", genre="fiction", sentence1="S1", sentence2="H2", gold_label="-", annotator_labels=["neutral", "contradiction"]),
            dict(pairID="2c", promptID="2", genre="fiction", sentence1="S2", sentence2="H3", gold_label="contradiction", annotator_labels=["contradiction"])]
    (tmp_path/"multinli_1.0/multinli_1.0_dev_matched.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    with caplog.at_level(logging.WARNING, logger="xstilts.data"):
        ex = load_examples("mnli", "dev", data_dir=tmp_path)
    assert [(e["id"], e["label"]) for e in ex] == [("1e", "entailment"), ("2c", "contradiction")]
    assert any("dropped 1 examples without gold label" in r.getMessage() for r in caplog.records)
    m = err(load_examples, "mnli", "train", data_dir=tmp_path)
    assert m.startswith(f"{tmp_path/'MNLI/train.tsv'}: no such file"), "the error names the primary (GLUE) layout"

def test_glue_qqp_tsv(tmp_path):
    (tmp_path/"QQP").mkdir()
    head = "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"
    (tmp_path/"QQP/dev.tsv").write_text(head + '201359\t303345\t303346\tWhy are "African-Americans" so beautiful?\tWhy are hispanics so beautiful?\t0\n'
                                        "263843\t69383\t380476\tI want to pursue PhD in Computer Science\tHow can I pursue a PhD?\t1\n")
    assert load_examples("qqp", "dev", data_dir=tmp_path) == [
        {"id": "201359", "text_a": 'Why are "African-Americans" so beautiful?', "text_b": "Why are hispanics so beautiful?", "label": "0"},
        {"id": "263843", "text_a": "I want to pursue PhD in Computer Science", "text_b": "How can I pursue a PhD?", "label": "1"}]
    (tmp_path/"QQP/train.tsv").write_text(head + "1\t2\t3\tq1\tq2\t2\n")
    assert err(load_examples, "qqp", "train", data_dir=tmp_path) == f"{tmp_path/'QQP/train.tsv'}:2: label '2' is not one of 0, 1"
    (tmp_path/"QQP/train.tsv").write_text(head + "1\t2\t3\tq1\tq2\t1\n1\t4\t5\tq3\tq4\t0\n")
    assert err(load_examples, "qqp", "train", data_dir=tmp_path) == f"{tmp_path/'QQP/train.tsv'}: duplicate id '1' (ids from column id)"

def test_layout_tables_are_consistent():
    assert all(r in D.READERS for _, r in [*D.LOCAL_LAYOUT.values(), *D.LOCAL_ALTERNATIVES.values()])
    assert set(D.LOCAL_ALTERNATIVES) <= set(D.LOCAL_LAYOUT)
    assert D.LOCAL_LAYOUT[("anli", "dev")][0] == ("anli/R1/dev.jsonl", "anli/R2/dev.jsonl", "anli/R3/dev.jsonl")
    assert {t for t, _ in D.LOCAL_LAYOUT} == set(D.HUB_MAP) == {"xnli", "pawsx", "paws", "sst2", "snli", "anli", "anli-rounds", "mnli", "qqp"}
    assert D.LOCAL_LAYOUT[("anli", "dev")] == D.LOCAL_LAYOUT[("anli-rounds", "dev")] and D.HUB_MAP["anli"] == D.HUB_MAP["anli-rounds"]

def test_parse_spec_and_sources():
    assert parse_spec("snli:dev") == ("snli", "dev")
    for bad in ["snli", "snli:", ":dev", "a:b:c", ""]:
        assert err(parse_spec, bad).startswith(f"Not a data spec: '{bad}'")
    assert "Did you mean 'hub'" in err(load_examples, "xnli", "dev", source="hubb")

# ---------------------------------------------------------------- registry consistency (when xstilts.tasks has landed)

def _registry():
    try: from xstilts.tasks import get_task
    except ModuleNotFoundError: pytest.skip("xstilts.tasks not built yet")
    return get_task

@pytest.mark.parametrize("task", sorted(D.HUB_MAP))
def test_registry_agrees(task):
    get_task = _registry()
    t = get_task(task)
    assert set(D.HUB_MAP[task].names) <= set(t.labels) and set(t.labels) == set(D.FALLBACK_LABELS[task])
    # every registry split of the task is either in the local layout or on the hub map (GLUE tests are hidden)
    local = {s for k, s in D.LOCAL_LAYOUT if k == task}
    assert set(t.splits) - {"test"} <= local | set(D.HUB_MAP[task].splits), t.splits
    assert set(D.HUB_MAP[task].splits) - {"dev_mismatched"} <= set(t.splits)

def test_registry_union_is_anli_plus():
    _registry()
    assert D.train_union("anli") == ("snli", "mnli", "anli-rounds") and D.train_union("anli-rounds") == ()

def test_anli_plus_train_union(tmp_path):
    "ANLI+ train = SNLI + MNLI + ANLI R1-R3 train, each id prefixed by its task; its dev stays ANLI's own."
    _registry()
    (tmp_path/"snli_1.0").mkdir(); (tmp_path/"MNLI").mkdir()
    (tmp_path/"snli_1.0/snli_1.0_train.jsonl").write_text(json.dumps(dict(pairID="p1", sentence1="S", sentence2="T", gold_label="neutral")) + "\n")
    (tmp_path/"MNLI/train.tsv").write_text("\t".join(MNLI_HEAD + ["label1", "gold_label"]) + "\n" + mnli_row(0, "A", "B", ["entailment"], "entailment") + "\n")
    for r in (1, 2, 3):
        (tmp_path/f"anli/R{r}").mkdir(parents=True)
        (tmp_path/f"anli/R{r}/train.jsonl").write_text(json.dumps(dict(uid=f"u{r}", context="C", hypothesis="H", label="c")) + "\n")
        (tmp_path/f"anli/R{r}/dev.jsonl").write_text(json.dumps(dict(uid=f"d{r}", context="C", hypothesis="H", label="e")) + "\n")
    ex = load_examples("anli", "train", data_dir=tmp_path)
    assert [(e["id"], e["label"]) for e in ex] == [("snli/p1", "neutral"), ("mnli/31193e", "entailment"),
        ("anli-rounds/u1", "contradiction"), ("anli-rounds/u2", "contradiction"), ("anli-rounds/u3", "contradiction")]
    assert [e["id"] for e in load_examples("anli-rounds", "train", data_dir=tmp_path)] == ["u1", "u2", "u3"]
    assert [e["id"] for e in load_examples("anli", "dev", data_dir=tmp_path)] == ["d1", "d2", "d3"]
    (tmp_path/"MNLI/train.tsv").unlink()
    assert err(load_examples, "anli", "train", data_dir=tmp_path).startswith(f"{tmp_path/'MNLI/train.tsv'}: no such file, needed for mnli:train")

def test_paws_tsv(tmp_path):
    (tmp_path/"paws/final").mkdir(parents=True)
    (tmp_path/"paws/final/dev.tsv").write_text("id\tsentence1\tsentence2\tlabel\n1\tA b .\tB a .\t0\n2\tC\tC .\t1\n")
    assert load_examples("paws", "dev", data_dir=tmp_path) == [{"id": "1", "text_a": "A b .", "text_b": "B a .", "label": "0"},
                                                              {"id": "2", "text_a": "C", "text_b": "C .", "label": "1"}]

# ---------------------------------------------------------------- hub mappings on synthetic data in the hub schemas

datasets = pytest.importorskip("datasets")

def ds(**cols): return datasets.Dataset.from_dict(cols)

def test_hub_xnli():
    x = datasets.Dataset.from_dict({"premise": ["Ein Mann .", "Eine Frau ."], "hypothesis": ["Jemand .", "Niemand ."], "label": [1, 2]},
        features=datasets.Features(premise=datasets.Value("string"), hypothesis=datasets.Value("string"),
                                   label=datasets.ClassLabel(names=["entailment", "neutral", "contradiction"])))
    assert hub_examples("xnli", x, NLI, "de-test") == [
        {"id": "de-test-0", "text_a": "Ein Mann .", "text_b": "Jemand .", "label": "neutral"},
        {"id": "de-test-1", "text_a": "Eine Frau .", "text_b": "Niemand .", "label": "contradiction"}]
    # our integer order is the hub's ClassLabel order
    assert tuple(x.features["label"].names) == D.HUB_MAP["xnli"].names

def test_hub_glue_sst2_qqp_mnli():
    assert hub_examples("sst2", ds(sentence=["hide new secretions ", "bleak"], label=[0, 1], idx=[0, 1]), BINARY) == [
        {"id": "0", "text_a": "hide new secretions", "text_b": None, "label": "0"},
        {"id": "1", "text_a": "bleak", "text_b": None, "label": "1"}]
    assert hub_examples("qqp", ds(question1=["Why?"], question2=["How?"], label=[1], idx=[7]), BINARY) == [
        {"id": "7", "text_a": "Why?", "text_b": "How?", "label": "1"}]
    # GLUE test splits have label -1: every row is dropped, none invented
    assert hub_examples("mnli", ds(premise=["P", "Q"], hypothesis=["H", "I"], label=[0, -1], idx=[0, 1]), NLI) == [
        {"id": "0", "text_a": "P", "text_b": "H", "label": "entailment"}]

def test_hub_snli_drops_no_gold(caplog):
    with caplog.at_level(logging.WARNING, logger="xstilts.data"):
        ex = hub_examples("snli", ds(premise=["A", "B", "C", "D"], hypothesis=["a", "b", "c", "d"], label=[0, -1, 2, 1]), NLI, "en-dev")
    assert [(e["id"], e["label"]) for e in ex] == [("en-dev-0", "entailment"), ("en-dev-2", "contradiction"), ("en-dev-3", "neutral")]
    assert any("dropped 1 examples" in r.getMessage() for r in caplog.records)

def test_hub_anli_and_pawsx():
    a = ds(uid=["u1", "u2"], premise=["P1", "P2"], hypothesis=["H1", "H2"], label=[2, 0], reason=["", "r"])
    assert hub_examples("anli", a, NLI) == [{"id": "u1", "text_a": "P1", "text_b": "H1", "label": "contradiction"},
                                            {"id": "u2", "text_a": "P2", "text_b": "H2", "label": "entailment"}]
    p = ds(id=[1, 2], sentence1=["S1", "S2"], sentence2=["T1", "T2"], label=[1, 0])
    assert hub_examples("pawsx", p, BINARY) == [{"id": "1", "text_a": "S1", "text_b": "T1", "label": "1"},
                                                {"id": "2", "text_a": "S2", "text_b": "T2", "label": "0"}]

def test_hub_schema_errors():
    assert err(hub_examples, "xnli", ds(sentence1=["a"], sentence2=["b"], label=[0]), NLI) == \
        "Hub data for xnli lacks fields premise, hypothesis (has sentence1, sentence2, label)"
    assert "label 3 is not one of -1 (no gold), 0, 1, 2" in err(hub_examples, "xnli", ds(premise=["a"], hypothesis=["b"], label=[3]), NLI)
    assert "Did you mean 'qqp'" in err(hub_examples, "qqpp", ds(x=[1]), BINARY)

@pytest.fixture
def fake_registry(monkeypatch):
    "A stand-in task registry, so the hub plumbing is tested whatever xstilts.tasks holds."
    tasks = {"xnli": dict(hub="facebook/xnli", hub_config="{lang}", labels=NLI),
             "anli": dict(hub="facebook/anli", hub_config="", labels=NLI),
             "sst2": dict(hub="nyu-mll/glue", hub_config="sst2", labels=BINARY)}
    mod = types.ModuleType("xstilts.tasks")
    mod.get_task = lambda name: types.SimpleNamespace(name=name, languages=("en", "de") if name == "xnli" else ("en",), **tasks[name])
    mod.hub_config_for = lambda t, lang: t.hub_config.format(lang=lang) if t.hub_config else None
    mod.TRAIN_UNIONS = {}
    monkeypatch.setitem(sys.modules, "xstilts.tasks", mod)
    calls = []
    def hub(name, config, split):
        calls.append((name, config, split))
        if name == "facebook/anli":
            return ds(uid=[f"{split}-a"], premise=["P"], hypothesis=["H"], label=[1], reason=[""])
        if name == "facebook/xnli": return ds(premise=["P"], hypothesis=["H"], label=[0])
        return ds(sentence=["s"], label=[1], idx=[0])
    monkeypatch.setattr(D, "hub_dataset", hub)
    return calls

def test_hub_source_plumbing(fake_registry):
    assert load_examples("xnli", "dev", "de", source="hub") == [{"id": "de-dev-0", "text_a": "P", "text_b": "H", "label": "entailment"}]
    assert fake_registry[-1] == ("facebook/xnli", "de", "validation")
    ex = load_examples("anli", "dev", source="hub")
    assert [e["id"] for e in ex] == ["dev_r1-a", "dev_r2-a", "dev_r3-a"]
    assert fake_registry[-3:] == [("facebook/anli", None, "dev_r1"), ("facebook/anli", None, "dev_r2"), ("facebook/anli", None, "dev_r3")]
    assert load_examples("sst2", "dev", source="hub")[0]["text_a"] == "s" and fake_registry[-1] == ("nyu-mll/glue", "sst2", "validation")
    assert err(load_examples, "sst2", "dev", "de", source="hub") == "Task 'sst2' has no language 'de' on the hub (nyu-mll/glue). Valid: en"
    assert err(load_examples, "xnli", "dev_r1", source="hub") == "The hub source has no 'xnli:dev_r1'. For xnli it has: dev, test"

def test_hub_offline_is_one_line(monkeypatch):
    def offline(*a, **k): raise ConnectionError("Couldn't reach 'facebook/xnli' on the Hub (LocalEntryNotFoundError)\nmore detail")
    monkeypatch.setattr(datasets, "load_dataset", offline)
    assert err(D.hub_dataset, "facebook/xnli", "de", "validation") == \
        "Could not load facebook/xnli (de, split validation) from the hub: ConnectionError: Couldn't reach 'facebook/xnli' on the Hub (LocalEntryNotFoundError)"

# ---------------------------------------------------------------- embedded source plumbing

def test_embedded_source(monkeypatch):
    got = []
    mod = types.ModuleType("xstilts.world")
    def load_world_examples(task, split, lang, params):
        got.append((task, split, lang, params))
        return [{"id": "w-1", "text_a": "a", "text_b": "b", "label": "neutral"}]
    mod.load_world_examples = load_world_examples
    monkeypatch.setitem(sys.modules, "xstilts.world", mod)
    w = WorldParams(seed=3)
    assert load_examples("xnli", "test", "xx", source="embedded", world=w) == [{"id": "w-1", "text_a": "a", "text_b": "b", "label": "neutral"}]
    assert got[-1] == ("xnli", "test", "xx", w)
    load_examples("xnli", "dev", source="embedded")
    assert got[-1][3] == WorldParams(), "default world params"
