#!/usr/bin/env python3
"""The daemon benchmarks (issue: the daemon).

Starts the release binary on loopback with a fresh SQLite file for each measurement and
reports, as JSON lines:
  ingest      sustained ingest over HTTP with durable commits (target >= 20,000 events/s)
  latency     p99 acknowledgement latency at 5,000 events/s (target < 50 ms)
  restart     restart to ready with 1,000,000 pending timers (target < 5 s, < 1 GiB resident)
  burst       100,000 timers falling due at once: all in the outbox (target < 10 s) while the
              API keeps answering (slowest answer measured meanwhile)

Usage: bench/daemon.py [ingest latency restart burst] [--timers N] [--without-plugins]
(default: all, N = 1,000,000, with the shipped configuration's plugins)
Only the standard library; the load comes from `waakvlam load` and `waakvlam generate`.
"""
import json, os, shutil, signal, subprocess, sys, tempfile, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "waakvlam")
TOKEN = "bench-alle-gemeenten"
WITHOUT_PLUGINS = "--without-plugins" in sys.argv


def config(dir, port, clock, database="data/waakvlam.db"):
    shipped = open(os.path.join(ROOT, "config", "waakvlam.yaml")).read()
    digest = subprocess.run(["sha256sum"], input=TOKEN.encode(), capture_output=True).stdout.split()[0].decode()
    text = (shipped.replace("listen: 127.0.0.1:8080", f"listen: 127.0.0.1:{port}")
            .replace("database: ../data/waakvlam.db", f"database: {database}")
            .replace("notifications_log: ../data/notifications.jsonl", "notifications_log: data/notifications.jsonl")
            .replace("workflows: ../workflows", f"workflows: {ROOT}/workflows")
            .replace("inbox: ../data/ijw-inbox", "inbox: data/ijw-inbox\n    poll_seconds: 1")
            .replace("clock: system", f"clock: {clock}"))
    if WITHOUT_PLUGINS:
        text = "\n".join(line for line in text.splitlines() if "library: libwaakvlam_" not in line) + "\n"
    text += f"    - {{ name: bench, sha256: {digest}, gemeenten: [GM0150, GM0148, GM0200, GM0158] }}\n"
    open(os.path.join(dir, "waakvlam.yaml"), "w").write(text)
    shutil.copy(os.path.join(ROOT, "config", "feestdagen.yaml"), dir)
    shutil.copytree(os.path.join(ROOT, "config", "plugins"), os.path.join(dir, "plugins"), dirs_exist_ok=True)


def free_port():
    import socket
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close(); return port


def request(port, method, path, body=None, timeout=60):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                 headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as response:
        return response.read().decode()


class Daemon:
    def __init__(self, dir, clock="system", database="data/waakvlam.db", env=None):
        self.dir, self.port = dir, free_port()
        config(dir, self.port, clock, database)
        self.started = time.monotonic()
        self.process = subprocess.Popen([BIN, "run", "--config", os.path.join(dir, "waakvlam.yaml")],
                                        stdout=subprocess.DEVNULL, stderr=open(os.path.join(dir, "daemon.log"), "a"),
                                        env={**os.environ, **(env or {})})
        while True:
            try:
                request(self.port, "GET", "/healthz", timeout=1)
                break
            except Exception:
                if self.process.poll() is not None:
                    raise SystemExit(open(os.path.join(dir, "daemon.log")).read())
                time.sleep(0.01)
        self.ready_seconds = time.monotonic() - self.started

    def rss_mib(self):
        status = open(f"/proc/{self.process.pid}/status").read()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024

    def load(self, events, batch, connections, rate=None):
        args = [BIN, "load", "--url", f"http://127.0.0.1:{self.port}", "--token", TOKEN, "--events", events,
                "--batch", str(batch), "--connections", str(connections)]
        if rate:
            args += ["--rate", str(rate)]
        return json.loads(subprocess.run(args, capture_output=True, check=True, text=True).stdout)

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=600)


def complaints(path, n, at="2027-04-13T10:15:00+02:00"):
    with open(path, "w") as out:
        for i in range(n):
            out.write(json.dumps({"id": f"k{i}", "type": "klacht.ingediend", "gemeente": "GM0150", "case": f"K-{i}",
                                  "at": at, "data": {"klacht_id": f"K-{i}"}}) + "\n")


def report(name, **fields):
    print(json.dumps({"benchmark": name, **fields}), flush=True)


# The generated year is 2026; on the system clock, how much of it has fallen due (and so how
# many notifications an ingest records) would change with the day the benchmark runs. The
# ingest benchmarks take their events at this fixed moment instead: late in the year, most of
# it due, as on the day the targets were first measured.
INGEST_MOMENT = "2026-11-30T12:00:00+01:00"


def at_ingest_moment(daemon):
    request(daemon.port, "POST", "/v1/clock", {"now": INGEST_MOMENT})
    return daemon


def ingest(work):
    events = os.path.join(work, "mix.jsonl")
    subprocess.run([BIN, "generate", "--cases", "30000", "--year", "2026"], stdout=open(events, "w"), check=True)
    daemon = at_ingest_moment(Daemon(tempfile.mkdtemp(dir=work), clock="virtual"))
    result = daemon.load(events, batch=500, connections=4)
    daemon.stop()
    report("ingest", target=">= 20000 events/s", **result)


def latency(work):
    events = os.path.join(work, "latency.jsonl")
    subprocess.run([BIN, "generate", "--cases", "15000", "--year", "2026", "--seed", "2"], stdout=open(events, "w"), check=True)
    daemon = at_ingest_moment(Daemon(tempfile.mkdtemp(dir=work), clock="virtual"))
    result = daemon.load(events, batch=10, connections=32, rate=5000)
    daemon.stop()
    report("latency", target="p99 < 50 ms at 5000 events/s", **result)


def restart(work, timers):
    events = os.path.join(work, "timers.jsonl")
    complaints(events, timers)
    daemon = Daemon(tempfile.mkdtemp(dir=work))
    filled = daemon.load(events, batch=1000, connections=4)
    status = json.loads(request(daemon.port, "GET", "/v1/clock"))
    daemon.stop()
    again = Daemon(daemon.dir)
    rss, peak = again.rss_mib()
    status_after = json.loads(request(again.port, "GET", "/v1/clock"))
    again.stop()
    report("restart", target="ready < 5 s, < 1024 MiB", pending_timers=status_after["pending_timers"],
           ready_seconds=round(again.ready_seconds, 3), rss_mib=round(rss), peak_rss_mib=round(peak),
           fill_events_per_second=round(filled["events_per_second"]), pending_before=status["pending_timers"])


def burst(work):
    n = 100_000
    events = os.path.join(work, "burst.jsonl")
    complaints(events, n)
    daemon = Daemon(tempfile.mkdtemp(dir=work), clock="virtual")
    request(daemon.port, "POST", "/v1/clock", {"now": "2027-04-13T10:00:00+02:00"})
    daemon.load(events, batch=1000, connections=4)
    # All 100,000 reminders are due on 23 April at 09:00.
    started = time.monotonic()
    request(daemon.port, "POST", "/v1/clock", {"now": "2027-04-23T09:00:00+02:00", "wait": False})
    slowest, answers = 0.0, 0
    while True:
        asked = time.monotonic()
        metrics = request(daemon.port, "GET", "/metrics")
        slowest, answers = max(slowest, time.monotonic() - asked), answers + 1
        recorded = sum(int(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                       if line.startswith('waakvlam_deliveries{channel="log"'))
        if recorded >= n:
            break
        time.sleep(0.05)
    seconds = time.monotonic() - started
    daemon.stop()
    report("burst", target="100000 in the outbox < 10 s, API answering", notifications=recorded,
           seconds=round(seconds, 3), api_answers_meanwhile=answers, slowest_api_answer_ms=round(slowest * 1000, 1))


def arguments(every):
    """The benchmarks named on the command line (default: `every`) and `--timers N`."""
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    timers = 1_000_000
    if "--timers" in sys.argv:
        timers = int(sys.argv[sys.argv.index("--timers") + 1])
        args = [a for a in args if a != str(timers)]
    return args or every, timers


if __name__ == "__main__":
    chosen, timers = arguments(["ingest", "latency", "restart", "burst"])
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="waakvlam-bench-")
    try:
        for name in chosen:
            if name == "restart":
                restart(work, timers)
            else:
                globals()[name](work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
