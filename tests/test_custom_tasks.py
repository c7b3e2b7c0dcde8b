"""Tasks declared in a params file (`tasks:`): a new intermediate task (BoolQ, JSON lines without ids) and a new
two-language pair-classification target (tsv with a header), run end to end from the params alone."""
import json, os, pickle, random, shutil, subprocess, sys
from pathlib import Path
import pandas as pd, pytest, yaml
from conftest import ROOT, xstilts
from xstilts.core import XStiltsError, load_params, parse_params, RunId
from xstilts import tasks as T
from xstilts.data import load_examples

EXAMPLE = ROOT/"params"/"custom_task.yaml"

# ---------------------------------------------------------------- the example's data, written by the test

PLACES = ["alm", "berk", "sela", "dorn", "vik", "tarn", "lune", "oska"]
THINGS = ["river", "road", "railway", "canal"]
NOUNS = ["cat", "dog", "bird", "child", "farmer", "teacher", "doctor", "sailor"]
VERBS = ["sees", "helps", "follows", "calls", "finds", "meets"]
PLACES2 = ["market", "garden", "harbour", "station", "school", "bridge"]

def xx(s): return " ".join(w[::-1] for w in s.split())   # the made-up second language: every word spelt backwards

def boolq(rng, n):
    "BoolQ-style records: question, passage, answer (true/false), no id."
    out = []
    for _ in range(n):
        thing, a, b = rng.choice(THINGS), *rng.sample(PLACES, 2)
        asked = rng.choice([a, b])
        out.append({"question": f"does the {thing} of {a} run to {asked}", "passage": f"The {thing} of {a.title()} runs to {b.title()}, and it is old.",
                    "answer": asked == b})
    return out

def pairs(rng, n, lang):
    "Sentence pairs (id, sentence1, sentence2, label): 1 where the second says the same as the first in another order."
    rows = []
    for i in range(n):
        s, v, o, p = rng.choice(NOUNS), rng.choice(VERBS), rng.choice(NOUNS), rng.choice(PLACES2)
        same = rng.random() < 0.5
        a, b = f"the {s} {v} the {o} at the {p}", f"at the {p} the {s} {v} the {o}" if same else f"at the {p} the {o} {v} the {s}"
        rows.append((f"{lang}-{i + 1}", xx(a) if lang == "xx" else a, xx(b) if lang == "xx" else b, "1" if same else "0"))
    return rows

def write_data(root, n_train=48, n_eval=16) -> dict:
    "The example's files under `root` (as examples/custom_task/ holds them); returns the gold labels: {(task, split, lang): {id: label}}."
    root, rng, gold = Path(root), random.Random(0), {}
    (root/"boolq").mkdir(parents=True, exist_ok=True); (root/"mypair").mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("dev", n_eval)):
        recs = boolq(rng, n)
        (root/f"boolq/{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
        gold[("boolq", split, "en")] = {f"en-{split}-{k}": "yes" if r["answer"] else "no" for k, r in enumerate(recs, 1)}   # ids: line numbers
    for split, langs, n in (("train", ["en"], n_train), ("dev", ["en", "xx"], n_eval), ("test", ["en", "xx"], n_eval)):
        for lang in langs:
            rows = pairs(rng, n, lang)
            (root/f"mypair/{split}-{lang}.tsv").write_text("id\tsentence1\tsentence2\tlabel\n" + "".join("\t".join(r) + "\n" for r in rows))
            gold[("mypair", split, lang)] = {i: y for i, _, _, y in rows}
    return gold

@pytest.fixture
def study(tmp_path, xs_env, monkeypatch):
    "The example params file copied into tmp_path, its data written beside it by this test; (params path, gold labels, env)."
    (tmp_path/"params").mkdir(); shutil.copy(EXAMPLE, tmp_path/"params"/EXAMPLE.name)
    gold = write_data(tmp_path/"examples"/"custom_task")
    (tmp_path/"data").mkdir()   # source: local needs XSTILTS_DATA; the declared tasks' files are beside the params
    env = {**xs_env, "XSTILTS_DATA": str(tmp_path/"data")}; monkeypatch.setenv("XSTILTS_DATA", env["XSTILTS_DATA"])
    yield tmp_path/"params"/EXAMPLE.name, gold, env
    T.set_user_tasks({})   # this process's registry: the built-in tasks again

@pytest.fixture(autouse=True)
def builtin_registry():
    yield
    T.set_user_tasks({})

# ---------------------------------------------------------------- the example and its files

def test_example_files_are_what_the_test_writes(tmp_path):
    write_data(tmp_path)
    mine = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    repo = ROOT/"examples"/"custom_task"
    assert mine == sorted(p.relative_to(repo) for p in repo.rglob("*") if p.is_file())
    for f in mine: assert (tmp_path/f).read_bytes() == (repo/f).read_bytes(), f

def test_declared_tasks_join_the_registry_beside_the_built_in_ones(study):
    f, gold, env = study
    builtin = dict(T.BUILTIN_TASKS)
    p = load_params(f, quick=True)
    assert T.user_tasks() == ["boolq", "mypair"] and {**builtin, "boolq": T.TASKS["boolq"], "mypair": T.TASKS["mypair"]} == T.TASKS
    assert dict(T.BUILTIN_TASKS) == builtin and "boolq" in T.intermediate_tasks() and T.target_tasks()[-1] == "mypair"
    b, m = T.get_task("boolq"), T.get_task("mypair")
    assert (b.format, b.labels, b.languages, b.splits, b.train_source, b.benchmark) == ("pair-classification", ("no", "yes"), ("en",), ("train", "dev"), None, "custom")
    assert (m.labels, m.languages, m.train_source, m.metric, m.target, m.benchmark) == (("0", "1"), ("en", "xx"), "mypair", "accuracy", True, "custom")
    assert p.tasks["boolq"].paths["train"] == str(f.parent.parent/"examples/custom_task/boolq/{split}.jsonl"), "../ is beside the params file"
    parse_params({"study": "other"})   # params without declarations: built-in tasks only
    assert T.TASKS == builtin and T.user_tasks() == []

def test_generic_reader_reads_labels_and_makes_ids(study):
    f, gold, env = study
    load_params(f)
    for split in ("train", "dev"):   # BoolQ: JSON true/false mapped to yes/no; no ids in the file, so line numbers
        ex = load_examples("boolq", split, "en", data_dir=env["XSTILTS_DATA"])
        assert {e["id"]: e["label"] for e in ex} == gold[("boolq", split, "en")]
        assert ex[0]["text_a"].startswith("does the") and ex[0]["text_b"].startswith("The ")
    for split, lang in (("train", "en"), ("dev", "xx"), ("test", "en"), ("test", "xx")):   # the tsv's own ids and labels
        ex = load_examples("mypair", split, lang, data_dir=env["XSTILTS_DATA"])
        assert {e["id"]: e["label"] for e in ex} == gold[("mypair", split, lang)]

def test_declared_tasks_reach_worker_processes(study):
    "The grid's pool workers get the params pickled (`grid._encoder_job`); unpickled there, the declared tasks join that registry."
    f, gold, env = study
    p = load_params(f, quick=True)
    code = "import pickle, sys; from xstilts.tasks import get_task; p = pickle.loads(sys.stdin.buffer.read()); print(get_task('mypair').languages, p.study)"
    r = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(p), capture_output=True, cwd=ROOT, env=env, timeout=120)
    assert r.returncode == 0 and r.stdout.decode().strip() == "('en', 'xx') custom-task-quick", r.stderr.decode()[-2000:]

# ---------------------------------------------------------------- end to end

def test_declared_tasks_run_end_to_end(study):
    """`xstilts run` on the example (quick): phase 1 on the declared BoolQ, phase 2 on the declared target's English
    train split, zero-shot on its other language, in papermill kernels that load the params themselves; the recorded
    scores are those the saved predictions give, and the gold labels are the ones this test wrote."""
    f, gold, env = study
    r = xstilts("run", f, "--quick", "--threads", "1", env=env, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    runs, reports = Path(env["XSTILTS_RUNS"])/"custom-task-quick", Path(env["XSTILTS_REPORTS"])/"custom-task-quick"
    ids = {i: runs/str(RunId("tiny-xs", i, "mypair", 1)) for i in ("none", "boolq")}
    for inter, d in ids.items():
        assert (d/"DONE").exists(), inter
        preds, m = pd.read_parquet(d/"predictions.parquet"), json.loads((d/"metrics.json").read_text())
        assert set(preds.language) == {"en", "xx"} and set(preds.perturbation) == {"clean"} and (preds.target == "mypair").all()
        for lang, g in preds.groupby("language"):
            assert dict(zip(g.example_id, g.gold)) == gold[("mypair", "test", lang)], "gold labels are the ones written"
            assert (g.score == (g.gold == g.prediction)).all()
            s = next(s for s in m["scores"] if s["language"] == lang and s["perturbation"] == "clean")
            assert s["metric"] == "accuracy" and s["n"] == len(g) == 16 and s["value"] == pytest.approx((g.gold == g.prediction).mean())
        assert m["phase2"]["data"]["train"] == ["mypair:train"] and m["phase2"]["data"]["n_train"] == 48 and m["phase2"]["labels"] == ["0", "1"]
        assert yaml.safe_load((d/"params.yaml").read_text())["languages"] == ["en", "xx"]
    h1 = json.loads((ids["boolq"]/"metrics.json").read_text())["phase1"]
    assert h1["data"]["train"] == ["boolq:train"] and h1["data"]["dev"] == "boolq:dev" and h1["data"]["n_train"] == 48 and h1["labels"] == ["no", "yes"]
    assert json.loads((ids["none"]/"metrics.json").read_text())["phase1"] == {}
    for nb in reports.glob("*.ipynb"):   # the task pairs' notebooks and the summary ran without an error output
        cells = json.loads(nb.read_text())["cells"]
        assert not [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"], nb.name
    assert "mypair" in (reports/"summary.html").read_text()

def test_declarations_are_recorded_for_declared_tasks_only(study):
    "A declared task's settings are part of its runs' params (a changed declaration is another run); built-in runs' params are as before."
    from xstilts.pipeline import run_params
    f, gold, env = study
    p = load_params(f, quick=True)
    rec = run_params(p, RunId("tiny-xs", "boolq", "mypair", 1))["tasks"]
    assert set(rec) == {"boolq", "mypair"} and rec["mypair"]["languages"] == ["en", "xx"] and "description" not in rec["mypair"]
    assert rec["boolq"]["reader"] == {"type": "jsonl", "text_a": "question", "text_b": "passage", "label": "answer", "label_map": {"true": "yes", "false": "no"}}
    assert set(run_params(p, RunId("tiny-xs", "none", "mypair", 1))["tasks"]) == {"mypair"}
    q = parse_params({"study": "b", "source": "local", "models": ["tiny-xs"], "targets": ["xnli"], "intermediates": ["mnli"]})
    assert "tasks" not in run_params(q, RunId("tiny-xs", "mnli", "xnli", 1))

# ---------------------------------------------------------------- bad declarations: one line each

def _bad(study, change:dict, task="boolq") -> str:
    f, gold, env = study
    d = yaml.safe_load(f.read_text())
    for k, v in change.items():
        if v is None: d["tasks"][task].pop(k)
        else: d["tasks"][task][k] = v
    bad = f.with_name("bad.yaml"); bad.write_text(yaml.safe_dump(d))
    with pytest.raises(XStiltsError) as e: load_params(bad)
    assert "\n" not in str(e.value) and str(e.value).startswith(f"{bad}: "), str(e.value)
    return str(e.value).removeprefix(f"{bad}: ")

def test_bad_declarations_are_one_line(study):
    assert _bad(study, {"format": "pair-clasification"}).startswith("tasks.boolq.format: 'pair-clasification' is not a task format. Did you mean 'pair-classification'?")
    assert _bad(study, {"metric": "f1"}).startswith("tasks.boolq.metric: 'f1' is not a metric. Valid: accuracy, bucc-f1")
    assert _bad(study, {"metric": "squad"}) == "tasks.boolq: metric 'squad' does not score pair-classification tasks: one of accuracy"
    assert _bad(study, {"reader": "jsonll"}).startswith("tasks.boolq.reader.type: 'jsonll' is not a reader. Did you mean 'jsonl'?")
    assert _bad(study, {"reader": {"type": "jsonl", "label": "answer"}}) == "tasks.boolq.reader: the jsonl reader needs text_a: the field of the text"
    assert _bad(study, {"reader": {"type": "jsonl", "text_a": "question", "label_mapp": {}}}).startswith("unknown key 'tasks.boolq.reader.label_mapp'. Did you mean 'label_map'?")
    assert _bad(study, {"paths": None}) == "tasks.boolq.paths: Field required"
    assert _bad(study, {"format": None}) == "tasks.boolq.format: Field required"
    assert _bad(study, {"paths": {"train": "b/{lng}.jsonl"}}).startswith("tasks.boolq.paths: train: 'b/{lng}.jsonl' holds {lng}")
    assert _bad(study, {"reader": "conllu"}) == "tasks.boolq: reader: 'conllu' reads tagging files, not pair-classification"
    assert _bad(study, {"labels": ["no", "maybe"]}) == "tasks.boolq: reader.label_map: 'yes' is not one of the labels (no, maybe)"
    assert _bad(study, {"paths": {"dev": "x/dev.tsv", "test": "x/test.tsv"}}, "mypair").startswith("tasks.mypair: paths.dev: 'x/dev.tsv' has no {lang}")
    assert _bad(study, {"train_source": "boolq"}, "mypair").startswith("tasks.mypair.train_source: 'boolq' is a pair-classification task with labels ('no', 'yes')")
    f, gold, env = study
    d = yaml.safe_load(f.read_text()); d["tasks"]["xnli"] = d["tasks"].pop("mypair"); d["targets"] = ["xnli"]
    (f.parent/"clash.yaml").write_text(yaml.safe_dump(d))
    r = xstilts("check", f.parent/"clash.yaml", env=env, timeout=120)   # from the command line: one line, exit code 2
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [f"xstilts: {f.parent/'clash.yaml'}: tasks.xnli: 'xnli' is a built-in task; declare yours under another name"], r.stderr

def test_declared_tasks_need_the_local_source_and_their_files(study):
    f, gold, env = study
    d = yaml.safe_load(f.read_text()); d["source"] = "hub"; (f.parent/"hub.yaml").write_text(yaml.safe_dump(d))
    with pytest.raises(XStiltsError, match=r"task 'mypair' is declared in `tasks:` and read from local files, but the study's source is hub: use source: local"):
        load_params(f.parent/"hub.yaml")
    from xstilts.cli import check_data
    p = load_params(f, quick=True)
    assert check_data(p, "s.yaml").startswith("data: all")
    (f.parent.parent/"examples/custom_task/mypair/test-xx.tsv").unlink()
    with pytest.raises(XStiltsError) as e: check_data(p, "s.yaml")
    assert "examples/custom_task/mypair/test-xx.tsv (mypair:test xx)" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(XStiltsError, match="test-xx.tsv: no such file, needed for mypair:test .lang 'xx'. .* Languages present: en"):
        load_examples("mypair", "test", "xx", data_dir=env["XSTILTS_DATA"])
