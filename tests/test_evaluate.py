"""Predictors on tiny random models: right shapes, original order restored after length-sorted batching, and the
same answers as a one-example-at-a-time reference; retrieval scoring against a direct transcription of XTREME's."""
import random
import numpy as np
import pytest, torch
from transformers import (XLMRobertaConfig, XLMRobertaForTokenClassification, XLMRobertaForQuestionAnswering,
                          XLMRobertaForMultipleChoice, XLMRobertaModel)
from xstilts.models import train_tokenizer, quiet_transformers
from xstilts.features import encode_tagging, encode_span, encode_multiple_choice, encode_retrieval
from xstilts.evaluate import (predict_tagging, predict_span, qa_logits, best_spans, predict_multiple_choice, embed,
                              nearest, rank, knn, margin_scores, cosine_scores, mine_candidates, dev_tagging)
from xstilts.metrics import bucc_threshold, bucc_f1

quiet_transformers()
WORDS = ["the", "cat", "sat", "on", "mat", "a", "dog", "ran", "in", "park", "where", "did", "run", "quickly", "кошка", "ковре"]
TAGS = ("DET", "NOUN", "VERB", "ADP", "X")

@pytest.fixture(scope="module")
def tok():
    rng = random.Random(0)
    return train_tokenizer([" ".join(rng.choice(WORDS) for _ in range(8)) for _ in range(200)], vocab_size=90)

def _cfg(tok, **kw):
    torch.manual_seed(0)
    return XLMRobertaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                            max_position_embeddings=140, pad_token_id=tok.pad_token_id, type_vocab_size=1, **kw)

def test_predict_tagging_merges_windows_in_order(tok):
    rng = random.Random(1)
    ex = [{"id": str(i), "tokens": [rng.choice(WORDS) for _ in range(rng.choice([0, 2, 9, 40]))], "tags": None} for i in range(30)]
    for e in ex: e["tags"] = [rng.choice(TAGS) for _ in e["tokens"]]
    feats = encode_tagging(ex, tok, TAGS, max_length=24, stride=4)
    model = XLMRobertaForTokenClassification(_cfg(tok, num_labels=len(TAGS))).eval()
    pred = predict_tagging(model, feats, tok.pad_token_id, len(ex), batch_size=7, precision="fp32")
    assert [len(p) for p in pred] == [len(e["tokens"]) for e in ex]
    ref = [np.full(len(e["tokens"]), -1) for e in ex]
    with torch.no_grad():
        for f in feats:   # one window at a time, no padding
            best = model(input_ids=torch.tensor([f["input_ids"]])).logits[0].argmax(-1).numpy()
            for pos, w in enumerate(f["words"]):
                if w >= 0: ref[f["example"]][w] = best[pos]
    assert all((p == r).all() for p, r in zip(pred, ref)) and all((p >= 0).all() for p in pred)
    score = dev_tagging(feats, ex, TAGS, tok.pad_token_id, precision="fp32")(model)
    assert 0.0 <= score <= 1.0

def _qa_examples(rng, n):
    out = []
    for i in range(n):
        cw = [rng.choice(WORDS) for _ in range(rng.randint(3, 60))]
        out.append({"id": f"q{i}", "context": " ".join(cw), "question": " ".join(rng.choice(WORDS) for _ in range(3)),
                    "answers": {"text": [cw[0]], "answer_start": [0]}})
    return out

def _reference_span(feats, examples, model, n_best=20, max_len=30, version_2=False, thr=0.0):
    "Brute force: every valid (start, end) of every window, one window at a time."
    out = []
    with torch.no_grad():
        logits = [model(input_ids=torch.tensor([f["input_ids"]])) for f in feats]
    for ei, e in enumerate(examples):
        best, null = None, None
        for i, f in enumerate(feats):
            if f["example"] != ei: continue
            s, t = logits[i].start_logits[0].numpy(), logits[i].end_logits[0].numpy()
            null = s[0] + t[0] if null is None else min(null, s[0] + t[0])
            top_s, top_t = set(np.argsort(s)[::-1][:n_best]), set(np.argsort(t)[::-1][:n_best])
            for a in range(len(s)):
                for b in range(a, min(len(s), a + max_len)):
                    if a in top_s and b in top_t and f["offsets"][a] is not None and f["offsets"][b] is not None:
                        if best is None or s[a] + t[b] > best[0]: best = (s[a] + t[b], f["offsets"][a][0], f["offsets"][b][1])
        text = e["context"][best[1]:best[2]].strip() if best else ""
        if version_2 and (best is None or null - best[0] > thr): text = ""
        out.append(text)
    return out

@pytest.mark.parametrize("version_2", [False, True])
def test_predict_span_equals_brute_force(tok, version_2):
    ex = _qa_examples(random.Random(2), 25)
    feats = encode_span(ex, tok, max_length=48, doc_stride=12)
    model = XLMRobertaForQuestionAnswering(_cfg(tok, num_labels=2)).eval()
    pred = predict_span(model, feats, ex, tok.pad_token_id, max_answer_length=5, version_2=version_2, batch_size=6, precision="fp32")
    assert len(pred) == len(ex) and all(isinstance(p, str) for p in pred)
    assert pred == _reference_span(feats, ex, model, max_len=5, version_2=version_2)
    assert all(p in e["context"] for p, e in zip(pred, ex))

def test_null_threshold(tok):
    ex = _qa_examples(random.Random(3), 5)
    feats = encode_span(ex, tok, max_length=48, doc_stride=12)
    model = XLMRobertaForQuestionAnswering(_cfg(tok, num_labels=2)).eval()
    lg = qa_logits(model, feats, tok.pad_token_id, precision="fp32")
    assert all(p == "" for p in best_spans(feats, lg, ex, version_2=True, null_threshold=-1e9))
    assert best_spans(feats, lg, ex, version_2=True, null_threshold=1e9) == best_spans(feats, lg, ex)

def test_predict_multiple_choice_in_order(tok):
    rng = random.Random(4)
    ex = [{"id": str(i), "context": " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 20))), "question": None,
           "choices": [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 6))) for _ in range(rng.choice([2, 4]))], "label": 0}
          for i in range(20)]
    feats = encode_multiple_choice(ex, tok)
    model = XLMRobertaForMultipleChoice(_cfg(tok)).eval()
    pred = predict_multiple_choice(model, feats, tok.pad_token_id, batch_size=3, precision="fp32")
    with torch.no_grad():
        ref = [int(np.argmax([model(input_ids=torch.tensor([[c]])).logits[0, 0].item() for c in f["input_ids"]])) for f in feats]
    assert pred.tolist() == ref

@pytest.mark.parametrize("pooling,layer", [("mean", -1), ("mean", 1), ("cls", 0)])
def test_embed_equals_one_by_one(tok, pooling, layer):
    rng = random.Random(5)
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 25))) for _ in range(17)]
    feats = encode_retrieval(texts, tok)
    model = XLMRobertaModel(_cfg(tok)).eval()
    n_layers = len(model.encoder.layer)
    e = embed(model, feats, tok.pad_token_id, layer=layer, pooling=pooling, batch_size=4, precision="fp32")
    assert e.shape == (17, 32) and e.dtype == np.float32
    assert len(model.encoder.layer) == n_layers
    assert not any(getattr(h, "__name__", "") == "_stop_here" for l in model.encoder.layer for h in l._forward_hooks.values())  # early stop: hook removed
    with torch.no_grad():
        for i, f in enumerate(feats):
            h = model(input_ids=torch.tensor([f["input_ids"]]), output_hidden_states=True).hidden_states[layer][0]
            ref = h.mean(0) if pooling == "mean" else h[0]
            assert np.allclose(e[i], ref.numpy(), atol=1e-5)

# ---- retrieval scoring: a direct numpy transcription of XTREME's utils_retrieve.mine_bitext (faiss -> exact search)

def ref_mine_bitext(x, y, neighborhood=4):
    x = x / np.linalg.norm(x, axis=1, keepdims=True); y = y / np.linalg.norm(y, axis=1, keepdims=True)
    def knn(a, b, k):
        s = a @ b.T; ind = np.argsort(-s, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(s, ind, 1), ind
    x2y_sim, x2y_ind = knn(x, y, min(y.shape[0], neighborhood)); x2y_mean = x2y_sim.mean(axis=1)
    y2x_sim, y2x_ind = knn(y, x, min(x.shape[0], neighborhood)); y2x_mean = y2x_sim.mean(axis=1)
    margin = lambda a, b: a / b
    def score_candidates(x, y, candidate_inds, fwd_mean, bwd_mean):
        scores = np.zeros(candidate_inds.shape)
        for i in range(scores.shape[0]):
            for j in range(scores.shape[1]):
                k = candidate_inds[i, j]
                scores[i, j] = margin(x[i].dot(y[k]), (fwd_mean[i] + bwd_mean[k]) / 2)
        return scores
    fwd_scores = score_candidates(x, y, x2y_ind, x2y_mean, y2x_mean)
    bwd_scores = score_candidates(y, x, y2x_ind, y2x_mean, x2y_mean)
    fwd_best = x2y_ind[np.arange(x.shape[0]), fwd_scores.argmax(axis=1)]
    bwd_best = y2x_ind[np.arange(y.shape[0]), bwd_scores.argmax(axis=1)]
    indices = np.stack((np.concatenate((np.arange(x.shape[0]), bwd_best)), np.concatenate((fwd_best, np.arange(y.shape[0])))), axis=1)
    scores = np.concatenate((fwd_scores.max(axis=1), bwd_scores.max(axis=1)))
    seen_src, seen_trg, out = set(), set(), []
    for i in np.argsort(-scores):
        src_ind, trg_ind = indices[i]
        if not src_ind in seen_src and not trg_ind in seen_trg:
            seen_src.add(src_ind); seen_trg.add(trg_ind)
            if scores[i] > 0: out.append((int(src_ind), int(trg_ind), scores[i]))
    return out

def test_mine_candidates_equals_xtreme():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(60, 16)); x = np.concatenate([y[:40] + 0.3 * rng.normal(size=(40, 16)), rng.normal(size=(15, 16))])
    got = mine_candidates(x, y, list(range(55)), list(range(60)))
    ref = ref_mine_bitext(x, y)
    assert {(s, t) for s, t, _ in got} == {(s, t) for s, t, _ in ref}
    d = {(s, t): sc for s, t, sc in ref}
    assert all(abs(sc - d[(s, t)]) < 1e-5 for s, t, sc in got)
    # BUCC end to end: threshold on a dev set, applied to a test set
    th = bucc_threshold([(s, t, sc) for s, t, sc in got], [(i, i) for i in range(40)])
    v, _ = bucc_f1([(i, i) for i in range(40)], got, threshold=th, src_ids=range(55))
    assert v > 0.9

def test_nearest_rank_margin():
    rng = np.random.default_rng(1)
    y = rng.normal(size=(50, 8)); x = y + 0.1 * rng.normal(size=y.shape)
    assert (nearest(x, y) == np.argmax(cosine_scores(x, y), 1)).all()
    s, i = knn(x, y, 4, block=7)
    assert np.allclose(s, np.sort(cosine_scores(x, y), 1)[:, ::-1][:, :4], atol=1e-5)
    m = margin_scores(x, y, 4)
    assert (nearest(x, y, "margin") == m.argmax(1)).all() and (rank(x, y, 3, "margin") == np.argsort(-m, 1)[:, :3]).all()
