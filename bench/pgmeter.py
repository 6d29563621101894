"""What PostgreSQL pays for hookd's deliveries (issue 13, point 5), for bench/run.py and bench/nodes.py.

A `PgMeter` window measures, between start() and stop():

- CPU seconds of the PostgreSQL server's processes, from /proc (utime+stime): the postmaster
  and every child — the client backends of the database(s) under test ("backends"), the
  background processes (checkpointer, background writer, walwriter, autovacuum launcher and
  workers, ...), and children that exited during the window (counted exactly through the
  postmaster's cutime/cstime, attributed by type from the last sample taken while they lived).
  Only when the server runs on this machine (its data directory's postmaster.pid, or the
  parent of our own backend, is readable).
- WAL bytes: pg_wal_lsn_diff(pg_current_wal_lsn()) over the window (the whole server).
- Transactions (pg_stat_database.xact_commit + xact_rollback of the database(s) under test)
  and rows inserted/updated/deleted; and, when pg_stat_statements is loaded
  (shared_preload_libraries), the statements executed there (sum of `calls`: with libpq
  one top-level statement is one round trip, unless several are sent in one string) with
  the busiest statements.

Everything is read through one persistent psql session (autocommit, so it never holds
the xmin horizon itself), so the measurement adds no connection start-ups to the counts.
Standard library only.
"""
from __future__ import annotations

import os
import re
import select
import subprocess
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
_END = "__hookd_pgmeter_end__"


class PsqlError(Exception):
    pass


class Psql:
    """One long-lived psql session: query() sends SQL and returns the rows (lists of str)."""

    MARK = "/* hookd-bench */ "  # on the harness's statements in a database under test: not counted

    def __init__(self, url: str, app: str = "hookd-bench-meter", mark: bool = False):
        self.mark = mark
        env = dict(os.environ, PGAPPNAME=app)
        self.proc = subprocess.Popen(["psql", "-X", "-q", "-A", "-t", "-F", "\t", "-P", "pager=off",
                                      "-v", "ON_ERROR_STOP=0", url],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env=env)
        self.buf = b""
        self.lock = threading.Lock()
        self.pid = int(self.query("SELECT pg_backend_pid()")[0][0])

    def send(self, sql: str):
        """Sends SQL without waiting for its answer (read it with wait())."""
        sql = (self.MARK if self.mark else "") + sql.rstrip().rstrip(";")
        self.proc.stdin.write((sql + ";\n\\echo " + _END + "\n").encode())
        self.proc.stdin.flush()

    def wait(self, timeout: float = 60.0) -> list:
        deadline = time.monotonic() + timeout
        lines = []
        fd = self.proc.stdout.fileno()
        while True:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                text = line.decode(errors="replace")
                if text == _END:
                    errs = [ln for ln in lines if re.search(r"\b(ERROR|FATAL|PANIC):", ln)]
                    if errs:
                        raise PsqlError(" ".join(errs)[:500])
                    return [ln.split("\t") for ln in lines if ln != ""]
                lines.append(text)
            left = deadline - time.monotonic()
            if left <= 0:
                raise PsqlError(f"psql: no answer within {timeout:.0f} s")
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise PsqlError("psql exited: " + b"".join([self.buf]).decode(errors="replace")[-300:])
                self.buf += chunk

    def query(self, sql: str, timeout: float = 60.0) -> list:
        with self.lock:
            self.send(sql)
            return self.wait(timeout)

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(b"\\q\n")
                self.proc.stdin.flush()
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------------------- /proc

def _stat(pid: int):
    """(ppid, utime+stime, cutime+cstime) in seconds, or None when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2:].split()
    return (int(fields[1]), (int(fields[11]) + int(fields[12])) / CLK_TCK,
            (int(fields[13]) + int(fields[14])) / CLK_TCK)


def _children(pid: int) -> list:
    try:
        out = []
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(x) for x in f.read().split()]
        return out
    except OSError:
        pass
    out = []  # no /proc/PID/task/TID/children: scan
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _stat(int(name))
            if st and st[0] == pid:
                out.append(int(name))
    return out


_BACKGROUND = [("checkpointer", "checkpointer"), ("background writer", "bgwriter"), ("walwriter", "walwriter"),
               ("autovacuum launcher", "autovacuum"), ("autovacuum worker", "autovacuum"),
               ("logical replication launcher", "other"), ("logical replication", "other"),
               ("archiver", "other"), ("walsender", "other"), ("walreceiver", "other"), ("startup", "other"),
               ("stats collector", "other"), ("parallel worker", "parallel")]


def _kind(pid: int, dbs: set, skip: set) -> str:
    """'backend' (a client of a database under test), 'other-backend', or a background kind."""
    if pid in skip:
        return "meter"
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            title = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "gone"
    t = re.sub(r"^postgres:\s*", "", title)
    for prefix, kind in _BACKGROUND:
        if t.startswith(prefix) or (": " + prefix) in t[:80]:
            return "backend" if kind == "parallel" else kind
    parts = t.split()
    # "postgres: USER DB HOST(PORT) activity" (cluster_name may come first: "NAME: USER DB ...")
    if parts and parts[0].endswith(":"):
        parts = parts[1:]
    if len(parts) >= 2 and parts[1] in dbs:
        return "backend"
    return "other-backend"


def find_postmaster(psql: Psql) -> int | None:
    """The postmaster's pid when the server runs on this machine, else None."""
    try:
        ddir = psql.query("SHOW data_directory")[0][0]
        with open(os.path.join(ddir, "postmaster.pid")) as f:
            pid = int(f.readline().strip())
        if _stat(pid):
            return pid
    except (OSError, ValueError, IndexError, PsqlError):
        pass
    st = _stat(psql.pid)  # our own backend's parent
    return st[0] if st and st[0] > 1 else None


def server_pids(postmaster: int) -> list:
    return [postmaster] + _children(postmaster)


def pin_server(postmaster: int, cpus: set) -> int:
    """Sets the CPU affinity of the postmaster (new children inherit it) and of every child."""
    n = 0
    for pid in server_pids(postmaster):
        try:
            os.sched_setaffinity(pid, cpus)
            n += 1
        except OSError:
            pass
    return n


# ---------------------------------------------------------------------------- the meter

class PgMeter:
    """One measurement window over a PostgreSQL server, for the database(s) named in `dbs`."""

    def __init__(self, psql: Psql, dbs, postmaster: int | None, statements: bool, interval: float = 0.5):
        self.psql, self.dbs, self.postmaster = psql, set(dbs), postmaster
        self.statements = statements
        self.interval = interval
        self.thread = None
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.skip = set()  # pids of our own sessions on the database under test (not hookd's cost)
        self.seen = {}  # pid -> [kind, cpu at first sight (0 when born in the window), last cpu]

    # -- counters
    def _db_list(self) -> str:
        return ",".join("'" + d.replace("'", "''") + "'" for d in sorted(self.dbs))

    def _counters(self) -> dict:
        row = self.psql.query(
            "SELECT pg_current_wal_lsn(), coalesce(sum(xact_commit + xact_rollback), 0), "
            "coalesce(sum(tup_inserted), 0), coalesce(sum(tup_updated), 0), coalesce(sum(tup_deleted), 0) "
            f"FROM pg_stat_database WHERE datname IN ({self._db_list()})")[0]
        c = {"lsn": row[0], "xacts": int(row[1]), "inserted": int(row[2]), "updated": int(row[3]),
             "deleted": int(row[4])}
        if self.statements:
            rows = self.psql.query(
                "SELECT s.queryid, s.calls, s.total_exec_time, s.rows, "
                "regexp_replace(left(s.query, 160), '\\s+', ' ', 'g') "
                "FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
                f"WHERE d.datname IN ({self._db_list()}) AND s.toplevel AND s.query NOT LIKE '/* hookd-bench */%'")
            c["stmts"] = {r[0]: (int(r[1]), float(r[2]), int(r[3]), r[4]) for r in rows if len(r) >= 5}
        return c

    # -- /proc
    def _sample(self, first=False):
        if not self.postmaster:
            return
        skip = {self.psql.pid} | self.skip
        for pid in _children(self.postmaster):
            st = _stat(pid)
            if not st:
                continue
            with self.lock:
                if pid in self.seen:
                    self.seen[pid][2] = st[1]
                else:
                    self.seen[pid] = [_kind(pid, self.dbs, skip), st[1] if first else 0.0, st[1]]

    def _postmaster_cpu(self):
        st = _stat(self.postmaster) if self.postmaster else None
        return (st[1], st[2]) if st else (0.0, 0.0)

    def _loop(self):
        while not self.stop_flag.wait(self.interval):
            try:
                self._sample()
            except Exception:  # a vanished process between listing and reading: next turn
                pass

    def start(self):
        self.t0 = time.monotonic()
        self.c0 = self._counters()
        self.pm0 = self._postmaster_cpu()
        self._sample(first=True)
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()
        return self

    def add_db(self, name: str):
        self.dbs.add(name)

    def stop(self, deliveries: int, active_seconds: float | None = None) -> dict:
        """Closes the window. `active_seconds`: the part of it in which hookd was busy (for
        "cores busy"; default the whole window)."""
        self.stop_flag.set()
        if self.thread:
            self.thread.join(5)
        c1 = self._counters()
        secs = time.monotonic() - self.t0
        wal = int(self.psql.query(f"SELECT pg_wal_lsn_diff('{c1['lsn']}', '{self.c0['lsn']}')")[0][0].split(".")[0])
        per = (lambda v, k=1: round(v * k / deliveries, 4) if deliveries else None)
        out = {"seconds": round(secs, 2), "deliveries": deliveries, "walBytes": wal,
               "walBytesPerDelivery": per(wal) if deliveries else None,
               "transactions": c1["xacts"] - self.c0["xacts"],
               "transactionsPerDelivery": per(c1["xacts"] - self.c0["xacts"]),
               "rowsWrittenPerDelivery": per(sum(c1[k] - self.c0[k] for k in ("inserted", "updated", "deleted"))),
               "rowsInserted": c1["inserted"] - self.c0["inserted"], "rowsUpdated": c1["updated"] - self.c0["updated"],
               "rowsDeleted": c1["deleted"] - self.c0["deleted"]}
        if self.postmaster:
            self._sample()
            by, alive_delta, exited_base, exited_sampled = {}, 0.0, 0.0, 0.0
            with self.lock:
                items = list(self.seen.items())
            pm1 = self._postmaster_cpu()
            for pid, (kind, base, last) in items:
                st = _stat(pid)
                if st and st[0] == self.postmaster:  # still alive: exact
                    d = st[1] - base
                    alive_delta += d if kind not in ("meter",) else 0.0
                else:  # exited: its whole life is in the postmaster's cutime; sampled part known
                    d = last - base
                    exited_base += base
                    exited_sampled += d if kind != "meter" else 0.0
                by[kind] = by.get(kind, 0.0) + max(0.0, d)
            meter = by.pop("meter", 0.0)
            pm_self = pm1[0] - self.pm0[0]
            # Exact: children reaped in the window (minus what they had used before it) + live ones + postmaster.
            exited = max(0.0, (pm1[1] - self.pm0[1]) - exited_base)
            total = pm_self + alive_delta + exited
            if pm_self > 0:
                by["postmaster"] = pm_self
            backends = by.get("backend", 0.0)
            out.update({
                "pgCpuSeconds": round(total, 3), "pgBackendCpuSeconds": round(backends, 3),
                "pgCpuByKind": {k: round(v, 3) for k, v in sorted(by.items())},
                "pgCpuExitedUnattributed": round(max(0.0, exited - exited_sampled), 3),
                "pgCpuSecondsPer1000": per(total, 1000),
                "pgBackendCpuSecondsPer1000": per(backends, 1000),
                "pgCoresBusy": round(total / (active_seconds or secs), 3) if (active_seconds or secs) > 0 else None,
                "pgBackendsSeen": sum(1 for k, _, _ in (v for _, v in items) if k == "backend"),
            })
            if out["pgCpuSecondsPer1000"]:
                out["deliveriesPerPgCoreSecond"] = round(1000 / out["pgCpuSecondsPer1000"])
        else:
            out["pgCpu"] = "unavailable: the PostgreSQL server's processes are not on this machine"
        if self.statements:
            s0, s1 = self.c0.get("stmts", {}), c1.get("stmts", {})
            diffs = []
            for qid, (calls, ms, rows, text) in s1.items():
                b = s0.get(qid, (0, 0.0, 0, text))
                if calls - b[0] > 0:
                    diffs.append((calls - b[0], ms - b[1], rows - b[2], text))
            calls = sum(d[0] for d in diffs)
            out["statements"] = calls
            out["statementsPerDelivery"] = per(calls)
            diffs.sort(key=lambda d: -d[1])
            out["topStatements"] = [{"calls": d[0], "perDelivery": per(d[0]), "execMs": round(d[1], 1),
                                     "rows": d[2], "query": d[3]} for d in diffs[:8]]
        else:
            out["statements"] = None
            out["statementsNote"] = "pg_stat_statements not loaded: transactions only (a lower bound of round trips)"
        return out


class PgServer:
    """The server-wide side: the meter session, the postmaster, pg_stat_statements."""

    def __init__(self, admin_url: str):
        self.url = admin_url
        self.psql = Psql(admin_url)
        self.postmaster = find_postmaster(self.psql)
        self.statements = False
        try:
            libs = self.psql.query("SHOW shared_preload_libraries")[0][0]
            if "pg_stat_statements" in libs:
                self.psql.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
                self.statements = True
        except (PsqlError, IndexError):
            self.statements = False
        self.pinned = None

    def meter(self, dbs, skip=()) -> PgMeter:
        m = PgMeter(self.psql, dbs, self.postmaster, self.statements)
        m.skip.update(skip)
        return m.start()

    def pin(self, cpus: set) -> int:
        if not self.postmaster:
            raise RuntimeError("cannot pin PostgreSQL: its processes are not on this machine")
        self.pinned = cpus
        return pin_server(self.postmaster, cpus)

    def unpin(self):
        if self.pinned and self.postmaster:
            pin_server(self.postmaster, set(range(os.cpu_count() or 1)))
            self.pinned = None

    def settings(self) -> dict:
        out = {}
        try:
            for name, val in self.psql.query(
                    "SELECT name, setting FROM pg_settings WHERE name IN ('server_version', 'fsync', "
                    "'synchronous_commit', 'wal_level', 'shared_buffers', 'full_page_writes', 'max_wal_size', "
                    "'checkpoint_timeout', 'autovacuum', 'shared_preload_libraries', 'wal_compression')"):
                out[name] = val
        except PsqlError:
            pass
        if self.postmaster:
            try:
                out["affinity"] = sorted(os.sched_getaffinity(self.postmaster))
            except OSError:
                pass
        return out

    def close(self):
        self.unpin()
        self.psql.close()


def start_cluster(root: str, pg_dir: str, statements: bool = True, cpus: set | None = None) -> str:
    """scripts/pg.sh start (pg_stat_statements preloaded when asked, pinned to `cpus` when given);
    returns the admin URL."""
    env = dict(os.environ)
    if statements:
        env["PG_EXTRA_CONF"] = "-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=top"
    pre = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    r = subprocess.run(["bash", os.path.join(root, "scripts", "pg.sh"), "start", pg_dir], capture_output=True,
                       text=True, timeout=120, env=env, preexec_fn=pre)
    if r.returncode != 0:
        raise RuntimeError(f"cannot start PostgreSQL: {r.stderr.strip()}")
    return r.stdout.strip()


def stop_cluster(root: str, pg_dir: str):
    subprocess.run(["bash", os.path.join(root, "scripts", "pg.sh"), "stop", pg_dir], capture_output=True, timeout=120)


def parse_cpus(spec: str) -> set:
    """'0' or '0-1' or '0,2' → {0, ...}"""
    out = set()
    for part in spec.split(","):
        if "-" in part:
            a, b = part.split("-")
            out.update(range(int(a), int(b) + 1))
        elif part.strip():
            out.add(int(part))
    return out
