"""Run `python -m matcher ...` with a per-stage RSS profile: a sampler thread reads VmRSS every 50 ms and
attributes the maximum to the innermost patched function running.

Usage: PYTHONPATH=CODE python bench/stage_memory.py match ARGS...  (the arguments of `python -m matcher`)"""
import functools
import importlib
import sys
import threading
import time

STACK = ["start"]
PEAK: dict[str, float] = {}
FIRST: dict[str, float] = {}
T0 = time.monotonic()


def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024


def sampler():
    while True:
        r = rss()
        k = "/".join(STACK[-2:])
        if r > PEAK.get(k, 0):
            PEAK[k] = r
        time.sleep(0.05)


def wrap(modname, qual):
    try:
        mod = importlib.import_module(modname)
    except ImportError:
        return
    parts = qual.split(".")
    owner = mod
    for p in parts[:-1]:
        owner = getattr(owner, p, None)
        if owner is None:
            return
    fn = getattr(owner, parts[-1], None)
    if fn is None:
        return
    label = parts[-1]
    raw = owner.__dict__.get(parts[-1]) if isinstance(owner, type) else fn
    is_static = isinstance(raw, staticmethod)
    is_cls = isinstance(raw, classmethod)
    target = raw.__func__ if (is_static or is_cls) else fn

    @functools.wraps(target)
    def w(*a, **k):
        STACK.append(label)
        FIRST.setdefault("/".join(STACK[-2:]), time.monotonic() - T0)
        try:
            return target(*a, **k)
        finally:
            STACK.pop()
    if is_static:
        w = staticmethod(w)
    elif is_cls:
        w = classmethod(w)
    setattr(owner, parts[-1], w)


for m, q in [("matcher.prepare", "prepare"), ("matcher.blocking", "Blocker._rule_pass"),
             ("matcher.blocking", "Blocker._support_pass"), ("matcher.blocking", "Blocker._reach_isolated"),
             ("matcher.blocking", "Blocker._add_neighbours"),
             ("matcher.pipeline", "Matcher._compare_candidates"), ("matcher.pipeline", "choose_cold_start"),
             ("matcher.pipeline", "Matcher._unsupervised_clusters"), ("matcher.pipeline", "recount"),
             ("matcher.pipeline", "Matcher._judge_group_keys"), ("matcher.pipeline", "Matcher._learn_labels"),
             ("matcher.pipeline", "assemble_result"), ("matcher.cli", "write_table"),
             ("matcher.cli", "read_table"), ("matcher.pipeline", "Matcher.cluster_labels")]:
    wrap(m, q)

threading.Thread(target=sampler, daemon=True).start()
from matcher.cli import main  # noqa: E402

rc = main(sys.argv[1:])
with open("/proc/self/status") as f:
    hwm = [line for line in f if line.startswith("VmHWM")][0].split()[1]
print(f"VmHWM {int(hwm)/1024:.0f} MB, wall {time.monotonic()-T0:.1f} s", file=sys.stderr)
for k, v in sorted(PEAK.items(), key=lambda kv: FIRST.get(kv[0], 0)):
    print(f"  {FIRST.get(k, 0):7.1f}s  {k:50s} {v:8.0f} MB", file=sys.stderr)
sys.exit(rc)
