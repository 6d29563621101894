#!/usr/bin/env python3
"""Deliveries/s with 1, 2 and 3 hookd nodes sharing one PostgreSQL, and what PostgreSQL pays
per delivery (issues 5 and 13).

  python3 bench/nodes.py [--pg postgresql://postgres@127.0.0.1:PORT/postgres] [--events 20000]
                         [--nodes 1,2,3] [--pg-cores K]

Each round creates a fresh database, starts N `hookd serve` nodes on it (same master
key), one hookd-sink, one POST webhook (maxInFlight 64), publishes the events through
the nodes in turn (batches of 500) and measures from the first submit to the last
arrival at the sink. Around each round, bench/pgmeter.py measures PostgreSQL's CPU
seconds (its processes in /proc), WAL bytes, transactions and (with pg_stat_statements)
statements per delivery. Without --pg a throwaway cluster is started with scripts/pg.sh
(pg_stat_statements preloaded) and removed afterwards. --pg-cores K pins PostgreSQL to
cores 0..K-1 and the nodes, the sink and the publishers to the others.
Results: a table on stdout and bench/results/nodes-latest[-pgKcore].{json,md}.
Everything on 127.0.0.1; every wait is bounded.
"""
import argparse, json, os, re, secrets, shutil, socket, subprocess, sys, tempfile, time, urllib.request

import pgmeter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def call(url, method="GET", token=None, body=None):
    req = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None)
    if token: req.add_header("Authorization", f"Bearer {token}")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def wait_http(url, seconds=15):
    end = time.time() + seconds
    while time.time() < end:
        try:
            urllib.request.urlopen(url, timeout=1); return
        except Exception:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer")


def cpu_of(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            d = f.read()
        x = d[d.rindex(")") + 2:].split()
        return (int(x[11]) + int(x[12])) / pgmeter.CLK_TCK
    except OSError:
        return 0.0


def round_(n, args, bindir, pg):
    db = "hookd_nodes_" + secrets.token_hex(4)
    subprocess.run(["psql", args.pg, "-qc", f"CREATE DATABASE {db}"], check=True)
    url = args.pg.rsplit("/", 1)[0] + "/" + db
    key, op = secrets.token_hex(32), "op_" + secrets.token_hex(8)
    tmp = tempfile.mkdtemp(prefix="hookd-nodes-")
    w = args.webhooks
    sink = subprocess.Popen([os.path.join(bindir, "hookd-sink"), "--port", "0"] + (["--ports", str(w)] if w > 1 else []),
                            stdout=subprocess.PIPE, text=True)
    m = re.search(r"listening on [\d.]+:(\d+)(?: also ([\d,]+))?", sink.stdout.readline())
    sink_port = int(m.group(1))
    sink_ports = [sink_port] + [int(x) for x in (m.group(2) or "").split(",") if x]
    nodes, ports = [], []
    try:
        for i in range(n):
            p = free_port(); ports.append(p)
            env = dict(os.environ, HOOKD_MASTER_KEY=key, HOOKD_OPERATOR_TOKEN=op)
            nodes.append(subprocess.Popen([args.hookd, "serve", "--listen", f"127.0.0.1:{p}", "--db", url,
                                           "--allow-private-network", "--api-rate-limit", "0", "--node-id", f"n{i}",
                                           "--log-level", "warn"], env=env, cwd=tmp,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            wait_http(f"http://127.0.0.1:{p}/healthz")
        base = f"http://127.0.0.1:{ports[0]}"
        call(f"{base}/v1/sites", "POST", op, {"id": "bench", "name": "bench"})
        admin = call(f"{base}/v1/sites/bench/tokens", "POST", op, {"role": "admin"})["token"]
        pub = call(f"{base}/v1/sites/bench/tokens", "POST", op, {"role": "publisher"})["token"]
        for i in range(w):  # a receiver port each (libcurl pools connections per host:port)
            call(f"{base}/v1/sites/bench/webhooks", "POST", admin,
                 {"payloadUrl": f"http://127.0.0.1:{sink_ports[i % len(sink_ports)]}/hook/{i}", "secret": "s",
                  "events": ["CREATE"], "sendEverything": True, "maxInFlight": 64 if w == 1 else 8})
        per = args.events // w // n  # every event goes to every webhook: events × webhooks deliveries
        meter = pg.meter([db]) if pg else None
        hookd_cpu0 = sum(cpu_of(p.pid) for p in nodes)
        t0 = time.time()
        loads = [subprocess.Popen([os.path.join(bindir, "hookd-load"), "--url", f"http://127.0.0.1:{ports[i]}/v1/sites/bench/events",
                                   "--token", pub, "--events", str(per), "--batch", str(max(1, 500 // w)),
                                   "--concurrency", "2",
                                   "--id-start", str(i * per + 1), "--max-seconds", "120"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(n)]
        for l in loads: l.wait(timeout=180)
        total = per * n * w
        end = time.time() + 180
        got = 0
        while time.time() < end:
            got = call(f"http://127.0.0.1:{sink_port}/_sink/stats").get("answered", 0)
            if got >= total: break
            time.sleep(0.05)
        took = time.time() - t0
        hookd_cpu = sum(cpu_of(p.pid) for p in nodes) - hookd_cpu0
        r = {"nodes": n, "webhooks": w, "events": per * n, "deliveries": total, "delivered": got, "seconds": round(took, 2),
             "deliveries_per_s": round(got / took), "hookdCpuSecondsPer1000": round(hookd_cpu * 1000 / max(1, got), 4)}
        if meter:
            time.sleep(1.0)  # backends publish their counters at most once a second
            r["pg"] = meter.stop(got, active_seconds=took)
        return r
    finally:
        for p in nodes: p.terminate()
        for p in nodes:
            try: p.wait(timeout=15)
            except subprocess.TimeoutExpired: p.kill()
        sink.terminate()
        shutil.rmtree(tmp, ignore_errors=True)


def fmt(v, d=4):
    return "–" if v is None else (f"{v:,.{d}f}" if isinstance(v, float) else f"{v:,}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg", default="", help="PostgreSQL admin URL (default: a throwaway cluster, scripts/pg.sh)")
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--nodes", default="1,2,3", help="node counts, one round each")
    ap.add_argument("--webhooks", type=int, default=1,
                    help="webhooks (each a receiver port; maxInFlight 64 for one, else 8), every event to each: "
                         "--events is the number of deliveries. One webhook lives in one partition, so only "
                         "several webhooks spread the work over the nodes")
    ap.add_argument("--pg-cores", type=int, default=0, metavar="K",
                    help="pin PostgreSQL to cores 0..K-1, the nodes and the tools to the others")
    ap.add_argument("--hookd", default=os.path.join(ROOT, "build", "hookd"))
    ap.add_argument("--bin-dir", default=os.path.join(ROOT, "build", "bench"))
    ap.add_argument("--results-dir", default=os.path.join(ROOT, "bench", "results"))
    args = ap.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    if args.pg_cores and not 0 < args.pg_cores < len(cpus):
        print(f"--pg-cores K needs 0 < K < {len(cpus)}", file=sys.stderr)
        return 2
    pg_cpus, other = set(cpus[:args.pg_cores]), set(cpus[args.pg_cores:])
    pg_dir = None
    if not args.pg:
        pg_dir = tempfile.mkdtemp(prefix="hookd-nodes-pg-")
        args.pg = pgmeter.start_cluster(ROOT, pg_dir, statements=True, cpus=pg_cpus or None)
    pg = None
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    la0 = os.getloadavg()
    try:
        try:
            pg = pgmeter.PgServer(args.pg)
        except pgmeter.PsqlError as e:
            print(f"(PostgreSQL's cost not measured: {e})", file=sys.stderr)
        if pg_cpus:
            pg.pin(pg_cpus)
            os.sched_setaffinity(0, other)
        rows = [round_(int(n), args, args.bin_dir, pg) for n in args.nodes.split(",")]
        settings = pg.settings() if pg else {}
    finally:
        if pg:
            pg.close()
        if pg_dir:
            pgmeter.stop_cluster(ROOT, pg_dir)
    head = ("nodes", "webhooks", "deliveries", "delivered", "seconds", "deliveries/s", "hookd CPU s/1000", "PG CPU s/1000",
            "PG backends s/1000", "PG cores busy", "WAL bytes/delivery", "statements/delivery", "transactions/delivery")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        p = r.get("pg") or {}
        lines.append("| " + " | ".join([str(r["nodes"]), str(r["webhooks"]), fmt(r["deliveries"]), fmt(r["delivered"]), str(r["seconds"]),
                                        fmt(r["deliveries_per_s"]), fmt(r["hookdCpuSecondsPer1000"]),
                                        fmt(p.get("pgCpuSecondsPer1000")), fmt(p.get("pgBackendCpuSecondsPer1000")),
                                        fmt(p.get("pgCoresBusy"), 2), fmt(p.get("walBytesPerDelivery"), 0),
                                        fmt(p.get("statementsPerDelivery"), 2),
                                        fmt(p.get("transactionsPerDelivery"), 3)]) + " |")
    print("\n".join(lines))
    meta = {"started": started, "command": "python3 bench/nodes.py " + " ".join(sys.argv[1:]),
            "loadAverageBefore": la0, "loadAverageAfter": os.getloadavg(), "pgCores": args.pg_cores or None,
            "pgCpus": sorted(pg_cpus) or None, "postgres": settings,
            "cluster": "throwaway (scripts/pg.sh)" if pg_dir else "given (--pg)"}
    os.makedirs(args.results_dir, exist_ok=True)
    stem = os.path.join(args.results_dir, "nodes-latest" + (f"-{args.webhooks}webhooks" if args.webhooks > 1 else "")
                        + (f"-pg{args.pg_cores}core" if args.pg_cores else ""))
    with open(stem + ".json", "w") as f:
        json.dump({"meta": meta, "rounds": rows}, f, indent=2)
        f.write("\n")
    with open(stem + ".md", "w") as f:
        f.write(f"# bench/nodes.py\n\n- when: {started}; load average before {la0[0]:.2f}, after "
                f"{meta['loadAverageAfter'][0]:.2f}\n- command: `{meta['command']}`\n- PostgreSQL "
                f"{settings.get('server_version', '')}, {meta['cluster']}"
                + (f", pinned to CPU {sorted(pg_cpus)} (nodes and tools on {sorted(other)})" if pg_cpus else "")
                + "\n\n" + "\n".join(lines) + "\n")
    print(f"written: {os.path.relpath(stem, ROOT)}.json, .md")
    return 0 if all(r["delivered"] >= r["deliveries"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
