"""Features: first-sub-word label alignment over many random sentences (windows included), QA start/end positions
that recover the answer through offsets, multiple-choice and retrieval shapes, and batches every head accepts."""
import random
import pytest, torch
from xstilts.core import XStiltsError
from xstilts.models import train_tokenizer, quiet_transformers
from xstilts.features import (encode_tagging, encode_span, encode_multiple_choice, encode_retrieval, collate, COLLATORS,
                              special_affixes, feature_format, length_grouped_batches)

quiet_transformers()
VOCAB = ["the", "cat", "sat", "on", "mat", "a", "dog", "ran", "in", "park", "where", "did", "run", "quickly",
         "internationalization", "кошка", "сидела", "на", "ковре", "x", "", "42", "-"]
TAGS = ("DET", "NOUN", "VERB", "ADP", "X", "NUM", "PUNCT")

@pytest.fixture(scope="module")
def tok():
    rng = random.Random(0)
    return train_tokenizer([" ".join(rng.choice(VOCAB) for _ in range(8)) for _ in range(200)], vocab_size=100)

def _sentence(rng, n):
    return {"tokens": [rng.choice(VOCAB) for _ in range(n)], "tags": [rng.choice(TAGS) for _ in range(n)]}

@pytest.mark.parametrize("seed", range(6))
def test_tagging_every_word_labelled_once_at_its_first_subword(tok, seed):
    rng = random.Random(seed)
    max_length = rng.choice([12, 16, 32, 64]); stride = rng.choice([0, 2, 4, max_length // 3])
    ex = [{"id": f"s{i}", **_sentence(rng, rng.choice([0, 1, 3, 10, 40, 90]))} for i in range(60)]
    feats = encode_tagging(ex, tok, TAGS, max_length=max_length, stride=stride)
    pre, suf = special_affixes(tok)
    pieces = {w: (tok(w, add_special_tokens=False)["input_ids"] or [tok.unk_token_id]) for w in VOCAB}
    seen = {}
    for f in feats:
        assert len(f["input_ids"]) <= max_length and len(f["labels"]) == len(f["words"]) == len(f["input_ids"])
        assert f["input_ids"][:len(pre)] == pre and f["input_ids"][len(f["input_ids"]) - len(suf):] == suf
        e = ex[f["example"]]
        for pos, (w, lab) in enumerate(zip(f["words"], f["labels"])):
            if w < 0: assert lab == -100; continue
            assert (f["example"], w) not in seen, "a word is labelled in one window only"
            seen[(f["example"], w)] = True
            assert lab == TAGS.index(e["tags"][w])
            first = pieces[e["tokens"][w]]
            assert f["input_ids"][pos:pos + len(first)] == first[:max_length - len(pre) - len(suf)], "the label sits on the word's first sub-word"
    assert set(seen) == {(i, w) for i, e in enumerate(ex) for w in range(len(e["tokens"]))}, "every word is labelled"

def test_tagging_matches_hf_word_ids_alignment(tok):
    "Without windows, labels are where HF run_ner puts them (first sub-word by word_ids(), -100 elsewhere)."
    rng = random.Random(1)
    ex = [{"id": str(i), **_sentence(rng, 8)} for i in range(50)]
    for e in ex: e["tokens"] = [t or "x" for t in e["tokens"]]   # HF drops words with no sub-words; XTREME gives them <unk>
    feats = encode_tagging(ex, tok, TAGS, max_length=256)
    enc = tok([e["tokens"] for e in ex], is_split_into_words=True)
    for i, (e, f) in enumerate(zip(ex, feats)):
        prev, ref = None, []
        for w in enc.word_ids(i):
            ref.append(-100 if w is None or w == prev else TAGS.index(e["tags"][w])); prev = w
        assert f["input_ids"] == enc["input_ids"][i] and f["labels"] == ref

def test_tagging_unknown_tags(tok):
    ex = [{"id": "a", "tokens": ["the", "cat"], "tags": ["DET", "N/N"]}]
    with pytest.raises(XStiltsError, match="Tag 'N/N'"):
        encode_tagging(ex, tok, TAGS)
    f = encode_tagging(ex, tok, TAGS, strict=False)[0]
    assert [l for l in f["labels"] if l != -100] == [0] and [w for w in f["words"] if w >= 0] == [0, 1]

@pytest.mark.parametrize("seed", range(4))
def test_span_positions_recover_answers(tok, seed):
    rng = random.Random(seed)
    words = [w for w in VOCAB if w]
    examples = []
    for i in range(40):
        ctx_words = [rng.choice(words) for _ in range(rng.randint(3, 80))]
        a = rng.randrange(len(ctx_words)); b = min(len(ctx_words), a + rng.randint(1, 3))
        context = " ".join(ctx_words)
        start = len(" ".join(ctx_words[:a])) + (1 if a else 0)
        answer = " ".join(ctx_words[a:b])
        assert context[start:start + len(answer)] == answer
        unanswerable = rng.random() < 0.2
        examples.append({"id": f"q{i}", "context": context, "question": " ".join(rng.choice(words) for _ in range(rng.randint(1, 30))),
                         "answers": {"text": [] if unanswerable else [answer], "answer_start": [] if unanswerable else [start]}})
    feats = encode_span(examples, tok, max_length=96, doc_stride=24, max_query_length=16)
    found = set()
    for f in feats:
        assert len(f["input_ids"]) <= 96 and len(f["offsets"]) == len(f["input_ids"])
        q_tokens = next(k for k, o in enumerate(f["offsets"]) if o is not None)
        assert q_tokens <= 16 + 4, "the question is cut to max_query_length tokens (plus specials)"
        e = examples[f["example"]]; s, t = f["start_positions"], f["end_positions"]
        if not e["answers"]["text"]: assert (s, t) == (0, 0); continue
        a0 = e["answers"]["answer_start"][0]; a1 = a0 + len(e["answers"]["text"][0])
        ctx = [o for o in f["offsets"] if o is not None]
        inside = ctx[0][0] <= a0 and ctx[-1][1] >= a1
        if not inside: assert (s, t) == (0, 0); continue
        assert 0 < s <= t
        assert e["context"][f["offsets"][s][0]:f["offsets"][t][1]].strip() == e["answers"]["text"][0]
        found.add(f["example"])
    assert found == {i for i, e in enumerate(examples) if e["answers"]["text"]}, "every answer lies wholly inside some window"

def test_multiple_choice_and_retrieval_shapes(tok):
    ex = [{"id": "m1", "context": "the cat sat", "question": "where", "choices": ["on the mat", "in the park", "x"], "label": 2},
          {"id": "m2", "context": "", "question": "a dog ran", "choices": ["in the park", "on the mat", "42"], "label": 0}]
    f = encode_multiple_choice(ex, tok, max_length=12)
    assert [len(x["input_ids"]) for x in f] == [3, 3] and all(len(c) <= 12 for x in f for c in x["input_ids"])
    assert f[1]["input_ids"][0] == tok("a dog ran", "in the park", truncation=True, max_length=12)["input_ids"]
    b = collate(f, tok.pad_token_id)
    assert b["input_ids"].shape[:2] == (2, 3) and b["labels"].tolist() == [2, 0]
    r = encode_retrieval(["the cat", {"id": "z", "text": "a dog ran in the park " * 20}], tok, max_length=20)
    assert len(r[1]["input_ids"]) == 20 and r[1]["id"] == "z" and feature_format(r[0]) == "classification"

def test_every_head_returns_a_loss_on_collated_batches(tok):
    "train.train_loop calls model(**collate(feats, pad_id)).loss: it must work for every format."
    from transformers import (XLMRobertaConfig, XLMRobertaForTokenClassification, XLMRobertaForQuestionAnswering,
                              XLMRobertaForMultipleChoice)
    cfg = dict(vocab_size=len(tok), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
               max_position_embeddings=130, pad_token_id=tok.pad_token_id, type_vocab_size=1)
    rng = random.Random(0)
    tag = encode_tagging([{"id": str(i), **_sentence(rng, 30)} for i in range(4)], tok, TAGS, max_length=32, stride=4)
    qa = encode_span([{"id": "q", "context": "the cat sat on the mat " * 10, "question": "where",
                       "answers": {"text": ["mat"], "answer_start": [19]}}], tok, max_length=64, doc_stride=16)
    mc = encode_multiple_choice([{"id": "m", "context": "the cat", "question": None, "choices": ["sat", "ran"], "label": 1}] * 3, tok)
    for cls, feats, n in ((XLMRobertaForTokenClassification, tag, len(TAGS)), (XLMRobertaForQuestionAnswering, qa, 2),
                          (XLMRobertaForMultipleChoice, mc, 1)):
        model = cls(XLMRobertaConfig(**cfg, num_labels=n))
        loss = model(**collate(feats, tok.pad_token_id)).loss
        assert torch.isfinite(loss)
    from transformers import XLMRobertaModel
    from xstilts.features import encode_dual
    from xstilts.models import DualEncoder
    dual = encode_dual([{"query": "where is the cat", "candidate": "the cat sat on the mat"}, {"query": "who ran", "candidate": "the dog ran"}], tok, 32)
    out = DualEncoder(XLMRobertaModel(XLMRobertaConfig(**cfg)))(**collate(dual, tok.pad_token_id))   # in-batch negatives: 2 × 2 scores
    assert torch.isfinite(out.loss) and out.logits.shape == (2, 2)
    assert set(COLLATORS) == {"classification", "pair-classification", "tagging", "span", "multiple-choice", "retrieval", "dual"}
