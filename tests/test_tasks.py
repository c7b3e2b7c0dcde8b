"Task registry: XTREME facts checked against independently written values, and the study checks."
import os, re, sys
from pathlib import Path
import pytest
from xstilts.core import XStiltsError, parse_params
from xstilts import tasks as T
from xstilts.tasks import get_task, check_study_tasks, eval_languages, hub_config_for

# The facts below are about the built-in tasks: a study's declared tasks join the registry (`TASKS`) beside them
# (tests/test_custom_tasks.py), so these read the built-in rows and the built-in ones among the registry's names.
TASKS = T.BUILTIN_TASKS
def builtin(names): return [n for n in names if n in TASKS]

# The 40 XTREME languages as the XTREME README lists them (google-research/xtreme README.md).
XTREME_40 = set("af ar bg bn de el en es et eu fa fi fr he hi hu id it ja jv ka kk ko ml mr ms my nl pt ru sw ta te th "
                "tl tr ur vi yo zh".split())

# Per task, written here from the XTREME paper's table and evaluate.py, alphabetically, or as a difference of sets.
EXPECTED = {
    "xnli": set("ar bg de el en es fr hi ru sw th tr ur vi zh".split()),
    "pawsx": set("de en es fr ja ko zh".split()),
    "udpos": XTREME_40 - set("bn jv ka ml ms my sw".split()),
    "panx": XTREME_40,
    "xquad": set("ar de el en es hi ru th tr vi zh".split()),
    "mlqa": set("ar de en es hi vi zh".split()),
    "tydiqa": set("ar bn en fi id ko ru sw te".split()),
    "bucc": set("de fr ru zh".split()),
    "tatoeba": XTREME_40 - {"en", "ms", "my", "yo"},
    # XTREME-R
    "xcopa": set("et ht id it qu sw ta th tr vi zh".split()),
    "panx-r": XTREME_40 | set("qu pl uk az lt pa gu ro".split()),
    "udpos-r": XTREME_40 - set("bn jv ka ml ms my sw".split()) | set("lt pl ro uk wo".split()),
    "lareqa": set("ar de el en es hi ru th tr vi zh".split()),
    "mewslix": set("ar de en es fa ja pl ro ta tr uk".split()),
}
COUNTS = {"xnli": 15, "pawsx": 7, "udpos": 33, "panx": 40, "xquad": 11, "mlqa": 7, "tydiqa": 9, "bucc": 4, "tatoeba": 36,
          "xcopa": 11, "panx-r": 48, "udpos-r": 38, "lareqa": 11, "mewslix": 11}
TRAIN = {"xnli": "mnli", "pawsx": "paws", "udpos": "udpos", "panx": "panx", "xquad": "squad", "mlqa": "squad",
         "tydiqa": "tydiqa", "bucc": None, "tatoeba": None, "xcopa": "copa"}
PAPER_INTERMEDIATES = {"anli", "mnli", "qqp", "squad", "squad2", "hellaswag", "cosmosqa", "csqa", "ccg"}


@pytest.mark.parametrize("task", sorted(EXPECTED))
def test_language_lists(task):
    t = TASKS[task]
    assert set(t.languages) == EXPECTED[task]
    assert len(t.languages) == len(set(t.languages)) == COUNTS[task]


def test_xtreme_union_is_the_40_languages():
    assert set().union(*(TASKS[t].languages for t in T.PAPER_TARGETS)) == XTREME_40
    assert set(T.PAPER_TARGETS) == {t for t, x in TASKS.items() if x.benchmark == "xtreme"}
    assert {t for t in TASKS if TASKS[t].benchmark == "xtreme-r"} == {"xcopa", "panx-r", "udpos-r", "lareqa", "mewslix"}


def test_the_paper_grid():
    assert set(builtin(T.intermediate_tasks())) >= PAPER_INTERMEDIATES | {"sst2", "snli", "siqa"}
    assert set(builtin(T.target_tasks())) == set(EXPECTED)
    assert not set(builtin(T.intermediate_tasks())) & set(builtin(T.target_tasks()))
    assert TASKS["ccg"].hub is None and all(TASKS[t].hub for t in PAPER_INTERMEDIATES - {"ccg"})
    assert all(TASKS[t].languages == ("en",) for t in builtin(T.intermediate_tasks()) if t != "mlm")   # English tasks
    assert set(TASKS["mlm"].languages) == XTREME_40 and TASKS["mlm"].format == "mlm"   # continued MLM: any language a study evaluates


@pytest.mark.parametrize("task", sorted(TRAIN))
def test_train_sources(task):
    assert TASKS[task].train_source == TRAIN[task]


def test_every_train_source_can_train():
    for name, t in TASKS.items():
        if not t.target: assert t.train_source is None, name; continue
        if t.train_source is None: assert t.format == "retrieval", name; continue
        src = TASKS[t.train_source]
        assert "en" in src.languages and "train" in src.splits, name
        if t.format != "retrieval":  # LAReQA's dual encoder is trained on SQuAD spans turned into retrieval pairs
            assert src.format == t.format and src.labels == t.labels and src.n_choices == t.n_choices, name
    assert TASKS["paws"].intermediate is False and TASKS["paws"].target is False
    assert all(s in TASKS for s in T.TRAIN_UNIONS["anli"]) and set(T.TRAIN_UNIONS["anli"]) == {"snli", "mnli", "anli-rounds"}


def test_labels():
    nli = [n for n, t in TASKS.items() if "nli" in n]
    assert set(nli) == {"anli", "anli-rounds", "mnli", "snli", "xnli"}
    for n in nli: assert TASKS[n].labels == ("entailment", "neutral", "contradiction"), n
    for n in ("pawsx", "paws", "qqp", "sst2"): assert TASKS[n].labels == ("0", "1"), n
    upos = "ADJ ADP ADV AUX CCONJ DET INTJ NOUN NUM PART PRON PROPN PUNCT SCONJ SYM VERB X".split()
    assert TASKS["udpos"].labels == tuple(upos) and len(upos) == 17
    assert TASKS["panx"].labels == ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC") == TASKS["panx-r"].labels
    for n, t in TASKS.items():
        if t.format in ("span", "multiple-choice", "retrieval"): assert t.labels is None, n
        if t.labels: assert len(set(t.labels)) == len(t.labels), n
    assert {n: t.n_choices for n, t in TASKS.items() if t.n_choices} == {
        "hellaswag": 4, "cosmosqa": 4, "csqa": 5, "siqa": 3, "copa": 2, "xcopa": 2}


def test_metrics_as_xtreme_computes_them():
    # evaluate.py METRIC_FUNCTION: accuracy for pawsx/xnli/tatoeba, seqeval f1 for panx/udpos, squad for xquad/tydiqa;
    # UD-POS with seqeval 0.0.12's chunks, as XTREME published it (PAN-X: 1.2.2's, which agree on IOB2 tags)
    want = {"pawsx": "accuracy", "xnli": "accuracy", "tatoeba": "accuracy", "panx": "f1-seqeval", "udpos": "f1-seqeval-0.0.12",
            "bucc": "bucc-f1", "xquad": "squad", "tydiqa": "squad", "mlqa": "mlqa", "lareqa": "map@20", "mewslix": "map@20"}
    assert {t: TASKS[t].metric for t in want} == want


def test_hub_configs():
    assert hub_config_for("udpos", "en") == "udpos.English" and hub_config_for("udpos", "eu") == "udpos.Basque"
    assert hub_config_for("tatoeba", "fa") == "tatoeba.pes" and hub_config_for("tatoeba", "sw") == "tatoeba.swh"
    assert hub_config_for("panx", "jv") == "PAN-X.jv" and hub_config_for("bucc", "ru") == "bucc18.ru"
    assert hub_config_for("pawsx", "ko") == "ko" and hub_config_for("xquad", "th") == "xquad.th"
    # every language of a templated config gives a distinct config
    for n, t in TASKS.items():
        if t.hub_config and "{" in t.hub_config:
            configs = [hub_config_for(n, l) for l in t.languages]
            assert len(set(configs)) == len(configs) and not any("{" in c for c in configs), n
    with pytest.raises(XStiltsError, match="has no language 'xx'"): hub_config_for("xnli", "xx")


def test_records_are_complete_and_frozen():
    for n, t in TASKS.items():
        assert t.name == n and t.description and t.reference and "\n" not in t.description
        assert t.format in T.FORMATS and t.metric in T.METRICS and t.benchmark in T.BENCHMARKS
        rounds = {f"{s}_r{r}" for s in ("train", "dev", "test") for r in (1, 2, 3)} if n.startswith("anli") else set()
        assert set(t.splits) <= {"train", "dev", "test"} | rounds and t.splits
        assert all(re.fullmatch(r"[a-z]{2}", l) for l in t.languages), n
    with pytest.raises(Exception): TASKS["xnli"].name = "x"


def test_get_task_error_is_one_line():
    with pytest.raises(XStiltsError) as e: get_task("xnlii")
    msg = str(e.value)
    assert msg.startswith("Unknown task 'xnlii'. Did you mean 'xnli'? Valid: ") and "\n" not in msg
    assert "tatoeba" in msg and "anli" in msg
    with pytest.raises(XStiltsError, match="Did you mean 'bucc'"): get_task("bucc2018")


# --- study checks -------------------------------------------------------------------------------------

def err(d, src="study.yaml"):
    with pytest.raises(XStiltsError) as e: check_study_tasks(parse_params(d, src), src)
    msg = str(e.value)
    assert msg.startswith(f"{src}: ") and "\n" not in msg
    return msg

HUB = {"study": "s", "source": "hub"}

def test_check_intermediates_and_targets():
    m = err({**HUB, "intermediates": ["none", "hellaswg"]})
    assert "intermediates: 'hellaswag'" not in m and "'hellaswg' is not an intermediate task" in m and "Did you mean 'hellaswag'" in m
    m = err({**HUB, "intermediates": ["xnli"]})  # a target is not an intermediate
    assert "'xnli' is not an intermediate task" in m and "Valid: " in m and "none" in m
    m = err({**HUB, "targets": ["mnli"]})  # an intermediate is not a target
    assert "targets: 'mnli' is not a target task" in m and "xnli" in m
    assert "Did you mean 'pawsx'" in err({**HUB, "targets": ["paws-x"]})


def test_check_languages_against_the_study_targets():
    m = err({**HUB, "targets": ["xnli", "pawsx"], "languages": ["en", "ja", "yo"]})
    assert "languages: 'yo' is not a language of any target of the study (xnli, pawsx)." in m
    assert "Valid: ar, bg, de, el, en, es, fr, hi, ja, ko, ru, sw, th, tr, ur, vi, zh" in m
    check_study_tasks(parse_params({**HUB, "targets": ["xnli", "panx"], "languages": ["yo", "sw"]}))
    check_study_tasks(parse_params({**HUB, "source": "local", "targets": ["xcopa"], "languages": ["qu"]}))


def test_check_data_overrides():
    assert "data: 'squad1' is not a task. Did you mean 'squad'?" in err({**HUB, "data": {"squad1": {}}})
    assert "data.mnli.train: unknown task 'snil'" in err({**HUB, "data": {"mnli": {"train": ["snil:dev"]}}})
    assert "not 'task:split'" in err({**HUB, "data": {"mnli": {"train": ["snli"]}}})
    assert "data.xnli.eval_split: task 'xnli' has no split 'train'" in err({**HUB, "data": {"xnli": {"eval_split": "train"}}})
    ok = {**HUB, "intermediates": ["anli"], "data": {"anli": {"train": ["snli:dev", "anli-rounds:dev"], "dev": "anli:dev_r3"},
                                                     "xnli": {"eval_split": "dev"}}}
    assert check_study_tasks(parse_params(ok)).data["anli"].dev == "anli:dev_r3"
    check_study_tasks(parse_params({**HUB, "data": {"mnli": {"dev": "holdout"}}}))


class _FakeWorld:
    @staticmethod
    def world_languages(): return ["en", "xa", "xb"]


def test_embedded_languages_come_from_the_world(monkeypatch):
    monkeypatch.setitem(sys.modules, "xstilts.world", _FakeWorld)
    p = parse_params({"study": "s", "source": "embedded", "targets": ["xnli", "udpos"], "languages": ["xb", "en"]})
    check_study_tasks(p)
    assert eval_languages("xnli", p) == ["en", "xb"]
    m = err({"study": "s", "source": "embedded", "languages": ["de"]})
    assert "languages: 'de' is not a language of the embedded world. Valid: en, xa, xb" in m


def test_embedded_check_is_skipped_without_a_world(monkeypatch):
    monkeypatch.setitem(sys.modules, "xstilts.world", None)  # import raises ImportError
    check_study_tasks(parse_params({"study": "s", "source": "embedded", "languages": ["zz"]}))
    # ...but the other checks still run
    err({"study": "s", "source": "embedded", "targets": ["xnlii"]})


def test_eval_languages():
    p = parse_params(HUB)
    assert eval_languages("xnli", p) == ["en", "ar", "bg", "de", "el", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh"]
    assert eval_languages("tydiqa", p)[0] == "en" and len(eval_languages("panx", p)) == 40
    assert "en" not in eval_languages("tatoeba", p) and len(eval_languages("tatoeba", p)) == 36
    p = parse_params({**HUB, "targets": ["xquad", "xcopa"], "languages": ["th", "qu", "en"]})
    assert eval_languages("xquad", p) == ["en", "th"] and eval_languages("xcopa", p) == ["qu", "th"]  # task order, English first


# --- against the real data folder -----------------------------------------------------------------------

DATA = os.environ.get("XSTILTS_DATA")
needs_data = pytest.mark.skipif(not DATA or not os.path.isdir(DATA), reason="XSTILTS_DATA not set: real-data tests need ../shared/data")

@needs_data
def test_local_files_name_only_registry_languages():
    d = Path(DATA)
    files = {
        "xnli": {re.match(r"dev-(\w+)\.tsv", f.name).group(1) for f in (d/"xnli").glob("dev-*.tsv")},
        "pawsx": {re.match(r"dev-(\w+)\.tsv", f.name).group(1) for f in (d/"pawsx").glob("dev-*.tsv")},
        "xcopa": {f.name.split(".")[1] for f in (d/"xcopa").glob("val.*.jsonl")},
        "panx": {f.name for f in (d/"panx").iterdir() if f.is_dir()},
        "mlqa": {re.match(r"dev-context-(\w+)-question", f.name).group(1) for f in (d/"mlqa").rglob("dev-context-*.json")},
    }
    assert files["xnli"] == EXPECTED["xnli"] and files["pawsx"] == EXPECTED["pawsx"] and files["xcopa"] == EXPECTED["xcopa"]
    assert files["mlqa"] == EXPECTED["mlqa"] and files["panx"] <= EXPECTED["panx"] and len(files["panx"]) == 30
    iso3 = {f.name.split(".")[1].split("-")[0] for f in (d/"tatoeba").glob("tatoeba.*-eng.eng")}
    assert iso3 and iso3 <= set(T.TATOEBA_ISO3.values())
