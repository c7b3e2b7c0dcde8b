"""Metrics against hand-worked cases and the reference implementations XTREME runs (seqeval 1.2.2, and
seqeval 0.0.12 installed aside; the official SQuAD v1.1/v2.0 and MLQA scripts, XTREME's BUCC code, scikit-learn's
average precision)."""
import os, random, re, string, sys, unicodedata
from pathlib import Path
from collections import Counter
import numpy as np
import pytest
from xstilts.core import XStiltsError
from xstilts.metrics import (accuracy, seqeval_f1, seqeval_0012_f1, seqeval_chunks, seqeval_entities, token_accuracy,
                             tagging_scores, tag_counts, f1_from_counts, prf_from_counts, squad, mlqa, normalize_squad,
                             normalize_mlqa, bucc_threshold, bucc_f1, map_at_20, map_at_k, aggregate, METRICS, ALT_METRICS,
                             get_metric, per_example_columns)
from xstilts.tasks import UPOS_LABELS, PANX_LABELS

seqeval = pytest.importorskip("seqeval.metrics")

# ---------------------------------------------------------------- tagging

def _random_tags(rng, labels, n_sent, max_len, noise):
    gold = [[rng.choice(labels) for _ in range(rng.randint(0, max_len))] for _ in range(n_sent)]
    pred = [[t if rng.random() > noise else rng.choice(labels) for t in s] for s in gold]
    return gold, pred

@pytest.mark.parametrize("labels", [PANX_LABELS, UPOS_LABELS], ids=["panx", "udpos"])
@pytest.mark.parametrize("seed", range(8))
def test_seqeval_f1_equals_seqeval(labels, seed):
    import warnings
    rng = random.Random(seed)
    gold, pred = _random_tags(rng, list(labels), 60, 12, rng.choice([0.05, 0.3, 0.8]))
    v, per = seqeval_f1(gold, pred)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_f, ref_p, ref_r = (fn(gold, pred) for fn in (seqeval.f1_score, seqeval.precision_score, seqeval.recall_score))
    assert abs(v - ref_f) < 1e-6
    s = tagging_scores(gold, pred)
    assert abs(s["precision"] - ref_p) < 1e-6 and abs(s["recall"] - ref_r) < 1e-6
    assert per.shape == (60,) and aggregate(per) == v
    flat_g, flat_p = sum(gold, []), sum(pred, [])
    assert abs(token_accuracy(gold, pred)[0] - np.mean([a == b for a, b in zip(flat_g, flat_p)])) < 1e-12

@pytest.mark.parametrize("seed", range(5))
def test_seqeval_counts_resample_ner(seed):
    "For IOB2 NER tags the counts of any resample give seqeval's F1 of that resample (what the bootstrap needs)."
    import warnings
    rng = random.Random(100 + seed)
    gold, pred = _random_tags(rng, list(PANX_LABELS), 40, 10, 0.3)
    _, per = seqeval_f1(gold, pred)
    idx = [rng.randrange(40) for _ in range(40)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = seqeval.f1_score([gold[i] for i in idx], [pred[i] for i in idx])
    assert abs(f1_from_counts(per[idx]) - ref) < 1e-6

def test_seqeval_pos_hand_worked():
    # seqeval 1.2.2 reads NOUN as prefix 'N', type 'OUN': the two NOUNs form one chunk (0, 1); VERB is chunk (2, 2)
    gold = [["NOUN", "NOUN", "VERB"]]
    v, per = seqeval_f1(gold, [["NOUN", "ADJ", "VERB"]])   # pred chunks: (OUN,0,0) (DJ,1,1) (ERB,2,2); 1 of them right
    assert per[["tp", "n_pred", "n_gold"]].tolist() == [(1, 3, 2)]
    assert abs(v - 2 * (1/3) * (1/2) / (1/3 + 1/2)) < 1e-12
    # CCONJ and SCONJ share seqeval's type 'CONJ': confusing them costs nothing at a single word
    assert seqeval_f1([["CCONJ"]], [["SCONJ"]])[0] == 1.0
    assert token_accuracy([["CCONJ"]], [["SCONJ"]])[0] == 0.0

# ---------------------------------------------------------------- seqeval 0.0.12 (UD-POS as XTREME published it)
# `seqeval_0012` (conftest.py) is seqeval 0.0.12 itself, installed from the registry into a folder of its own.

HAND_PICKED = [   # (gold, pred) sentences around INTJ, SCONJ, SYM, X and CCONJ/SCONJ neighbours
    ([["INTJ", "INTJ", "SCONJ", "SCONJ", "CCONJ", "X", "X"], ["X", "SYM", "SYM", "INTJ"]],
     [["INTJ", "ADV", "SCONJ", "CCONJ", "CCONJ", "X", "X"], ["X", "SYM", "NUM", "INTJ"]]),   # the notebook's hand-worked case
    ([["INTJ", "INTJ", "INTJ"], ["INTJ"]], [["INTJ", "INTJ", "NOUN"], ["INTJ"]]),
    ([["SCONJ", "SCONJ"], ["SYM", "SYM", "SYM"]], [["SCONJ", "CCONJ"], ["SYM", "PUNCT", "SYM"]]),
    ([["CCONJ", "SCONJ", "CCONJ"], ["SCONJ", "CCONJ"]], [["SCONJ", "CCONJ", "SCONJ"], ["SCONJ", "SCONJ"]]),
    ([["NOUN", "X", "X"], ["X", "NOUN"], ["X"]], [["NOUN", "X", "PROPN"], ["X", "X"], ["PROPN"]]),
    ([["INTJ"], ["INTJ", "X"], [], ["SYM"]], [["INTJ"], ["INTJ", "INTJ"], [], ["X"]]),
    ([["X", "INTJ", "SCONJ", "SYM", "CCONJ", "X"]], [["INTJ", "X", "SYM", "SCONJ", "X", "CCONJ"]]),
    ([["CCONJ", "CCONJ"], ["SCONJ"], ["SCONJ", "SCONJ", "X"]], [["CCONJ", "SCONJ"], ["CCONJ"], ["SYM", "SCONJ", "X"]]),
]

def _resamples(rng, n, k=5): return [[rng.randrange(n) for _ in range(n)] for _ in range(k)] if n else []

def _check_against_0012(cases, refs):
    "Our 0.0.12 flavour against seqeval 0.0.12's F1, precision, recall, and F1 of each resample from summed counts."
    for (gold, pred, resamples), ref in zip(cases, refs):
        v, per = seqeval_0012_f1(gold, pred)
        p, r, f = prf_from_counts(per)
        assert f == v
        assert (f, p, r) == pytest.approx((ref["f1"], ref["precision"], ref["recall"]), abs=1e-12), (gold, pred)
        assert [f1_from_counts(per[ix]) for ix in resamples] == pytest.approx(ref["resamples"], abs=1e-12), (gold, pred)

def _cases(pairs, rng):
    cases = [(g, p, _resamples(rng, len(g))) for g, p in pairs]
    return cases, [{"gold": g, "pred": p, "resamples": ix} for g, p, ix in cases]

def test_seqeval_0012_flavour_equals_seqeval_0012_on_random_upos(seqeval_0012):
    rng = random.Random(7)
    pairs = [_random_tags(rng, list(UPOS_LABELS), 60, 12, rng.choice([0.05, 0.3, 0.8])) for _ in range(12)]
    cases, ref_in = _cases(pairs, rng)
    _check_against_0012(cases, seqeval_0012(ref_in))

def test_seqeval_0012_flavour_equals_seqeval_0012_hand_picked(seqeval_0012):
    cases, ref_in = _cases(HAND_PICKED, random.Random(8))
    refs = seqeval_0012(ref_in)
    _check_against_0012(cases, refs)
    assert refs[0]["f1"] == 5 / 9 and seqeval_f1(*HAND_PICKED[0])[0] == 0.5   # the notebook's hand-worked counts; 1.2.2 differs
    assert sum(seqeval_0012_f1(g, p)[0] != seqeval_f1(g, p)[0] for g, p in HAND_PICKED) >= 4, "the cases tell the versions apart"

def test_seqeval_chunks_are_seqeval_0012_get_entities(seqeval_0012):
    "Chunk for chunk, on flat sequences of UPOS, IOB2/IOBES and odd tags (B-, E-, S-, '.', tags beginning with O, ending in -O)."
    rng = random.Random(9)
    odd = [*UPOS_LABELS, *PANX_LABELS, "E-LOC", "S-PER", ".", "OTHER", "X-O", "I-.", "B-", "a-b-c"]
    seqs = [[rng.choice(rng.choice([list(UPOS_LABELS), odd])) for _ in range(rng.randrange(25))] for _ in range(400)]
    refs = seqeval_0012([{"seq": s} for s in seqs])
    assert [seqeval_chunks(s) for s in seqs] == [[tuple(c) for c in r] for r in refs]

def test_seqeval_flavours_agree_on_iob2(seqeval_0012):
    "PAN-X: on IOB2 tags, valid or not (I- after O, I- of another type), both flavours give the same counts and seqeval 0.0.12's F1."
    rng = random.Random(10)
    pairs = [_random_tags(rng, list(PANX_LABELS), 40, 10, rng.choice([0.1, 0.5])) for _ in range(8)]
    for g, p in pairs:
        assert seqeval_entities(g, "0.0.12") == seqeval_entities(g, "1.2.2")
        a, b = tag_counts(g, p, "0.0.12"), tag_counts(g, p)
        assert all((a[f] == b[f]).all() for f in ("tp", "n_pred", "n_gold"))
    cases, ref_in = _cases(pairs, rng)
    _check_against_0012(cases, seqeval_0012(ref_in))

def test_seqeval_0012_warns_where_resamples_are_not_exact():
    with pytest.warns(UserWarning, match="not that of a resample"):
        tag_counts([["NOUN", "OTHER"]], [["NOUN", "NOUN"]], "0.0.12")
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tag_counts([list(UPOS_LABELS)], [list(PANX_LABELS) * 2 + ["O"] * 3], "0.0.12")   # UPOS and IOB2: no warning
    with pytest.raises(XStiltsError, match="Did you mean '0.0.12'"):
        seqeval_chunks(["NOUN"], "0.12")

UDPOS_DATA = Path(os.environ.get("XSTILTS_DATA", "/nonexistent"))/"udpos"
CONFUSED = {"CCONJ": "SCONJ", "SCONJ": "CCONJ", "NOUN": "PROPN", "PROPN": "NOUN", "ADJ": "NOUN", "AUX": "VERB", "VERB": "AUX",
            "DET": "PRON", "PRON": "DET", "ADP": "ADV", "ADV": "ADP", "PART": "ADV", "X": "PROPN", "SYM": "PUNCT",
            "PUNCT": "SYM", "INTJ": "NOUN", "NUM": "NOUN"}   # a tagger's likely confusions

def test_real_ud_data_both_flavours_equal_both_seqeval_versions(seqeval_0012):
    """Every UD file in XSTILTS_DATA (dev: the test splits are not there), gold against a prediction that confuses 20% of
    the words with a neighbouring tag: each flavour equals its seqeval version, and the two differ."""
    files = sorted(UDPOS_DATA.glob("UD_*/*-ud-dev.conllu"))
    if not files: pytest.skip(f"no UD data: {UDPOS_DATA} has no UD_*/*-ud-dev.conllu (set XSTILTS_DATA to ../shared/data)")
    from xstilts.data import load_examples
    import warnings
    rng, cases, diffs = random.Random(11), [], {}
    for f in files:
        lang = f.name.split("_")[0]
        gold = [list(e["tags"]) for e in load_examples("udpos", "dev", lang, source="local", data_dir=UDPOS_DATA.parent)]
        pred = [[CONFUSED.get(t, t) if rng.random() < 0.2 else t for t in s] for s in gold]
        cases.append((gold, pred, _resamples(rng, len(gold), 3)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = [fn(gold, pred) for fn in (seqeval.f1_score, seqeval.precision_score, seqeval.recall_score)]
        s = tagging_scores(gold, pred)
        assert [s["f1"], s["precision"], s["recall"]] == pytest.approx(ref, abs=1e-12), lang
        diffs[lang] = seqeval_0012_f1(gold, pred)[0] - s["f1"]
    _check_against_0012(cases, seqeval_0012([{"gold": g, "pred": p, "resamples": ix} for g, p, ix in cases]))
    assert len(diffs) >= 2 and max(abs(d) for d in diffs.values()) > 0.002, diffs   # the flavours differ on real data

def test_tagging_errors():
    with pytest.raises(XStiltsError, match="sentence 0 has 2 gold tags but 1"):
        seqeval_f1([["O", "O"]], [["O"]])
    with pytest.raises(XStiltsError, match="2 gold sentences"):
        seqeval_f1([["O"], ["O"]], [["O"]])

def test_accuracy_on_tag_lists_is_token_accuracy():
    v, per = accuracy([["a", "b"], ["c"]], [["a", "x"], ["c"]])
    assert v == 2 / 3 and aggregate(per, "token_accuracy") == 2 / 3

# ---------------------------------------------------------------- SQuAD: the official scripts, copied
# From https://github.com/allenai/bi-att-flow/blob/master/squad/evaluate-v1.1.py (the file XTREME's install_tools.sh
# downloads as third_party/evaluate_squad.py), functions normalize_answer, f1_score, exact_match_score,
# metric_max_over_ground_truths, verbatim apart from names.

def v11_normalize_answer(s):
    def remove_articles(text):
        return re.sub(r'\b(a|an|the)\b', ' ', text)
    def white_space_fix(text):
        return ' '.join(text.split())
    def remove_punc(text):
        exclude = set(string.punctuation)
        return ''.join(ch for ch in text if ch not in exclude)
    def lower(text):
        return text.lower()
    return white_space_fix(remove_articles(remove_punc(lower(s))))

def v11_f1_score(prediction, ground_truth):
    prediction_tokens = v11_normalize_answer(prediction).split()
    ground_truth_tokens = v11_normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    f1 = (2 * precision * recall) / (precision + recall)
    return f1

def v11_exact_match_score(prediction, ground_truth):
    return (v11_normalize_answer(prediction) == v11_normalize_answer(ground_truth))

def v11_metric_max_over_ground_truths(metric_fn, prediction, ground_truths):
    return max(metric_fn(prediction, gt) for gt in ground_truths)

# From https://worksheets.codalab.org/rest/bundles/0x6b567e1cf2e041ec80d7098f031c5c9e/contents/blob/ (the official
# SQuAD v2.0 evaluate-v2.0.py): get_tokens, compute_exact, compute_f1 and the gold-answer rule of get_raw_scores.

def v2_get_tokens(s):
    if not s: return []
    return v11_normalize_answer(s).split()

def v2_compute_exact(a_gold, a_pred):
    return int(v11_normalize_answer(a_gold) == v11_normalize_answer(a_pred))

def v2_compute_f1(a_gold, a_pred):
    gold_toks = v2_get_tokens(a_gold)
    pred_toks = v2_get_tokens(a_pred)
    common = Counter(gold_toks) & Counter(pred_toks)
    num_same = sum(common.values())
    if len(gold_toks) == 0 or len(pred_toks) == 0:
        return int(gold_toks == pred_toks)
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(pred_toks)
    recall = 1.0 * num_same / len(gold_toks)
    f1 = (2 * precision * recall) / (precision + recall)
    return f1

def v2_scores(answers, pred):
    gold_answers = [a for a in answers if v11_normalize_answer(a)]
    if not gold_answers: gold_answers = ['']
    return max(v2_compute_f1(a, pred) for a in gold_answers), max(v2_compute_exact(a, pred) for a in gold_answers)

WORDS = ["The", "the", "a", "An", "cat", "Cat", "dog's", "1,000", "U.S.", "Denver", "Broncos", "(1994)", "—", "über", "naïve", "and", "a.m.", "x", "!"]

def _phrase(rng, n=None):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 5) if n is None else n)) + rng.choice(["", " ", ".", "  "])

@pytest.mark.parametrize("seed", range(5))
def test_squad_v11_equals_official(seed):
    rng = random.Random(seed)
    gold = [[_phrase(rng, rng.randint(1, 5)) for _ in range(rng.randint(1, 3))] for _ in range(300)]
    pred = [rng.choice([g[0], _phrase(rng)]) for g in gold]
    v, per = squad(gold, pred, version="1.1")
    f1 = [v11_metric_max_over_ground_truths(v11_f1_score, p, g) for g, p in zip(gold, pred)]
    em = [v11_metric_max_over_ground_truths(v11_exact_match_score, p, g) for g, p in zip(gold, pred)]
    assert np.allclose(per["f1"], f1, atol=1e-9) and np.allclose(per["em"], em) and abs(v - np.mean(f1)) < 1e-6
    assert abs(aggregate(per, "em") - np.mean(em)) < 1e-6
    assert all(normalize_squad(p) == v11_normalize_answer(p) for p in pred)

@pytest.mark.parametrize("seed", range(5))
def test_squad_v2_equals_official(seed):
    rng = random.Random(10 + seed)
    gold = [rng.choice([[], [_phrase(rng, rng.randint(1, 4))], ["the", _phrase(rng, 2)]]) for _ in range(300)]
    pred = [rng.choice(["", _phrase(rng), g[0] if g else ""]) for g in gold]
    v, per = squad(gold, pred)   # 'auto' -> 2.0: some questions are unanswerable
    ref = [v2_scores(g, p) for g, p in zip(gold, pred)]
    assert np.allclose(per["f1"], [r[0] for r in ref]) and np.allclose(per["em"], [r[1] for r in ref])
    assert abs(v - np.mean([r[0] for r in ref])) < 1e-6

def test_squad_hand_worked():
    v, per = squad([["Denver Broncos", "The Broncos"]], ["the broncos!"])
    assert per["em"][0] == 1 and v == 1.0
    v, _ = squad([["Denver Broncos"]], ["Broncos of Denver"])   # pred tokens: broncos of denver; 2 shared
    assert abs(v - 2 * (2/3) * 1 / (2/3 + 1)) < 1e-12
    with pytest.raises(XStiltsError, match="no gold answer"):
        squad([[]], [""], version="1.1")

# ---------------------------------------------------------------- MLQA: the official script, copied
# From https://github.com/facebookresearch/MLQA/blob/main/mlqa_evaluation_v1.py (XTREME's third_party/evaluate_mlqa.py),
# verbatim apart from names.

REF_PUNCT = {chr(i) for i in range(sys.maxunicode) if unicodedata.category(chr(i)).startswith('P')}.union(string.punctuation)
REF_WHITESPACE_LANGS = ['en', 'es', 'hi', 'vi', 'de', 'ar']
REF_MIXED_SEGMENTATION_LANGS = ['zh']

def ref_whitespace_tokenize(text):
    return text.split()

def ref_mixed_segmentation(text):
    segs_out = []
    temp_str = ""
    for char in text:
        if re.search(r'[\u4e00-\u9fa5]', char) or char in REF_PUNCT:
            if temp_str != "":
                ss = ref_whitespace_tokenize(temp_str)
                segs_out.extend(ss)
                temp_str = ""
            segs_out.append(char)
        else:
            temp_str += char
    if temp_str != "":
        ss = ref_whitespace_tokenize(temp_str)
        segs_out.extend(ss)
    return segs_out

def ref_mlqa_normalize_answer(s, lang):
    def remove_articles(text, lang):
        if lang == 'en':
            return re.sub(r'\b(a|an|the)\b', ' ', text)
        elif lang == 'es':
            return re.sub(r'\b(un|una|unos|unas|el|la|los|las)\b', ' ', text)
        elif lang == 'hi':
            return text
        elif lang == 'vi':
            return re.sub(r'\b(của|là|cái|chiếc|những)\b', ' ', text)
        elif lang == 'de':
            return re.sub(r'\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b', ' ', text)
        elif lang == 'ar':
            return re.sub('\\sال^|ال', ' ', text)  # the script's non-raw '\s' literal, escaped
        elif lang == 'zh':
            return text
        else:
            raise Exception('Unknown Language {}'.format(lang))
    def white_space_fix(text, lang):
        if lang in REF_WHITESPACE_LANGS:
            tokens = ref_whitespace_tokenize(text)
        elif lang in REF_MIXED_SEGMENTATION_LANGS:
            tokens = ref_mixed_segmentation(text)
        else:
            raise Exception('Unknown Language {}'.format(lang))
        return ' '.join([t for t in tokens if t.strip() != ''])
    def remove_punc(text):
        return ''.join(ch for ch in text if ch not in REF_PUNCT)
    def lower(text):
        return text.lower()
    return white_space_fix(remove_articles(remove_punc(lower(s)), lang), lang)

def ref_mlqa_f1_score(prediction, ground_truth, lang):
    prediction_tokens = ref_mlqa_normalize_answer(prediction, lang).split()
    ground_truth_tokens = ref_mlqa_normalize_answer(ground_truth, lang).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    f1 = (2 * precision * recall) / (precision + recall)
    return f1

def ref_mlqa_exact_match_score(prediction, ground_truth, lang):
    return (ref_mlqa_normalize_answer(prediction, lang) == ref_mlqa_normalize_answer(ground_truth, lang))

MLQA_WORDS = {
    "en": ["The", "a", "cat", "dog's", "U.S.", "an", "apple", "«quoted»", "—"],
    "es": ["El", "la", "Casa", "los", "perros", "¿qué?", "una", "niño"],
    "de": ["Der", "die", "Hund", "eines", "Hauses", "über", "„Zitat“", "dem"],
    "ar": ["الكتاب", "كتاب", "في", "المدرسة", "،", "والولد", "ال"],
    "hi": ["भारत", "की", "राजधानी", "।", "दिल्ली", "है"],
    "vi": ["của", "Việt", "Nam", "là", "những", "cái", "nhà", "chiếc"],
    "zh": ["北京", "大学", "是", "中国", "的", "。", "ABC", "2020年", "，", "mixed中文"],
}

@pytest.mark.parametrize("lang", list(MLQA_WORDS))
def test_mlqa_equals_official(lang):
    rng = random.Random(lang)
    w = MLQA_WORDS[lang]
    phrase = lambda n: (" " if lang != "zh" or rng.random() < 0.5 else "").join(rng.choice(w) for _ in range(n))
    gold = [[phrase(rng.randint(1, 4)) for _ in range(rng.randint(1, 3))] for _ in range(300)]
    pred = [rng.choice([g[0], phrase(rng.randint(0, 4))]) for g in gold]
    v, per = mlqa(gold, pred, lang)
    f1 = [max(ref_mlqa_f1_score(p, a, lang) for a in g) for g, p in zip(gold, pred)]
    em = [max(ref_mlqa_exact_match_score(p, a, lang) for a in g) for g, p in zip(gold, pred)]
    assert np.allclose(per["f1"], f1, atol=1e-9) and np.allclose(per["em"], em) and abs(v - np.mean(f1)) < 1e-6
    assert all(normalize_mlqa(p, lang) == ref_mlqa_normalize_answer(p, lang) for p in pred)

def test_mlqa_unknown_language():
    with pytest.raises(XStiltsError, match="no language 'fr'"):
        mlqa([["x"]], ["x"], "fr")

# ---------------------------------------------------------------- BUCC: XTREME's utils_retrieve.py, copied
# bucc_optimize and the F1 of bucc_eval from https://github.com/google-research/xtreme/blob/master/third_party/utils_retrieve.py

def ref_bucc_optimize(candidate2score, gold):
    items = sorted(candidate2score.items(), key=lambda x: -x[1])
    ngold = len(gold)
    nextract = ncorrect = 0
    threshold = 0
    best_f1 = 0
    for i in range(len(items)):
        nextract += 1
        if '\t'.join(items[i][0]) in gold:
            ncorrect += 1
        if ncorrect > 0:
            precision = ncorrect / nextract
            recall = ncorrect / ngold
            f1 = 2 * precision * recall / (precision + recall)
            if f1 > best_f1:
                best_f1 = f1
                threshold = (items[i][1] + items[i + 1][1]) / 2
    return threshold

def ref_bucc_f1(candidate2score, gold, threshold):
    bitexts = ['\t'.join(k) for k, s in candidate2score.items() if s >= threshold]
    ncorrect = len(gold.intersection(bitexts))
    if ncorrect > 0:
        precision = ncorrect / len(bitexts); recall = ncorrect / len(gold)
        return 2 * precision * recall / (precision + recall)
    return 0

def _bucc_set(rng, n):
    src = [f"de-{i:06d}" for i in range(n)]; tgt = [f"en-{i:06d}" for i in range(n)]
    gold = [(s, t) for s, t in zip(src, tgt) if rng.random() < 0.4]
    cands = []
    for s, t in zip(src, tgt):
        if rng.random() < 0.8:
            right = rng.random() < 0.7
            cands.append((s, t if right else rng.choice(tgt), rng.gauss(1.2 if right else 1.0, 0.1)))
    cands.append(("de-x", "en-x", -5.0))   # a trailing low candidate, so XTREME's midpoint never runs off the end
    return src + ["de-x"], gold, cands

@pytest.mark.parametrize("seed", range(5))
def test_bucc_equals_xtreme(seed):
    rng = random.Random(seed)
    _, dgold, dcand = _bucc_set(rng, 300)
    src, tgold, tcand = _bucc_set(rng, 300)
    c2s = lambda c: {(s, t): sc for s, t, sc in c}
    th = bucc_threshold(dcand, dgold)
    assert abs(th - ref_bucc_optimize(c2s(dcand), {'\t'.join(g) for g in dgold})) < 1e-9
    v, per = bucc_f1(tgold, tcand, threshold=th, src_ids=src)
    assert abs(v - ref_bucc_f1(c2s(tcand), {'\t'.join(g) for g in tgold}, th)) < 1e-6
    assert per.shape == (len(src),) and aggregate(per) == v
    # the threshold is a function of dev only: changing the test gold cannot move it
    assert bucc_threshold(dcand, dgold) == th

def test_bucc_requires_dev_threshold():
    with pytest.raises(XStiltsError, match="threshold is required"):
        bucc_f1([("a", "b")], [("a", "b", 1.0)])

def test_bucc_threshold_peak_at_last_candidate():
    assert bucc_threshold([("a", "x", 0.9), ("b", "y", 0.5)], [("a", "x"), ("b", "y")]) == 0.5

# ---------------------------------------------------------------- mAP@20

def test_map_at_20_equals_sklearn_average_precision():
    from sklearn.metrics import average_precision_score
    rng = np.random.default_rng(0)
    gold, ranked, ref = [], [], []
    for _ in range(200):
        scores = rng.normal(size=15)   # 15 candidates <= 20: AP@20 is the full AP
        rel = rng.random(15) < 0.2
        if not rel.any(): rel[rng.integers(15)] = True
        gold.append({f"c{j}" for j in np.flatnonzero(rel)})
        ranked.append([f"c{j}" for j in np.argsort(-scores)])
        ref.append(average_precision_score(rel.astype(int), scores))
    v, per = map_at_20(gold, ranked)
    assert np.allclose(per, ref, atol=1e-9) and abs(v - np.mean(ref)) < 1e-6

def test_map_at_k_hand_worked():
    v, per = map_at_k([{"a"}, {"a", "b"}], [["x", "a"], ["a", "x", "b"]], k=2)
    assert per.tolist() == [0.5, 0.5]   # second: only 'a' within the top 2, divided by min(2, 2)
    assert map_at_20([{"e1"}], [["e2"] * 19 + ["e1"]])[0] == 1 / 20   # one gold entity: AP@20 = MRR@20

# ---------------------------------------------------------------- the table

def test_metrics_table_and_columns():
    for name in ("accuracy", "f1-seqeval", "f1-seqeval-0.0.12", "squad", "mlqa", "bucc-f1", "map@20"):
        assert get_metric(name) is METRICS[name]
    with pytest.raises(XStiltsError, match="f1-seqeval"):
        get_metric("f1_seqeval")
    assert ALT_METRICS == {"f1-seqeval": "f1-seqeval-0.0.12", "f1-seqeval-0.0.12": "f1-seqeval"}
    _, per = squad([["cat"]], ["cat"])
    cols = per_example_columns(per)
    assert cols["score"].tolist() == [1.0] and cols["score_em"].tolist() == [1.0]

@pytest.mark.parametrize("seed", range(5))
def test_seqeval_counts_resample_pos_without_x(seed):
    """UPOS resamples are exact too, except for the tag X: seqeval gives X the same empty type as its 'O' sentence
    separator, so an X chunk's extent depends on the neighbouring sentence (documented in the notebook)."""
    import warnings
    rng = random.Random(200 + seed)
    gold, pred = _random_tags(rng, [l for l in UPOS_LABELS if l != "X"], 40, 10, 0.3)
    _, per = seqeval_f1(gold, pred)
    idx = [rng.randrange(40) for _ in range(40)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = seqeval.f1_score([gold[i] for i in idx], [pred[i] for i in idx])
    assert abs(f1_from_counts(per[idx]) - ref) < 1e-6
