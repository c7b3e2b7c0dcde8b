"One training loop for one task and several: a multi-task phase 1 killed by SIGKILL resumes to the same weights."
import json, signal, subprocess, sys, time
from pathlib import Path
import torch
from safetensors.torch import load_file
from conftest import ROOT

# Multi-task phase 1 (mnli + squad on one encoder) of a small embedded study, a resumable state every 4 steps; prints its history
KILLABLE = """
import json
from xstilts.core import parse_params
from xstilts.pipeline import phase1
p = parse_params({"study": "t", "source": "embedded", "models": ["tiny-xs"], "targets": ["xnli"], "intermediates": ["mnli+squad"], "seeds": [1],
    "world": {"n_train": 100, "n_dev": 20, "n_test": 20, "corpus_sentences": 400}, "pretrain": {"steps": 5, "vocab_size": 500, "batch_size": 8},
    "intermediate_train": {"epochs": 1, "batch_size": 8, "max_length": 64, "evals_per_epoch": 2, "checkpoint_every": 4}})
path, hist = phase1(p, "tiny-xs", "mnli+squad", 1)
print(json.dumps({"path": path, "hist": hist}))
"""

def _phase1(env):
    r = subprocess.run([sys.executable, "-c", KILLABLE], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])

def _killed_once(env, cache:Path) -> int:
    "Start phase 1, SIGKILL it as soon as its first training state is on disk; the number of states seen before the kill."
    found = lambda: list((cache/"phase1").glob("*.state/train_state.pt")) if (cache/"phase1").exists() else []
    proc = subprocess.Popen([sys.executable, "-c", KILLABLE], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    t = time.time()
    while time.time() - t < 300 and proc.poll() is None and not found(): time.sleep(0.02)
    assert proc.poll() is None, f"phase 1 ended before a training state appeared: {proc.stderr.read()[-2000:]}"
    proc.send_signal(signal.SIGKILL); proc.wait()
    return len(found())

def test_multitask_phase1_sigkill_resumes_to_the_same_weights(xs_env):
    xs_env = {**xs_env, "OMP_NUM_THREADS": "1"}
    cache = Path(xs_env["XSTILTS_CACHE"])
    ref = _phase1(xs_env)   # uninterrupted; then moved aside, so that the same cache (its pretrained encoder) trains it again
    (cache/"phase1").rename(cache/"phase1-ref")
    assert _killed_once(xs_env, cache) == 1 and not list((cache/"phase1").glob("*/DONE")), "killed mid-training"
    out = _phase1(xs_env)
    h, h_ref = out["hist"], ref["hist"]
    assert h.get("resumed_at") and h["resumed_at"][0] % 4 == 0, h.get("resumed_at")   # resumed from a saved state
    assert h["tasks"] == ["mnli", "squad"] and set(h["task_of_step"]) == {"mnli", "squad"} and len(h["losses"]) == h["steps"]
    for k in ("losses", "task_of_step", "dev", "selected_step", "selected_dev_per_task"): assert h[k] == h_ref[k], k
    w, w_ref = load_file(Path(out["path"])/"model.safetensors"), load_file(cache/"phase1-ref"/Path(ref["path"]).name/"model.safetensors")
    assert w.keys() == w_ref.keys() and all(torch.equal(w[k], w_ref[k]) for k in w), "the same encoder, bit for bit"
    assert not (Path(out["path"]).with_name(Path(out["path"]).name + ".state")/"train_state.pt").exists()   # the state is gone once done
