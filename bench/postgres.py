#!/usr/bin/env python3
"""The benchmarks of several daemons on PostgreSQL (issue: several daemons on PostgreSQL).

Starts a PostgreSQL server of its own (Debian's package; initdb on a temporary directory, a
free loopback port, durable settings: fsync and synchronous_commit on) and the release
binary on it, and reports, as JSON lines:
  ingest    sustained ingest over HTTP into one daemon, arrays of 500 (target >= 10,000 events/s)
  takeover  kill -9 of the leader with 100,000 pending timers: the follower leads
            (target < 10 s), and the first reminder due goes out through it
  restart   a follower stopped and started again with 1,000,000 pending timers, while the
            leader runs: ready (target < 5 s) with every timer

Usage: bench/postgres.py [ingest takeover restart] [--timers N]
(default: all; N = 1,000,000 for restart)
Run as root it runs the server as the user `postgres`. Only the standard library.
"""
import json, os, pwd, shutil, signal, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import daemon as bench  # noqa: E402  (the SQLite benchmarks' daemon, load and report)

ROLE, PASSWORD = "waakvlam", "bench-wachtwoord"
ENV = {"PGPASSWORD": PASSWORD}


class Server:
    def __init__(self, work):
        versions = sorted(int(v) for v in os.listdir("/usr/lib/postgresql") if v.isdigit())
        if not versions:
            raise SystemExit("no PostgreSQL under /usr/lib/postgresql: apt-get install postgresql")
        self.bin = f"/usr/lib/postgresql/{versions[-1]}/bin"
        self.version = versions[-1]
        self.dir = tempfile.mkdtemp(dir=work)
        self.port = bench.free_port()
        user = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
        if user:
            os.chown(self.dir, user.pw_uid, user.pw_gid)

        def as_server():
            if user:
                os.setgid(user.pw_gid)
                os.setuid(user.pw_uid)

        self.as_server = as_server
        data = os.path.join(self.dir, "data")
        subprocess.run([f"{self.bin}/initdb", "--encoding=UTF8", "--username=postgres", "-D", data],
                       preexec_fn=as_server, check=True, capture_output=True, env={**os.environ, "LC_ALL": "C.UTF-8"})
        with open(os.path.join(data, "pg_hba.conf"), "w") as hba:
            hba.write(f"host all postgres 127.0.0.1/32 trust\nhost all {ROLE} 127.0.0.1/32 scram-sha-256\n")
        self.process = subprocess.Popen(
            [f"{self.bin}/postgres", "-D", data, "-c", "listen_addresses=127.0.0.1", "-c", f"port={self.port}",
             "-c", f"unix_socket_directories={self.dir}", "-c", "max_connections=200"],
            preexec_fn=as_server, stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "postgres.log"), "a"))
        deadline = time.monotonic() + 30
        while self.psql("SELECT 1", check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise SystemExit("PostgreSQL did not start: " + open(os.path.join(work, "postgres.log")).read())
            time.sleep(0.1)
        self.psql(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'")
        self.databases = 0

    def psql(self, sql, database="postgres", check=True):
        return subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database,
                               "-Atqc", sql], capture_output=True, text=True, check=check)

    def database(self):
        self.databases += 1
        name = f"bench_{self.databases}"
        self.psql(f"CREATE DATABASE {name} OWNER {ROLE}")
        return name, f"postgres://{ROLE}@127.0.0.1:{self.port}/{name}"

    def stop(self):
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=60)


def health(daemon):
    return json.loads(bench.request(daemon.port, "GET", "/healthz"))


def wait(what, done, seconds=600):
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            raise SystemExit(f"waited {seconds} s for {what}")
        time.sleep(0.02)


def ingest(work, server):
    events = os.path.join(work, "mix.jsonl")
    subprocess.run([bench.BIN, "generate", "--cases", "100000", "--year", "2026"], stdout=open(events, "w"), check=True)
    name, url = server.database()
    daemon = bench.Daemon(tempfile.mkdtemp(dir=work), clock="virtual", database=url, env=ENV)
    wait("a leader", lambda: health(daemon)["leader"])
    bench.at_ingest_moment(daemon)
    result = daemon.load(events, batch=500, connections=4)
    daemon.stop()
    stored = int(server.psql("SELECT count(*) FROM events", database=name).stdout)
    notifications = int(server.psql("SELECT count(*) FROM notifications", database=name).stdout)
    bench.report("postgres ingest", target=">= 10000 events/s", stored_events=stored,
                 notifications=notifications, **result)


def filled(work, server, timers, clock):
    """A leader with `timers` pending timers (one complaint each) and a follower beside it."""
    events = os.path.join(work, f"complaints-{timers}.jsonl")
    bench.complaints(events, timers)
    name, url = server.database()
    leader = bench.Daemon(tempfile.mkdtemp(dir=work), clock=clock, database=url, env=ENV)
    wait("a leader", lambda: health(leader)["leader"])
    if clock == "virtual":
        bench.request(leader.port, "POST", "/v1/clock", {"now": "2027-04-13T10:00:00+02:00"})
    fill = leader.load(events, batch=1000, connections=4)
    follower = bench.Daemon(tempfile.mkdtemp(dir=work), clock=clock, database=url, env=ENV)
    return name, leader, follower, fill


def takeover(work, server, timers=100_000):
    name, leader, follower, fill = filled(work, server, timers, "virtual")
    pending = json.loads(bench.request(follower.port, "GET", "/v1/clock"))["pending_timers"]
    leader.process.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    leader.process.wait()
    wait("the follower to lead", lambda: health(follower)["leader"], seconds=60)
    leads = time.monotonic() - killed
    # The first reminders are due on 23 April at 09:00; the new leader sends them.
    bench.request(follower.port, "POST", "/v1/clock", {"now": "2027-04-23T09:00:00+02:00", "wait": False})
    wait("a reminder through the new leader",
         lambda: os.path.exists(os.path.join(follower.dir, "data", "notifications.jsonl"))
         and os.path.getsize(os.path.join(follower.dir, "data", "notifications.jsonl")) > 0)
    first = time.monotonic() - killed
    follower.stop()
    bench.report("postgres takeover", target="leads < 10 s", pending_timers=pending,
                 leads_after_seconds=round(leads, 3), first_reminder_after_seconds=round(first, 3),
                 fill_events_per_second=round(fill["events_per_second"]))


def restart(work, server, timers):
    name, leader, follower, fill = filled(work, server, timers, "system")
    follower.stop()
    again = bench.Daemon(follower.dir, database=f"postgres://{ROLE}@127.0.0.1:{server.port}/{name}", env=ENV)
    ready = again.ready_seconds
    pending = json.loads(bench.request(again.port, "GET", "/v1/clock"))["pending_timers"]
    rss, peak = again.rss_mib()
    again.stop()
    leader.stop()
    bench.report("postgres restart", target="follower ready < 5 s", pending_timers=pending,
                 ready_seconds=round(ready, 3), rss_mib=round(rss), peak_rss_mib=round(peak),
                 fill_events_per_second=round(fill["events_per_second"]))


if __name__ == "__main__":
    chosen, timers = bench.arguments(["ingest", "takeover", "restart"])
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=bench.ROOT, check=True)
    work = tempfile.mkdtemp(prefix="waakvlam-bench-pg-")
    os.chmod(work, 0o755)
    server = Server(work)
    print(json.dumps({"postgresql": server.version}), flush=True)
    try:
        for name in chosen:
            if name == "restart":
                restart(work, server, timers)
            elif name == "takeover":
                takeover(work, server)
            else:
                ingest(work, server)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
