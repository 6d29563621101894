#!/usr/bin/env python3
"""hookd benchmark harness (issue 7): the one documented command.

    python3 bench/run.py                  # every scenario, full size (< 10 minutes on 2 cores)
    python3 bench/run.py --smoke          # every scenario, tiny: checks that the harness works
    python3 bench/run.py --only latency   # one scenario (the raw limit is always measured)
    python3 bench/run.py --store postgres # the same on PostgreSQL (a throwaway cluster, or --pg URL)

It starts the real `build/hookd serve` (a fresh SQLite file in a temp dir for every
scenario), a fast loopback sink (`hookd-sink`) and a load driver (`hookd-load`),
measures "the limit" with a plain signing libcurl client (`hookd-rawclient`) against
the same sink in the same run, prints a table and writes bench/results/latest.json and
bench/results/latest.md (latest-postgres.* with --store postgres). Everything runs on 127.0.0.1; every wait is bounded.

Exit status: 0 when every scenario ran to the end (whatever the speed), 1 when one
broke (a tool failed, the API refused a request, deliveries went missing or never
arrived in time), 2 on bad usage.

Python 3 standard library only.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import http.client
import hashlib
import json
import os
import platform
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse
from dataclasses import dataclass, field

import pgmeter  # bench/pgmeter.py: what PostgreSQL pays per delivery (issue 13)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CLK_TCK = os.sysconf("SC_CLK_TCK")
SINK_PORTS = 1000  # one receiver port per webhook in the fan-out and isolation scenarios
SCENARIOS = ["throughput", "latency", "ingest", "fanout", "isolation", "backlog", "getpost", "query", "micro", "xmin",
             "capture"]


class ScenarioError(Exception):
    """A scenario could not run to its end: the harness (or hookd) is broken, not slow."""


# ---------------------------------------------------------------------------- sizes

@dataclass
class Sizes:
    raw_requests: int
    raw_repeats: int
    throughput_events: int
    latency_rate: int
    latency_seconds: int
    ingest: list  # (batch, events, concurrency)
    fanout_webhooks: int
    fanout_rounds: int
    isolation_webhooks: int
    isolation_events: int
    backlog_webhooks: int
    backlog_events: int
    getpost_events: int
    query_events: int
    wait_scale: float  # multiplies delivery time-outs
    xmin_phases: tuple = (30, 120, 60)  # xmin scenario: seconds before / while / after the horizon is held
    xmin_backlog: int = 20_000          # xmin scenario: pending deliveries the feeder keeps
    repeats: int = 1   # throughput and isolation runs: the median run is reported (this VM's speed drifts)
    capture_burndown: int = 1_000_000  # capture scenario: row changes committed before hookd starts
    capture_rate: int = 1000           # capture scenario: changes/s committed (one row per transaction)
    capture_seconds: int = 30          # ... for this long
    capture_big_txn: int = 1_000_000   # capture scenario: rows of one source transaction


FULL = Sizes(raw_requests=50_000, raw_repeats=3, throughput_events=100_000, latency_rate=1000,
             latency_seconds=30, ingest=[(1, 10_000, 32), (100, 50_000, 8), (1000, 200_000, 4)],
             fanout_webhooks=1000, fanout_rounds=5, isolation_webhooks=100, isolation_events=1000,
             backlog_webhooks=10, backlog_events=100_000, getpost_events=30_000, query_events=20_000,
             wait_scale=1.0, repeats=3)
SMOKE = Sizes(raw_requests=2000, raw_repeats=1, throughput_events=1000, latency_rate=200, latency_seconds=2,
              ingest=[(1, 300, 8), (100, 2000, 4), (1000, 5000, 2)], fanout_webhooks=20, fanout_rounds=2,
              isolation_webhooks=20, isolation_events=100, backlog_webhooks=10, backlog_events=100,
              getpost_events=1000, query_events=500, wait_scale=0.5, xmin_phases=(2, 3, 2), xmin_backlog=500,
              capture_burndown=5000, capture_rate=200, capture_seconds=2, capture_big_txn=5000)


# ---------------------------------------------------------------------------- /proc

def proc_cpu_split(pid: int) -> tuple:
    """(utime, stime) of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    fields = data[data.rindex(")") + 2:].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def proc_cpu_seconds(pid: int) -> float:
    return sum(proc_cpu_split(pid))


def proc_status_kb(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def reset_peak_rss(pid: int) -> bool:
    """Resets VmHWM to the current RSS (Linux >= 4.0: write 5 to clear_refs)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def now_ns() -> int:
    return time.time_ns()


# ---------------------------------------------------------------------------- HTTP

def http_request(host: str, port: int, method: str, path: str, body=None, token=None, timeout=30.0):
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        headers = {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = "Bearer " + token
        conn.request(method, path, body=data, headers=headers)
        r = conn.getresponse()
        raw = r.read()
        ctype = r.getheader("Content-Type", "")
        if "json" in ctype and raw:
            return r.status, json.loads(raw)
        return r.status, raw.decode(errors="replace")
    finally:
        conn.close()


# ---------------------------------------------------------------------------- processes

class Sink:
    def __init__(self, bin_dir: str, logdir: str):
        self.log = open(os.path.join(logdir, "sink.log"), "w")
        # Many webhooks have many receivers in real life; libcurl pools connections per
        # host:port, so webhook i of the many-webhook scenarios gets port i (see url()).
        self.proc = subprocess.Popen([os.path.join(bin_dir, "hookd-sink"), "--port", "0", "--ports", str(SINK_PORTS),
                                      "--hang-prefix", "/hang"], stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"listening on ([\d.]+):(\d+)(?: also ([\d,]+))?", line or "")
        if not m:
            self.stop()
            raise ScenarioError(f"hookd-sink did not start: {line!r}")
        self.host, self.port = m.group(1), int(m.group(2))
        self.ports = [self.port] + [int(p) for p in (m.group(3) or "").split(",") if p]
        self.base = f"http://{self.host}:{self.port}"

    def url(self, i: int, path: str) -> str:
        """The URL of receiver i: its own port (a host of its own, as far as libcurl is concerned)."""
        return f"http://{self.host}:{self.ports[i % len(self.ports)]}{path}"

    def _call(self, method, path):
        status, body = http_request(self.host, self.port, method, path)
        if status != 200:
            raise ScenarioError(f"sink {path}: {status} {body}")
        return body

    def stats(self) -> dict:
        return self._call("GET", "/_sink/stats")

    def reset(self):
        self._call("POST", "/_sink/reset")

    def hang_all(self, on: bool) -> dict:
        return self._call("POST", "/_sink/hang?all=" + ("1" if on else "0"))

    def dump(self, path: str) -> dict:
        """{entityId: first arrival ns}"""
        self._call("POST", "/_sink/dump?path=" + path)
        out = {}
        with open(path) as f:
            for line in f:
                e, t = line.split()
                e, t = int(e), int(t)
                if e not in out or t < out[e]:
                    out[e] = t
        return out

    def cpu(self) -> float:
        return proc_cpu_seconds(self.proc.pid)

    def wait_answered(self, n: int, timeout: float, what: str, stall: float = 30.0) -> dict:
        """Polls until the sink has answered n requests and returns its stats, with
        "complete": False when `timeout` passed first (slow, not broken: the rate is still
        measured on what arrived). No new arrival for `stall` seconds is an error."""
        start = time.monotonic()
        deadline = start + timeout
        last_progress, seen = start, -1
        while True:
            st = self.stats()
            now = time.monotonic()
            if st["answered"] >= n:
                st["complete"] = True
                return st
            if st["answered"] != seen:
                seen, last_progress = st["answered"], now
            elif now - last_progress > stall:
                raise ScenarioError(f"{what}: stalled at {seen} of {n} deliveries (none for {stall:.0f} s)")
            if now >= deadline:
                st["complete"] = False
                print(f"    INCOMPLETE: {st['answered']} of {n} deliveries within {timeout:.0f} s "
                      f"(measured on what arrived)", flush=True)
                return st
            time.sleep(0.02)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Hookd:
    """One `hookd serve` on a fresh SQLite file (or PostgreSQL database), with a site, an admin
    and a publisher token."""

    def __init__(self, ctx: "Context", name: str, max_in_flight: int | None = None):
        self._start(ctx, name, max_in_flight)

    def _start(self, ctx: "Context", name: str, max_in_flight: int | None = None):
        self.ctx = ctx
        self.dir = os.path.join(ctx.workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.logpath = os.path.join(self.dir, "hookd.log")
        self.log = open(self.logpath, "w")
        self.operator = "hkd_bench_" + secrets.token_urlsafe(24)
        env = dict(os.environ)
        env["HOOKD_OPERATOR_TOKEN"] = self.operator
        for k in ("HOOKD_LISTEN", "HOOKD_DB", "HOOKD_API_RATE_LIMIT", "HOOKD_RETRY_SCHEDULE"):
            env.pop(k, None)
        self.pg_db = None
        if ctx.store == "postgres":
            url = pg_database(ctx)
            self.pg_db = urllib.parse.urlsplit(url).path.lstrip("/")
            self.pg_url = url
            db = ["--db", url]
        else:
            db = ["--db", "sqlite:" + os.path.join(self.dir, "hookd.db"), "--sqlite-synchronous", ctx.synchronous]
        cmd = [ctx.hookd, "serve", "--listen", "127.0.0.1:0", *db, "--allow-private-network", "--api-rate-limit", "0",
               "--retry-schedule", ctx.retry_schedule, "--log-level", "info"]
        if max_in_flight:
            cmd += ["--max-in-flight", str(max_in_flight)]
        self.cmd = cmd
        self.env = env
        self._spawn(cmd)
        try:
            self._bootstrap()
        except BaseException:
            self.stop()
            raise

    def _spawn(self, cmd: list):
        offset = os.path.getsize(self.logpath)
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log, env=self.env, cwd=self.dir)
        self.pid = self.proc.pid
        deadline = time.monotonic() + 20
        self.host = self.port = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ScenarioError(f"hookd exited at start ({self.proc.returncode}): {self.tail_log()}")
            with open(self.logpath) as f:
                f.seek(offset)
                m = re.search(r"listening on http://([\d.]+):(\d+)", f.read())
            if m:
                self.host, self.port = m.group(1), int(m.group(2))
                break
            time.sleep(0.02)
        if not self.port:
            self.stop()
            raise ScenarioError("hookd did not log 'listening on' within 20 s")

    def restart(self, extra_args: list):
        """Stops hookd and starts it again on the same database (site, tokens and webhooks kept),
        with `extra_args` added to its command line."""
        self.stop()
        self.log = open(self.logpath, "a")
        self._spawn(self.cmd + [str(a) for a in extra_args])
        self.events_url = f"http://{self.host}:{self.port}/v1/sites/{self.site}/events"

    def _bootstrap(self):
        self.site = "bench"
        self.api("POST", "/v1/sites", {"id": self.site, "name": "Benchmark"}, self.operator, expect=201)
        self.admin = self.api("POST", f"/v1/sites/{self.site}/tokens", {"role": "admin", "name": "bench admin"},
                              self.operator, expect=201)["token"]
        self.publisher = self.api("POST", f"/v1/sites/{self.site}/tokens",
                                  {"role": "publisher", "name": "bench publisher"}, self.operator,
                                  expect=201)["token"]
        self.events_url = f"http://{self.host}:{self.port}/v1/sites/{self.site}/events"

    def tail_log(self, n=2000) -> str:
        try:
            with open(self.logpath) as f:
                return f.read()[-n:]
        except OSError:
            return ""

    def api(self, method, path, body=None, token=None, expect=None):
        status, data = http_request(self.host, self.port, method, path, body, token)
        if expect is not None and status != expect:
            raise ScenarioError(f"{method} {path}: expected {expect}, got {status}: {str(data)[:300]}")
        return data

    def create_webhook(self, url: str, method="POST", max_in_flight=None, timeout_ms=None, expect=201) -> dict:
        body = {"payloadUrl": url, "secret": "bench-secret", "events": ["CREATE"], "method": method,
                "sendEverything": True}
        if max_in_flight is not None:
            body["maxInFlight"] = max_in_flight
        if timeout_ms is not None:
            body["timeoutMs"] = timeout_ms
        return self.api("POST", f"/v1/sites/{self.site}/webhooks", body, self.admin, expect=expect)

    def create_webhooks(self, specs: list, workers=8) -> list:
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            return list(pool.map(lambda s: self.create_webhook(**s), specs))

    def queue_depth(self) -> int:
        status, text = http_request(self.host, self.port, "GET", "/metrics")
        if status != 200:
            raise ScenarioError(f"/metrics: {status}")
        m = re.search(r"^hookd_queue_depth (\d+)", text, re.M)
        return int(m.group(1)) if m else -1

    def cpu(self) -> float:
        return proc_cpu_seconds(self.pid)

    def peak_rss_mb(self) -> float:
        return proc_status_kb(self.pid, "VmHWM") / 1024.0

    def rss_mb(self) -> float:
        return proc_status_kb(self.pid, "VmRSS") / 1024.0

    def alive(self):
        if self.proc.poll() is not None:
            raise ScenarioError(f"hookd died (exit {self.proc.returncode}): {self.tail_log()}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def pg_database(ctx: "Context") -> str:
    """A fresh database on the PostgreSQL server, as a URL for --db."""
    ctx.databases += 1
    name = f"hookd_bench_{os.getpid()}_{ctx.databases}"
    r = subprocess.run(["psql", ctx.pg_admin, "-v", "ON_ERROR_STOP=1", "-qc", f"CREATE DATABASE {name}"],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise ScenarioError(f"cannot create a PostgreSQL database: {r.stderr.strip()}")
    return urllib.parse.urlsplit(ctx.pg_admin)._replace(path="/" + name).geturl()


# ---------------------------------------------------------------------------- tools

def run_tool(ctx: "Context", name: str, args: list, timeout: float, allow_timeout=False) -> dict:
    cmd = [os.path.join(ctx.bin_dir, name)] + [str(a) for a in args]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ScenarioError(f"{name} did not finish within {timeout:.0f} s")
    try:
        out = json.loads(p.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise ScenarioError(f"{name} failed ({p.returncode}): {p.stderr.strip()[:500]}")
    if p.returncode != 0 and not (allow_timeout and out.get("timedOut") and not out.get("failedRequests")):
        raise ScenarioError(f"{name} failed ({p.returncode}): {p.stderr.strip()[:500]} {out}")
    return out


def load(ctx, hk: Hookd, events: int, batch: int, concurrency: int, id_start: int, rate=None, out=None,
         timeout=300.0, allow_timeout=False) -> dict:
    args = ["--url", hk.events_url, "--token", hk.publisher, "--events", events, "--batch", batch,
            "--concurrency", concurrency, "--id-start", id_start, "--max-seconds", timeout]
    if rate:
        args += ["--rate", rate]
    if out:
        args += ["--out", out]
    return run_tool(ctx, "hookd-load", args, timeout + 30, allow_timeout)


def percentile(sorted_values: list, p: float) -> float:
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * p
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


class Profiler:
    """perf record -g on a process for the length of a `with` block (when --profile is given)."""

    def __init__(self, ctx, pid: int, name: str):
        self.ctx, self.pid, self.name, self.proc = ctx, pid, name, None
        self.data = os.path.join(ctx.workdir, f"perf-{name}.data")

    def __enter__(self):
        if self.ctx.profile and shutil.which("perf"):
            # DWARF unwinding: libsqlite3 and libcurl have no frame pointers.
            self.proc = subprocess.Popen(["perf", "record", "-F", "499", "--call-graph", "dwarf,16384",
                                          "-p", str(self.pid), "-o", self.data],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.3)
        return self

    def __exit__(self, *exc):
        if not self.proc:
            return False
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        out = os.path.join(self.ctx.results_dir, f"profile-{self.name}.txt")
        views = [("by thread (hookd-dispatch, hookd-http, hookd-api, ...)", ["--no-children", "--sort", "comm"]),
                 ("self time (flat), by library and symbol", ["--no-children", "--sort", "dso,symbol"]),
                 ("inclusive time (with callees), by symbol", ["--children", "--sort", "symbol"])]
        with open(out, "w") as f:
            for title, opts in views:
                r = subprocess.run(["perf", "report", "-i", self.data, "--stdio", "--percent-limit", "1.5", "-g", "none"]
                                   + opts, capture_output=True, text=True, timeout=300)
                f.write(f"# {title}\n")
                for line in r.stdout.splitlines():
                    # perf 6.1 pads the symbol column and adds empty "-  -" columns.
                    line = re.sub(r"\s+-\s+-\s*$", "", line).rstrip()
                    line = re.sub(r" {3,}", "   ", line)
                    if line and not line.startswith("#"):
                        f.write(line + "\n")
                f.write("\n")
        self.ctx.log(f"    profile written to {os.path.relpath(out, ROOT)}")
        return False


# ---------------------------------------------------------------------------- context

@dataclass
class Context:
    hookd: str
    bin_dir: str
    workdir: str
    results_dir: str
    sizes: Sizes
    smoke: bool
    concurrency: int
    synchronous: str
    retry_schedule: str
    profile: bool
    store: str = "sqlite"
    pg_admin: str = ""  # PostgreSQL admin URL (store "postgres"): one fresh database per hookd
    databases: int = 0
    pg: object = None    # pgmeter.PgServer: the meter session and the server's processes (store "postgres")
    pg_cores: int = 0    # PostgreSQL pinned to cores 0..K-1, everything else to the others (0: not pinned)
    pg_analyze: bool = False  # ANALYZE hookd's database once a scenario's events are in
    tag: str = ""        # suffix of the results' file names
    xmin_hold: float = None  # xmin scenario: seconds the horizon is held (None: the size's default)
    sink: Sink = None
    limit: dict = field(default_factory=dict)
    results: dict = field(default_factory=dict)
    next_id: int = 1

    def log(self, msg: str):
        print(msg, flush=True)

    def ids(self, n: int) -> int:
        """A fresh range of entity ids (unique across the run)."""
        start = self.next_id
        self.next_id += n
        return start


def pg_window(ctx: "Context", hk: Hookd, skip=()):
    """Starts a PostgreSQL cost window on hk's database (None on SQLite or when the meter is off);
    `skip`: pids of the harness's own sessions on that database (not hookd's cost)."""
    if ctx.store != "postgres" or not ctx.pg or not hk.pg_db:
        return None
    try:
        return ctx.pg.meter([hk.pg_db], skip)
    except pgmeter.PsqlError as e:
        ctx.log(f"    (PostgreSQL cost not measured: {e})")
        return None


def pg_close(ctx: "Context", meter, deliveries: int, settle: float = 1.2, active_seconds=None):
    """Closes a PostgreSQL cost window after `settle` seconds (backends publish their
    pg_stat_database counters at most once a second; the last outcomes are written after the
    last arrival). Returns the figures (pgmeter.PgMeter.stop) or None."""
    if meter is None:
        return None
    time.sleep(settle)
    try:
        r = meter.stop(deliveries, active_seconds)
    except pgmeter.PsqlError as e:
        ctx.log(f"    (PostgreSQL cost not measured: {e})")
        return None
    ctx.log("    PostgreSQL: " + pg_summary(r))
    return r


def pg_analyze(ctx: "Context", hk: Hookd):
    """--pg-analyze: ANALYZE hookd's database once the events are in, as autovacuum would after its
    next visit (a fresh database is otherwise planned with no statistics for up to a minute)."""
    if not ctx.pg_analyze or not hk.pg_db:
        return
    t = time.monotonic()
    r = subprocess.run(["psql", "-X", "-q", hk.pg_url, "-c", "ANALYZE"], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise ScenarioError(f"ANALYZE failed: {r.stderr.strip()[:300]}")
    ctx.log(f"    ANALYZE after ingest: {time.monotonic() - t:.2f} s")


def pg_summary(r: dict) -> str:
    parts = []
    if r.get("pgCpuSecondsPer1000") is not None:
        parts.append(f"{r['pgCpuSecondsPer1000']} CPU s/1000 deliveries (backends {r['pgBackendCpuSecondsPer1000']}; "
                     f"{r['pgCoresBusy']} cores busy)")
    if r.get("walBytesPerDelivery") is not None:
        parts.append(f"{r['walBytesPerDelivery']:.0f} WAL bytes/delivery")
    if r.get("statementsPerDelivery") is not None:
        parts.append(f"{r['statementsPerDelivery']} statements/delivery")
    if r.get("transactionsPerDelivery") is not None:
        parts.append(f"{r['transactionsPerDelivery']} transactions/delivery")
    return ", ".join(parts)


def measure(hk: Hookd, sink: Sink):
    """Starts a CPU/RSS measurement window; returns a function that closes it."""
    (u0, s0), sink_cpu0 = proc_cpu_split(hk.pid), sink.cpu()
    reset_peak_rss(hk.pid)

    def done(deliveries: int) -> dict:
        u1, s1 = proc_cpu_split(hk.pid)
        cpu = (u1 - u0) + (s1 - s0)
        sink_cpu = sink.cpu() - sink_cpu0
        return {"cpuSeconds": round(cpu, 3), "cpuUserSeconds": round(u1 - u0, 3),
                "cpuSystemSeconds": round(s1 - s0, 3),
                "cpuSecondsPer1000": round(cpu * 1000 / deliveries, 4) if deliveries else None,
                "sinkCpuSecondsPer1000": round(sink_cpu * 1000 / deliveries, 4) if deliveries else None,
                "peakRssMb": round(hk.peak_rss_mb(), 1)}
    return done


# ---------------------------------------------------------------------------- the limit

def measure_limit(ctx: Context):
    s = ctx.sizes
    sink = ctx.sink
    ctx.log(f"[limit] hookd-rawclient: {s.raw_requests} signed requests, {ctx.concurrency} in flight, keep-alive")
    runs = {}
    for method in ("POST", "GET"):
        rs = []
        for _ in range(s.raw_repeats if method == "POST" else 1):
            sink.reset()
            c0 = sink.cpu()
            r = run_tool(ctx, "hookd-rawclient", ["--url", f"{sink.base}/raw", "--requests", s.raw_requests,
                                                 "--concurrency", ctx.concurrency, "--method", method,
                                                 "--id-start", ctx.ids(s.raw_requests)], 120)
            r["sinkCpuSecondsPer1000"] = round((sink.cpu() - c0) * 1000 / max(1, r["ok"]), 4)
            st = sink.stats()
            if st["answered"] < r["ok"]:
                raise ScenarioError(f"raw limit: the sink saw {st['answered']} of {r['ok']} requests")
            rs.append(r)
        runs[method] = rs
    # One request at a time: the round trip that bounds any latency.
    sink.reset()
    n1 = max(500, s.raw_requests // 10)
    rtt = run_tool(ctx, "hookd-rawclient", ["--url", f"{sink.base}/raw", "--requests", n1, "--concurrency", 1,
                                           "--id-start", ctx.ids(n1)], 60)
    post = sorted(r["requestsPerSecond"] for r in runs["POST"])
    ctx.limit = {
        "concurrency": ctx.concurrency,
        "postRequestsPerSecond": statistics.median(post),
        "postRuns": [r["requestsPerSecond"] for r in runs["POST"]],
        "getRequestsPerSecond": runs["GET"][0]["requestsPerSecond"],
        "clientCpuSecondsPer1000": statistics.median(r["cpuSecondsPer1000"] for r in runs["POST"]),
        "sinkCpuSecondsPer1000": statistics.median(r["sinkCpuSecondsPer1000"] for r in runs["POST"]),
        "roundTripUs": round(1e6 / rtt["requestsPerSecond"], 1) if rtt["requestsPerSecond"] else None,
    }
    ctx.log(f"    POST {ctx.limit['postRequestsPerSecond']:.0f} req/s (runs {ctx.limit['postRuns']}), "
            f"GET {ctx.limit['getRequestsPerSecond']:.0f} req/s, one at a time {ctx.limit['roundTripUs']} µs/request, "
            f"client CPU {ctx.limit['clientCpuSecondsPer1000']} s/1000")


def ratio(rate, limit):
    return round(rate / limit, 3) if rate and limit else None


# ---------------------------------------------------------------------------- scenarios

def deliver_run(ctx: Context, name: str, hk: Hookd, events: int, deliveries: int, batch=1000, concurrency=4,
                profile_name=None, timeout=120.0) -> dict:
    """Submits `events` (batches of 1000) and waits until `deliveries` arrived at the sink
    (or `timeout` seconds passed: then the rate is measured on what arrived)."""
    sink = ctx.sink
    sink.reset()
    win = measure(hk, sink)
    pgw = pg_window(ctx, hk)
    first = ctx.ids(events)
    with Profiler(ctx, hk.pid, profile_name) if profile_name else _nullctx():
        ld = load(ctx, hk, events, batch, concurrency, first)
        if ld["accepted"] != events:
            raise ScenarioError(f"{name}: {ld['accepted']} of {events} events accepted")
        pg_analyze(ctx, hk)
        st = sink.wait_answered(deliveries, timeout * ctx.sizes.wait_scale, name)
    delivered = min(st["answered"], deliveries)
    m = win(delivered)
    hk.alive()
    seconds = (st["lastNs"] - ld["startNs"]) / 1e9
    extra = 0
    if st["complete"]:
        time.sleep(0.2)
        extra = sink.stats()["answered"] - deliveries
    pg = pg_close(ctx, pgw, delivered, settle=1.0, active_seconds=seconds)
    out = {"events": events, "deliveries": deliveries, "delivered": delivered, "complete": st["complete"],
           "seconds": round(seconds, 3), "deliveriesPerSecond": round(delivered / seconds, 1) if seconds > 0 else None,
           "ingestEventsPerSecond": ld["eventsPerSecond"], "duplicates": extra, **m}
    if pg:
        pg.update(pg_hot(hk))
        if pg.get("deliveriesUpdates"):
            ctx.log(f"    deliveries: {pg['deliveriesHotUpdates']} of {pg['deliveriesUpdates']} updates HOT "
                    f"({pg['deliveriesHotRatio']})")
        out["pg"] = pg
    return out


def pg_hot(hk: Hookd) -> dict:
    """How many of the run's row updates of `deliveries` were HOT (no new index entries):
    pg_stat_user_tables of hookd's database (cumulative: the run's database is fresh)."""
    if not hk.pg_db:
        return {}
    r = subprocess.run(["psql", "-X", "-qAt", "-F", " ", hk.pg_url, "-c",
                        "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'deliveries'"],
                       capture_output=True, text=True, timeout=60)
    try:
        upd, hot = (int(x) for x in r.stdout.split())
    except ValueError:
        return {}
    return {"deliveriesUpdates": upd, "deliveriesHotUpdates": hot,
            "deliveriesHotRatio": round(hot / upd, 3) if upd else None}


class _nullctx:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def sc_throughput(ctx: Context):
    n = ctx.sizes.throughput_events
    ctx.log(f"[throughput] {n} events, one POST webhook (maxInFlight {ctx.concurrency}), "
            f"synchronous={ctx.synchronous}")
    runs = []
    for i in range(ctx.sizes.repeats):
        hk = Hookd(ctx, f"throughput-{i + 1}")
        try:
            hk.create_webhook(f"{ctx.sink.base}/hook", max_in_flight=ctx.concurrency)
            r = deliver_run(ctx, "throughput", hk, n, n, profile_name="throughput" if i == 0 else None, timeout=120)
        finally:
            hk.stop()
        ctx.log(f"    run {i + 1}: {r['deliveriesPerSecond']:.0f} deliveries/s, {r['cpuSecondsPer1000']} CPU s/1000")
        runs.append(r)
    r = median_run(runs)
    r["ratioToLimit"] = ratio(r["deliveriesPerSecond"], ctx.limit["postRequestsPerSecond"])
    ctx.log(f"    {r['deliveriesPerSecond']:.0f} deliveries/s ({r['ratioToLimit']} of the limit), "
            f"{r['cpuSecondsPer1000']} CPU s/1000, peak RSS {r['peakRssMb']} MB"
            + (f" (median of {len(runs)} runs)" if len(runs) > 1 else ""))
    return r


def runs_note(r: dict) -> str:
    """' (median of 101, 102, 99)' when the scenario ran more than once."""
    runs = r.get("runs") or []
    return f" (median of {', '.join(fmt(x) for x in runs)})" if len(runs) > 1 else ""


def median_run(runs: list) -> dict:
    """The run with the median delivery rate, with every run's rate and CPU cost beside it."""
    ordered = sorted(runs, key=lambda r: r["deliveriesPerSecond"] or 0)
    r = dict(ordered[len(ordered) // 2])
    r["runs"] = [x["deliveriesPerSecond"] for x in runs]
    r["cpuRuns"] = [x["cpuSecondsPer1000"] for x in runs]
    if any(x.get("pg") for x in runs):
        r["pgCpuRuns"] = [x.get("pg", {}).get("pgCpuSecondsPer1000") for x in runs]
    return r


def sc_latency(ctx: Context):
    s = ctx.sizes
    n = s.latency_rate * s.latency_seconds
    ctx.log(f"[latency] {s.latency_rate} events/s offered for {s.latency_seconds} s (batch 1), one POST webhook")
    hk = Hookd(ctx, "latency")
    try:
        hk.create_webhook(f"{ctx.sink.base}/hook", max_in_flight=ctx.concurrency)
        ctx.sink.reset()
        win = measure(hk, ctx.sink)
        pgw = pg_window(ctx, hk)
        first = ctx.ids(n)
        submits = os.path.join(hk.dir, "submits.txt")
        with Profiler(ctx, hk.pid, "latency"):
            ld = load(ctx, hk, n, 1, 64, first, rate=s.latency_rate, out=submits, timeout=s.latency_seconds + 60)
            if ld["accepted"] != n:
                raise ScenarioError(f"latency: {ld['accepted']} of {n} events accepted")
            st = ctx.sink.wait_answered(n, 60 * s.wait_scale, "latency")
        m = win(min(n, st["answered"]))
        pg = pg_close(ctx, pgw, min(n, st["answered"]))
        arrivals = ctx.sink.dump(os.path.join(hk.dir, "arrivals.txt"))
        hk.alive()
    finally:
        hk.stop()
    lat, ack, missing = [], [], 0
    with open(submits) as f:
        for line in f:
            first_id, count, send_ns, ack_ns, status = (int(x) for x in line.split())
            if status != 202:
                continue
            ack.append((ack_ns - send_ns) / 1e6)
            for e in range(first_id, first_id + count):
                if e not in arrivals:
                    missing += 1
                    continue
                lat.append((arrivals[e] - send_ns) / 1e6)
    if missing and st["complete"]:
        raise ScenarioError(f"latency: {missing} events never delivered (others delivered twice)")
    lat.sort()
    ack.sort()
    r = {"events": n, "offeredPerSecond": s.latency_rate, "seconds": s.latency_seconds,
         "p50Ms": round(percentile(lat, 0.5), 3), "p90Ms": round(percentile(lat, 0.9), 3),
         "p99Ms": round(percentile(lat, 0.99), 3), "p999Ms": round(percentile(lat, 0.999), 3),
         "maxMs": round(lat[-1], 3), "ackP50Ms": round(percentile(ack, 0.5), 3),
         "ackP99Ms": round(percentile(ack, 0.99), 3), "lateSubmits": ld["late"],
         "undeliveredInWindow": missing, "complete": st["complete"], **m}
    if pg:
        r["pg"] = pg
    if ctx.limit.get("roundTripUs"):
        r["p50OverRawRoundTrip"] = round(r["p50Ms"] * 1000 / ctx.limit["roundTripUs"], 1)
    ctx.log(f"    submit→receipt p50 {r['p50Ms']} ms, p99 {r['p99Ms']} ms, p99.9 {r['p999Ms']} ms, "
            f"max {r['maxMs']} ms (202 after p50 {r['ackP50Ms']} ms); {r['cpuSecondsPer1000']} CPU s/1000")
    return r


def sc_ingest(ctx: Context):
    out = {}
    runs = [(b, n, c, True) for b, n, c in ctx.sizes.ingest]
    b, n, c = ctx.sizes.ingest[-1]
    runs.append((b, n, c, False))
    for batch, events, conc, with_hook in runs:
        key = f"batch{batch}" + ("" if with_hook else "NoWebhook")
        ctx.log(f"[ingest] {events} events in batches of {batch}, {conc} requests in flight, "
                + ("one matching webhook delivering meanwhile" if with_hook else "no matching webhook"))
        hk = Hookd(ctx, "ingest-" + key)
        try:
            if with_hook:
                hk.create_webhook(f"{ctx.sink.base}/hook", max_in_flight=ctx.concurrency)
            ctx.sink.reset()
            win = measure(hk, ctx.sink)
            with Profiler(ctx, hk.pid, "ingest-" + key) if batch == 1000 else _nullctx():
                ld = load(ctx, hk, events, batch, conc, ctx.ids(events))
            if ld["accepted"] != events:
                raise ScenarioError(f"ingest: {ld['accepted']} of {events} events accepted")
            m = win(events)
            delivered = ctx.sink.stats()["answered"]
            hk.alive()
        finally:
            hk.stop()
        r = {"batch": batch, "events": events, "concurrency": conc, "withWebhook": with_hook,
             "eventsPerSecond": ld["eventsPerSecond"], "seconds": ld["seconds"], "ackP50Ms": ld["ackP50Ms"],
             "ackP99Ms": ld["ackP99Ms"], "deliveredMeanwhile": delivered,
             "cpuSecondsPer1000Events": m["cpuSecondsPer1000"], "peakRssMb": m["peakRssMb"]}
        out[key] = r
        ctx.log(f"    {r['eventsPerSecond']:.0f} events/s accepted (202 p50 {r['ackP50Ms']} ms, p99 {r['ackP99Ms']} ms), "
                f"{delivered} delivered meanwhile")
    return out


def sc_fanout(ctx: Context):
    s = ctx.sizes
    n = s.fanout_webhooks
    ctx.log(f"[fanout] one event to {n} webhooks, {s.fanout_rounds} rounds")
    hk = Hookd(ctx, "fanout")
    try:
        t = time.monotonic()
        hk.create_webhooks([{"url": ctx.sink.url(i, f"/fan/{i}")} for i in range(n)])
        setup = time.monotonic() - t
        ctx.sink.reset()
        win = measure(hk, ctx.sink)
        times, incomplete = [], 0
        with Profiler(ctx, hk.pid, "fanout"):
            for _ in range(s.fanout_rounds):
                ctx.sink.reset()
                ld = load(ctx, hk, 1, 1, 1, ctx.ids(1))
                st = ctx.sink.wait_answered(n, 30 * s.wait_scale, "fanout")
                if not st["complete"]:
                    incomplete += 1
                    times.append((now_ns() - ld["startNs"]) / 1e6)
                    break
                times.append((st["lastNs"] - ld["startNs"]) / 1e6)
                time.sleep(0.2)
                if ctx.sink.stats()["answered"] != n:
                    raise ScenarioError("fanout: duplicate deliveries")
        m = win(n * len(times))
        hk.alive()
    finally:
        hk.stop()
    med = statistics.median(times)
    r = {"webhooks": n, "rounds": s.fanout_rounds, "msEachRound": [round(x, 1) for x in times],
         "firstRoundMs": round(times[0], 1), "medianMs": round(med, 1), "maxMs": round(max(times), 1),
         "webhookSetupSeconds": round(setup, 2), "deliveriesPerSecond": round(n / (med / 1000), 1),
         "complete": incomplete == 0, **m}
    r["ratioToLimit"] = ratio(r["deliveriesPerSecond"], ctx.limit["postRequestsPerSecond"])
    ctx.log(f"    all {n} arrived after {r['msEachRound']} ms (median {r['medianMs']} ms, first round "
            f"{r['firstRoundMs']} ms with new connections)")
    return r


def sc_isolation(ctx: Context):
    s = ctx.sizes
    n_hooks, events = s.isolation_webhooks, s.isolation_events
    n_hang = max(1, n_hooks // 10)
    out = {}
    runs = {"control": [], "hanging": []}
    for label, hang in [("control", 0), ("hanging", n_hang)] * s.repeats:  # interleaved
        healthy = n_hooks - hang
        first = not runs[label]
        if first:
            ctx.log(f"[isolation/{label}] {n_hooks} webhooks, {hang} of them hang (timeoutMs 2000); "
                    f"{events} events → {healthy * events} healthy deliveries")
        hk = Hookd(ctx, f"isolation-{label}-{len(runs[label]) + 1}")
        try:
            specs = [{"url": ctx.sink.url(i, f"/hang/{i}"), "timeout_ms": 2000} for i in range(hang)]
            specs += [{"url": ctx.sink.url(hang + i, f"/iso/{i}")} for i in range(healthy)]
            hk.create_webhooks(specs)
            # Batches of 1000 deliveries, as in the throughput scenario (1000 events × 1 webhook),
            # so ingest overlaps delivery the same way: 10 events × 100 webhooks per request.
            profile = ("isolation" if hang else "isolation-control") if first else None
            r = deliver_run(ctx, "isolation", hk, events, healthy * events, batch=max(1, 1000 // n_hooks),
                            profile_name=profile, timeout=60)
            r.pop("duplicates", None)
            r["webhooks"], r["hanging"] = n_hooks, hang
            r["held"] = ctx.sink.stats()["heldTotal"]
        finally:
            hk.stop()
        runs[label].append(r)
        ctx.log(f"    {label} run {len(runs[label])}: healthy {r['deliveriesPerSecond']:.0f} deliveries/s")
    for label in runs:
        out[label] = median_run(runs[label])
    tp = ctx.results.get("throughput", {}).get("deliveriesPerSecond")
    out["ratioToThroughput"] = ratio(out["hanging"]["deliveriesPerSecond"], tp)
    out["ratioToControl"] = ratio(out["hanging"]["deliveriesPerSecond"], out["control"]["deliveriesPerSecond"])
    out["ratioToLimit"] = ratio(out["hanging"]["deliveriesPerSecond"], ctx.limit["postRequestsPerSecond"])
    ctx.log(f"    ratio to throughput {out['ratioToThroughput']}, to the same run without hanging webhooks "
            f"{out['ratioToControl']}")
    return out


def sc_backlog(ctx: Context):
    s = ctx.sizes
    hooks, events = s.backlog_webhooks, s.backlog_events
    total = hooks * events
    ctx.log(f"[backlog] {total} pending deliveries ({events} events × {hooks} webhooks) while the receiver is "
            f"down (holds every request), then up")
    sink = ctx.sink
    sink.reset()
    sink.hang_all(True)
    hk = Hookd(ctx, "backlog")
    try:
        hk.create_webhooks([{"url": f"{sink.base}/backlog/{i}", "timeout_ms": 60000} for i in range(hooks)])
        cpu0 = hk.cpu()
        t0 = time.monotonic()
        ld = load(ctx, hk, events, 1000, 2, ctx.ids(events), timeout=240 * s.wait_scale, allow_timeout=True)
        if ld["accepted"] != events:
            if not ld["timedOut"] or ld["accepted"] == 0:
                raise ScenarioError(f"backlog: {ld['accepted']} of {events} events accepted")
            ctx.log(f"    INCOMPLETE: only {ld['accepted']} of {events} events accepted within the time limit")
            total = ld["accepted"] * hooks
        ingest_s = time.monotonic() - t0
        ingest_cpu = hk.cpu() - cpu0
        depth = hk.queue_depth()
        time.sleep(1.0)
        rss_pending = hk.peak_rss_mb()
        rss_now = hk.rss_mb()
        held = sink.stats()["heldNow"]
        ctx.log(f"    {total} pending after {ingest_s:.1f} s of ingest ({ld['eventsPerSecond']:.0f} events/s, "
                f"{total / ingest_s:.0f} deliveries/s created); queue depth {depth}, {held} requests held; "
                f"peak RSS {rss_pending:.1f} MB")
        if depth < total * 0.99:
            raise ScenarioError(f"backlog: queue depth {depth}, expected about {total}")
        reset_peak_rss(hk.pid)
        cpu1, sink_cpu1 = hk.cpu(), sink.cpu()
        pgw = pg_window(ctx, hk)
        up_ns = now_ns()
        with Profiler(ctx, hk.pid, "backlog-drain"):
            sink.hang_all(False)
            st = sink.wait_answered(total, 150 * s.wait_scale, "backlog drain")
        drained = min(total, st["answered"])
        drain_s = (st["lastNs"] - up_ns) / 1e9
        drain_cpu = hk.cpu() - cpu1
        sink_cpu = sink.cpu() - sink_cpu1
        rss_drain = hk.peak_rss_mb()
        pg = pg_close(ctx, pgw, drained, settle=1.0, active_seconds=drain_s)
        hk.alive()
    finally:
        hk.stop()
        sink.hang_all(False)
    r = {"pending": total, "webhooks": hooks, "ingestSeconds": round(ingest_s, 1),
         "ingestEventsPerSecond": ld["eventsPerSecond"], "ingestDeliveriesPerSecond": round(total / ingest_s, 1),
         "ingestCpuSeconds": round(ingest_cpu, 2), "queueDepth": depth,
         "peakRssPendingMb": round(rss_pending, 1), "rssPendingMb": round(rss_now, 1),
         "drained": drained, "complete": st["complete"],
         "drainSeconds": round(drain_s, 2), "drainPerSecond": round(drained / drain_s, 1),
         "peakRssDrainMb": round(rss_drain, 1), "cpuSeconds": round(drain_cpu, 2),
         "cpuSecondsPer1000": round(drain_cpu * 1000 / max(1, drained), 4),
         "sinkCpuSecondsPer1000": round(sink_cpu * 1000 / max(1, drained), 4)}
    if pg:
        r["pg"] = pg
    r["peakRssMb"] = max(r["peakRssPendingMb"], r["peakRssDrainMb"])
    r["ratioToLimit"] = ratio(r["drainPerSecond"], ctx.limit["postRequestsPerSecond"])
    ctx.log(f"    drained in {drain_s:.1f} s: {r['drainPerSecond']:.0f} deliveries/s ({r['ratioToLimit']} of the "
            f"limit), {r['cpuSecondsPer1000']} CPU s/1000, peak RSS while draining {rss_drain:.1f} MB")
    return r


def sc_getpost(ctx: Context):
    n = ctx.sizes.getpost_events
    out = {}
    for method in ("GET", "POST"):
        ctx.log(f"[getpost/{method}] {n} events, one {method} webhook")
        hk = Hookd(ctx, "getpost-" + method)
        try:
            hk.create_webhook(f"{ctx.sink.base}/gp", method=method, max_in_flight=ctx.concurrency)
            r = deliver_run(ctx, "getpost", hk, n, n, timeout=45)
        finally:
            hk.stop()
        lim = ctx.limit["getRequestsPerSecond" if method == "GET" else "postRequestsPerSecond"]
        r["ratioToLimit"] = ratio(r["deliveriesPerSecond"], lim)
        out[method] = r
        ctx.log(f"    {r['deliveriesPerSecond']:.0f} deliveries/s ({r['ratioToLimit']} of the raw {method} limit), "
                f"{r['cpuSecondsPer1000']} CPU s/1000")
    return out


def sc_query(ctx: Context):
    n = ctx.sizes.query_events
    out = {}
    base = f"{ctx.sink.base}/q"
    for label, kib in (("1KiB", 1), ("8KiB", 8)):
        url = base + "?pad=" + "x" * (kib * 1024 - len(base) - 5)
        ctx.log(f"[query/{label}] GET webhook whose payload URL is {len(url)} characters, {n} events")
        hk = Hookd(ctx, "query-" + label)
        try:
            status, body = http_request(hk.host, hk.port, "POST", f"/v1/sites/{hk.site}/webhooks",
                                        {"payloadUrl": url, "secret": "bench-secret", "events": ["CREATE"],
                                         "method": "GET", "sendEverything": True, "maxInFlight": ctx.concurrency},
                                        hk.admin)
            if status == 422 and kib > 2:
                out[label] = {"urlLength": len(url), "refused": True, "status": status,
                              "detail": (body.get("errors") or [{}])[0].get("message") if isinstance(body, dict)
                              else str(body)[:200]}
                ctx.log(f"    refused at creation (422: {out[label]['detail']}): payload URLs are limited "
                        f"to 2048 characters")
                continue
            if status != 201:
                raise ScenarioError(f"query: creating the webhook: {status} {body}")
            r = deliver_run(ctx, "query", hk, n, n, timeout=30)
        finally:
            hk.stop()
        r["urlLength"] = len(url)
        r["ratioToLimit"] = ratio(r["deliveriesPerSecond"], ctx.limit["getRequestsPerSecond"])
        out[label] = r
        ctx.log(f"    {r['deliveriesPerSecond']:.0f} deliveries/s, {r['cpuSecondsPer1000']} CPU s/1000")
    return out


def sc_micro(ctx: Context):
    """Google Benchmark micro-benchmarks (hookd_micro), when built."""
    exe = os.path.join(ctx.bin_dir, "hookd_micro")
    if not os.access(exe, os.X_OK):
        ctx.log("[micro] hookd_micro is not built: skipped")
        return {"skipped": "hookd_micro not built"}
    ctx.log("[micro] hookd_micro (Google Benchmark)")
    out = os.path.join(ctx.workdir, "micro.json")
    cmd = [exe, "--benchmark_format=console", "--benchmark_out_format=json", "--benchmark_out=" + out,
           "--benchmark_min_time=" + ("0.01" if ctx.smoke else "0.3")]
    env = dict(os.environ, TMPDIR=ctx.workdir)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    except subprocess.TimeoutExpired:
        raise ScenarioError("hookd_micro did not finish within 300 s")
    if p.returncode != 0:
        raise ScenarioError(f"hookd_micro failed ({p.returncode}): {p.stderr[-500:]}")
    with open(out) as f:
        data = json.load(f)
    res = {}
    for b in data.get("benchmarks", []):
        if b.get("error_occurred"):
            raise ScenarioError(f"hookd_micro {b['name']}: {b.get('error_message')}")
        unit = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[b.get("time_unit", "ns")]
        res[b["name"]] = {"realTimeUs": round(b["real_time"] * unit / 1e3, 3),
                          "cpuTimeUs": round(b["cpu_time"] * unit / 1e3, 3),
                          "itemsPerSecond": round(b["items_per_second"]) if "items_per_second" in b else None,
                          "label": b.get("label", "")}
        ctx.log(f"    {b['name']}: {res[b['name']]['realTimeUs']} µs"
                + (f", {res[b['name']]['itemsPerSecond']:,} items/s" if res[b['name']]['itemsPerSecond'] else ""))
    return res


# ---------------------------------------------------------------------------- queue hygiene (issue 13, point 6)

XMIN_TABLES = ("deliveries", "attempts", "events")


def table_health(db: "pgmeter.Psql", tuples: bool) -> dict:
    """Sizes, live/dead tuples and vacuum counts of the queue tables and their indexes; with
    `tuples`, pgstattuple's dead and free space (a full scan of each)."""
    out = {}
    names = ",".join(f"'{t}'" for t in XMIN_TABLES)
    for row in db.query(
            "SELECT c.relname, pg_relation_size(c.oid), pg_indexes_size(c.oid), pg_total_relation_size(c.oid), "
            "s.n_live_tup, s.n_dead_tup, s.n_tup_upd, s.n_tup_hot_upd, s.autovacuum_count, s.vacuum_count, "
            "coalesce(to_char(s.last_autovacuum, 'HH24:MI:SS'), ''), s.autoanalyze_count + s.analyze_count "
            "FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid "
            f"WHERE c.relname IN ({names})"):
        out[row[0]] = {"tableBytes": int(row[1]), "indexBytes": int(row[2]), "totalBytes": int(row[3]),
                       "liveTuples": int(row[4]), "deadTuples": int(row[5]), "updates": int(row[6]),
                       "hotUpdates": int(row[7]), "autovacuums": int(row[8]), "vacuums": int(row[9]),
                       "lastAutovacuum": row[10] or None, "analyzes": int(row[11]), "indexes": {}}
    for row in db.query(
            "SELECT t.relname, i.relname, pg_relation_size(i.oid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
            f"WHERE t.relname IN ({names}) ORDER BY 1, 2"):
        if row[0] in out:
            out[row[0]]["indexes"][row[1]] = {"bytes": int(row[2])}
    if tuples:
        for t in out:
            row = db.query(f"SELECT dead_tuple_count, dead_tuple_percent, free_percent FROM pgstattuple('{t}')")[0]
            out[t]["pgstattuple"] = {"deadTuples": int(row[0]), "deadPercent": float(row[1]),
                                     "freePercent": float(row[2])}
            for ix in out[t]["indexes"]:
                try:
                    r2 = db.query(f"SELECT avg_leaf_density, leaf_fragmentation, leaf_pages FROM pgstatindex('{ix}')")[0]
                    out[t]["indexes"][ix].update({"avgLeafDensity": float(r2[0]), "leafFragmentation": float(r2[1]),
                                                  "leafPages": int(r2[2])})
                except (pgmeter.PsqlError, IndexError, ValueError):
                    pass
    return out


def sc_xmin(ctx: Context):
    """A throughput run during which another session holds a REPEATABLE READ snapshot (the
    xmin horizon) for `--xmin-hold` seconds: deliveries/s before, during and after, the PostgreSQL
    cost in each phase, and the bloat of the queue tables."""
    if ctx.store != "postgres":
        ctx.log("[xmin] PostgreSQL only (--store postgres): skipped")
        return {"skipped": "PostgreSQL only"}
    s = ctx.sizes
    before, hold, after = s.xmin_phases
    if ctx.xmin_hold is not None:
        hold = ctx.xmin_hold
    warmup = 5.0 if not ctx.smoke else 1.0
    tick = 5.0 if hold >= 30 else 1.0
    backlog = s.xmin_backlog
    ctx.log(f"[xmin] one POST webhook (maxInFlight {ctx.concurrency}), {backlog} deliveries kept pending; "
            f"{before:.0f} s, then a REPEATABLE READ transaction holds the xmin horizon for {hold:.0f} s, then "
            f"{after:.0f} s")
    hk = Hookd(ctx, "xmin")
    db = holder = None
    feeder = None
    stop = None
    fed = {"submitted": 0, "error": None, "loads": 0}
    try:
        hk.create_webhook(f"{ctx.sink.base}/xmin", max_in_flight=ctx.concurrency)
        db = pgmeter.Psql(hk.pg_url, app="hookd-bench-stats", mark=True)
        tuples = False
        try:
            if db.query("SELECT count(*) FROM pg_available_extensions WHERE name = 'pgstattuple'")[0][0] != "0":
                db.query("CREATE EXTENSION IF NOT EXISTS pgstattuple")
                tuples = True
        except pgmeter.PsqlError as e:
            ctx.log(f"    (pgstattuple not available: {e})")
        sink = ctx.sink
        sink.reset()
        import threading
        stop = threading.Event()
        chunk = max(100, backlog // 2)

        def feed():
            # Keeps about `backlog` deliveries pending: submits `chunk` events whenever fewer
            # than half of it are left. The delivery rate, not the publisher, sets the pace.
            try:
                while not stop.is_set():
                    pending = fed["submitted"] - sink.stats()["answered"]
                    if pending < backlog - chunk // 2:
                        ld = load(ctx, hk, chunk, min(500, chunk), 2, ctx.ids(chunk), timeout=120)
                        fed["loads"] += 1
                        if ld["accepted"] != chunk:
                            raise ScenarioError(f"xmin: {ld['accepted']} of {chunk} events accepted")
                        fed["submitted"] += chunk
                    else:
                        stop.wait(0.1)
            except BaseException as e:  # reported by the main thread
                fed["error"] = e

        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        time.sleep(warmup)
        pg_analyze(ctx, hk)  # with --pg-analyze: the "before" phase on steady-state plans
        timeline = []
        phases = {}
        health = {}
        t_start = time.monotonic()

        def sample(label):
            st = sink.stats()
            row = db.query("SELECT n_dead_tup, n_live_tup FROM pg_stat_user_tables WHERE relname = 'deliveries'")
            dead, live = (int(row[0][0]), int(row[0][1])) if row else (None, None)
            timeline.append({"t": round(time.monotonic() - t_start, 1), "phase": label, "answered": st["answered"],
                             "deliveriesDeadTuples": dead, "deliveriesLiveTuples": live})
            return st["answered"]

        def phase(label, seconds, extra=None):
            health[label + "Start"] = table_health(db, tuples)
            n0, t0 = sample(label), time.monotonic()
            meter = pg_window(ctx, hk, skip=[p.pid for p in (db, holder) if p])
            end = t0 + seconds
            while True:
                if fed["error"]:
                    raise fed["error"] if isinstance(fed["error"], ScenarioError) else ScenarioError(
                        f"xmin: the feeder failed: {fed['error']}")
                hk.alive()
                left = end - time.monotonic()
                if left <= 0:
                    break
                time.sleep(min(tick, left))
                if time.monotonic() < end - 0.5:
                    sample(label)
            n1, t1 = sample(label), time.monotonic()
            if extra:
                extra()
            pg = pg_close(ctx, meter, n1 - n0, settle=0.0)
            rate = (n1 - n0) / (t1 - t0) if t1 > t0 else None
            phases[label] = {"seconds": round(t1 - t0, 1), "delivered": n1 - n0,
                             "deliveriesPerSecond": round(rate, 1) if rate is not None else None}
            if pg:
                phases[label]["pg"] = pg
            ctx.log(f"    {label}: {phases[label]['deliveriesPerSecond']} deliveries/s over {t1 - t0:.0f} s")

        phase("before", before)
        holder = pgmeter.Psql(hk.pg_url, app="hookd-bench-xmin-holder", mark=True)
        holder.query("BEGIN ISOLATION LEVEL REPEATABLE READ")
        holder.query("SELECT count(*) FROM deliveries")
        xmin0 = ctx.pg.psql.query(f"SELECT backend_xmin FROM pg_stat_activity WHERE pid = {holder.pid}")[0][0]
        if not xmin0:
            raise ScenarioError("xmin: the holding transaction has no xmin")
        ctx.log(f"    holding the xmin horizon at {xmin0} (session {holder.pid})")
        held = {}

        def release():
            row = ctx.pg.psql.query(f"SELECT age(backend_xmin), round(extract(epoch FROM now() - xact_start)) "
                                    f"FROM pg_stat_activity WHERE pid = {holder.pid}")[0]
            held.update({"xidsBehind": int(row[0]), "heldSeconds": float(row[1])})
            health["duringEnd"] = table_health(db, tuples)
            holder.query("COMMIT")

        phase("during", hold, extra=release)
        holder.close()
        holder = None
        phase("after", after)
        health["afterEnd"] = table_health(db, tuples)
        hk.alive()
    finally:
        if stop:
            stop.set()
        if feeder:
            feeder.join(150)
        if holder:
            holder.close()
        if db:
            db.close()
        hk.stop()
    b = phases["before"]["deliveriesPerSecond"] or 0
    r = {"heldSeconds": hold, "pendingKept": backlog, "held": held, "phases": phases,
         "duringOverBefore": round(phases["during"]["deliveriesPerSecond"] / b, 3) if b else None,
         "afterOverBefore": round(phases["after"]["deliveriesPerSecond"] / b, 3) if b else None,
         "tables": health, "pgstattuple": tuples, "timeline": timeline,
         "submitted": fed["submitted"], "delivered": timeline[-1]["answered"] if timeline else 0}
    for t in ("deliveries", "attempts"):
        a, z = health["beforeStart"].get(t), health["afterEnd"].get(t)
        d = health["duringEnd"].get(t)
        if a and z and d:
            r.setdefault("bloat", {})[t] = {
                "totalMbBefore": round(a["totalBytes"] / 2**20, 1), "totalMbHoldEnd": round(d["totalBytes"] / 2**20, 1),
                "totalMbAfter": round(z["totalBytes"] / 2**20, 1),
                "tableMbBefore": round(a["tableBytes"] / 2**20, 1), "tableMbAfter": round(z["tableBytes"] / 2**20, 1),
                "indexMbBefore": round(a["indexBytes"] / 2**20, 1), "indexMbAfter": round(z["indexBytes"] / 2**20, 1),
                "deadTuplesBefore": a["deadTuples"], "deadTuplesHoldEnd": d["deadTuples"],
                "deadTuplesAfter": z["deadTuples"], "liveTuplesAfter": z["liveTuples"]}
    ctx.log(f"    during/before {r['duringOverBefore']}, after/before {r['afterOverBefore']}; "
            + "; ".join(f"{t}: {v['totalMbBefore']} → {v['totalMbHoldEnd']} → {v['totalMbAfter']} MB, dead tuples "
                        f"{v['deadTuplesBefore']} → {v['deadTuplesHoldEnd']} → {v['deadTuplesAfter']}"
                        for t, v in r.get("bloat", {}).items()))
    return r




# ---------------------------------------------------------------------------- report

# ---------------------------------------------------------------------------- change capture (issue 14)

def psql(url: str, sql: str, timeout: float = 600) -> str:
    r = subprocess.run(["psql", url, "-qAtX", "-v", "ON_ERROR_STOP=1", "-c", sql], capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode != 0:
        raise ScenarioError(f"psql: {sql[:120]}: {r.stderr.strip()[:300]}")
    return r.stdout.strip()


class CaptureSource:
    """A fresh source database on ctx.pg_admin with one table (id, committed_at) published for hookd."""

    def __init__(self, ctx: Context, name: str):
        self.url = pg_database(ctx)
        self.slot = f"hookd_bench_{name}"
        psql(self.url, "CREATE TABLE bench_rows (id bigint PRIMARY KEY, "
                       "committed_at timestamptz NOT NULL DEFAULT clock_timestamp(), note text)")
        self.map = None

    def write_map(self, folder: str, site: str) -> str:
        self.map = os.path.join(folder, "capture-map.json")
        with open(self.map, "w") as f:
            json.dump({"slot": self.slot, "publication": "hookd_bench",
                       "tables": [{"table": "public.bench_rows", "entity": "Room", "id": "id", "siteId": site}]}, f)
        return self.map

    def create_slot(self):
        """Slot and publication made before hookd starts: changes committed from now on are kept for it."""
        psql(self.url, "CREATE PUBLICATION hookd_bench FOR TABLE bench_rows")
        psql(self.url, f"SELECT pg_create_logical_replication_slot('{self.slot}', 'pgoutput')")

    def drop(self):
        try:
            psql(self.url, f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                           f"WHERE slot_name = '{self.slot}' AND NOT active", timeout=30)
        except (ScenarioError, subprocess.SubprocessError):
            pass


def capture_state(hk: Hookd) -> dict:
    status, data = http_request(hk.host, hk.port, "GET", "/v1/capture", token=hk.operator)
    if status != 200:
        raise ScenarioError(f"GET /v1/capture: {status} {str(data)[:200]}")
    return data


def capture_hookd(ctx: Context, name: str, src: CaptureSource) -> Hookd:
    """hookd (the run's store, fresh) with the site and one webhook matching the source's CREATEs to the sink,
    restarted with --capture: the site exists before the first change is read."""
    hk = Hookd(ctx, name)
    try:
        hk.create_webhook(f"{ctx.sink.base}/hook", max_in_flight=ctx.concurrency)
        hk.capture_started = time.monotonic()
        hk.restart(["--capture", src.url, "--capture-map", src.write_map(hk.dir, hk.site)])
    except BaseException:
        hk.stop()
        raise
    return hk


def wait_changes(hk: Hookd, n: int, timeout: float, what: str, stall: float = 30.0, since=None) -> tuple:
    """Polls GET /v1/capture until `changes` >= n; returns (seconds since `since` (default: now), last state)."""
    start = time.monotonic() if since is None else since
    last_progress, seen = start, -1
    while True:
        hk.alive()
        st = capture_state(hk)
        now = time.monotonic()
        if st["state"] == "error":
            raise ScenarioError(f"{what}: capture error: {st.get('error')}")
        if st["changes"] >= n:
            return now - start, st
        if st["changes"] != seen:
            seen, last_progress = st["changes"], now
        elif now - last_progress > stall:
            raise ScenarioError(f"{what}: stalled at {seen} of {n} changes (none for {stall:.0f} s; state "
                                f"{st['state']}, error {st.get('error')})")
        if now - start > timeout:
            raise ScenarioError(f"{what}: {st['changes']} of {n} changes within {timeout:.0f} s")
        time.sleep(0.05)


def capture_burndown(ctx: Context) -> dict:
    n = ctx.sizes.capture_burndown
    src = CaptureSource(ctx, "burndown")
    hk = None
    try:
        src.create_slot()
        per_txn = 1000
        t = time.monotonic()
        psql(src.url, f"DO $$ BEGIN FOR i IN 0..{(n + per_txn - 1) // per_txn - 1} LOOP "
                      f"INSERT INTO bench_rows (id) SELECT g FROM generate_series(i * {per_txn} + 1, "
                      f"least((i + 1) * {per_txn}, {n})) g; COMMIT; END LOOP; END $$", timeout=900)
        write_s = time.monotonic() - t
        lag = int(psql(src.url, f"SELECT pg_current_wal_lsn() - confirmed_flush_lsn FROM pg_replication_slots "
                                f"WHERE slot_name = '{src.slot}'"))
        ctx.sink.reset()
        hk = capture_hookd(ctx, "capture-burndown", src)
        cpu0 = hk.cpu()
        seconds, st = wait_changes(hk, n, 900 * ctx.sizes.wait_scale, "capture burn-down", since=hk.capture_started)
        cpu = hk.cpu() - cpu0
        # The slot's own view: confirmed within reach of the WAL end once everything is in.
        slot_lag = int(psql(src.url, f"SELECT pg_current_wal_lsn() - confirmed_flush_lsn FROM pg_replication_slots "
                                     f"WHERE slot_name = '{src.slot}'"))
        delivered = ctx.sink.stats()["answered"]
        r = {"changes": n, "transactions": (n + per_txn - 1) // per_txn, "rowsPerTransaction": per_txn,
             "sourceWriteSeconds": round(write_s, 2), "walBytesBehindAtStart": lag,
             "seconds": round(seconds, 3), "changesPerSecond": round(n / seconds, 1),
             "deliveredMeanwhile": delivered, "cpuSecondsPer1000": round(cpu * 1000 / n, 4),
             "peakRssMb": round(hk.peak_rss_mb(), 1), "slotLagBytesAfter": slot_lag, "state": st["state"]}
        ctx.log(f"    burn-down: {fmt(n)} changes ({fmt(lag)} WAL bytes) accepted in {r['seconds']} s = "
                f"{fmt(r['changesPerSecond'])} changes/s (from hookd's start; {fmt(delivered)} delivered meanwhile), "
                f"peak RSS {r['peakRssMb']} MB")
        return r
    finally:
        if hk:
            hk.stop()
        src.drop()


def capture_latency(ctx: Context) -> dict:
    s = ctx.sizes
    n = s.capture_rate * s.capture_seconds
    writers = 4
    src = CaptureSource(ctx, "latency")
    hk = capture_hookd(ctx, "capture-latency", src)
    procs = []
    try:
        deadline = time.monotonic() + 20
        while capture_state(hk)["state"] != "streaming":
            if time.monotonic() > deadline:
                raise ScenarioError(f"capture latency: not streaming within 20 s: {capture_state(hk)}")
            time.sleep(0.05)
        ctx.sink.reset()
        hk_rss0 = reset_peak_rss(hk.pid)
        # Writers: one psql each (autocommit: one row per transaction), fed at the offered rate;
        # psql's \timing gives each INSERT's duration including its COMMIT (the acknowledgement).
        procs = [subprocess.Popen(["psql", src.url, "-qAtX", "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(writers)]
        late = [0] * writers
        durations = [[] for _ in range(writers)]  # ms, in the writer's order

        def reader(w: int):
            for line in procs[w].stdout:
                m = re.match(r"Time: ([\d.]+) ms", line)
                if m:
                    durations[w].append(float(m.group(1)))

        def writer(w: int):
            p = procs[w]
            p.stdin.write("\\timing on\n")
            rate = s.capture_rate / writers
            t0 = time.monotonic()
            for k in range(n // writers):
                due = t0 + k / rate
                d = due - time.monotonic()
                if d > 0:
                    time.sleep(d)
                elif d < -0.005:
                    late[w] += 1
                p.stdin.write(f"INSERT INTO bench_rows (id) VALUES ({k * writers + w + 1});\n")
                p.stdin.flush()
            p.stdin.close()

        cpu0 = hk.cpu()
        with concurrent.futures.ThreadPoolExecutor(2 * writers) as pool:
            readers = [pool.submit(reader, w) for w in range(writers)]
            list(pool.map(writer, range(writers)))
            for f in readers:
                f.result(timeout=60)
        for p in procs:
            if p.wait(60) != 0:
                raise ScenarioError(f"capture latency: a writer failed: {p.stderr.read()[:300]}")
        total = (n // writers) * writers
        wait_changes(hk, total, 60 * s.wait_scale, "capture latency")
        st = ctx.sink.wait_answered(total, 60 * s.wait_scale, "capture latency")
        cpu = hk.cpu() - cpu0
        arrivals = ctx.sink.dump(os.path.join(hk.dir, "arrivals.txt"))
        peak = hk.peak_rss_mb()
        commits = {}
        out = psql(src.url, "SELECT id, (extract(epoch FROM committed_at) * 1000000)::bigint FROM bench_rows")
        for line in out.splitlines():
            i, us = line.split("|")
            commits[int(i)] = int(us)
        # Row id k * writers + w + 1 was writer w's k-th INSERT: its acknowledgement ≈ committed_at + duration.
        ack = {}
        for w in range(writers):
            for k, d in enumerate(durations[w]):
                ack[k * writers + w + 1] = d
        lat, lat_ack, missing = [], [], 0
        for i, us in commits.items():
            if i not in arrivals:
                missing += 1
                continue
            lat.append((arrivals[i] - us * 1000) / 1e6)
            if i in ack:
                lat_ack.append((arrivals[i] - us * 1000) / 1e6 - ack[i])
        if missing and st["complete"]:
            raise ScenarioError(f"capture latency: {missing} committed rows never delivered")
        lat.sort()
        lat_ack.sort()
        commit_ms = sorted(d for ds in durations for d in ds)
        r = {"changes": total, "offeredPerSecond": s.capture_rate, "seconds": s.capture_seconds, "writers": writers,
             "p50Ms": round(percentile(lat, 0.5), 3), "p90Ms": round(percentile(lat, 0.9), 3),
             "p99Ms": round(percentile(lat, 0.99), 3), "p999Ms": round(percentile(lat, 0.999), 3),
             "maxMs": round(lat[-1], 3) if lat else None, "lateWrites": sum(late),
             # the source's INSERT + COMMIT as its client saw it, and latency from that acknowledgement
             "sourceCommitP50Ms": round(percentile(commit_ms, 0.5), 3),
             "sourceCommitP99Ms": round(percentile(commit_ms, 0.99), 3),
             "sourceCommitMaxMs": round(commit_ms[-1], 3) if commit_ms else None,
             "fromAckP50Ms": round(percentile(lat_ack, 0.5), 3), "fromAckP99Ms": round(percentile(lat_ack, 0.99), 3),
             "cpuSecondsPer1000": round(cpu * 1000 / total, 4), "peakRssMb": round(peak, 1),
             "peakRssReset": hk_rss0, "complete": st["complete"]}
        ctx.log(f"    latency at {s.capture_rate} changes/s × {s.capture_seconds} s: commit→receipt p50 {r['p50Ms']} ms, "
                f"p99 {r['p99Ms']} ms, p99.9 {r['p999Ms']} ms, max {r['maxMs']} ms; peak RSS {r['peakRssMb']} MB\n"
                f"    (the source's INSERT+COMMIT took p50 {r['sourceCommitP50Ms']} ms, p99 {r['sourceCommitP99Ms']} ms, "
                f"max {r['sourceCommitMaxMs']} ms; from its acknowledgement: p50 {r['fromAckP50Ms']} ms, "
                f"p99 {r['fromAckP99Ms']} ms)")
        return r
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        hk.stop()
        src.drop()


def capture_big_txn(ctx: Context) -> dict:
    n = ctx.sizes.capture_big_txn
    src = CaptureSource(ctx, "bigtxn")
    hk = capture_hookd(ctx, "capture-bigtxn", src)
    try:
        deadline = time.monotonic() + 20
        while capture_state(hk)["state"] != "streaming":
            if time.monotonic() > deadline:
                raise ScenarioError(f"capture big transaction: not streaming within 20 s: {capture_state(hk)}")
            time.sleep(0.05)
        ctx.sink.reset()
        rss_before = hk.rss_mb()
        reset_peak_rss(hk.pid)
        t = time.monotonic()
        psql(src.url, f"INSERT INTO bench_rows (id, note) SELECT g, 'row ' || g FROM generate_series(1, {n}) g",
             timeout=900)
        commit_s = time.monotonic() - t
        seconds, _ = wait_changes(hk, n, 900 * ctx.sizes.wait_scale, "capture big transaction")
        r = {"rows": n, "sourceCommitSeconds": round(commit_s, 2), "secondsAfterCommit": round(seconds, 3),
             "changesPerSecond": round(n / seconds, 1) if seconds > 0 else None, "rssBeforeMb": round(rss_before, 1),
             "peakRssMb": round(hk.peak_rss_mb(), 1), "deliveredMeanwhile": ctx.sink.stats()["answered"]}
        ctx.log(f"    one transaction of {fmt(n)} rows: accepted {r['secondsAfterCommit']} s after its commit, "
                f"peak RSS {r['peakRssMb']} MB (RSS {r['rssBeforeMb']} MB before)")
        return r
    finally:
        hk.stop()
        src.drop()


def sc_capture(ctx: Context):
    s = ctx.sizes
    if not ctx.pg_admin:
        ctx.log("[capture] needs a source PostgreSQL (--pg, $HOOKD_TEST_PG_URL, or a full run's throwaway "
                "cluster): skipped")
        return {"skipped": "no source PostgreSQL"}
    wal = psql(ctx.pg_admin, "SHOW wal_level")
    if wal != "logical":
        ctx.log(f"[capture] the source PostgreSQL has wal_level={wal}, not logical: skipped")
        return {"skipped": f"wal_level={wal}"}
    ctx.log(f"[capture] source PostgreSQL → hookd ({ctx.store} store) → one webhook: burn-down of "
            f"{fmt(s.capture_burndown)} changes, {s.capture_rate} changes/s × {s.capture_seconds} s, "
            f"one {fmt(s.capture_big_txn)}-row transaction")
    return {"burndown": capture_burndown(ctx), "latency": capture_latency(ctx), "bigTransaction": capture_big_txn(ctx)}


RUNNERS = {"throughput": sc_throughput, "latency": sc_latency, "ingest": sc_ingest, "fanout": sc_fanout,
           "isolation": sc_isolation, "backlog": sc_backlog, "getpost": sc_getpost, "query": sc_query,
           "micro": sc_micro, "xmin": sc_xmin, "capture": sc_capture}


def machine_info(ctx: Context) -> dict:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_mb = 0
    try:
        with open("/proc/meminfo") as f:
            mem_mb = int(f.readline().split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    fs = ""
    try:
        best = ""
        real = os.path.realpath(ctx.workdir)
        with open("/proc/mounts") as f:
            for line in f:
                parts = line.split()
                if real.startswith(parts[1]) and len(parts[1]) >= len(best):
                    best, fs = parts[1], f"{parts[2]} on {parts[0]} ({parts[1]})"
    except OSError:
        pass
    commit = ""
    try:
        commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "src"], capture_output=True,
                               text=True, timeout=10).stdout.strip()
        if dirty:
            commit += " (src modified)"
    except (OSError, subprocess.SubprocessError):
        pass
    version = ""
    try:
        version = subprocess.run([ctx.hookd, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return {"nproc": os.cpu_count(), "cpuModel": model, "kernel": platform.release(), "memoryMb": mem_mb,
            "workdirFilesystem": fs, "hookd": version, "commit": commit, "python": platform.python_version()}


def fmt(v, unit="", digits=None):
    if v is None:
        return "–"
    if isinstance(v, float):
        if digits is None:
            digits = 0 if abs(v) >= 100 else (1 if abs(v) >= 10 else (2 if abs(v) >= 1 else 3))
        return f"{v:,.{digits}f}{unit}"
    if isinstance(v, int):
        return f"{v:,}{unit}"
    return f"{v}{unit}"


def inc(r: dict) -> str:
    """A note for a run cut off by its time limit."""
    if r.get("complete", True):
        return ""
    if "drained" in r:
        return f" (INCOMPLETE: {fmt(r['drained'])} of {fmt(r['pending'])} within the limit)"
    if "delivered" in r:
        return f" (INCOMPLETE: {fmt(r['delivered'])} of {fmt(r['deliveries'])} within the limit)"
    return " (INCOMPLETE)"


def table_rows(ctx: Context) -> list:
    """(scenario, result, ratio to the limit, CPU s/1000, peak RSS MB)"""
    R, L = ctx.results, ctx.limit
    rows = []
    if L:
        rows.append(("limit: raw client POST", f"{fmt(L['postRequestsPerSecond'])} req/s", "1", 
                     fmt(L['clientCpuSecondsPer1000'], digits=4) + " (client)", "–"))
        rows.append(("limit: raw client GET", f"{fmt(L['getRequestsPerSecond'])} req/s", "1", "–", "–"))
        rows.append(("limit: one request at a time", f"{fmt(L['roundTripUs'])} µs round trip", "–", "–", "–"))
    if "throughput" in R:
        r = R["throughput"]
        rows.append((f"throughput ({fmt(r['events'])} events, 1 webhook)", f"{fmt(r['deliveriesPerSecond'])} deliveries/s"
                     + runs_note(r) + inc(r),
                     fmt(r["ratioToLimit"]), fmt(r["cpuSecondsPer1000"], digits=4), fmt(r["peakRssMb"])))
    if "latency" in R:
        r = R["latency"]
        rows.append((f"latency ({r['offeredPerSecond']} ev/s × {r['seconds']} s)",
                     f"p50 {fmt(r['p50Ms'])} ms, p99 {fmt(r['p99Ms'])} ms, p99.9 {fmt(r['p999Ms'])} ms" + inc(r),
                     f"p50 = {fmt(r.get('p50OverRawRoundTrip'))}× raw round trip",
                     fmt(r["cpuSecondsPer1000"], digits=4), fmt(r["peakRssMb"])))
    if "ingest" in R:
        for key, r in R["ingest"].items():
            what = f"ingest, batch {r['batch']}" + ("" if r["withWebhook"] else ", no webhook")
            rows.append((what, f"{fmt(r['eventsPerSecond'])} events/s",
                         fmt(ratio(r["eventsPerSecond"], L.get("postRequestsPerSecond"))),
                         fmt(r["cpuSecondsPer1000Events"], digits=4) + " (per 1000 events)", fmt(r["peakRssMb"])))
    if "fanout" in R:
        r = R["fanout"]
        rows.append((f"fan-out (1 event → {fmt(r['webhooks'])} webhooks)",
                     f"median {fmt(r['medianMs'])} ms (first {fmt(r['firstRoundMs'])} ms)" + inc(r),
                     fmt(r["ratioToLimit"]), fmt(r["cpuSecondsPer1000"], digits=4), fmt(r["peakRssMb"])))
    if "isolation" in R:
        r = R["isolation"]
        h, c = r["hanging"], r["control"]
        rows.append((f"isolation ({h['hanging']} of {h['webhooks']} webhooks hang)",
                     f"{fmt(h['deliveriesPerSecond'])} healthy deliveries/s = {fmt(r['ratioToThroughput'])} of "
                     f"throughput, {fmt(r['ratioToControl'])} of no-hang control ({fmt(c['deliveriesPerSecond'])}/s)"
                     + runs_note(h) + inc(h) + inc(c),
                     fmt(r["ratioToLimit"]), fmt(h["cpuSecondsPer1000"], digits=4), fmt(h["peakRssMb"])))
    if "backlog" in R:
        r = R["backlog"]
        rows.append((f"backlog ({fmt(r['pending'])} pending)",
                     f"drain {fmt(r['drainPerSecond'])} deliveries/s; RSS pending {fmt(r['peakRssPendingMb'])} MB; "
                     f"built at {fmt(r['ingestDeliveriesPerSecond'])} deliveries/s" + inc(r),
                     fmt(r["ratioToLimit"]), fmt(r["cpuSecondsPer1000"], digits=4), fmt(r["peakRssMb"])))
    if "getpost" in R:
        for m, r in R["getpost"].items():
            rows.append((f"{m} ({fmt(r['events'])} events)", f"{fmt(r['deliveriesPerSecond'])} deliveries/s" + inc(r),
                         fmt(r["ratioToLimit"]) + f" (raw {m})", fmt(r["cpuSecondsPer1000"], digits=4),
                         fmt(r["peakRssMb"])))
    if "query" in R:
        for label, r in R["query"].items():
            if r.get("refused"):
                rows.append((f"GET, {label} query ({r['urlLength']}-char URL)",
                             f"refused at creation: {r['detail']}", "–", "–", "–"))
            else:
                rows.append((f"GET, {label} query ({r['urlLength']}-char URL)",
                             f"{fmt(r['deliveriesPerSecond'])} deliveries/s" + inc(r),
                             fmt(r["ratioToLimit"]) + " (raw GET)",
                             fmt(r["cpuSecondsPer1000"], digits=4), fmt(r["peakRssMb"])))
    if "xmin" in R and not R["xmin"].get("skipped"):
        r = R["xmin"]
        ph = r["phases"]
        bl = "; ".join(f"{t} {v['totalMbBefore']} → {v['totalMbAfter']} MB, dead tuples {fmt(v['deadTuplesBefore'])} → "
                       f"{fmt(v['deadTuplesHoldEnd'])} (hold end) → {fmt(v['deadTuplesAfter'])}"
                       for t, v in r.get("bloat", {}).items())
        pgc = ph["during"].get("pg", {}).get("pgCpuSecondsPer1000")
        rows.append((f"xmin horizon held {fmt(r['heldSeconds'])} s (throughput, {fmt(r['pendingKept'])} pending)",
                     f"before {fmt(ph['before']['deliveriesPerSecond'])}/s, during {fmt(ph['during']['deliveriesPerSecond'])}/s "
                     f"({fmt(r['duringOverBefore'])}), after {fmt(ph['after']['deliveriesPerSecond'])}/s "
                     f"({fmt(r['afterOverBefore'])}); {bl}",
                     fmt(ratio(ph["during"]["deliveriesPerSecond"], L.get("postRequestsPerSecond"))),
                     (fmt(pgc, digits=4) + " (PostgreSQL, during)") if pgc is not None else "–", "–"))
    if "capture" in R and not R["capture"].get("skipped"):
        c = R["capture"]
        b, l, t = c["burndown"], c["latency"], c["bigTransaction"]
        rows.append((f"capture burn-down ({fmt(b['changes'])} changes committed before start)",
                     f"{fmt(b['changesPerSecond'])} changes/s accepted ({fmt(b['seconds'])} s; "
                     f"{fmt(b['deliveredMeanwhile'])} delivered meanwhile)", "–",
                     fmt(b["cpuSecondsPer1000"], digits=4) + " (per 1000 changes)", fmt(b["peakRssMb"])))
        rows.append((f"capture latency ({fmt(l['offeredPerSecond'])} changes/s × {l['seconds']} s)",
                     f"commit→receipt p50 {fmt(l['p50Ms'])} ms, p99 {fmt(l['p99Ms'])} ms, p99.9 {fmt(l['p999Ms'])} ms"
                     + (f" (source INSERT+COMMIT p99 {fmt(l['sourceCommitP99Ms'])} ms; from its acknowledgement "
                        f"p99 {fmt(l['fromAckP99Ms'])} ms)" if "fromAckP99Ms" in l else "") + inc(l), "–", fmt(l["cpuSecondsPer1000"], digits=4) + " (per 1000 changes)",
                     fmt(l["peakRssMb"])))
        rows.append((f"capture, one {fmt(t['rows'])}-row transaction",
                     f"accepted {fmt(t['secondsAfterCommit'])} s after its commit "
                     f"({fmt(t['changesPerSecond'])} changes/s)", "–", "–", fmt(t["peakRssMb"])))
    return rows


def pg_rows(ctx: Context) -> list:
    """PostgreSQL's cost per delivery, one row per measured window."""
    R, out = ctx.results, []

    def add(name, pg):
        if not pg:
            return
        by = pg.get("pgCpuByKind") or {}
        bg = sum(v for k, v in by.items() if k not in ("backend", "other-backend"))
        d = pg.get("deliveries") or 0
        out.append((name, fmt(d), fmt(pg.get("pgCpuSecondsPer1000"), digits=4),
                    fmt(pg.get("pgBackendCpuSecondsPer1000"), digits=4),
                    fmt(round(bg * 1000 / d, 4) if d and by else None, digits=4),
                    fmt(pg.get("pgCoresBusy"), digits=2), fmt(pg.get("deliveriesPerPgCoreSecond")),
                    fmt(pg.get("walBytesPerDelivery"), digits=0), fmt(pg.get("statementsPerDelivery"), digits=2),
                    fmt(pg.get("transactionsPerDelivery"), digits=3), fmt(pg.get("rowsWrittenPerDelivery"), digits=2)))

    if "throughput" in R:
        add(f"throughput ({fmt(R['throughput']['events'])} events)", R["throughput"].get("pg"))
    if "latency" in R:
        add(f"latency ({R['latency']['offeredPerSecond']} ev/s)", R["latency"].get("pg"))
    if "backlog" in R:
        add(f"backlog drain ({fmt(R['backlog']['pending'])} pending)", R["backlog"].get("pg"))
    if "isolation" in R:
        add("isolation, 10 of 100 hang", R["isolation"]["hanging"].get("pg"))
        add("isolation control, 100 webhooks", R["isolation"]["control"].get("pg"))
    for m, r in (R.get("getpost") or {}).items():
        add(f"{m} ({fmt(r['events'])} events)", r.get("pg"))
    for label, r in (R.get("query") or {}).items():
        add(f"GET, {label} query", r.get("pg"))
    if "xmin" in R and not R["xmin"].get("skipped"):
        for ph, r in R["xmin"]["phases"].items():
            add(f"xmin scenario, {ph}", r.get("pg"))
    return out


def sizing_lines(ctx: Context, meta: dict) -> list:
    """The sizing model's inputs from the throughput scenario (docs/postgresql.md, "Sizing PostgreSQL"),
    and with --pg-cores its check: the prediction from an unpinned run's cost against this run."""
    tp = ctx.results.get("throughput") or {}
    pg = tp.get("pg") or {}
    if not pg.get("deliveriesPerPgCoreSecond"):
        return []
    out = [f"Sizing: at {fmt(pg['pgCpuSecondsPer1000'], digits=4)} PostgreSQL CPU s per 1000 deliveries, one "
           f"PostgreSQL core sustains ≈ {fmt(pg['deliveriesPerPgCoreSecond'])} deliveries/s (throughput scenario, "
           f"{fmt(pg.get('pgCoresBusy'), digits=2)} PostgreSQL cores busy at {fmt(tp.get('deliveriesPerSecond'))}/s)."]
    k = (meta.get("postgres") or {}).get("pgCores")
    model = meta.get("model")
    if k and model:
        pred = k * model["deliveriesPerPgCoreSecond"]
        out.append(f"Model check: PostgreSQL pinned to {k} core(s). Model from {model['source']} "
                   f"({fmt(model['pgCpuSecondsPer1000'], digits=4)} CPU s/1000 → {fmt(model['deliveriesPerPgCoreSecond'])}"
                   f"/s per core): predicted ≤ {fmt(float(pred))} deliveries/s if PostgreSQL's CPU is the limit "
                   f"(and ≤ the unpinned run's {fmt(model['deliveriesPerSecond'])}/s); measured "
                   f"{fmt(tp.get('deliveriesPerSecond'))}/s = {fmt(ratio(tp.get('deliveriesPerSecond'), min(pred, model['deliveriesPerSecond'])))}"
                   f" of the prediction, PostgreSQL {fmt(pg.get('pgCoresBusy'), digits=2)} of {k} core(s) busy.")
    out.append("")
    return out


PG_HEAD = ("scenario", "deliveries", "PG CPU s/1000", "backends s/1000", "background s/1000", "PG cores busy",
           "deliveries per PG core-second", "WAL bytes/delivery", "statements/delivery", "transactions/delivery",
           "rows written/delivery")


def targets(ctx: Context) -> list:
    """(target, measured, met) — judged only on a full-size run."""
    R, out = ctx.results, []

    def add(name, value, ok):
        out.append((name, value, None if ctx.smoke or ok is None else bool(ok)))

    if "throughput" in R:
        r = R["throughput"]
        add("throughput ≥ 60 % of the raw limit", f"{fmt(r['ratioToLimit'])}", r["ratioToLimit"] >= 0.6)
        add("≤ 0.07 CPU s per 1000 deliveries (throughput)", fmt(r["cpuSecondsPer1000"], digits=4),
            r["cpuSecondsPer1000"] <= 0.07)
        add("peak RSS ≤ 60 MB (100,000-event run)", f"{fmt(r['peakRssMb'])} MB", r["peakRssMb"] <= 60)
    # One node on PostgreSQL is held to issue 13's targets, the embedded store to its own.
    pg_store = ctx.store == "postgres"
    tag = "(issue 13) " if pg_store else ""
    ingest_min, p50_max, p99_max, fanout_max = (40_000, 3, 20, 150) if pg_store else (50_000, 2, 10, 100)
    if "ingest" in R and "batch1000" in R["ingest"]:
        r = R["ingest"]["batch1000"]
        add(f"{tag}ingest ≥ {ingest_min:,} events/s, batches of 1000", f"{fmt(r['eventsPerSecond'])} events/s",
            r["eventsPerSecond"] >= ingest_min)
    if "latency" in R:
        r = R["latency"]
        add(f"{tag}p50 ≤ {p50_max} ms at 1000 events/s", f"{fmt(r['p50Ms'])} ms", r["p50Ms"] <= p50_max)
        add(f"{tag}p99 ≤ {p99_max} ms at 1000 events/s", f"{fmt(r['p99Ms'])} ms", r["p99Ms"] <= p99_max)
    if "fanout" in R:
        r = R["fanout"]
        add(f"{tag}fan-out to 1000 webhooks ≤ {fanout_max} ms",
            f"median {fmt(r['medianMs'])} ms, first {fmt(r['firstRoundMs'])} ms", r["medianMs"] <= fanout_max)
    if "isolation" in R:
        r = R["isolation"]
        # Judged on both ratios: to the throughput scenario (the issue's definition) and to the
        # same webhooks without the hanging ones (which stays meaningful if throughput is off).
        both = [x for x in (r["ratioToThroughput"], r["ratioToControl"]) if x is not None]
        add("isolation ratio ≥ 0.9 (to throughput; to no-hang control)",
            f"{fmt(r['ratioToThroughput'])}; {fmt(r['ratioToControl'])}", min(both) >= 0.9 if both else None)
    if "backlog" in R:
        r = R["backlog"]
        add("peak RSS ≤ 150 MB with 1 M pending", f"{fmt(r['peakRssMb'])} MB", r["peakRssMb"] <= 150)
    if "capture" in R and not R["capture"].get("skipped"):
        c = R["capture"]
        b, l, t = c["burndown"], c["latency"], c["bigTransaction"]
        add("(issue 14) capture burn-down ≥ 50,000 changes/s", f"{fmt(b['changesPerSecond'])} changes/s",
            b["changesPerSecond"] >= 50_000)
        add("(issue 14) capture p50 ≤ 5 ms at 1000 changes/s", f"{fmt(l['p50Ms'])} ms", l["p50Ms"] <= 5)
        add("(issue 14) capture p99 ≤ 25 ms at 1000 changes/s", f"{fmt(l['p99Ms'])} ms", l["p99Ms"] <= 25)
        add("(issue 14) capture peak RSS ≤ 150 MB during a 1 M-row transaction", f"{fmt(t['peakRssMb'])} MB",
            t["peakRssMb"] <= 150)
    pg = (R.get("throughput") or {}).get("pg") or {}
    if pg.get("pgCpuSecondsPer1000") is not None:
        add("(issue 13) PostgreSQL CPU ≤ 0.05 s per 1000 deliveries (throughput)",
            fmt(pg["pgCpuSecondsPer1000"], digits=4), pg["pgCpuSecondsPer1000"] <= 0.05)
    return out


def write_reports(ctx: Context, meta: dict, errors: list):
    rows = table_rows(ctx)
    tgt = targets(ctx)
    os.makedirs(ctx.results_dir, exist_ok=True)
    doc = {"meta": meta, "limit": ctx.limit, "scenarios": ctx.results,
           "targets": [{"target": t, "measured": v, "met": m} for t, v, m in tgt], "errors": errors}
    stem = "latest" if ctx.store == "sqlite" else f"latest-{ctx.store}"
    if getattr(ctx, "tag", ""):
        stem += "-" + ctx.tag
    with open(os.path.join(ctx.results_dir, stem + ".json"), "w") as f:
        json.dump(doc, f, indent=2, ensure_ascii=False)
        f.write("\n")
    md = []
    md.append(f"# hookd benchmark results{' (smoke run: sizes are tiny, numbers mean nothing)' if ctx.smoke else ''}\n")
    mi = meta["machine"]
    md.append(f"- when: {meta['started']} ({meta['durationSeconds']} s)")
    md.append(f"- machine: {mi['nproc']} × {mi['cpuModel']}, {mi['memoryMb']} MB, Linux {mi['kernel']}")
    if ctx.store == "postgres":
        pgs = meta.get("postgres") or {}
        st = pgs.get("settings") or {}
        md.append(f"- database: PostgreSQL {st.get('server_version', '')} (server on 127.0.0.1, fsync "
                  f"{st.get('fsync', 'on')}, synchronous_commit {st.get('synchronous_commit', '?')}, wal_level "
                  f"{st.get('wal_level', '?')}, shared_buffers {st.get('shared_buffers', '?')} × 8 kB; "
                  f"{pgs.get('cluster', '')}), {mi['workdirFilesystem']}"
                  + (f"; pinned to CPU {pgs.get('pgCpus')}, hookd and the tools to {pgs.get('harnessCpus')}"
                     if pgs.get("pgCores") else ""))
    else:
        md.append(f"- database: SQLite `synchronous={ctx.synchronous}`, {mi['workdirFilesystem']}")
    hb = meta.get("hookdBinary", {})
    md.append(f"- hookd: {mi['hookd']} @ {mi['commit']}, binary built {hb.get('built')} "
              f"(sha256 {hb.get('sha256')}); retry schedule `{ctx.retry_schedule}`; concurrency {ctx.concurrency}")
    la, lb = meta.get("loadAverageBefore"), meta.get("loadAverageAfter")
    if la and lb:
        md.append(f"- load average (1 min) before {la[0]:.2f}, after {lb[0]:.2f} (other work on the machine "
                  f"disturbs the numbers)")
    md.append(f"- command: `{meta['command']}`\n")
    md.append("| scenario | result | ratio to the raw limit | CPU s / 1000 deliveries | peak RSS MB |")
    md.append("|---|---|---|---|---|")
    for row in rows:
        md.append("| " + " | ".join(str(c) for c in row) + " |")
    md.append("")
    prow = pg_rows(ctx)
    if prow:
        pgs = meta.get("postgres") or {}
        md.append("PostgreSQL's cost per delivery (issue 13): CPU seconds of the server's processes from /proc "
                  "(backends = hookd's connections; background = checkpointer, background writer, walwriter, "
                  "autovacuum, postmaster, exited children), WAL bytes from `pg_current_wal_lsn()`, statements "
                  "from pg_stat_statements (" + ("loaded" if pgs.get("statements") else "**not loaded**: "
                  "transactions only") + "), transactions and rows from `pg_stat_database`; each window runs "
                  "from the first submit to the last arrival + 1 s (ingest included)"
                  + (f"; PostgreSQL pinned to {pgs.get('pgCores')} core(s), everything else to the others"
                     if pgs.get("pgCores") else "") + ".\n")
        md.append("| " + " | ".join(PG_HEAD) + " |")
        md.append("|" + "---|" * len(PG_HEAD))
        for row in prow:
            md.append("| " + " | ".join(str(c) for c in row) + " |")
        md.append("")
        for line in sizing_lines(ctx, meta):
            md.append(line)
        top = ((ctx.results.get("throughput") or {}).get("pg") or {}).get("topStatements")
        if top:
            md.append("Statements of the throughput scenario, by execution time (pg_stat_statements):\n")
            md.append("| calls | per delivery | total ms | rows | statement |")
            md.append("|---|---|---|---|---|")
            for t in top:
                q = t["query"].replace("|", "\\|")
                md.append(f"| {fmt(t['calls'])} | {fmt(t['perDelivery'], digits=3)} | {fmt(t['execMs'])} | "
                          f"{fmt(t['rows'])} | `{q}` |")
            md.append("")
    x = ctx.results.get("xmin")
    if x and not x.get("skipped"):
        md.append(f"Queue hygiene (xmin scenario): the horizon was held {fmt(x['held'].get('heldSeconds'))} s, "
                  f"{fmt(x['held'].get('xidsBehind'))} transaction ids behind at release.\n")
        md.append("| table | when | total MB | table MB | indexes MB | live tuples | dead tuples | "
                  "pgstattuple dead % | free % | autovacuums |")
        md.append("|---|---|---|---|---|---|---|---|---|---|")
        for t in ("deliveries", "attempts"):
            for when, key in (("before the hold", "beforeStart"), ("end of the hold", "duringEnd"),
                              ("end of the run", "afterEnd")):
                h = (x["tables"].get(key) or {}).get(t)
                if not h:
                    continue
                pt = h.get("pgstattuple") or {}
                md.append(f"| {t} | {when} | {h['totalBytes'] / 2**20:.1f} | {h['tableBytes'] / 2**20:.1f} | "
                          f"{h['indexBytes'] / 2**20:.1f} | {fmt(h['liveTuples'])} | {fmt(h['deadTuples'])} | "
                          f"{fmt(pt.get('deadPercent'))} | {fmt(pt.get('freePercent'))} | {h['autovacuums']} |")
        md.append("")
    if tgt:
        md.append("| target (issue 7) | measured | met |")
        md.append("|---|---|---|")
        for t, v, m in tgt:
            md.append(f"| {t} | {v} | {'–' if m is None else ('yes' if m else '**no**')} |")
        md.append("")
    micro = ctx.results.get("micro")
    if micro and not micro.get("skipped"):
        md.append("Micro-benchmarks (`hookd_micro`, Google Benchmark):\n")
        md.append("| benchmark | time per iteration | items/s |")
        md.append("|---|---|---|")
        for name, b in micro.items():
            md.append(f"| {name}{' (' + b['label'] + ')' if b['label'] else ''} | {fmt(b['realTimeUs'])} µs | "
                      f"{fmt(b['itemsPerSecond'])} |")
        md.append("")
    if errors:
        md.append("## Errors\n")
        for e in errors:
            md.append(f"- {e}")
        md.append("")
    with open(os.path.join(ctx.results_dir, stem + ".md"), "w") as f:
        f.write("\n".join(md))
    # Console table.
    print()
    w = [max(len(str(r[i])) for r in rows + [("scenario", "result", "ratio", "CPU s/1000", "RSS MB")])
         for i in range(5)] if rows else [0] * 5
    for r in [("scenario", "result", "ratio", "CPU s/1000", "RSS MB")] + rows:
        print("  ".join(str(c).ljust(w[i]) for i, c in enumerate(r)))
    if prow:
        print()
        for line in sizing_lines(ctx, meta):
            print(line)
        print("PostgreSQL cost per delivery:")
        w2 = [max(len(str(r[i])) for r in prow + [PG_HEAD]) for i in range(len(PG_HEAD))]
        for r in [PG_HEAD] + prow:
            print("  ".join(str(c).ljust(w2[i]) for i, c in enumerate(r)))
    if tgt:
        print()
        for t, v, m in tgt:
            print(f"  {'–  ' if m is None else ('met' if m else 'NOT')}  {t}: {v}")
    print(f"\nwritten: {os.path.relpath(os.path.join(ctx.results_dir, stem + '.json'), ROOT)}, "
          f"{os.path.relpath(os.path.join(ctx.results_dir, stem + '.md'), ROOT)}")


# ---------------------------------------------------------------------------- main

def _interrupted(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")  # so every `finally` stops what it started


def main() -> int:
    signal.signal(signal.SIGTERM, _interrupted)
    ap = argparse.ArgumentParser(description="hookd benchmark harness (issue 7)")
    ap.add_argument("--smoke", action="store_true", help="every scenario, tiny (checks the harness works)")
    ap.add_argument("--only", choices=SCENARIOS, action="append", help="run only this scenario (repeatable)")
    ap.add_argument("--hookd", default=os.path.join(ROOT, "build", "hookd"), help="the hookd binary")
    ap.add_argument("--bin-dir", default=os.path.join(ROOT, "build", "bench"),
                    help="folder with hookd-sink, hookd-load, hookd-rawclient")
    ap.add_argument("--results-dir", default=None, help="where latest.json/.md go (default bench/results; "
                    "a smoke run writes to its temp dir unless given)")
    ap.add_argument("--workdir", default=None, help="parent of the temp dir (databases, logs)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    ap.add_argument("--concurrency", type=int, default=64,
                    help="requests in flight: the raw client's and the throughput webhook's maxInFlight")
    ap.add_argument("--synchronous", default="FULL", choices=["FULL", "NORMAL"], help="SQLite synchronous")
    ap.add_argument("--store", default="sqlite", choices=["sqlite", "postgres"], help="where hookd keeps its data")
    ap.add_argument("--pg", default=os.environ.get("HOOKD_TEST_PG_URL", ""),
                    help="PostgreSQL admin URL for --store postgres (default $HOOKD_TEST_PG_URL, else a "
                         "throwaway cluster started with scripts/pg.sh)")
    ap.add_argument("--pg-cores", type=int, default=0, metavar="K",
                    help="--store postgres: pin the PostgreSQL server to cores 0..K-1 and hookd, the sink and the "
                         "tools to the others (checks the sizing model); results in latest-postgres-pgKcore.*")
    ap.add_argument("--no-pg-statements", action="store_true",
                    help="start the throwaway cluster without pg_stat_statements (transactions are still counted)")
    ap.add_argument("--xmin-hold", type=float, default=None, metavar="SECONDS",
                    help="xmin scenario: how long the REPEATABLE READ transaction holds the horizon "
                         "(default 120; 3 with --smoke)")
    ap.add_argument("--tag", default=None,
                    help="suffix of the results' file names (latest-postgres-TAG.*); default: 'xmin' or 'capture' "
                         "when only that scenario runs, 'pgKcore' with --pg-cores")
    ap.add_argument("--throughput-events", type=int, default=None, metavar="N",
                    help="events of the throughput scenario (default 100,000; 1,000 with --smoke): on PostgreSQL "
                         "the cost per delivery depends on how many are pending")
    ap.add_argument("--xmin-pending", type=int, default=None, metavar="N",
                    help="xmin scenario: deliveries kept pending (default 20,000; 500 with --smoke)")
    ap.add_argument("--pg-analyze", action="store_true",
                    help="--store postgres: ANALYZE hookd's database once a delivery scenario's events are in "
                         "(steady-state plans; without it a fresh database is planned with no statistics until "
                         "autovacuum's first visit)")
    ap.add_argument("--model", default=None, metavar="JSON",
                    help="with --pg-cores: the unpinned run whose PostgreSQL cost per delivery gives the model's "
                         "prediction (default: latest-postgres.json in the results dir)")
    ap.add_argument("--retry-schedule", default="0s,1s,1s,1s,1s")
    ap.add_argument("--profile", action="store_true",
                    help="perf record -g hookd during the main scenarios; reports in the results dir")
    args = ap.parse_args()

    for tool in ("hookd-sink", "hookd-load", "hookd-rawclient"):
        if not os.access(os.path.join(args.bin_dir, tool), os.X_OK):
            print(f"missing {tool} in {args.bin_dir}: build it with "
                  f"cmake --build build --target hookd-sink hookd-load hookd-rawclient", file=sys.stderr)
            return 2
    if not os.access(args.hookd, os.X_OK):
        print(f"missing hookd binary: {args.hookd}", file=sys.stderr)
        return 2

    ncpu = len(os.sched_getaffinity(0))
    if args.pg_cores and (args.store != "postgres" or args.pg_cores >= ncpu or args.pg_cores < 0):
        print(f"--pg-cores K needs --store postgres and 0 < K < {ncpu} (the cores this process may use)",
              file=sys.stderr)
        return 2
    sizes = SMOKE if args.smoke else FULL
    if args.throughput_events:
        sizes = dataclasses.replace(sizes, throughput_events=args.throughput_events)
    if args.xmin_pending:
        sizes = dataclasses.replace(sizes, xmin_backlog=args.xmin_pending)
    if args.store == "postgres" and not args.smoke:
        # PostgreSQL delivers ~30x slower than the limit here: one run each keeps the whole
        # run near 15 minutes, and the VM's drift matters little at that distance.
        sizes = dataclasses.replace(sizes, repeats=1)
    workdir = tempfile.mkdtemp(prefix="hookd-bench-", dir=args.workdir)
    # One binary for the whole run, even if build/hookd is rebuilt meanwhile.
    hookd_copy = os.path.join(workdir, "hookd")
    shutil.copy2(args.hookd, hookd_copy)
    with open(hookd_copy, "rb") as f:
        hookd_sha = hashlib.sha256(f.read()).hexdigest()[:16]
    hookd_mtime = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(os.stat(args.hookd).st_mtime))
    results_dir = args.results_dir or (os.path.join(workdir, "results") if args.smoke
                                       else os.path.join(HERE, "results"))
    ctx = Context(hookd=hookd_copy, bin_dir=os.path.abspath(args.bin_dir), workdir=workdir,
                  results_dir=results_dir, sizes=sizes, smoke=args.smoke,
                  concurrency=args.concurrency, synchronous=args.synchronous, retry_schedule=args.retry_schedule,
                  profile=args.profile, store=args.store, pg_admin=args.pg, pg_cores=args.pg_cores,
                  xmin_hold=args.xmin_hold, pg_analyze=args.pg_analyze)
    os.makedirs(results_dir, exist_ok=True)
    pg_dir = None
    selected = args.only or SCENARIOS
    ctx.tag = args.tag or (selected[0] if selected in (["xmin"], ["capture"]) else "")
    if args.pg_cores and not args.tag:
        ctx.tag = "-".join(x for x in (ctx.tag, f"pg{args.pg_cores}core") if x)
    all_cpus = sorted(os.sched_getaffinity(0))
    pg_cpus, other_cpus = set(all_cpus[:args.pg_cores]), set(all_cpus[args.pg_cores:])
    # Change capture needs a source PostgreSQL whatever the store: a full run starts a throwaway cluster
    # (scripts/pg.sh sets wal_level=logical); a smoke run without a URL skips the scenario.
    needs_pg = args.store == "postgres" or ("capture" in selected and not args.smoke)
    if needs_pg and not ctx.pg_admin:
        pg_dir = tempfile.mkdtemp(prefix="hookd-bench-pg-", dir=args.workdir)  # not under workdir: postgres must reach it
        try:
            # pg_stat_statements for the statement counts (this cluster only: scripts/pg.sh keeps it off).
            ctx.pg_admin = pgmeter.start_cluster(ROOT, pg_dir, statements=not args.no_pg_statements
                                                 and args.store == "postgres",
                                                 cpus=pg_cpus or None)
        except (RuntimeError, subprocess.SubprocessError) as e:
            print(str(e), file=sys.stderr)
            shutil.rmtree(pg_dir, ignore_errors=True)
            if args.store == "postgres":
                return 2
            pg_dir = None  # only the capture scenario wanted it: it is skipped
            print("(no PostgreSQL for the capture scenario: it is skipped)", file=sys.stderr)
    if args.store == "postgres":
        try:
            ctx.pg = pgmeter.PgServer(ctx.pg_admin)
            if pg_cpus:
                ctx.pg.pin(pg_cpus)  # an external server (--pg): every process now, undone at the end
                os.sched_setaffinity(0, other_cpus)  # and everything this harness starts: the other cores
        except (pgmeter.PsqlError, RuntimeError, OSError) as e:
            if args.pg_cores:
                print(f"cannot pin PostgreSQL: {e}", file=sys.stderr)
                if pg_dir:
                    pgmeter.stop_cluster(ROOT, pg_dir)
                return 2
            print(f"(PostgreSQL's cost will not be measured: {e})", file=sys.stderr)
            ctx.pg = None
    started = time.time()
    meta = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "command": "python3 bench/run.py " + " ".join(sys.argv[1:]), "smoke": args.smoke,
            "store": args.store, "pgAnalyze": args.pg_analyze, "synchronous": args.synchronous, "retrySchedule": args.retry_schedule, "concurrency": args.concurrency,
            "scenarios": selected}
    meta["machine"] = machine_info(ctx)
    meta["hookdBinary"] = {"path": os.path.abspath(args.hookd), "sha256": hookd_sha, "built": hookd_mtime}
    meta["loadAverageBefore"] = os.getloadavg()
    if args.pg_cores:
        src = args.model or os.path.join(results_dir, "latest-postgres.json")
        try:
            with open(src) as f:
                t = json.load(f)["scenarios"]["throughput"]
            meta["model"] = {"source": os.path.relpath(src, ROOT), "deliveriesPerSecond": t["deliveriesPerSecond"],
                             "pgCpuSecondsPer1000": t["pg"]["pgCpuSecondsPer1000"],
                             "deliveriesPerPgCoreSecond": t["pg"]["deliveriesPerPgCoreSecond"]}
        except (OSError, KeyError, ValueError, TypeError) as e:
            ctx.log(f"(no model to check: {src}: {e})")
    if ctx.pg:
        meta["postgres"] = {"settings": ctx.pg.settings(), "statements": ctx.pg.statements,
                            "postmaster": ctx.pg.postmaster, "pgCores": args.pg_cores or None,
                            "pgCpus": sorted(pg_cpus) or None, "harnessCpus": sorted(other_cpus) if pg_cpus else None,
                            "cluster": "throwaway (scripts/pg.sh)" if pg_dir else "given (--pg / $HOOKD_TEST_PG_URL)"}
    ctx.log(f"hookd benchmarks{' (smoke)' if args.smoke else ''}: {', '.join(selected)}; work dir {workdir}")
    errors = []
    try:
        ctx.sink = Sink(ctx.bin_dir, workdir)
        measure_limit(ctx)
        for name in selected:
            t = time.monotonic()
            try:
                ctx.results[name] = RUNNERS[name](ctx)
            except ScenarioError as e:
                errors.append(f"{name}: {e}")
                ctx.log(f"    FAILED: {e}")
            except Exception as e:  # a harness bug is a failure too
                errors.append(f"{name}: {type(e).__name__}: {e}")
                ctx.log(f"    FAILED: {traceback.format_exc()}")
            ctx.log(f"    ({time.monotonic() - t:.1f} s)")
    except ScenarioError as e:
        errors.append(f"limit: {e}")
        ctx.log(f"FAILED: {e}")
    finally:
        if ctx.sink:
            ctx.sink.stop()
        if ctx.pg:
            ctx.pg.close()  # unpins an external server
        if pg_dir:
            subprocess.run(["bash", os.path.join(ROOT, "scripts", "pg.sh"), "stop", pg_dir], capture_output=True,
                           timeout=120)
    meta["durationSeconds"] = round(time.time() - started, 1)
    meta["loadAverageAfter"] = os.getloadavg()
    write_reports(ctx, meta, errors)
    if errors:
        print(f"\n{len(errors)} scenario(s) broke; logs in {workdir}", file=sys.stderr)
    elif not args.keep:
        if results_dir.startswith(workdir):
            print("(smoke results were in the temp dir, removed with it; use --results-dir to keep them)")
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
