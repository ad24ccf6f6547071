#!/usr/bin/env python3
"""The iJw intake benchmark (issue: iJw intake).

Writes made-up JW305 and JW307 messages (`waakvlam generate --ijw`, never real data) for
6,000 young people of 2027: 10,000 messages. Starts the release binary on loopback with a
fresh SQLite file and a virtual clock at 1 January 2028, moves all of them into its inbox at
once, and measures the time until every one is answered in `processed/` or `refused/`
(target: under 10 s for 10,000 messages). Reports, as JSON lines, each run.

Usage: bench/ijw.py [--cases N] [--runs N]   (default 6,000 cases, 3 runs)
Only the standard library.
"""
import glob, os, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import BIN, ROOT, Daemon, report, request  # noqa: E402


def option(name, default):
    return int(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


def main():
    cases, runs = option("--cases", 6_000), option("--runs", 3)
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    for run in range(runs):
        work = tempfile.mkdtemp(prefix="waakvlam-bench-ijw-")
        messages = os.path.join(work, "messages")
        subprocess.run([BIN, "generate", "--cases", str(cases), "--year", "2027", "--ijw", messages], check=True)
        files = sorted(os.listdir(messages))
        daemon = Daemon(tempfile.mkdtemp(dir=work), clock="virtual")
        request(daemon.port, "POST", "/v1/clock", {"now": "2028-01-01T00:00:00+01:00"})
        inbox = os.path.join(daemon.dir, "data", "ijw-inbox")
        while not os.path.isdir(os.path.join(inbox, "processed")):
            time.sleep(0.01)
        started = time.perf_counter()
        for name in files:
            os.rename(os.path.join(messages, name), os.path.join(inbox, name))
        while True:
            done = len(glob.glob(os.path.join(inbox, "processed", "*.json"))) + len(glob.glob(os.path.join(inbox, "refused", "*.json")))
            if done >= len(files):
                break
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        refused = len(glob.glob(os.path.join(inbox, "refused", "*.json")))
        daemon.stop()
        report("ijw-inbox", target="< 10 s for 10,000 messages", run=run + 1, messages=len(files),
               refused=refused, seconds=round(seconds, 2), messages_per_second=round(len(files) / seconds))


if __name__ == "__main__":
    main()
