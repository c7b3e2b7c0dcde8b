"One lock for runs, task pairs and caches: heartbeats, staleness across hosts, atomic takeover (issue #38, item 4)."
import json, os, signal, socket, subprocess, sys, threading, time
from pathlib import Path
import pytest
import xstilts.core as core
from xstilts.core import file_lock, lock_holder, lock_settings, XStiltsError
from xstilts.results import run_lock, run_status

ROOT = Path(__file__).resolve().parents[1]
HOST = socket.gethostname()

def other_host(path, age:float, **rec):
    "Write the lock `path` as a runner on another host writes it, its last heartbeat `age` seconds ago."
    t = time.time()
    path.write_text(json.dumps({"host": "node-7", "pid": 4242, "proc": "boot:1", "id": f"n7-{age}", "since": t - age - 60, "beat": t - age, **rec}))

def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"]); p.wait(); return p.pid

@pytest.fixture(autouse=True)
def _lock_env(monkeypatch):
    for k in ("XSTILTS_LOCK_LEASE", "XSTILTS_LOCK_HEARTBEAT"): monkeypatch.delenv(k, raising=False)

def test_another_hosts_fresh_lock_is_running_and_kept(tmp_path):
    d = tmp_path/"run"; d.mkdir(); other_host(d/"LOCK", age=60)
    before = (d/"LOCK").read_text()
    assert run_status(d) == "running"
    with run_lock(d) as h: assert h is False
    with file_lock(d/"LOCK", blocking=False) as h: assert h is False
    assert (d/"LOCK").read_text() == before   # untouched

def test_another_hosts_lock_past_the_lease_is_stale_and_taken_over(tmp_path):
    d = tmp_path/"run"; d.mkdir(); other_host(d/"LOCK", age=lock_settings()[0] + 5)
    assert lock_holder(d/"LOCK")["stale"] and run_status(d) == "pending"
    (d/"FAILED").write_text("killed\n"); assert run_status(d) == "failed"   # retried like any failed run
    with run_lock(d) as h:
        assert h and run_status(d) == "running"
        rec = json.loads((d/"LOCK").read_text())
        assert (rec["host"], rec["pid"], rec["id"]) == (HOST, os.getpid(), h.rec["id"]) and rec["beat"] >= rec["since"]
    assert not (d/"LOCK").exists() and sorted(os.listdir(d)) == ["FAILED"]   # no claim or temporary file left behind

def test_lease_from_the_environment(tmp_path, monkeypatch):
    lk = tmp_path/"LOCK"; other_host(lk, age=20)
    assert not lock_holder(lk)["stale"] and run_status(tmp_path) == "running"
    monkeypatch.setenv("XSTILTS_LOCK_LEASE", "10"); monkeypatch.setenv("XSTILTS_LOCK_HEARTBEAT", "2")
    assert lock_settings() == (10.0, 2.0) and lock_holder(lk)["stale"] and run_status(tmp_path) == "pending"
    monkeypatch.setenv("XSTILTS_LOCK_LEASE", "ten")
    with pytest.raises(XStiltsError, match="XSTILTS_LOCK_LEASE"): lock_settings()

def test_a_dead_process_on_this_host_is_stale_at_once(tmp_path):
    d = tmp_path/"run"; d.mkdir(); pid = dead_pid()
    for text in (json.dumps({"host": HOST, "pid": pid, "beat": time.time()}),   # heartbeat just now, yet its process is gone
                 f"{HOST} {pid}"):                                            # the run locks of earlier versions
        (d/"LOCK").write_text(text)
        assert lock_holder(d/"LOCK", lease=3600)["stale"] and run_status(d) == "pending"
        with run_lock(d) as h: assert h
    (d/"LOCK").write_text(json.dumps({"host": HOST, "pid": os.getpid()}))   # a live one is running, whatever its heartbeat
    assert run_status(d) == "running"

@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="process start times come from Linux' /proc")
def test_a_reused_pid_is_not_its_holder(tmp_path):
    lk = tmp_path/"LOCK"
    with file_lock(lk) as h: rec = dict(h.rec)
    lk.write_text(json.dumps({**rec, "proc": rec["proc"] + "0"}))   # this pid, but a process started at another time
    assert lock_holder(lk)["stale"]
    lk.write_text(json.dumps(rec)); assert not lock_holder(lk)["stale"]

def test_the_heartbeat_advances_and_keeps_a_lock_past_its_lease(tmp_path, monkeypatch):
    lk = tmp_path/"LOCK"
    with file_lock(lk, heartbeat=0.05) as h:
        beats = []
        for _ in range(3): time.sleep(0.4); beats.append(json.loads(lk.read_text())["beat"])
        assert beats == sorted(set(beats)), beats                          # it advances while held …
        monkeypatch.setattr(socket, "gethostname", lambda: "node-9")       # … so, read from another host with a 1 s lease,
        assert not lock_holder(lk, lease=1)["stale"]                       # a lock held for 1.2 s is not stale
        monkeypatch.undo()
    assert not lk.exists()

def test_a_killed_holder_on_another_host_goes_stale_after_the_lease(tmp_path, monkeypatch):
    lk = tmp_path/"LOCK"
    code = f"import time; from xstilts.core import file_lock\nwith file_lock({str(lk)!r}, heartbeat=0.05): print('held', flush=True); time.sleep(60)"
    p = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "held"
        time.sleep(2.5)
        assert run_status(tmp_path) == "running"
        monkeypatch.setattr(socket, "gethostname", lambda: "node-9")       # read from another host with a 2 s lease:
        assert not lock_holder(lk, lease=2)["stale"]                       # held 2.5 s, fresh by its heartbeat
        p.send_signal(signal.SIGKILL); p.wait()
        assert not lock_holder(lk, lease=2)["stale"]                       # no heartbeat since: stale only after the lease
        time.sleep(2.2); assert lock_holder(lk, lease=2)["stale"]
        monkeypatch.undo()
        assert lock_holder(lk)["stale"] and run_status(tmp_path) == "pending"   # on its own host: at once
    finally:
        if p.poll() is None: p.kill(); p.wait()
        p.stdout.close()

def test_two_takers_of_a_stale_lock_threads(tmp_path):
    lk, n = tmp_path/"LOCK", 6
    for r in range(25):
        other_host(lk, age=3600, id=f"round-{r}")
        start, hold, wins = threading.Barrier(n), threading.Barrier(n), []
        def take():
            start.wait()
            with file_lock(lk, blocking=False) as h:
                wins.append(bool(h)); hold.wait()   # the winner holds it until every taker has tried
        ts = [threading.Thread(target=take) for _ in range(n)]
        for t in ts: t.start()
        for t in ts: t.join()
        assert sum(wins) == 1 and len(wins) == n, (r, wins)
        assert os.listdir(tmp_path) == [], os.listdir(tmp_path)

def test_two_takers_of_a_stale_lock_processes(tmp_path):
    lk, n = tmp_path/"locks"/"LOCK", 4
    lk.parent.mkdir(); other_host(lk, age=3600)
    code = """import sys, time
from pathlib import Path
from xstilts.core import file_lock
lk, me = Path(sys.argv[1]), sys.argv[2]
(lk.parent.parent/f"ready-{me}").touch()
while not (lk.parent.parent/"go").exists(): time.sleep(0.001)
with file_lock(lk, blocking=False) as h:
    print(bool(h), flush=True)
    if h: time.sleep(1.5)   # hold it while the others try
"""
    ps = [subprocess.Popen([sys.executable, "-c", code, str(lk), str(i)], cwd=ROOT, stdout=subprocess.PIPE, text=True) for i in range(n)]
    t0 = time.time()
    while len(list(tmp_path.glob("ready-*"))) < n and time.time() - t0 < 60: time.sleep(0.01)
    (tmp_path/"go").touch()
    out = [p.communicate(timeout=60)[0].strip() for p in ps]
    assert sorted(out) == ["False"] * (n - 1) + ["True"], out
    assert os.listdir(lk.parent) == []

def test_a_slow_taker_does_not_take_a_lock_taken_over_meanwhile(tmp_path, monkeypatch):
    "A reads the stale lock, B takes it over and holds it, then A goes on: A must not replace B's lock."
    lk = tmp_path/"LOCK"; other_host(lk, age=3600)
    real, paused, resume = core.lock_holder, threading.Event(), threading.Event()
    def slow(path, lease=None):
        h = real(path, lease)
        if threading.current_thread().name == "A" and Path(path) == lk and not paused.is_set(): paused.set(); resume.wait(10)
        return h
    monkeypatch.setattr(core, "lock_holder", slow)
    got = {}
    def a():
        with file_lock(lk, blocking=False) as h: got["A"] = bool(h)
    ta = threading.Thread(target=a, name="A"); ta.start()
    assert paused.wait(10)                                   # A saw the stale lock
    with file_lock(lk, blocking=False) as b:
        assert b                                             # B took it over
        resume.set(); ta.join(10)
        assert got == {"A": False} and real(lk)["id"] == b.rec["id"]   # A left it to B

def test_release_leaves_a_lock_taken_over_meanwhile(tmp_path):
    "A holder whose lock was taken over (its heartbeat had stopped for a lease) neither rewrites nor removes the new one."
    lk = tmp_path/"LOCK"
    with pytest.warns(UserWarning, match="Lost the lock"):
        with file_lock(lk, heartbeat=0.05) as h:
            other_host(tmp_path/"new", age=0); os.replace(tmp_path/"new", lk)   # as a taker replaces it
            time.sleep(0.3)
            assert json.loads(lk.read_text())["host"] == "node-7" and not h.ours()
    assert json.loads(lk.read_text())["host"] == "node-7"

def test_blocking_waits_for_the_holder(tmp_path):
    lk, order = tmp_path/"LOCK", []
    with file_lock(lk) as h:
        def wait():
            with file_lock(lk) as g: order.append(("waiter", bool(g)))
        t = threading.Thread(target=wait); t.start()
        time.sleep(0.3); order.append(("holder", "released"))
    t.join(10)
    assert order == [("holder", "released"), ("waiter", True)] and not lk.exists()
