#!/usr/bin/env python3
"""The what-if benchmark (issue: workflows per gemeente, what-if, overviews).

Starts the release binary on loopback on a virtual clock at 1 January 2028 with a fresh SQLite
file, posts 100,000 generated cases of 2027 through the API, and then asks `POST /v1/what-if`
with a changed `klachttermijnen.yaml` (the legal term one week shorter) for a token of all four
gemeenten: every case is replayed under the change and compared with the store. Reports, as
JSON lines, the answer time of each of a few runs (target < 5 s) and what the answer held.

Usage: bench/whatif.py [--cases N] [--runs N]   (default 100,000 cases, 5 runs)
Only the standard library.
"""
import json, os, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import BIN, ROOT, Daemon, report, request  # noqa: E402


def option(name, default):
    return int(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


def main():
    cases, runs = option("--cases", 100_000), option("--runs", 5)
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="waakvlam-bench-whatif-")
    events = os.path.join(work, "cases.jsonl")
    subprocess.run([BIN, "generate", "--cases", str(cases), "--year", "2027"], stdout=open(events, "w"), check=True)
    daemon = Daemon(tempfile.mkdtemp(dir=work), clock="virtual")
    request(daemon.port, "POST", "/v1/clock", {"now": "2029-01-01T00:00:00+01:00"})
    daemon.load(events, batch=500, connections=4)
    text = open(os.path.join(ROOT, "workflows", "klachttermijnen.yaml")).read().replace("  fataal: 6 weeks", "  fataal: 5 weeks")
    body = {"workflows": {"klachttermijnen.yaml": text}}
    for run in range(runs):
        started = time.perf_counter()
        answer = json.loads(request(daemon.port, "POST", "/v1/what-if", body, timeout=600))
        seconds = time.perf_counter() - started
        report("what-if", target="< 5 s for 100,000 cases", run=run + 1, cases=answer["cases"],
               seconds=round(seconds, 3), moved=len(answer["moved"]), started=len(answer["started"]),
               stopped=len(answer["stopped"]), sent_at_once=len(answer["sent_at_once"]))
    daemon.stop()


if __name__ == "__main__":
    main()
