"""Tests of issue #39 item 3: the official release layouts beside XTREME's processed files.

Each release is written here, small, in its exact format:
- XNLI-1.0's `xnli.dev.tsv` / `xnli.test.tsv` (every language in one file; the header of the XNLI-1.0 zip);
- PAWS-X's `x-final/<lang>/{dev_2k,test_2k,train,translated_train}.tsv` (`id sentence1 sentence2 label`, with a header;
  google-research-datasets/paws, pawsx/README.md);
- TyDiQA-GoldP's dev: `tydiqa-goldp-v1.1-dev.json` (every language) and the tarball's `tydiqa-goldp-v1.1-dev/
  tydiqa-goldp-dev-<name>.json` (google-research-datasets/tydiqa, README.md);
and XTREME's processed files are made from them the way XTREME's `utils_preprocess.py` makes them (google-research/xtreme:
`xnli_preprocess`, `pawsx_preprocess`, `tydiqa_preprocess`), so that the two layouts of the same data can be compared."""
import csv, json
from pathlib import Path
import pytest
from xstilts.core import XStiltsError, parse_params
from xstilts.data import load_examples, local_status, local_missing, layout_names, read_file, NLI, BINARY

def err(f, *a, **k) -> str:
    with pytest.raises(XStiltsError) as e: f(*a, **k)
    assert "\n" not in str(e.value), "errors are one line"
    return str(e.value)

# ---------------------------------------------------------------- the releases, in their exact formats

XNLI_HEADER = ["language", "gold_label", "sentence1_binary_parse", "sentence2_binary_parse", "sentence1_parse", "sentence2_parse",
               "sentence1", "sentence2", "promptID", "pairID", "genre", "label1", "label2", "label3", "label4", "label5",
               "sentence1_tokenized", "sentence2_tokenized", "match"]
XNLI_ROWS = [  # (language, gold_label, sentence1, sentence2, pairID): languages interleaved, as a test of the order within one
    ("de", "neutral", "Und er sagte: Mama, ich bin daheim.", "Er rief seine Mutter an.", "1"),
    ("en", "neutral", "And he said, Mama, I'm home.", "He called his mom as soon as the school bus dropped him off.", "1"),
    ("en", "contradiction", "And he said, Mama, I'm home.", "He didn't say a word.", "2"),
    ("de", "contradiction", "Und er sagte: Mama, ich bin daheim.", "Er sagte kein Wort.", "2"),
    ("fr", "entailment", "Et il a dit, maman, je suis à la maison.", "Il a dit à sa mère qu'il était rentré.", "3"),
    ("en", "entailment", "And he said, Mama, I'm home. ", " He told his mom he had gotten home.", "3"),
    ("de", "entailment", "Und er sagte: Mama, ich bin daheim.", "Er sagte seiner Mutter, er sei zu Hause.", "3"),
]

def xnli_release(folder:Path, split:str, rows=XNLI_ROWS) -> Path:
    "XNLI-1.0's xnli.<split>.tsv: a header, then one row per pair and language (parses, tokenized forms, annotator labels)."
    f = folder/"xnli"/"XNLI-1.0"/f"xnli.{split}.tsv"; f.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(XNLI_HEADER)]
    for lang, gold, s1, s2, pid in rows:
        lines.append("\t".join([lang, gold, f"( {s1} )", f"( {s2} )", f"(ROOT (S {s1}))", f"(ROOT (S {s2}))", s1, s2, str(int(pid) + 100), pid,
                                "facetoface", gold, gold, "neutral", gold, gold, s1, s2, "True"]))
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return f

def xtreme_xnli(release:Path, out:Path, split:str, keep_labels:bool):
    "XTREME's `xnli_preprocess._preprocess_file`: one `<split>-<lang>.tsv` per language, csv-written; its later version drops test labels."
    langs = {}
    for i, line in enumerate(open(release, encoding="utf-8")):
        if i == 0: continue
        items = line.strip().split("\t")
        label = "contradiction" if items[1].strip() == "contradictory" else items[1].strip()
        langs.setdefault(items[0].strip(), []).append((" ".join(items[6].strip().split(" ")), " ".join(items[7].strip().split(" ")), label))
    out.mkdir(parents=True, exist_ok=True)
    for lang, pairs in langs.items():
        with open(out/f"{split}-{lang}.tsv", "w", encoding="utf-8", newline="") as fout:
            w = csv.writer(fout, delimiter="\t")
            for s1, s2, y in pairs: w.writerow([s1, s2, y] if keep_labels else [s1, s2])

PAWSX = {  # lang: rows (id, sentence1, sentence2, label) of dev_2k.tsv
    "en": [("1", "In Paris , in October 1560 , he secretly met the English ambassador .", "In October 1560 , he secretly met with the English ambassador in Paris .", "0"),
           ("2", "The NBA season of 1975 -- 76 was the 30th season of the National Basketball Association .", "The 1975 -- 76 season of the National Basketball Association was the 30th season of the NBA .", "1")],
    "de": [("1", "Im Oktober 1560 traf er sich in Paris heimlich mit dem englischen Botschafter .", "Im Oktober 1560 traf er sich heimlich mit dem englischen Botschafter in Paris .", "0"),
           ("2", "NS", "Die Saison 1975 - 76 der National Basketball Association war die 30. Saison der NBA .", "1")],
}

def pawsx_release(folder:Path, lang:str, name:str, rows) -> Path:
    "A PAWS-X release file, x-final/<lang>/<name>.tsv: the header `id sentence1 sentence2 label`, then tab-separated rows, no quoting."
    f = folder/"pawsx"/"x-final"/lang/f"{name}.tsv"; f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text("id\tsentence1\tsentence2\tlabel\n" + "".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")
    return f

def xtreme_pawsx(release:Path, outfile:Path, remove_label=False):
    "XTREME's `pawsx_preprocess._preprocess_one_file`: skip the header, keep sentence1, sentence2, label, csv-written."
    data = []
    for i, line in enumerate(open(release, encoding="utf-8")):
        if i == 0: continue
        items = line.strip().split("\t")
        data.append([" ".join(items[1].strip().split(" ")), " ".join(items[2].strip().split(" ")), items[3]])
    outfile.parent.mkdir(parents=True, exist_ok=True)
    with open(outfile, "w", encoding="utf-8", newline="") as fout:
        w = csv.writer(fout, delimiter="\t")
        for s1, s2, y in data: w.writerow([s1, s2] if remove_label else [s1, s2, y])

TYDIQA = [  # (id, context, question, answer): ids begin with the language's name
    ("arabic-2387335860751143628-1", "بيروت هي عاصمة لبنان وأكبر مدنه.", "ما هي عاصمة لبنان؟", "بيروت"),
    ("finnish--2838045468262476587-0", "Helsinki on Suomen pääkaupunki.", "Mikä on Suomen pääkaupunki?", "Helsinki"),
    ("arabic-7213963236547210419-0", "نهر النيل أطول أنهار العالم.", "ما أطول نهر في العالم؟", "نهر النيل"),
]

def squad_file(f:Path, rows) -> Path:
    "A TyDiQA-GoldP file: SQuAD v1.1 JSON, one paragraph per question as the release writes it."
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(json.dumps({"version": "TyDiQA-GoldP-1.1-for-SQuAD-1.1", "data": [{"paragraphs": [{"context": c, "qas": [
        {"id": i, "question": q, "answers": [{"text": a, "answer_start": c.index(a)}]}]}]} for i, c, q, a in rows]}, ensure_ascii=False), encoding="utf-8")
    return f

# ---------------------------------------------------------------- XNLI-1.0

def test_xnli_release_reads_each_language(tmp_path):
    xnli_release(tmp_path, "dev")
    de = load_examples("xnli", "dev", "de", data_dir=tmp_path)
    assert de == [{"id": "de-dev-1", "text_a": "Und er sagte: Mama, ich bin daheim.", "text_b": "Er rief seine Mutter an.", "label": "neutral"},
                  {"id": "de-dev-2", "text_a": "Und er sagte: Mama, ich bin daheim.", "text_b": "Er sagte kein Wort.", "label": "contradiction"},
                  {"id": "de-dev-3", "text_a": "Und er sagte: Mama, ich bin daheim.", "text_b": "Er sagte seiner Mutter, er sei zu Hause.", "label": "entailment"}]
    en = load_examples("xnli", "dev", "en", data_dir=tmp_path)
    assert [(e["id"], e["label"]) for e in en] == [("en-dev-1", "neutral"), ("en-dev-2", "contradiction"), ("en-dev-3", "entailment")]
    assert en[2]["text_a"] == "And he said, Mama, I'm home." and en[2]["text_b"] == "He told his mom he had gotten home."   # stripped
    assert [e["label"] for e in load_examples("xnli", "dev", "fr", data_dir=tmp_path)] == ["entailment"]
    assert local_status("xnli", "dev", "de", tmp_path)[0]["found"] == [tmp_path.resolve()/"xnli/XNLI-1.0/xnli.dev.tsv"]
    assert err(load_examples, "xnli", "dev", "sw", data_dir=tmp_path).endswith("no rows of language 'sw' (column language); it has de, en, fr")

def test_xnli_release_test_split_and_labels(tmp_path):
    "The labelled test split is read with eval_split: test; `contradictory` (XNLI-MT's spelling) is `contradiction`; bad labels fail."
    xnli_release(tmp_path, "test", [("de", "contradictory", "A", "B", "1"), ("de", "entailment", "C", "D", "2")])
    assert [(e["id"], e["label"]) for e in load_examples("xnli", "test", "de", data_dir=tmp_path)] == [("de-test-1", "contradiction"), ("de-test-2", "entailment")]
    f = xnli_release(tmp_path, "test", [("de", "entailment", "A", "B", "1"), ("de", "maybe", "C", "D", "2")])
    assert err(load_examples, "xnli", "test", "de", data_dir=tmp_path) == f"{f}:3: label 'maybe' is not one of entailment, neutral, contradiction"
    f.write_text("language\tgold_label\tsentence1\nde\tentailment\tA\n")
    assert err(load_examples, "xnli", "test", "de", data_dir=tmp_path).startswith(
        f"{f}:1: expected an XNLI-1.0 header with tab-separated columns language, gold_label, sentence1, sentence2 (missing sentence2)")

@pytest.mark.parametrize("split", ["dev", "test"])
def test_xnli_xtreme_and_release_give_the_same_examples(tmp_path, split):
    release, xtreme = tmp_path/"release", tmp_path/"xtreme"
    xnli_release(release, split)
    xtreme_xnli(release/"xnli/XNLI-1.0"/f"xnli.{split}.tsv", xtreme/"xnli", split, keep_labels=True)
    for lang in ("de", "en", "fr"):
        a, b = load_examples("xnli", split, lang, data_dir=xtreme), load_examples("xnli", split, lang, data_dir=release)
        assert a == b and len(a) == sum(r[0] == lang for r in XNLI_ROWS)
        assert local_status("xnli", split, lang, xtreme)[0]["found"] == [(xtreme/"xnli"/f"{split}-{lang}.tsv").resolve()]

def test_xtreme_first_where_both_are_there(tmp_path):
    "XTREME's processed file keeps precedence: what a study read before a release was added, it reads after."
    xnli_release(tmp_path, "dev")
    (tmp_path/"xnli/dev-de.tsv").write_text("X\tY\tneutral\n")
    assert load_examples("xnli", "dev", "de", data_dir=tmp_path) == [{"id": "de-dev-1", "text_a": "X", "text_b": "Y", "label": "neutral"}]
    assert len(load_examples("xnli", "dev", "en", data_dir=tmp_path)) == 3   # no XTREME file for en: the release
    pawsx_release(tmp_path, "de", "dev_2k", PAWSX["de"])
    (tmp_path/"pawsx/dev-de.tsv").write_text("X\tY\t1\n")
    assert [e["text_a"] for e in load_examples("pawsx", "dev", "de", data_dir=tmp_path)] == ["X"]

def test_xtreme_test_without_labels_is_passed_over(tmp_path):
    "XTREME's later script writes test files without labels: such a file is not read; the release is, or one line says why not."
    release = xnli_release(tmp_path, "test")
    xtreme_xnli(release, tmp_path/"xnli", "test", keep_labels=False)
    release.unlink()
    f = (tmp_path/"xnli/test-de.tsv").resolve()
    assert local_missing("xnli", "test", "de", tmp_path) == [f] and local_status("xnli", "test", "de", tmp_path)[0]["unlabelled"] == [f]
    assert err(load_examples, "xnli", "test", "de", data_dir=tmp_path) == (
        f"{f}: no gold labels (XTREME's later download script removes them), needed for xnli:test (lang 'de') from the local data folder "
        f"{tmp_path.resolve()} (XSTILTS_DATA). Other layouts it knows: xnli/XNLI-1.0/xnli.test.tsv")
    xnli_release(tmp_path, "test")
    assert [e["label"] for e in load_examples("xnli", "test", "de", data_dir=tmp_path)] == ["neutral", "contradiction", "entailment"]
    xtreme_xnli(release, tmp_path/"xnli", "test", keep_labels=True)   # an older XTREME kept them: its file is read
    assert local_status("xnli", "test", "de", tmp_path)[0]["found"] == [f]

# ---------------------------------------------------------------- PAWS-X x-final

def test_pawsx_release_dev_and_test(tmp_path):
    pawsx_release(tmp_path, "de", "dev_2k", PAWSX["de"]); pawsx_release(tmp_path, "de", "test_2k", PAWSX["de"][::-1])
    assert load_examples("pawsx", "dev", "de", data_dir=tmp_path) == [
        {"id": "de-dev-1", "text_a": PAWSX["de"][0][1], "text_b": PAWSX["de"][0][2], "label": "0"},
        {"id": "de-dev-2", "text_a": "NS", "text_b": PAWSX["de"][1][2], "label": "1"}]   # 'NS' (not translated) is kept, as XTREME keeps it
    assert [(e["id"], e["label"]) for e in load_examples("pawsx", "test", "de", data_dir=tmp_path)] == [("de-test-1", "1"), ("de-test-2", "0")]
    f = pawsx_release(tmp_path, "de", "test_2k", [("1", "A", "B", "2")])
    assert err(load_examples, "pawsx", "test", "de", data_dir=tmp_path) == f"{f}:2: label '2' is not one of 0, 1"
    f.write_text("id\tsentence1\tsentence2\tlabel\n1\tA\tB\n")
    assert err(load_examples, "pawsx", "test", "de", data_dir=tmp_path) == f"{f}:2: expected 4 tab-separated fields (as in the header), got 3"
    f.write_text("1\tA\tB\t1\n")
    assert err(load_examples, "pawsx", "test", "de", data_dir=tmp_path).startswith(f"{f}:1: expected a PAWS-X header with tab-separated columns id, sentence1, sentence2, label")

def test_pawsx_release_train(tmp_path):
    "English trains on x-final/en/train.tsv; the other languages' machine-translated train drops (and counts) rows that are not a labelled pair."
    pawsx_release(tmp_path, "en", "train", PAWSX["en"])
    assert [(e["id"], e["label"]) for e in load_examples("pawsx", "train", "en", data_dir=tmp_path)] == [("en-train-1", "0"), ("en-train-2", "1")]
    f = tmp_path/"pawsx/x-final/de/translated_train.tsv"; f.parent.mkdir(parents=True)
    f.write_text("id\tsentence1\tsentence2\tlabel\n1\tA\tB\t0\n2\tC\tD\n3\tE\tF\t\n4\t\tH\t1\n5\tI\tJ\t1\n")
    ex = load_examples("pawsx", "train", "de", data_dir=tmp_path)
    assert [(e["id"], e["text_a"], e["label"]) for e in ex] == [("de-train-1", "A", "0"), ("de-train-4", "", "1"), ("de-train-5", "I", "1")]
    assert local_status("pawsx", "train", "de", tmp_path)[0]["found"] == [f.resolve()]
    assert layout_names("pawsx", "train") == ["pawsx/train-{lang}.tsv", "pawsx/x-final/{lang}/train.tsv", "pawsx/x-final/{lang}/translated_train.tsv"]

@pytest.mark.parametrize("split,name", [("dev", "dev_2k"), ("test", "test_2k")])
def test_pawsx_xtreme_and_release_give_the_same_examples(tmp_path, split, name):
    release, xtreme = tmp_path/"release", tmp_path/"xtreme"
    for lang, rows in PAWSX.items():
        xtreme_pawsx(pawsx_release(release, lang, name, rows), xtreme/"pawsx"/f"{split}-{lang}.tsv")
        a, b = load_examples("pawsx", split, lang, data_dir=xtreme), load_examples("pawsx", split, lang, data_dir=release)
        assert a == b and len(a) == len(rows)
        assert local_status("pawsx", split, lang, xtreme)[0]["found"] == [(xtreme/"pawsx"/f"{split}-{lang}.tsv").resolve()]

def test_pawsx_xtreme_quotes_differ(tmp_path):
    """The one difference between the layouts: XTREME's csv writer quotes a sentence that holds a `"`, and `xtreme_pair_tsv`
    reads the quotes as text (as the studies so far have read XTREME's PAWS-X files); the release has the sentence as it is."""
    release, xtreme = tmp_path/"release", tmp_path/"xtreme"
    xtreme_pawsx(pawsx_release(release, "fr", "dev_2k", [("1", 'Il a joué dans "Rang De Basanti" .', "B", "0")]), xtreme/"pawsx/dev-fr.tsv")
    assert (xtreme/"pawsx/dev-fr.tsv").read_bytes().decode() == '"Il a joué dans ""Rang De Basanti"" ."\tB\t0\r\n'
    assert load_examples("pawsx", "dev", "fr", data_dir=release)[0]["text_a"] == 'Il a joué dans "Rang De Basanti" .'
    assert load_examples("pawsx", "dev", "fr", data_dir=xtreme)[0]["text_a"] == '"Il a joué dans ""Rang De Basanti"" ."'

def test_pawsx_xtreme_test_without_labels(tmp_path):
    xtreme_pawsx(pawsx_release(tmp_path, "de", "test_2k", PAWSX["de"]), tmp_path/"pawsx/test-de.tsv", remove_label=True)
    assert [e["label"] for e in load_examples("pawsx", "test", "de", data_dir=tmp_path)] == ["0", "1"]   # the release, not the label-less copy
    (tmp_path/"pawsx/x-final/de/test_2k.tsv").unlink()
    assert "no gold labels" in err(load_examples, "pawsx", "test", "de", data_dir=tmp_path)

# ---------------------------------------------------------------- TyDiQA-GoldP dev

def test_tydiqa_dev_by_language_name(tmp_path):
    "The dev tarball's files are named by language name (tydiqa-goldp-dev-arabic.json); XTREME renames them tydiqa.goldp.ar.dev.json."
    d = tmp_path/"tydiqa/tydiqa-goldp-v1.1-dev"
    squad_file(d/"tydiqa-goldp-dev-arabic.json", [r for r in TYDIQA if r[0].startswith("arabic")])
    ar = load_examples("tydiqa", "dev", "ar", data_dir=tmp_path)
    assert [e["id"] for e in ar] == ["arabic-2387335860751143628-1", "arabic-7213963236547210419-0"]
    assert ar[0]["answers"] == {"text": ["بيروت"], "answer_start": [0]} and ar[1]["question"] == "ما أطول نهر في العالم؟"
    assert local_status("tydiqa", "dev", "ar", tmp_path)[0]["found"] == [(d/"tydiqa-goldp-dev-arabic.json").resolve()]
    (d/"tydiqa-goldp-dev-arabic.json").rename(d/"tydiqa.goldp.ar.dev.json")   # XTREME's rename: the same file, the same examples
    assert load_examples("tydiqa", "dev", "ar", data_dir=tmp_path) == ar
    m = err(load_examples, "tydiqa", "dev", "fi", data_dir=tmp_path)
    assert m.endswith("Languages present: ar. Other layouts it knows: tydiqa/tydiqa-goldp-v1.1-dev/tydiqa-goldp-dev-{lang_name}.json, "
                      "tydiqa/tydiqa-goldp-v1.1-dev.json"), m

def test_tydiqa_dev_single_file_and_xtreme_without_answers(tmp_path):
    "The all-language dev file gives each language's questions, as its by-language split does; XTREME's answer-less copies are passed over."
    squad_file(tmp_path/"tydiqa/tydiqa-goldp-v1.1-dev.json", TYDIQA)
    one = load_examples("tydiqa", "dev", "ar", data_dir=tmp_path)
    squad_file(tmp_path/"by-lang/tydiqa/tydiqa-goldp-v1.1-dev/tydiqa-goldp-dev-arabic.json", [r for r in TYDIQA if r[0].startswith("arabic")])
    assert one == load_examples("tydiqa", "dev", "ar", data_dir=tmp_path/"by-lang") and len(one) == 2
    assert [e["id"] for e in load_examples("tydiqa", "dev", "fi", data_dir=tmp_path)] == ["finnish--2838045468262476587-0"]
    # XTREME's later script blanks every answer of the dev files it renames
    x = tmp_path/"tydiqa/tydiqa-goldp-v1.1-dev/tydiqa.goldp.ar.dev.json"; x.parent.mkdir(parents=True)
    x.write_text(json.dumps({"version": "x", "data": [{"paragraphs": [{"context": c, "qas": [{"answers": [{"answer_start": 0, "text": ""}], "question": q, "id": i}]}]}
                                                     for i, c, q, _ in TYDIQA if i.startswith("arabic")]}))
    assert load_examples("tydiqa", "dev", "ar", data_dir=tmp_path) == one
    assert local_status("tydiqa", "dev", "ar", tmp_path)[0]["found"] == [(tmp_path/"tydiqa/tydiqa-goldp-v1.1-dev.json").resolve()]
    assert err(load_examples, "tydiqa", "dev", "sw", data_dir=tmp_path).endswith("no questions of language 'sw' (ids beginning 'swahili-'); it has arabic, finnish")

# ---------------------------------------------------------------- a study on the releases: `xstilts check` and eval_split: test

def test_check_lists_release_layouts(tmp_path, monkeypatch):
    "A study evaluating XNLI and PAWS-X on test finds the releases; a missing language names the path looked for and every layout known."
    from xstilts.cli import data_report
    data = tmp_path/"data"
    xnli_release(data, "test"); pawsx_release(data, "de", "test_2k", PAWSX["de"])
    for name in ("s1", "s2", "labels"): (data/"snli").mkdir(exist_ok=True); (data/f"snli/{name}.dev").write_text("x\n" if name != "labels" else "neutral\n")
    (data/"paws/final").mkdir(parents=True); (data/"paws/final/dev.tsv").write_text("id\tsentence1\tsentence2\tlabel\n1\tA\tB\t0\n")
    monkeypatch.setenv("XSTILTS_DATA", str(data))
    p = parse_params({"study": "t", "source": "local", "models": ["tiny-xs"], "intermediates": ["none"], "targets": ["xnli", "pawsx"],
                      "languages": ["de"], "eval_split": "test", "data": {"xnli": {"train": ["snli:dev"], "dev": "holdout"},
                                                                          "pawsx": {"train": ["paws:dev"], "dev": "holdout"}}})
    summary, lines, error = data_report(p, "t.yaml", every=True)
    assert error is None and summary.startswith("data: all 4 splits its runs read are in")
    assert lines == ["  ok       snli:dev en: snli/s1.dev, snli/s2.dev, snli/labels.dev", "  ok       xnli:test de: xnli/XNLI-1.0/xnli.test.tsv",
                     "  ok       paws:dev en: paws/final/dev.tsv", "  ok       pawsx:test de: pawsx/x-final/de/test_2k.tsv"]
    p = p.model_copy(update={"languages": ["de", "fr"]})
    summary, lines, error = data_report(p, "t.yaml")
    assert lines == ["  missing  pawsx:test fr: pawsx/test-fr.tsv (layouts it knows: pawsx/test-{lang}.tsv; pawsx/x-final/{lang}/test_2k.tsv)"]
    assert error == f"t.yaml: 1 data file that its runs read is missing from {data.resolve()} (XSTILTS_DATA): pawsx/test-fr.tsv (pawsx:test fr)"
    xtreme_pawsx(data/"pawsx/x-final/de/test_2k.tsv", data/"pawsx/test-fr.tsv", remove_label=True)
    assert data_report(p, "t.yaml")[1] == ["  missing  pawsx:test fr: pawsx/test-fr.tsv without gold labels "
                                           "(layouts it knows: pawsx/test-{lang}.tsv; pawsx/x-final/{lang}/test_2k.tsv)"]
