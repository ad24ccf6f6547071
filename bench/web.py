#!/usr/bin/env python3
"""The web pages benchmark (issue: the web pages).

Starts the release binary on loopback on a virtual clock at 1 January 2028 with a fresh SQLite
file, posts 100,000 generated cases of 2027 through the API (`waakvlam generate`, `waakvlam
load`), signs in through the sign-in form, makes a calendar feed, and then times the pages
while another 1,000 events/s are posted (`waakvlam load --rate 1000`). Reports, as JSON lines,
the 50th and 95th percentile answer time of:
  overview   GET /                         (target p95 < 200 ms)
  deadlines  GET /termijnen, first page    (target p95 < 100 ms)
  case       GET /casus/{gemeente}/{case}  (target p95 < 50 ms)
  feed       GET /agenda/{token}.ics       (target p95 < 200 ms for 1,000 deadlines)
  report     GET /rapportage?periode=jaar  (the report of the year 2027; target < 2 s)
and the ingest rate achieved meanwhile.

Usage: bench/web.py [--cases N] [--requests N]   (default 100,000 cases, 200 requests a page)
Only the standard library.
"""
import http.cookiejar, json, os, random, re, subprocess, sys, tempfile, threading, time, urllib.parse, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import BIN, ROOT, TOKEN, Daemon, report, request  # noqa: E402


def option(name, default):
    return int(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None


def browser():
    jar = http.cookiejar.CookieJar()
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect()), jar


def fetch(opener, url, form=None):
    data = None if form is None else urllib.parse.urlencode(form, doseq=True).encode()
    try:
        with opener.open(url, data=data, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as answer:
        return answer.code, answer.read().decode()


def field(page, name):
    return re.search(rf'name="{name}" value="([^"]*)"', page).group(1)


def timed(opener, urls):
    times = []
    for url in urls:
        started = time.perf_counter()
        status, _ = fetch(opener, url)
        times.append((time.perf_counter() - started) * 1000)
        assert status == 200, (url, status)
    times.sort()
    return {"p50_ms": round(times[len(times) // 2], 1), "p95_ms": round(times[int(len(times) * 0.95)], 1),
            "max_ms": round(times[-1], 1), "requests": len(times)}


def main():
    cases, requests = option("--cases", 100_000), option("--requests", 200)
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="waakvlam-bench-web-")
    events = os.path.join(work, "cases.jsonl")
    subprocess.run([BIN, "generate", "--cases", str(cases), "--year", "2027"], stdout=open(events, "w"), check=True)
    # The load during the measurement: other cases (their ids prefixed), 1,000 events/s.
    more = os.path.join(work, "more.jsonl")
    generated = subprocess.run([BIN, "generate", "--cases", "40000", "--year", "2027", "--seed", "2"],
                               capture_output=True, text=True, check=True).stdout
    with open(more, "w") as out:
        for line in generated.splitlines():
            event = json.loads(line)
            event["id"], event["case"] = "L" + event["id"], "L" + event["case"]
            out.write(json.dumps(event) + "\n")
    daemon = Daemon(tempfile.mkdtemp(dir=work), clock="virtual")
    request(daemon.port, "POST", "/v1/clock", {"now": "2028-01-01T00:00:00+01:00"})
    filled = daemon.load(events, batch=500, connections=4)
    base = f"http://127.0.0.1:{daemon.port}"
    opener, _ = browser()
    _, form = fetch(opener, f"{base}/inloggen")
    status, _ = fetch(opener, f"{base}/inloggen", {"token": TOKEN, "csrf": field(form, "csrf"), "naar": "/"})
    assert status == 303, status
    # The feed: the smallest set of roles of one gemeente whose open deadlines reach 1,000.
    def make_feed(roles, gemeenten):
        _, page = fetch(opener, f"{base}/agenda")
        status, made = fetch(opener, f"{base}/agenda", {"csrf": field(page, "csrf"), "naam": "bench",
                                                         "gemeente": gemeenten, "rol": roles})
        assert status == 201, status
        address = re.search(r'readonly value="([^"]+\.ics)"', made).group(1)
        return address, fetch(opener, address)[1].count("BEGIN:VEVENT")
    _, page = fetch(opener, f"{base}/agenda")
    roles = re.findall(r'name="rol" value="([^"]+)"', page)
    sizes = {role: make_feed([role], ["GM0150"])[1] for role in roles}
    subsets = [[r for i, r in enumerate(roles) if mask >> i & 1] for mask in range(1, 1 << len(roles))]
    reaching = [s for s in subsets if sum(sizes[r] for r in s) >= 1000] or [roles]
    chosen = min(reaching, key=lambda s: sum(sizes[r] for r in s))
    feed, feed_events = make_feed(chosen, ["GM0150"])
    case_ids = [json.loads(line) for line in open(events) if '"casus.aangemeld"' in line]
    random.seed(1)
    sample = random.sample(case_ids, requests)

    loader = {}
    thread = threading.Thread(target=lambda: loader.update(daemon.load(more, batch=10, connections=4, rate=1000)))
    thread.start()
    time.sleep(1)
    measured = {
        "overview": timed(opener, [f"{base}/"] * requests),
        "deadlines": timed(opener, [f"{base}/termijnen"] * requests),
        "case": timed(opener, [f"{base}/casus/{c['gemeente']}/{c['case']}" for c in sample]),
        "feed": timed(opener, [feed] * requests),
        # The report of the whole generated year (the clock stands at 1 January 2028), for
        # every gemeente of the token: the page and its numbers.
        "report": timed(opener, [f"{base}/rapportage?periode=jaar"] * 20),
    }
    thread.join()
    daemon.stop()
    targets = {"overview": "p95 < 200 ms", "deadlines": "p95 < 100 ms", "case": "p95 < 50 ms",
               "feed": "p95 < 200 ms for 1,000 deadlines", "report": "< 2 s for a year of 100,000 cases"}
    for name, result in measured.items():
        extra = {"deadlines_in_feed": feed_events, "roles": chosen} if name == "feed" else {}
        report(f"web {name}", target=targets[name], cases=cases, **extra, **result)
    report("web ingest meanwhile", target="1000 events/s", events_per_second=round(loader["events_per_second"]),
           p99_ms=loader["p99_ms"], failed_requests=loader["failed_requests"],
           filled_events=filled["events"], fill_events_per_second=round(filled["events_per_second"]))


if __name__ == "__main__":
    main()
