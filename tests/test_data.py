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
        "Languages present: ar, bg, de, el, en, es, fr, hi, ru, sw, th, tr, ur, vi, zh. Other layouts it knows: xnli/XNLI-1.0/xnli.dev.tsv")
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
    assert all(r in D.READERS for _, r in [*D.LOCAL_LAYOUT.values(), *(l for ls in D.LOCAL_ALTERNATIVES.values() for l in ls)])
    assert set(D.LOCAL_ALTERNATIVES) <= set(D.LOCAL_LAYOUT)
    assert D.LOCAL_LAYOUT[("anli", "dev")][0] == ("anli/R1/dev.jsonl", "anli/R2/dev.jsonl", "anli/R3/dev.jsonl")
    classification = {t for t, _ in D.LOCAL_LAYOUT if D.task_format(t).endswith("classification")}
    assert classification == set(D.HUB_MAP) == {"xnli", "pawsx", "paws", "sst2", "snli", "anli", "anli-rounds", "mnli", "qqp"}
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

def test_embedded_source(monkeypatch, xs_env):   # its own cache: the fake world's examples must never reach a real one
    monkeypatch.setattr(D, "_world_code", lambda: "fake-world")
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

# ================================================================ tagging, span, multiple-choice and retrieval formats

from xstilts.data import span_mismatches, UPOS, PANX
import bz2

# (sentences, syntactic words) per UD dev file, from udpos/SOURCE.md
UDPOS_DEV = {"eu": (1798, 24095), "zh": (500, 12665), "en": (2001, 25147), "fr": (1476, 35721), "de": (799, 12480),
             "ja": (507, 12287), "ko": (950, 11958), "mr": (46, 438), "ru": (579, 11709), "es": (1400, 37154),
             "ta": (80, 1263), "tr": (1100, 10542), "vi": (1123, 26162)}
# (sentences, tokens) per PAN-X dev file, from panx/SOURCE.md
PANX_DEV = {"af": (1000, 10894), "ar": (10000, 64291), "bg": (10000, 83582), "bn": (1000, 4361), "de": (10000, 97805),
            "el": (10000, 89878), "en": (10000, 80536), "et": (10000, 80803), "eu": (10000, 92741), "fa": (10000, 59953),
            "he": (10000, 85897), "hi": (1000, 5808), "id": (10000, 61913), "ja": (10000, 300844), "jv": (100, 585),
            "ka": (10000, 81159), "kk": (1000, 8039), "ml": (1000, 7025), "mr": (1000, 7060), "ms": (1000, 5867),
            "my": (100, 853), "sw": (1000, 5609), "ta": (1000, 7293), "te": (1000, 8080), "tl": (1000, 4473),
            "tr": (10000, 75930), "ur": (1000, 5027), "vi": (10000, 64222), "yo": (100, 489), "zh": (10000, 213682)}
MLQA_SAME = {"ar": 517, "de": 512, "en": 1148, "es": 500, "hi": 507, "vi": 511, "zh": 504}  # mlqa/SOURCE.md, xx-xx files
XCOPA_CAUSE = {"et": 52, "ht": 52, "id": 47, "it": 47, "qu": 52, "sw": 46, "ta": 52, "th": 0, "tr": 0, "vi": 52, "zh": 52}
TATOEBA = {l: 1000 for l in "de fr es ru zh ja ar hi tr vi".split()} | {"sw": 390, "ta": 307}  # tatoeba/SOURCE.md

def check_tagging(ex, tagset):
    assert len({e["id"] for e in ex}) == len(ex)
    for e in ex:
        assert set(e) == {"id", "tokens", "tags"} and isinstance(e["id"], str)
        assert len(e["tokens"]) == len(e["tags"]) > 0, "tags aligned to tokens"
        assert all(isinstance(t, str) and t for t in e["tokens"])
        assert set(e["tags"]) <= set(tagset)

def check_span(ex):
    assert len({e["id"] for e in ex}) == len(ex)
    for e in ex:
        assert set(e) == {"id", "context", "question", "answers"} and set(e["answers"]) == {"text", "answer_start"}
        assert len(e["answers"]["text"]) == len(e["answers"]["answer_start"])

def check_mc(ex, n_choices):
    assert len({e["id"] for e in ex}) == len(ex)
    for e in ex:
        assert set(e) == {"id", "context", "question", "choices", "label"}
        assert len(e["choices"]) == n_choices and 0 <= e["label"] < n_choices and isinstance(e["label"], int)

def squad_raw(path):
    "Independent count: (articles, questions) of a SQuAD-format file."
    d = json.loads(Path(path).read_text(encoding="utf-8"))
    return len(d["data"]), sum(len(p["qas"]) for a in d["data"] for p in a["paragraphs"])

# ---------------------------------------------------------------- tagging, real data

@real
@pytest.mark.parametrize("lang", sorted(UDPOS_DEV))
def test_udpos_dev(lang):
    ex = load_examples("udpos", "dev", lang)
    check_tagging(ex, UPOS)
    assert (len(ex), sum(len(e["tokens"]) for e in ex)) == UDPOS_DEV[lang]

@real
def test_udpos_en_train_and_wolof():
    ex = load_examples("udpos", "train", "en")
    check_tagging(ex, UPOS)
    assert (len(ex), sum(len(e["tokens"]) for e in ex)) == (12544, 204577)
    wo = load_examples("udpos-r", "dev", "wo")  # Wolof is an XTREME-R language only
    assert (len(wo), sum(len(e["tokens"]) for e in wo)) == (449, 10294)

@real
def test_udpos_first_sentence_and_xtreme_conventions():
    de = load_examples("udpos", "dev", "de")
    assert de[0] == {"id": "de_gsd-ud-dev-1", "tokens": ["Manasse", "ist", "ein", "einzigartiger", "Parfümeur", "."],
                     "tags": ["PROPN", "AUX", "DET", "ADJ", "NOUN", "PUNCT"]}
    # Vietnamese words with inner spaces are joined, as XTREME does; the raw file has them
    raw = [l.split("\t")[1] for l in (Path(DATA)/"udpos/UD_Vietnamese-VTB/vi_vtb-ud-dev.conllu").read_text().split("\n")
           if l and not l.startswith("#") and l.split("\t")[0].isdigit()]
    vi = [t for e in load_examples("udpos", "dev", "vi") for t in e["tokens"]]
    assert any(" " in w for w in raw) and not any(" " in w for w in vi)
    assert vi == ["".join(w.split(" ")) for w in raw]
    # French has multiword tokens (du = de le): the syntactic words are kept, the range lines skipped
    fr = (Path(DATA)/"udpos/UD_French-GSD/fr_gsd-ud-dev.conllu").read_text()
    assert "\n" in fr and any("-" in l.split("\t")[0] for l in fr.split("\n") if "\t" in l)

@real
@pytest.mark.parametrize("lang", sorted(PANX_DEV))
def test_panx_dev(lang):
    ex = load_examples("panx", "dev", lang)
    check_tagging(ex, PANX)
    assert (len(ex), sum(len(e["tokens"]) for e in ex)) == PANX_DEV[lang]
    first = (Path(DATA)/f"panx/{lang}/dev").read_text(encoding="utf-8").split("\n")[0]
    assert ex[0]["tokens"][0] == first.split("\t")[0][len(lang) + 1:] and ex[0]["id"] == f"{lang}-dev-1"

@real
def test_panx_en_train():
    ex = load_examples("panx", "train", "en")
    check_tagging(ex, PANX)
    assert (len(ex), sum(len(e["tokens"]) for e in ex)) == (20000, 160394)
    assert ex[0]["tokens"][:3] == ["R.H.", "Saunders", "("] or not any(t.startswith("en:") for e in ex for t in e["tokens"])

# ---------------------------------------------------------------- spans, real data

@real
def test_squad_dev():
    ex = load_examples("squad", "dev")
    check_span(ex)
    assert len(ex) == 10570 == squad_raw(Path(DATA)/"squad/v1.1/dev-v1.1.json")[1]
    assert span_mismatches(ex) == [], "SQuAD v1.1 dev: every answer is at its answer_start (SOURCE.md: 0 mismatches)"
    assert sum(len(e["answers"]["text"]) for e in ex) == 34726 and all(e["answers"]["text"] for e in ex)
    d = json.loads((Path(DATA)/"squad/v1.1/dev-v1.1.json").read_text())
    q = d["data"][0]["paragraphs"][0]["qas"][0]
    assert ex[0] == {"id": q["id"], "context": d["data"][0]["paragraphs"][0]["context"], "question": q["question"].strip(),
                     "answers": {"text": [a["text"] for a in q["answers"]], "answer_start": [a["answer_start"] for a in q["answers"]]}}

@real
def test_tydiqa_en_train():
    ex = load_examples("tydiqa", "train")
    check_span(ex)
    assert len(ex) == 3696 and span_mismatches(ex) == []
    assert [e["id"] for e in ex[:2]] == ["en-train-1", "en-train-2"], "the file's ids repeat (89 distinct): ids are positions"

@real
@pytest.mark.parametrize("lang", sorted(MLQA_SAME))
def test_mlqa_dev(lang):
    ex = load_examples("mlqa", "dev", lang)
    check_span(ex)
    assert len(ex) == MLQA_SAME[lang] and span_mismatches(ex) == []

@real
def test_mlqa_all_pairs_and_cross_lingual():
    n = {}
    for c in MLQA_SAME:
        for q in MLQA_SAME:
            ex = load_examples("mlqa", "dev", f"{c}-{q}" if c != q else c)
            n[c, q] = len(ex)
            assert len(ex) == squad_raw(Path(DATA)/f"mlqa/MLQA_V1/dev/dev-context-{c}-question-{q}.json")[1]
            assert span_mismatches(ex) == [], (c, q)
    assert n["de", "en"] == 512 and n["en", "zh"] == 504 and n["hi", "vi"] == 177 and sum(n.values()) == 15747
    # context language de, question language en: same items (ids) as de-de and en-en, contexts from de
    de = {e["id"]: e for e in load_examples("mlqa", "dev", "de")}
    for e in load_examples("mlqa", "dev", "de-en"):
        assert e["context"] == de[e["id"]]["context"] and e["question"] != de[e["id"]]["question"]

# ---------------------------------------------------------------- multiple choice, real data

@real
@pytest.mark.parametrize("lang", "et ht id it qu sw ta th tr vi zh".split())
def test_xcopa_dev(lang):
    ex = load_examples("xcopa", "dev", lang)
    check_mc(ex, 2)
    assert len(ex) == 100 and [e["id"] for e in ex] == [str(i) for i in range(100)], "parallel items share ids"
    # the question field as the upstream files have it: th and tr say 'effect' for all 100 items, and
    # id, it, sw differ from et on 5-6 items (counted independently by comparing the raw files by line)
    assert sum(e["question"] == "cause" for e in ex) == XCOPA_CAUSE[lang]

@real
def test_copa_siqa_csqa_cosmosqa():
    tr, dev = load_examples("copa", "train"), load_examples("copa", "dev")
    check_mc(tr, 2); check_mc(dev, 2)
    assert (len(tr), len(dev)) == (400, 100)
    assert tr[0] == {"id": "0", "context": "My body cast a shadow over the grass.", "question": "cause",
                     "choices": ["The sun was rising.", "The grass was cut."], "label": 0}
    s_tr, s_dev = load_examples("siqa", "train"), load_examples("siqa", "dev")
    check_mc(s_tr, 3); check_mc(s_dev, 3)
    assert Counter(e["label"] for e in s_tr) == {0: 11274, 1: 11176, 2: 10960}
    assert Counter(e["label"] for e in s_dev) == {0: 643, 1: 654, 2: 657}
    v14 = D.read_file(Path(DATA)/"siqa/socialIQa_v1.4_dev.jsonl", "siqa_v14", (), prefix="en-dev")
    assert v14 == s_dev, "the v1.4 release (gold in 'correct') and the leaderboard release (labels file) agree"
    c_tr, c_dev = load_examples("csqa", "train"), load_examples("csqa", "dev")
    check_mc(c_tr, 5); check_mc(c_dev, 5)
    assert Counter(e["label"] for e in c_tr) == {0: 1909, 1: 1973, 2: 1946, 3: 1985, 4: 1928}
    assert Counter(e["label"] for e in c_dev) == {0: 239, 1: 255, 2: 241, 3: 251, 4: 235}
    assert c_dev[0]["choices"][c_dev[0]["label"]] == "bank" and c_dev[0]["question"] is None
    cq = load_examples("cosmosqa", "dev")
    check_mc(cq, 4)
    assert len(cq) == 2985 and cq[0]["question"] == "Why is this person asking about divorce ?"

@real
def test_hellaswag_partial_and_lossy(caplog):
    D._parse.cache_clear(); D._NOTED.clear()
    with caplog.at_level(logging.WARNING, logger="xstilts.data"):
        tr, dev = load_examples("hellaswag", "train"), load_examples("hellaswag", "dev")
        load_examples("hellaswag", "train")   # read again: noted once
    check_mc(tr, 4); check_mc(dev, 4)
    assert len(tr) == 3368 and Counter(e["label"] for e in tr) == {0: 824, 1: 855, 2: 847, 3: 842}
    assert len(dev) == 10042 and Counter(e["label"] for e in dev) == {0: 2515, 1: 2485, 2: 2584, 3: 2458}
    assert tr[0]["id"] == "4" and tr[0]["choices"][3] == ", the man continues removing the snow on his car."
    assert dev[0] == {"id": "en-dev-1", "context": "A man is sitting on a roof. he", "question": None, "label": 3,
                      "choices": ["is using wrap to wrap a pair of skis.", "is ripping level tiles off.",
                                  "is holding a rubik's cube.", "starts pulling up roofing on a roof."]}
    msgs = " ".join(r.getMessage() for r in caplog.records)
    assert "3,368 of the 39,905" in msgs and "lossy derived format" in msgs and msgs.count("3,368 of the 39,905") == 1

# ---------------------------------------------------------------- retrieval, real data

@real
@pytest.mark.parametrize("lang", sorted(TATOEBA))
def test_tatoeba(lang):
    r = load_examples("tatoeba", "test", lang)
    n = TATOEBA[lang]
    assert len(r["src"]) == len(r["tgt"]) == len(r["gold"]) == n
    assert r["gold"][0] == [f"{lang}-1", "en-1"] and len({s["id"] for s in r["src"]}) == n
    from xstilts.tasks import TATOEBA_ISO3
    l3 = TATOEBA_ISO3[lang]
    assert r["src"][0]["text"] == (Path(DATA)/f"tatoeba/tatoeba.{l3}-eng.{l3}").read_text().split("\n")[0].strip()
    assert r["tgt"][-1]["text"] == (Path(DATA)/f"tatoeba/tatoeba.{l3}-eng.eng").read_text().rstrip("\n").split("\n")[-1].strip()

@real
def test_bucc_zh_and_partial_languages():
    r = load_examples("bucc", "dev", "zh")
    assert (len(r["src"]), len(r["tgt"]), len(r["gold"])) == (8624, 13589, 257)
    assert r["gold"][0] == ["zh-000000057", "en-000008530"] and r["src"][0]["id"] == "zh-000000001"
    for lang, missing, there in [("de", "de-en.dev.de, ", "de-en.dev.gold"), ("fr", "", "fr-en.dev.fr, fr-en.dev.gold"), ("ru", "ru-en.dev.ru, ", "ru-en.dev.gold")]:
        m = err(load_examples, "bucc", "dev", lang)
        assert f"{missing}".replace(", ", "") in m and f"bucc2018/{lang}-en.dev.en" in m
        assert f"Only {there} of its files" in m and m.endswith("Languages present: zh")

# ---------------------------------------------------------------- malformed copies of real files (new formats)

@pytest.fixture
def broken2(tmp_path):
    "A data folder of copies of real files of the new formats, to break."
    if not DATA or not os.path.isdir(DATA): pytest.skip("XSTILTS_DATA not set: real-data tests need ../shared/data")
    for d in ("udpos/UD_German-GSD", "panx/de", "mlqa/MLQA_V1/dev", "xcopa", "cosmosqa", "siqa/socialiqa-train-dev", "tatoeba", "bucc2018", "hellaswag"):
        shutil.copytree(Path(DATA)/d, tmp_path/d)
    for p in tmp_path.rglob("*"):
        if p.is_file(): p.chmod(0o644)
    return tmp_path

def cut(p, keep):
    "Truncate file p to its first `keep` bytes."
    p.write_bytes(p.read_bytes()[:keep])

def nlines(p): return len(p.read_bytes().split(b"\n"))

def line_of(p, needle):
    return next(i for i, l in enumerate(p.read_text(encoding="utf-8").split("\n"), 1) if needle in l)

def test_truncated_conllu(broken2):
    p = broken2/"udpos/UD_German-GSD/de_gsd-ud-dev.conllu"
    b = p.read_bytes(); cut(p, b.index(b"\n3\t", len(b) // 2) + 6)  # in the middle of a word line
    n = len(p.read_bytes().split(b"\n"))
    assert err(load_examples, "udpos", "dev", "de", data_dir=broken2).startswith(f"{p}:{n}: expected a comment (#) or 10 tab-separated CoNLL-U columns")
    cut(p, p.read_bytes().rindex(b"\n") + 1)  # at a line end, but the last sentence is not closed
    assert err(load_examples, "udpos", "dev", "de", data_dir=broken2).endswith("expected a blank line after the last sentence (truncated file?)")

def test_bad_upos_and_panx(broken2):
    p = broken2/"udpos/UD_German-GSD/de_gsd-ud-dev.conllu"
    p.write_text(p.read_text(encoding="utf-8").replace("\tPROPN\t", "\tNNP\t", 1), encoding="utf-8")
    n = line_of(p, "\tNNP\t")
    assert err(load_examples, "udpos", "dev", "de", data_dir=broken2) == f"{p}:{n}: UPOS tag 'NNP' is not one of {', '.join(UPOS)}"
    q = broken2/"panx/de/dev"
    b = q.read_bytes(); cut(q, b.index(b"\t", 5000))
    m = err(load_examples, "panx", "dev", "de", data_dir=broken2)
    assert m.startswith(f"{q}:{nlines(q)}: expected 'lang:token<TAB>tag', got 'de:")

def test_truncated_json_and_missing_field(broken2):
    p = broken2/"mlqa/MLQA_V1/dev/dev-context-de-question-de.json"
    raw = p.read_text(encoding="utf-8")
    p.write_text(raw[:len(raw) // 2], encoding="utf-8")
    assert " expected a JSON document, got invalid JSON (" in err(load_examples, "mlqa", "dev", "de", data_dir=broken2)
    assert err(load_examples, "mlqa", "dev", "de", data_dir=broken2).startswith(f"{p}:1: ")
    d = json.loads(raw); del d["data"][2]["paragraphs"][0]["qas"][0]["answers"][0]["answer_start"]
    p.write_text(json.dumps(d))
    assert err(load_examples, "mlqa", "dev", "de", data_dir=broken2) == f"{p}: data[2].paragraphs[0].qas[0].answers[0]: expected field 'answer_start'"

def test_broken_mc_files(broken2):
    p = broken2/"xcopa/val.qu.jsonl"
    b = p.read_bytes(); cut(p, b.index(b"\n", 3000) + 40)
    n = len(p.read_bytes().split(b"\n"))
    assert err(load_examples, "xcopa", "dev", "qu", data_dir=broken2).startswith(f"{p}:{n}: expected one JSON object per line, got invalid JSON")
    c = broken2/"cosmosqa/valid.csv"
    rows = c.read_text(encoding="utf-8")
    c.write_text(rows.replace("id,context", "idx,context", 1), encoding="utf-8")
    assert err(load_examples, "cosmosqa", "dev", data_dir=broken2).startswith(f"{c}:1: expected a header with columns id, context")
    s = broken2/"siqa/socialiqa-train-dev/dev-labels.lst"
    s.write_text("\n".join(s.read_text().split("\n")[:-2]) + "\n")
    assert err(load_examples, "siqa", "dev", data_dir=broken2) == f"{s}: 1953 labels, but dev.jsonl has 1954 records: the two files must be line-aligned"
    h = broken2/"hellaswag/hellaswag_val_full.txt.bz2"
    cut(h, 100000)
    assert err(load_examples, "hellaswag", "dev", data_dir=broken2).startswith(f"{h}: not a complete bz2 file")

def test_broken_retrieval_files(broken2):
    e = broken2/"tatoeba/tatoeba.deu-eng.eng"
    e.write_text("\n".join(e.read_text().split("\n")[:500]) + "\n")
    assert err(load_examples, "tatoeba", "test", "de", data_dir=broken2) == f"{e}: 500 lines, but tatoeba.deu-eng.deu has 1000: the two Tatoeba files must be line-aligned"
    g = broken2/"bucc2018/zh-en.dev.gold"
    g.write_text(g.read_text() + "zh-999999999\ten-000000001\n")
    assert err(load_examples, "bucc", "dev", "zh", data_dir=broken2) == f"{g}:258: gold id 'zh-999999999' is not a sentence of zh-en.dev.zh"
    z = broken2/"bucc2018/zh-en.dev.zh"
    b = z.read_bytes(); cut(z, b.index(b"\t", 1000) - 3)
    assert err(load_examples, "bucc", "dev", "zh", data_dir=broken2).startswith(f"{z}:{nlines(z)}: expected 'id<TAB>sentence'")

# ---------------------------------------------------------------- hand-written files: CCGbank, multi-treebank UD, LAReQA, Mewsli-X

AUTO = ("ID=wsj_0001.1 PARSER=GOLD NUMPARSE=1\n"
        "(<T S[dcl] 0 2> (<T NP 0 2> (<L N/N NNP NNP Pierre N_73/N_73>) (<L N NNP NNP Vinken N>) ) "
        "(<T S[dcl]\\NP 0 2> (<L (S[dcl]\\NP)/NP VBZ VBZ joins (S[dcl]\\NP_1)/NP_2>) (<L NP NN NN board NP>) ) )\n"
        "ID=wsj_0001.2 PARSER=GOLD NUMPARSE=1\n(<T S[dcl] 0 2> (<L N NNP NNP Mr. N>) (<L . . . . .>) )\n")

def test_ccg_auto(tmp_path):
    for sec in ["00", "23", *(f"{k:02d}" for k in range(2, 22))]:
        d = tmp_path/f"ccgbank_1_1/data/AUTO/{sec}"; d.mkdir(parents=True)
        (d/f"wsj_{sec}01.auto").write_text(AUTO.replace("wsj_0001", f"wsj_{sec}01"))
    dev = load_examples("ccg", "dev", data_dir=tmp_path)
    assert dev == [{"id": "wsj_0001.1", "tokens": ["Pierre", "Vinken", "joins", "board"], "tags": ["N/N", "N", "(S[dcl]\\NP)/NP", "NP"]},
                   {"id": "wsj_0001.2", "tokens": ["Mr.", "."], "tags": ["N", "."]}]
    tr = load_examples("ccg", "train", data_dir=tmp_path)
    assert len(tr) == 40 and [e["id"] for e in tr[:3]] == ["wsj_0201.1", "wsj_0201.2", "wsj_0301.1"] and tr[-1]["id"] == "wsj_2101.2"
    f = tmp_path/"ccgbank_1_1/data/AUTO/23/wsj_2301.auto"
    f.write_text(AUTO.split("\n")[0] + "\n")
    assert err(load_examples, "ccg", "test", data_dir=tmp_path) == f"{f}:1: expected pairs of lines (ID=..., derivation); the last ID line has no derivation"
    f.unlink()
    assert "ccgbank_1_1/data/AUTO/23/wsj_23*.auto: no such file" in err(load_examples, "ccg", "test", data_dir=tmp_path)

def conllu(*sents):
    return "".join("# text = x\n" + "".join(f"{i}\t{w}\t_\t{t}\t_\t_\t0\troot\t_\t_\n" for i, (w, t) in enumerate(s, 1)) + "\n" for s in sents)

def test_udpos_concatenates_treebanks(tmp_path):
    for tb, f, s in [("UD_Xx-B", "xx_b-ud-dev.conllu", [("b", "NOUN")]), ("UD_Xx-A", "xx_a-ud-dev.conllu", [("a", "VERB")]),
                     ("UD_Yy-A", "yy_a-ud-dev.conllu", [("y", "X")])]:
        (tmp_path/"udpos"/tb).mkdir(parents=True); (tmp_path/"udpos"/tb/f).write_text(conllu(s, [("_", "X")]))
    ex = load_examples("udpos", "dev", "xx", data_dir=tmp_path)
    assert ex == [{"id": "xx_a-ud-dev-1", "tokens": ["a"], "tags": ["VERB"]}, {"id": "xx_b-ud-dev-1", "tokens": ["b"], "tags": ["NOUN"]}], \
        "all treebanks of the language, by file name; the text-less sentence ('_') dropped"
    assert err(load_examples, "udpos", "dev", "zz", data_dir=tmp_path).endswith("Languages present: xx, yy")

def test_lareqa_local(tmp_path):
    d = tmp_path/"lareqa/xquad-r"; d.mkdir(parents=True)
    def f(ctx, breaks, qas): return {"version": "1", "data": [{"title": "t", "paragraphs": [{"context": ctx, "sentence_breaks": breaks, "qas": qas}]}]}
    (d/"en.json").write_text(json.dumps(f("A b. C d.", [[0, 4], [5, 9]], [{"id": "q1", "question": "C?", "answers": [{"text": "d", "answer_start": 7}]}])))
    (d/"es.json").write_text(json.dumps(f("A b. C d.", [[0, 4], [5, 9]], [{"id": "q1", "question": "¿C?", "answers": [{"text": "b", "answer_start": 2}]}])))
    r = load_examples("lareqa", "test", "es", data_dir=tmp_path)
    assert r["src"] == [{"id": "q1", "text": "¿C?"}] and len(r["tgt"]) == 4
    assert r["gold"] == [["q1", "en-0-1"], ["q1", "es-0-0"]]
    (d/"es.json").write_text(json.dumps(f("A b.", [[0, 4]], [{"id": "q1", "question": "?", "answers": [{"text": "x", "answer_start": 9}]}])))
    assert err(load_examples, "lareqa", "test", "es", data_dir=tmp_path) == \
        f"{d/'es.json'}: data[0].paragraphs[0].qas[0]: expected an answer_start inside one of the paragraph's sentence_breaks"

def test_mewslix_local(tmp_path):
    d = tmp_path/"mewslix"; d.mkdir()
    ctx = lambda lang, text: {"document_id": "d", "document_url": "u", "document_title": "t", "language": lang, "text": text,
                              "sentence_spans": [{"start": 0, "end": 6}, {"start": 7, "end": len(text)}]}
    m = lambda i, q, s, e, t: {"example_id": i, "entity_id": q, "mention_span": {"start": s, "end": e, "text": t}}
    (d/"wikinews_mentions-dev.jsonl").write_text("\n".join(json.dumps(r) for r in [
        {"context": ctx("es", "Hola. Madrid crece."), "mentions": [m("e1", "Q2807", 6, 12, "Madrid")]},
        {"context": ctx("de", "Hallo. Berlin wächst."), "mentions": [m("g1", "Q64", 7, 13, "Berlin"), m("g2", "Q64", 0, 5, "Hallo")]}]) + "\n")
    (d/"candidate_set_entities.jsonl").write_text("\n".join(json.dumps({"entity_id": q, "title": q, "description": t, "description_language": "en",
        "description_url": "u", "sentence_spans": []}) for q, t in [("Q64", "Capital of Germany."), ("Q2807", "Capital of Spain.")]) + "\n")
    r = load_examples("mewslix", "dev", "de", data_dir=tmp_path)
    assert r["src"] == [{"id": "g1", "text": "Berlin wächst.", "span": [0, 6]}, {"id": "g2", "text": "Hallo.", "span": [0, 5]}]
    assert r["gold"] == [["g1", "Q64"], ["g2", "Q64"]] and [t["id"] for t in r["tgt"]] == ["Q64", "Q2807"]
    assert load_examples("mewslix", "dev", "es", data_dir=tmp_path)["gold"] == [["e1", "Q2807"]]
    (d/"wikinews_mentions-dev.jsonl").write_text(json.dumps({"context": ctx("de", ""), "mentions": [m("g1", "Q64", 0, 1, "B")]}) + "\n")
    assert "context.text is empty: this is a *_no_text release file" in err(load_examples, "mewslix", "dev", "de", data_dir=tmp_path)
    (d/"wikipedia_pairs-train.jsonl").write_text(json.dumps({"contextual_mention": {"context": ctx("en", "Intro. Paris grows."),
        "mention": m("p1", "Q90", 7, 12, "Paris")}, "entity": {"entity_id": "Q90", "title": "Paris", "description": "Capital of France."}}) + "\n")
    assert load_examples("mewslix", "train", data_dir=tmp_path) == {"src": [{"id": "p1", "text": "Paris grows.", "span": [0, 5]}],
        "tgt": [{"id": "Q90", "text": "Capital of France."}], "gold": [["p1", "Q90"]]}

def test_retrieval_cache_is_safe(tmp_path):
    (tmp_path/"tatoeba").mkdir()
    (tmp_path/"tatoeba/tatoeba.fra-eng.fra").write_text("Salut.\n"); (tmp_path/"tatoeba/tatoeba.fra-eng.eng").write_text("Hi.\n")
    a = load_examples("tatoeba", "test", "fr", data_dir=tmp_path)
    a["src"][0]["text"] = "x"; a["gold"].clear()
    assert load_examples("tatoeba", "test", "fr", data_dir=tmp_path) == {"src": [{"id": "fr-1", "text": "Salut."}],
        "tgt": [{"id": "en-1", "text": "Hi."}], "gold": [["fr-1", "en-1"]]}
    assert err(load_examples, "tatoeba", "test", "de", data_dir=tmp_path).endswith("Languages present: fr")

# ---------------------------------------------------------------- registry coverage of the new formats

NOT_LOCAL = {("copa", "test"), ("hellaswag", "test"), ("cosmosqa", "test"), ("csqa", "test")}  # test files carry no gold labels

def test_every_registry_split_has_a_local_layout():
    from xstilts.tasks import BUILTIN_TASKS as TASKS   # the built-in rows (a declared task brings its own layout)
    for name, t in TASKS.items():
        if t.format.endswith("classification"): continue  # covered by test_registry_agrees
        if t.format == "mlm": continue   # plain text, read by load_texts (tests/test_mlm.py)
        for s in t.splits:
            assert (name, s) in D.LOCAL_LAYOUT or (name, s) in NOT_LOCAL, (name, s)
    for (name, s) in D.LOCAL_LAYOUT: assert s in TASKS[name].splits or s == "dev_mismatched", (name, s)
    for name, m in D.HUB_ROWS.items():
        assert set(m.splits) <= set(TASKS[name].splits) and TASKS[name].hub, name
        assert TASKS[name].format in ("tagging", "span", "multiple-choice", "retrieval")
        if TASKS[name].format == "tagging": assert m.names == TASKS[name].labels

# ---------------------------------------------------------------- hub mappings (datasets.Dataset.from_dict, hub schemas)

def test_hub_udpos_and_panx_classlabels():
    feats = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                               "pos_tags": datasets.Sequence(datasets.ClassLabel(names=list(UPOS)))})
    d = datasets.Dataset.from_dict({"tokens": [["Er", "läuft", "."]], "pos_tags": [[10, 15, 12]]}, features=feats)
    assert hub_examples("udpos", d, prefix="de-dev") == [{"id": "de-dev-0", "tokens": ["Er", "läuft", "."], "tags": ["PRON", "VERB", "PUNCT"]}]
    bad = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                             "pos_tags": datasets.Sequence(datasets.ClassLabel(names=sorted(UPOS, reverse=True)))})
    assert "the class names of pos_tags are X, VERB" in err(hub_examples, "udpos", datasets.Dataset.from_dict({"tokens": [["a"]], "pos_tags": [[0]]}, features=bad))
    p = ds(tokens=[["Sioux", "Falls"], ["x"]], ner_tags=[[3, 4], [0]], langs=[["en", "en"], ["en"]])
    assert hub_examples("panx", p, prefix="en-dev") == [{"id": "en-dev-0", "tokens": ["Sioux", "Falls"], "tags": ["B-ORG", "I-ORG"]},
                                                       {"id": "en-dev-1", "tokens": ["x"], "tags": ["O"]}]
    assert hub_examples("panx-r", p)[0]["tags"] == ["B-ORG", "I-ORG"]
    assert err(hub_examples, "panx", ds(tokens=[["a", "b"]], ner_tags=[[0]])) == "Hub data for panx, row 0: 2 tokens but 1 tags"

def test_hub_spans():
    sq = ds(id=["a1", "a2"], title=["T", "T"], context=["Paris is in France.", "Paris is in France."], question=["Where?", "Who?"],
            answers=[{"text": ["France"], "answer_start": [12]}, {"text": [], "answer_start": []}])
    ex = hub_examples("squad2", sq)
    assert ex[1]["answers"] == {"text": [], "answer_start": []} and ex[0]["answers"] == {"text": ["France"], "answer_start": [12]}
    assert hub_examples("xquad", sq) == hub_examples("mlqa", sq) == hub_examples("squad", sq) == ex
    ty = ds(id=["english-1-0", "finnish-2-0", "english-3-0"], title=["t"] * 3, context=["ab"] * 3, question=["q"] * 3,
            answers=[{"text": ["b"], "answer_start": [1]}] * 3)
    assert [e["id"] for e in hub_examples("tydiqa", ty, prefix="en-dev", lang="en")] == ["english-1-0", "english-3-0"]
    assert [e["id"] for e in hub_examples("tydiqa", ty, prefix="fi-dev", lang="fi")] == ["finnish-2-0"]

def test_hub_multiple_choice(caplog):
    hs = ds(ind=[4, 5], activity_label=["a", "a"], ctx_a=["c", "c"], ctx_b=["x", "x"], ctx=["c x", "c y"], endings=[["1", "2", "3", "4"]] * 2,
            source_id=["s", "s"], split=["val", "test"], split_type=["indomain"] * 2, label=["2", ""])
    with caplog.at_level(logging.WARNING, logger="xstilts.data"):
        assert hub_examples("hellaswag", hs) == [{"id": "4", "context": "c x", "question": None, "choices": ["1", "2", "3", "4"], "label": 2}]
    assert "dropped 1 examples without gold label" in caplog.text
    cq = ds(id=["k"], context=["C"], question=["Q"], answer0=["a"], answer1=["b"], answer2=["c"], answer3=["d"], label=[3])
    assert hub_examples("cosmosqa", cq)[0]["label"] == 3
    si = ds(context=["C", "D"], question=["Q", "R"], answerA=["a", "a"], answerB=["b", "b"], answerC=["c", "c"], label=["1", "3"])
    assert [(e["id"], e["label"]) for e in hub_examples("siqa", si, prefix="en-dev")] == [("en-dev-0", 0), ("en-dev-1", 2)], "SIQA labels are 1-based"
    co = ds(premise=["P", "P2"], choice1=["a", "a"], choice2=["b", "b"], question=["cause", "effect"], idx=[0, 1], label=[1, -1])
    assert hub_examples("copa", co) == hub_examples("xcopa", co) == [{"id": "0", "context": "P", "question": "cause", "choices": ["a", "b"], "label": 1}]
    assert err(hub_examples, "copa", ds(premise=["P"], choice1=["a"], choice2=["b"], question=["cause"], idx=[0], label=[2])) == \
        "Hub data for copa, row 0: label 2 is not one of 0, 1 (or -1/'': no gold label)"

def test_hub_retrieval_and_unavailable():
    tt = ds(source_sentence=["Hallo!", "Danke."], target_sentence=["Hello!", "Thanks."], source_lang=["deu"] * 2, target_lang=["eng"] * 2)
    assert hub_examples("tatoeba", tt, prefix="de-test", lang="de") == {"src": [{"id": "de-1", "text": "Hallo!"}, {"id": "de-2", "text": "Danke."}],
        "tgt": [{"id": "en-1", "text": "Hello!"}, {"id": "en-2", "text": "Thanks."}], "gold": [["de-1", "en-1"], ["de-2", "en-2"]]}
    assert err(load_examples, "bucc", "dev", "zh", source="hub").startswith("The hub source cannot give 'bucc': google/xtreme's bucc18")
    assert "no sentence breaks" in err(load_examples, "lareqa", "test", "de", source="hub")
    assert err(load_examples, "ccg", "train", source="hub").startswith("The hub source has no task 'ccg'.")

def test_hub_source_plumbing_new_formats(monkeypatch):
    calls = []
    def hub(name, config, split):
        calls.append((name, config, split))
        if name == "google/xtreme" and config.startswith("udpos"): return ds(tokens=[["Er"]], pos_tags=[[10]])
        if name == "google/xtreme": return ds(source_sentence=["Hallo"], target_sentence=["Hello"])
        return ds(id=["x"], title=["t"], context=["ab"], question=["q"], answers=[{"text": ["a"], "answer_start": [0]}])
    monkeypatch.setattr(D, "hub_dataset", hub)
    assert load_examples("udpos", "dev", "de", source="hub") == [{"id": "de-dev-0", "tokens": ["Er"], "tags": ["PRON"]}]
    assert calls[-1] == ("google/xtreme", "udpos.German", "validation")
    assert load_examples("tatoeba", "test", "de", source="hub")["gold"] == [["de-1", "en-1"]] and calls[-1] == ("google/xtreme", "tatoeba.deu", "validation")
    assert load_examples("mlqa", "test", "de", source="hub")[0]["id"] == "x" and calls[-1] == ("facebook/mlqa", "mlqa.de.de", "test")
    assert load_examples("xquad", "test", "el", source="hub")[0]["id"] == "x" and calls[-1] == ("google/xquad", "xquad.el", "validation")
    assert err(load_examples, "squad", "test", source="hub") == "The hub source has no 'squad:test'. For squad it has: train, dev"
