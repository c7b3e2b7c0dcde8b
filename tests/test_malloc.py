"""The runner preloads tcmalloc into its kernels (`grid.preloaded_malloc`) for speed: it must not change a number.
A tiny XLM-R classifier is fine-tuned with the project's training loop (the study's precision, dropout and optimiser)
in two fresh processes, one with glibc's malloc and one with tcmalloc, and the weights compared bit for bit."""
import json, os, subprocess, sys
import pytest
from xstilts.grid import fast_malloc, preloaded_malloc

TRAIN = r"""
import hashlib, json, random, torch
from transformers import XLMRobertaForSequenceClassification
from xstilts.core import TrainParams, allocator
from xstilts.models import tiny_config
from xstilts.train import train_loop
torch.set_num_threads(1); torch.manual_seed(0); rng = random.Random(0)
cfg = tiny_config("xs", 300, 64); cfg.num_labels = 3
model = XLMRobertaForSequenceClassification(cfg)
feats = [{"input_ids": [0] + [rng.randrange(3, 300) for _ in range(rng.randrange(5, 60))] + [2], "labels": rng.randrange(3)} for _ in range(192)]
hist = train_loop(model, feats, TrainParams(lr=1e-3, batch_size=16, epochs=2, max_length=64, checkpoint_every=0), seed=1, pad_id=1)
h = hashlib.sha256()
for k, v in sorted(model.state_dict().items()): h.update(k.encode()); h.update(v.float().numpy().tobytes())
print(json.dumps({"allocator": allocator(), "weights": h.hexdigest(), "losses": hist["losses"]}))
"""

def _train(env) -> dict:
    r = subprocess.run([sys.executable, "-c", TRAIN], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])

@pytest.mark.skipif(not fast_malloc(), reason="tcmalloc is not installed here (Debian: apt install libtcmalloc-minimal4)")
def test_tcmalloc_gives_the_same_weights():
    base = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    glibc = _train(base)
    with preloaded_malloc():
        fast = _train(dict(os.environ))
    assert (glibc["allocator"], fast["allocator"]) == ("system", "tcmalloc")
    assert len(glibc["losses"]) == 24 and glibc["losses"][0] != glibc["losses"][-1]   # it trained
    assert fast["losses"] == glibc["losses"] and fast["weights"] == glibc["weights"]
