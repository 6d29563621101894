#!/usr/bin/env python3
"""Deliveries/s with 1, 2 and 3 hookd nodes sharing one PostgreSQL (issue 5 sizing).

  python3 bench/nodes.py --pg postgresql://postgres@127.0.0.1:PORT/postgres [--events 20000]

Each round creates a fresh database, starts N `hookd serve` nodes on it (same master
key), one hookd-sink, one POST webhook (maxInFlight 64), publishes the events through
the nodes in turn (batches of 500) and measures from the first submit to the last
arrival at the sink. Everything on 127.0.0.1; every wait is bounded.
"""
import argparse, json, os, secrets, socket, subprocess, sys, tempfile, time, urllib.request

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


def round_(n, args, bindir):
    db = "hookd_nodes_" + secrets.token_hex(4)
    subprocess.run(["psql", args.pg, "-qc", f"CREATE DATABASE {db}"], check=True)
    url = args.pg.rsplit("/", 1)[0] + "/" + db
    key, op = secrets.token_hex(32), "op_" + secrets.token_hex(8)
    tmp = tempfile.mkdtemp(prefix="hookd-nodes-")
    sink = subprocess.Popen([os.path.join(bindir, "hookd-sink"), "--port", "0"], stdout=subprocess.PIPE, text=True)
    sink_port = int(sink.stdout.readline().strip().rsplit(":", 1)[1])
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
        call(f"{base}/v1/sites/bench/webhooks", "POST", admin,
             {"payloadUrl": f"http://127.0.0.1:{sink_port}/hook", "secret": "s", "events": ["CREATE"],
              "sendEverything": True, "maxInFlight": 64})
        per = args.events // n
        t0 = time.time()
        loads = [subprocess.Popen([os.path.join(bindir, "hookd-load"), "--url", f"http://127.0.0.1:{ports[i]}/v1/sites/bench/events",
                                   "--token", pub, "--events", str(per), "--batch", "500", "--concurrency", "2",
                                   "--id-start", str(i * per + 1), "--max-seconds", "120"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(n)]
        for l in loads: l.wait(timeout=180)
        total = per * n
        end = time.time() + 180
        got = 0
        while time.time() < end:
            got = call(f"http://127.0.0.1:{sink_port}/_sink/stats").get("answered", 0)
            if got >= total: break
            time.sleep(0.05)
        took = time.time() - t0
        return {"nodes": n, "events": total, "delivered": got, "seconds": round(took, 2),
                "deliveries_per_s": round(got / took)}
    finally:
        for p in nodes: p.terminate()
        for p in nodes:
            try: p.wait(timeout=15)
            except subprocess.TimeoutExpired: p.kill()
        sink.terminate()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg", required=True)
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--hookd", default=os.path.join(ROOT, "build", "hookd"))
    ap.add_argument("--bin-dir", default=os.path.join(ROOT, "build", "bench"))
    args = ap.parse_args()
    rows = [round_(n, args, args.bin_dir) for n in (1, 2, 3)]
    print("| nodes | events | delivered | seconds | deliveries/s |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['nodes']} | {r['events']} | {r['delivered']} | {r['seconds']} | {r['deliveries_per_s']} |")
    return 0 if all(r["delivered"] >= r["events"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
