"""Benchmark: what hostile inputs, kills, a slow feed and heavy SQL do to newsflow.

    .venv/bin/python benchmarks/faults.py [--quick] [--only NAME[,NAME...]] [--kills 6] [--seed 7]
                                          [--large] [--slow-cap 900] [--timeout 900] [--max-mib 6144]

Every input is generated here, into one temporary folder that is removed at the end (nothing large
is stored in the repo). Each trial is a whole command, measured as a subprocess from process start
to exit, with the peak RSS of its process tree (the run, its temporary Prefect server, spaCy
workers: summed, sampled every 0.1 s).

1. baseline: a run over the good records alone (seeds/*.txt and a few small JSON Lines articles
   with distinct texts); the other figures are also printed as ratios against it.
2. hostile inputs, each in a folder beside the same good records, each a `newsflow run` into a fresh
   warehouse: a text over 1,000,000 characters (a 1.2 MB .txt article, a 50 MB CSV cell, a 200 MB
   JSON Lines line, a 1.2 MB item in an RSS .xml); a 3 KB JSON line nested 1,500 deep; a file name
   that is not UTF-8 (b'caf\\xe9.txt'); a record published at 9999-12-31T23:59:59-12:00; a 3.4 KB
   .xml.gz of gzip inside gzip that expands to 2 GiB; 12,000 records with one text and different
   URLs; with --large, 1,100 broken lines among 100,000. Measured: exit code, seconds, peak MiB,
   good records lost (good records given - good articles in the warehouse afterwards), where the
   hostile record went (articles or quarantine, with the reason), processes of the run alive 10 s
   after it exited.
3. kills: --kills runs over the good records, each sent SIGKILL (even trials) or SIGTERM (odd
   trials) at a random moment (--seed) between 1 s and the baseline's duration. The signal goes to
   the `newsflow run` process only, as the OOM killer or a `kill` would. Processes of its tree still
   alive 10 s after the signal are orphans (found by pid and by an environment tag every process of
   the run inherits). Then the same run again: it must complete with every good article, no
   duplicate article_id, and no staging files or temporary files left.
4. slow feed: a server on 127.0.0.1 that sends a small RSS feed one byte every 5 s; `newsflow run`
   over it and the good records: seconds until the run exits (capped at --slow-cap), and whether the
   URL is quarantined with a reason.
5. SQL endpoint: `newsflow web` on the baseline's warehouse; `select repeat('x',100000) s from
   range(10000)` (1 GB of result) once and 3 at a time, then 45 concurrent slow queries, while
   /healthz is polled every 0.2 s: status codes, the server's peak MiB, /healthz's worst latency.

Goals: good records lost 0; orphans 0; peak memory under 1.5 GB for each hostile input (and, for
reference, for the SQL endpoint); SIGTERM exits within seconds (<= 10 s); after a kill the rerun is
consistent and leaves nothing behind. A run that passes --max-mib is killed (to spare the machine)
and reported as over it; a run past --timeout is killed and reported as a timeout.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
NEWSFLOW = str(Path(sys.executable).parent / "newsflow")
TAG_VAR = "NEWSFLOW_FAULTS_TAG"
SESSION = f"faults-{os.getpid()}-{time.time_ns()}"
GOAL_MIB = 1.5e9 / 2**20  # 1.5 GB
ORPHAN_WAIT = 10.0
TERM_GOAL = 10.0
GOOD_URL = "https://good.example/"
HOSTILE = "/hostile/"

# Small good articles with distinct texts (written for this benchmark).
GOOD_ARTICLES = [
    ("Chile's central bank holds rates as copper prices climb",
     "The Central Bank of Chile kept its benchmark interest rate at 5.5 percent on Tuesday, citing rising "
     "copper prices and a stronger peso. Governor Rosanna Costa said inflation in Santiago had slowed for a "
     "third month. Analysts at Banco Santander had expected a cut of a quarter point. The finance ministry "
     "welcomed the decision and said the budget for next year would be presented to Congress in September."),
    ("Flooding forces thousands from their homes in Bavaria",
     "Heavy rain flooded towns along the Danube in Bavaria on Sunday, and about 3,000 people left their homes. "
     "Chancellor Olaf Scholz visited Regensburg and promised federal aid. The German Weather Service warned "
     "that more rain would fall in the Alps overnight. Firefighters from Austria joined rescue teams near "
     "Passau, where the river rose above nine metres for the first time since 2013."),
    ("Kenya and Ethiopia sign agreement on cross-border electricity",
     "Kenya and Ethiopia signed an agreement in Nairobi on Thursday to double the power sold across their "
     "border. President William Ruto said the deal would lower electricity prices for factories in Mombasa. "
     "Ethiopian officials said the Grand Ethiopian Renaissance Dam would supply most of the power. The World "
     "Bank, which financed the transmission line, praised both governments for the accord."),
    ("Japanese carmaker recalls 200,000 vehicles over brake fault",
     "Toyota said on Friday it would recall about 200,000 vehicles in Japan and the United States because of "
     "a fault in the brake booster. The company said no accidents had been reported. Shares of Toyota fell "
     "1.2 percent in Tokyo. The National Highway Traffic Safety Administration in Washington said owners "
     "would be notified by mail in July and repairs would be free of charge."),
]
FAR_FUTURE = ("Harbour authority opens new container terminal in Rotterdam",
              "The Port of Rotterdam opened a new container terminal on Monday, adding room for two million "
              "containers a year. Dutch Prime Minister Mark Rutte cut the ribbon and said the port would "
              "remain the largest in Europe. Shipping company Maersk will be the first tenant.")
NON_UTF8 = ("Café owners in Lyon protest against new terrace rules",
            "Café owners in Lyon marched to the city hall on Wednesday to protest against new rules that limit "
            "terraces in the old town. Mayor Grégory Doucet said the rules would protect residents from noise. "
            "The restaurant union UMIH said hundreds of jobs were at risk.")

_SUBJECTS = ["The finance ministry", "Officials in Nairobi", "The central bank of Chile", "Aid workers in Gaza",
             "Negotiators in Geneva", "The mayor of Lyon", "Farmers near Kharkiv", "Police in Manila",
             "The European Commission", "Doctors in Lagos"]
_VERBS = ["said on Tuesday that", "announced that", "warned that", "confirmed on Friday that",
          "denied reports that", "told reporters that"]
_OBJECTS = ["talks would resume next week", "prices rose by {n} percent", "{n} people had been evacuated",
            "the border would reopen on Monday", "a new budget of {n} million dollars was approved",
            "the strike had ended after {n} days", "exports fell for the {n}th month"]

_WATCHED: list["Watched"] = []
_counter = itertools.count()


def _prose(chars: int, seed: int, paragraphs: bool = True) -> str:
    """News-like sentences, at least `chars` characters; paragraphs of eight sentences."""
    rng = random.Random(seed)
    parts: list[str] = []
    size = 0
    while size < chars:
        sentence = (f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} "
                    f"{rng.choice(_OBJECTS).format(n=rng.randint(2, 900))}.")
        parts.append(sentence)
        size += len(sentence) + 1
        if paragraphs and len(parts) % 8 == 0:
            parts.append("\n")
    return " ".join(parts).replace(" \n ", "\n\n")


def _mib(n: float) -> str:
    return f"{n:,.0f}"


# ---------------------------------------------------------------- processes


class Watched:
    """A command in its own session, its process tree sampled every 0.1 s (peak RSS summed, every
    pid seen), every process it starts tagged through the environment."""

    def __init__(self, cmd: list[str], folder: Path, max_mib: float, env: dict | None = None):
        self.tag = f"{SESSION}-{next(_counter)}"
        self.tmp = folder / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.max_mib = max_mib
        self.peak = 0
        self.window = 0
        self.capped = False
        self.seen: dict[int, tuple[float, str]] = {}
        self._log = (folder / "run.log").open("ab")
        full_env = {**os.environ, "TMPDIR": str(self.tmp), TAG_VAR: self.tag, **(env or {})}
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=full_env, cwd=folder,
                                     start_new_session=True)
        self.ended: float | None = None
        _WATCHED.append(self)
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        try:
            root = psutil.Process(self.proc.pid)
        except psutil.Error:
            return
        while self.proc.poll() is None:
            total = 0
            try:
                tree = [root, *root.children(recursive=True)]
            except psutil.Error:
                tree = []
            for process in tree:
                try:
                    total += process.memory_info().rss
                    if process.pid not in self.seen:
                        self.seen[process.pid] = (process.create_time(), " ".join(process.cmdline())[:90])
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self.window = max(self.window, total)
            if self.max_mib and total > self.max_mib * 2**20 and not self.capped:
                self.capped = True
                self.kill_tree()
            time.sleep(0.1)

    @property
    def peak_mib(self) -> float:
        return self.peak / 2**20

    def wait(self, timeout: float | None) -> int | None:
        """The exit code, or None when it was still running after `timeout` s (then it is killed)."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill_tree()
            self.proc.wait()
            rc = None
        self.ended = time.perf_counter()
        self._thread.join(2)
        return rc

    @property
    def seconds(self) -> float:
        return (self.ended or time.perf_counter()) - self.started

    def alive(self) -> list[psutil.Process]:
        """Processes of this command still running: pids seen in its tree (same start time), and any
        process carrying its environment tag (which catches children started between samples)."""
        found: dict[int, psutil.Process] = {}
        for pid, (created, _) in self.seen.items():
            try:
                process = psutil.Process(pid)
                if abs(process.create_time() - created) < 0.01 and process.status() != psutil.STATUS_ZOMBIE:
                    found[pid] = process
            except psutil.Error:
                pass
        for process in psutil.process_iter():
            if process.pid in found:
                continue
            try:
                if process.environ().get(TAG_VAR) == self.tag and process.status() != psutil.STATUS_ZOMBIE:
                    found[process.pid] = process
            except psutil.Error:
                pass
        return list(found.values())

    def orphans(self, since: float) -> list[str]:
        """Processes of this command alive ORPHAN_WAIT s after `since` (perf_counter)."""
        if not self.alive():
            return []
        time.sleep(max(0.0, since + ORPHAN_WAIT - time.perf_counter()))
        described = []
        for process in self.alive():
            try:
                described.append(f"{process.pid} {' '.join(process.cmdline())[:80]}")
            except psutil.Error:
                pass
        return described

    def kill_tree(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        for process in self.alive():
            try:
                process.kill()
            except psutil.Error:
                pass

    def close(self) -> None:
        self.kill_tree()
        self._log.close()


def _cleanup() -> None:
    for watched in _WATCHED:
        try:
            if watched.proc.poll() is None:
                watched.proc.kill()
            watched.close()
        except Exception:  # noqa: BLE001 - cleanup is best effort
            pass
    for process in psutil.process_iter():
        try:
            if process.environ().get(TAG_VAR, "").startswith(SESSION):
                process.kill()
        except psutil.Error:
            pass


def _interrupted(signum, frame):  # noqa: ARG001
    raise KeyboardInterrupt(f"signal {signum}")


# ---------------------------------------------------------------- warehouse facts


def _facts(warehouse: Path, marker: str) -> dict | None:
    """Counts in the warehouse after a run (None when there is no readable warehouse)."""
    like = marker.replace("'", "''")
    query = f"""select
      (select count(*) from articles) as articles,
      (select count(*) from articles where source_uri like '%/good/%' or url like '{GOOD_URL}%') as good,
      (select count(*) - count(distinct article_id) from articles) as duplicate_ids,
      (select count(*) from articles where duplicate_of is not null) as flagged_duplicates,
      (select count(*) from articles where source_uri like '%{like}%') as hostile_articles,
      (select min(cast(published_at as varchar)) from articles where source_uri like '%{like}%') as hostile_published_at,
      (select count(*) from quarantine where source_uri like '%{like}%') as hostile_quarantined,
      (select string_agg(distinct left(reason, 160), ' | ') from quarantine where source_uri like '%{like}%') as reasons"""
    if not (warehouse / "catalog.sqlite").exists():
        return None
    done = subprocess.run([NEWSFLOW, "sql", query, "--format", "json", "--warehouse", str(warehouse)],
                          capture_output=True, text=True, errors="replace", timeout=300)
    if done.returncode != 0:
        print(f"    (newsflow sql failed: {(done.stderr or done.stdout).strip()[-300:]})", flush=True)
        return None
    start = done.stdout.find("[")
    rows = json.loads(done.stdout[start:]) if start >= 0 else []
    return rows[0] if rows else None


def _leftovers(warehouse: Path, tmp: Path) -> list[str]:
    """Staging files in the warehouse and anything in the run's temporary folder."""
    found = []
    staging = warehouse / "staging"
    if staging.exists():
        files = [p for p in staging.rglob("*") if p.is_file()]
        found.append(f"staging/ ({len(files)} files)")
    if tmp.exists():
        found += [f"tmp/{p.name}" for p in sorted(tmp.iterdir())]
    return found


# ---------------------------------------------------------------- inputs


def _good(folder: Path) -> int:
    """The good records in `folder`/good: seeds/*.txt and GOOD_ARTICLES as JSON Lines; their count."""
    good = folder / "good"
    good.mkdir(parents=True, exist_ok=True)
    seeds = sorted(SEEDS.glob("*.txt"))
    for path in seeds:
        shutil.copy(path, good / path.name)
    with (good / "good.jsonl").open("w", encoding="utf-8") as out:
        for i, (title, text) in enumerate(GOOD_ARTICLES):
            out.write(json.dumps({"title": title, "text": text, "url": f"{GOOD_URL}{i}",
                                  "published_at": f"2024-05-0{i + 1}T10:00:00Z"}) + "\n")
    return len(seeds) + len(GOOD_ARTICLES)


def _write_long_line(path: Path, total: int, head: str, tail: str, escape) -> None:
    """`head` + `total` characters of prose (a 1 MiB block written again and again) + `tail`."""
    block = escape(_prose(1 << 20, 1, paragraphs=False) + " ")
    with path.open("w", encoding="utf-8") as out:
        out.write(head)
        written = 0
        while written < total:
            piece = block[: total - written]
            out.write(piece)
            written += len(piece)
        out.write(tail)


def make_long_txt(hostile: Path) -> str:
    text = _prose(1_200_000, 2)
    (hostile / "long-article.txt").write_text("A very long article\n" + text + "\n", encoding="utf-8")
    return f"1.2 MB .txt, {len(text):,} characters"


def make_csv_cell(hostile: Path) -> str:
    size = 50 * 10**6
    _write_long_line(hostile / "big-cell.csv", size, 'title,url,text\nA long cell,https://hostile.example/csv,"',
                     '"\n', lambda s: s.replace('"', '""'))
    return "50 MB CSV cell"


def make_jsonl_line(hostile: Path) -> str:
    size = 200 * 10**6
    _write_long_line(hostile / "big-line.jsonl", size,
                     '{"title": "A long line", "url": "https://hostile.example/jsonl", "text": "', '"}\n',
                     lambda s: json.dumps(s)[1:-1])
    return "200 MB JSON line"


def make_long_feed_item(hostile: Path) -> str:
    text = _prose(1_200_000, 3)
    from xml.sax.saxutils import escape
    (hostile / "long-item.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel><title>Long feed</title>'
        "<link>https://hostile.example/</link><description>one long item</description>"
        "<item><title>A very long feed item</title><link>https://hostile.example/long-item</link>"
        "<pubDate>Tue, 07 May 2024 10:00:00 GMT</pubDate>"
        f"<description>{escape(text)}</description></item></channel></rss>\n", encoding="utf-8")
    return f"RSS item of {len(text):,} characters"


def make_deep_jsonl(hostile: Path) -> str:
    depth = 1500
    line = ('{"title": "Deeply nested record", "url": "https://hostile.example/deep", "text": "Officials said '
            'the record below is nested.", "meta": ' + "[" * depth + "]" * depth + "}")
    (hostile / "deep.jsonl").write_text(line + "\n", encoding="utf-8")
    return f"{len(line):,} B line, {depth} deep"


def make_non_utf8_name(hostile: Path) -> str:
    name = os.fsencode(hostile) + b"/caf\xe9.txt"
    with open(name, "wb") as out:
        out.write((NON_UTF8[0] + "\n" + NON_UTF8[1] + "\n").encode("utf-8"))
    return "file name b'caf\\xe9.txt'"


def make_far_future(hostile: Path) -> str:
    (hostile / "far-future.jsonl").write_text(json.dumps(
        {"title": FAR_FUTURE[0], "text": FAR_FUTURE[1], "url": "https://hostile.example/far-future",
         "published_at": "9999-12-31T23:59:59-12:00"}) + "\n", encoding="utf-8")
    return "published_at 9999-12-31T23:59:59-12:00"


def make_gzip_bomb(hostile: Path) -> str:
    expanded = 2 << 30
    inner = zlib.compressobj(9, zlib.DEFLATED, 31)
    outer = zlib.compressobj(9, zlib.DEFLATED, 31)
    head = b'<?xml version="1.0"?><rss version="2.0"><channel><title>bomb</title>'
    path = hostile / "bomb.xml.gz"
    with path.open("wb") as out:
        out.write(outer.compress(inner.compress(head)))
        block = b" " * (1 << 20)
        for _ in range((expanded - len(head)) >> 20):
            out.write(outer.compress(inner.compress(block)))
        out.write(outer.compress(inner.flush()))
        out.write(outer.flush())
    return f"{path.stat().st_size:,} B .xml.gz -> gzip -> 2 GiB"


def make_same_text(hostile: Path) -> str:
    text = _prose(2000, 4)
    with (hostile / "same-text.jsonl").open("w", encoding="utf-8") as out:
        for i in range(12_000):
            out.write(json.dumps({"title": "One story, many addresses", "text": text,
                                  "url": f"https://dup.example/{i}"}) + "\n")
    return "12,000 records, 1 text"


def make_broken_lines(hostile: Path) -> tuple[str, int]:
    rng = random.Random(5)
    broken = set(rng.sample(range(100_000), 1_100))
    with (hostile / "broken.jsonl").open("w", encoding="utf-8") as out:
        for i in range(100_000):
            if i in broken:
                out.write('{"title": "Broken line %d", "text": "cut off\n' % i)
            else:
                out.write(json.dumps({"title": f"Report {i}", "text": f"Report {i}. " + _prose(300, 100 + i, False),
                                      "url": f"{GOOD_URL}bulk/{i}"}) + "\n")
    return "1,100 broken of 100,000 lines", 100_000 - len(broken)


@dataclass
class Case:
    name: str
    make: object
    heavy: bool = False
    large: bool = False


CASES = [
    Case("long_txt", make_long_txt),
    Case("csv_cell_50mb", make_csv_cell, heavy=True),
    Case("jsonl_line_200mb", make_jsonl_line, heavy=True),
    Case("long_feed_item", make_long_feed_item),
    Case("deep_jsonl", make_deep_jsonl),
    Case("non_utf8_name", make_non_utf8_name),
    Case("far_future_date", make_far_future),
    Case("gzip_bomb", make_gzip_bomb),
    Case("same_text_12k", make_same_text, heavy=True),
    Case("broken_lines", make_broken_lines, large=True),
]


# ---------------------------------------------------------------- results


@dataclass
class Row:
    fault: str
    injected: str
    outcome: str
    lost: int | None
    orphans: int | None
    peak: float | None
    seconds: float | None
    kind: str  # baseline, hostile, kill, slow, sql
    notes: list[str] = field(default_factory=list)
    met: dict[str, bool] = field(default_factory=dict)


def _report(row: Row, baseline: Row | None) -> None:
    ratio = ""
    if baseline and baseline.peak and row.peak is not None and row is not baseline:
        ratio = f" ({row.peak / baseline.peak:.1f}x baseline)"
    seconds = "-" if row.seconds is None else f"{row.seconds:.1f}"
    print(f"  {row.fault}: {row.outcome}; good lost {row.lost if row.lost is not None else '-'}, orphans "
          f"{row.orphans if row.orphans is not None else '-'}, peak {_mib(row.peak) if row.peak is not None else '-'} "
          f"MiB{ratio}, {seconds} s", flush=True)
    for note in row.notes:
        print(f"    {note}", flush=True)


def _run_case(name: str, folder: Path, inputs: list[str], given: int, marker: str, injected: str,
              args, kind: str = "hostile", timeout: float | None = None, env: dict | None = None) -> Row:
    warehouse = folder / "warehouse"
    watched = Watched([NEWSFLOW, "run", *inputs, "--warehouse", str(warehouse)], folder, args.max_mib, env)
    rc = watched.wait(timeout or args.timeout)
    orphans = watched.orphans(watched.ended) if rc is not None and not watched.capped else []
    watched.close()
    facts = _facts(warehouse, marker) or {}
    found = int(facts.get("good") or 0)
    status = ("killed over --max-mib" if watched.capped else f"timeout after {watched.seconds:.0f} s, killed"
              if rc is None else f"exit {rc}")
    where = []
    if facts.get("hostile_quarantined"):
        where.append(f"quarantined x{facts['hostile_quarantined']}")
    if facts.get("hostile_articles"):
        where.append(f"article x{facts['hostile_articles']}")
    if kind == "hostile" and not where:
        where.append("not in warehouse")
    if facts.get("flagged_duplicates"):
        where.append(f"{facts['flagged_duplicates']} flagged duplicate")
    row = Row(name, injected, ", ".join([status, *where]), given - found, len(orphans), watched.peak_mib,
              watched.seconds, kind)
    if facts.get("reasons"):
        row.notes.append(f"quarantine reason: {facts['reasons'][:300]}")
    if facts.get("hostile_published_at"):
        row.notes.append(f"stored published_at: {facts['hostile_published_at']}")
    row.notes += [f"orphan: {o}" for o in orphans]
    if rc not in (0, None) or watched.capped:
        tail = (folder / "run.log").read_bytes()[-600:].decode("utf-8", "replace").strip().splitlines()[-4:]
        row.notes += [f"log: {line[:200]}" for line in tail]
    row.met = {"lost": row.lost == 0, "orphans": not orphans}
    if kind == "hostile":
        row.met["memory"] = not watched.capped and watched.peak_mib < GOAL_MIB
    return row


def kill_trials(work: Path, args, duration: float) -> list[Row]:
    rng = random.Random(args.seed)
    rows = []
    for trial in range(args.kills):
        sig = signal.SIGKILL if trial % 2 == 0 else signal.SIGTERM
        label = "kill -9" if sig == signal.SIGKILL else "SIGTERM"
        at = rng.uniform(1.0, max(1.5, duration))
        folder = work / f"kill-{trial}"
        given = _good(folder / "input")
        warehouse = folder / "warehouse"
        cmd = [NEWSFLOW, "run", str(folder / "input"), "--warehouse", str(warehouse)]
        watched = Watched(cmd, folder, args.max_mib)
        fault = f"{label} at {at:.1f} s"
        try:
            rc = watched.proc.wait(max(0.0, at - (time.perf_counter() - watched.started)))
            watched.wait(None)
            rows.append(Row(fault, "no: the run ended first", f"exit {rc} before the signal", None, None,
                            watched.peak_mib, watched.seconds, "kill"))
            watched.close()
            continue
        except subprocess.TimeoutExpired:
            pass
        sent = time.perf_counter()
        watched.proc.send_signal(sig)
        exit_seconds: float | None
        try:
            watched.proc.wait(60)
            exit_seconds = time.perf_counter() - sent
        except subprocess.TimeoutExpired:
            exit_seconds = None
            watched.proc.kill()
        watched.wait(None)
        orphans = watched.orphans(sent)
        after_kill = _leftovers(warehouse, watched.tmp)
        watched.close()
        again = Watched(cmd, folder, args.max_mib)
        rerun_rc = again.wait(args.timeout)
        again_orphans = again.orphans(again.ended) if rerun_rc is not None else []
        again.close()
        facts = _facts(warehouse, HOSTILE) or {}
        found = int(facts.get("good") or 0)
        after_rerun = _leftovers(warehouse, again.tmp)
        consistent = (rerun_rc == 0 and int(facts.get("articles") or -1) == given
                      and facts.get("duplicate_ids") == 0 and not after_rerun)
        outcome = (f"{'exited' if exit_seconds is not None else 'still running after 60 s'}; rerun exit {rerun_rc}, "
                   f"{found}/{given} articles, {facts.get('duplicate_ids', '?')} duplicate ids, "
                   f"{len(after_rerun)} leftovers")
        row = Row(fault, "yes", outcome, given - found, len(orphans) + len(again_orphans), watched.peak_mib,
                  exit_seconds, "kill")
        kinds = sorted({command.split(" -m ")[-1].split()[0] if " -m " in command else Path(command.split()[0]).name
                        for _, command in watched.seen.values() if command})
        row.notes.append(f"{len(watched.seen)} processes seen in the killed run's tree: {', '.join(kinds)}")
        row.notes.append(f"left 10 s after the signal: {', '.join(after_kill) or 'nothing'}; "
                         f"after the rerun: {', '.join(after_rerun) or 'nothing'}")
        row.notes += [f"orphan: {o}" for o in orphans + again_orphans]
        row.met = {"lost": row.lost == 0, "orphans": row.orphans == 0, "consistent": consistent}
        if sig == signal.SIGTERM:
            row.met["term"] = exit_seconds is not None and exit_seconds <= TERM_GOAL
        rows.append(row)
        _report(row, None)
    return rows


class _SlowFeedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    body = ('<?xml version="1.0"?><rss version="2.0"><channel><title>Slow</title><item><title>Slow item</title>'
            '<link>https://slow.example/1</link><description>It arrives one byte at a time.</description>'
            '</item></channel></rss>').encode()

    def do_GET(self):  # noqa: N802 - the http.server API
        self.server.hits += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.flush()
        for byte in self.body:
            if self.server.stop.wait(self.server.interval):
                return
            try:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
            except OSError:
                return

    def log_message(self, *args):
        pass


def slow_feed(work: Path, args) -> Row:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowFeedHandler)
    server.daemon_threads = True
    server.stop = threading.Event()
    server.hits = 0
    server.interval = 5.0
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/feed.xml"
    try:
        folder = work / "slow_feed"
        given = _good(folder / "input")
        row = _run_case("slow feed (1 byte / 5 s)", folder, [str(folder / "input"), url], given,
                        f"127.0.0.1:{server.server_address[1]}", f"yes, {len(_SlowFeedHandler.body)} B at 1 B/5 s",
                        args, kind="slow", timeout=args.slow_cap)
        row.notes.append(f"the server was asked {server.hits} time(s)")
        # Met when the run ends by itself (the exit code is shown beside it), the URL quarantined.
        row.met["slow"] = row.outcome.startswith("exit ") and "quarantined" in row.outcome and row.lost == 0
        return row
    finally:
        server.stop.set()
        server.shutdown()
        server.server_close()


def _free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, timeout: float) -> tuple[str, int, float, str]:
    """Status (or error), bytes read, seconds, the start of an error's body."""
    started = time.perf_counter()
    size = 0
    said = ""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            while chunk := answer.read(1 << 20):
                size += len(chunk)
            status = str(answer.status)
    except urllib.error.HTTPError as err:
        status = str(err.code)
        body = err.read() or b""
        size, said = len(body), body[:160].decode("utf-8", "replace")
    except (TimeoutError, OSError) as err:
        reason = getattr(err, "reason", err)
        status = "timeout" if "timed out" in str(reason) else type(reason).__name__
    return status, size, time.perf_counter() - started, said


def sql_endpoint(work: Path, warehouse: Path, args) -> list[Row]:
    folder = work / "sql"
    folder.mkdir()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = Watched([NEWSFLOW, "web", "--port", str(port), "--warehouse", str(warehouse)], folder, args.max_mib)
    deadline = time.perf_counter() + 120
    while time.perf_counter() < deadline and server.proc.poll() is None:
        if _get(f"{base}/healthz", 2)[0] == "200":
            break
        time.sleep(0.5)
    else:
        server.close()
        return [Row("SQL endpoint", "no: the server did not start", f"exit {server.proc.poll()}", None, None,
                    server.peak_mib, None, "sql")]
    latencies: list[float] = []
    failures: list[str] = []
    stop = threading.Event()

    def poll_health():
        while not stop.is_set():
            status, _, seconds, _ = _get(f"{base}/healthz", 60)
            latencies.append(seconds)
            if status != "200":
                failures.append(status)
            stop.wait(0.2)

    big = "select repeat('x',100000) s from range(10000)"
    slow = "select sum(a.range * b.range) from range(100000) a cross join range(100000) b"
    phases = [("SQL: 1 GB result x1", [big]), ("SQL: 1 GB result x3 at once", [big] * 3),
              ("SQL: 45 slow queries at once", [slow] * 45)]
    rows = []
    health = threading.Thread(target=poll_health, daemon=True)
    health.start()
    try:
        for label, queries in phases:
            server.window = 0
            seen = len(latencies)
            started = time.perf_counter()
            with ThreadPoolExecutor(len(queries)) as pool:
                answers = list(pool.map(lambda q: _get(f"{base}/api/sql?{urllib.parse.urlencode({'sql': q})}", 300),
                                        queries))
            seconds = time.perf_counter() - started
            time.sleep(0.5)
            codes: dict[str, int] = {}
            said: dict[str, str] = {}
            for status, _, _, body in answers:
                codes[status] = codes.get(status, 0) + 1
                if body:
                    said.setdefault(status, body)
            worst = max(latencies[seen:], default=float("nan"))
            outcome = (", ".join(f"{code} x{n}" for code, n in sorted(codes.items()))
                       + f"; /healthz worst {worst:.2f} s" + (", server killed over --max-mib" if server.capped else "")
                       + (f", server exited {server.proc.poll()}" if server.proc.poll() is not None else ""))
            row = Row(label, "yes", outcome, None, None, server.window / 2**20, seconds, "sql")
            row.notes.append(f"largest answer {max(a[1] for a in answers):,} B; slowest {max(a[2] for a in answers):.1f} s")
            row.notes += [f"{status}: {body}" for status, body in sorted(said.items())]
            rows.append(row)
            _report(row, None)
            if server.proc.poll() is not None:
                break
    finally:
        stop.set()
        health.join(65)
    sent = time.perf_counter()
    server.proc.send_signal(signal.SIGTERM)
    server.wait(30)
    orphans = server.orphans(sent)
    server.close()
    worst = max(latencies, default=float("nan"))
    summary = Row("SQL endpoint, whole trial", "yes",
                  f"/healthz worst {worst:.2f} s, {len(failures)} failed of {len(latencies)}", None, len(orphans),
                  server.peak_mib, server.seconds, "sql")
    summary.notes += [f"orphan: {o}" for o in orphans]
    summary.met = {"orphans": not orphans, "sql_memory": not server.capped and server.peak_mib < GOAL_MIB}
    rows.append(summary)
    return rows


# ---------------------------------------------------------------- main


def _table(rows: list[Row], baseline: Row | None) -> str:
    head = ["fault", "injected", "outcome", "good lost", "orphans", "peak MiB", "x base", "seconds"]
    lines = []
    for r in rows:
        ratio = (f"{r.peak / baseline.peak:.1f}" if baseline and baseline.peak and r.peak is not None
                 and r.kind != "sql" else "-")
        lines.append([r.fault, r.injected, r.outcome, "-" if r.lost is None else str(r.lost),
                      "-" if r.orphans is None else str(r.orphans), "-" if r.peak is None else _mib(r.peak), ratio,
                      "-" if r.seconds is None else f"{r.seconds:.1f}"])
    widths = [max(len(head[i]), *(len(line[i]) for line in lines)) for i in range(len(head))]
    fmt = lambda cells: " | ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([fmt(head), "-+-".join("-" * w for w in widths), *map(fmt, lines)])


def _goals(rows: list[Row]) -> list[str]:
    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    out = []
    lost = sum(r.lost or 0 for r in rows)
    out.append(f"good records lost: {lost} in all (goal 0): {verdict(lost == 0)}")
    orphans = sum(r.orphans or 0 for r in rows)
    out.append(f"orphan processes 10 s after exit or signal: {orphans} in all (goal 0): {verdict(orphans == 0)}")
    hostile = [r for r in rows if r.kind == "hostile"]
    if hostile:
        over = [f"{r.fault} {_mib(r.peak)}" for r in hostile if not r.met.get("memory")]
        out.append(f"peak memory per hostile input under 1.5 GB ({_mib(GOAL_MIB)} MiB): "
                   f"{len(hostile) - len(over)}/{len(hostile)} under"
                   + (f"; over: {', '.join(over)} MiB" if over else "") + f": {verdict(not over)}")
    kills = [r for r in rows if r.kind == "kill" and "consistent" in r.met]
    if kills:
        bad = [r.fault for r in kills if not r.met["consistent"]]
        out.append(f"after a kill, the rerun completes with every article, no duplicate id, nothing left behind: "
                   f"{len(kills) - len(bad)}/{len(kills)}" + (f" (not: {', '.join(bad)})" if bad else "")
                   + f": {verdict(not bad)}")
    terms = [r for r in rows if "term" in r.met]
    if terms:
        worst = max((r.seconds for r in terms if r.seconds is not None), default=None)
        slow = [r for r in terms if not r.met["term"]]
        out.append(f"SIGTERM: exits within {TERM_GOAL:.0f} s: {len(terms) - len(slow)}/{len(terms)}, slowest "
                   f"{'> 60' if any(r.seconds is None for r in terms) else f'{worst:.1f}'} s: {verdict(not slow)}")
    for r in rows:
        if "slow" in r.met:
            out.append(f"slow feed: the run ends by itself, the URL quarantined, no good record lost ({r.outcome}, {r.seconds:.0f} s): "
                       f"{verdict(r.met['slow'])}")
        if "sql_memory" in r.met:
            out.append(f"SQL endpoint peak memory {_mib(r.peak)} MiB under the queries above (same 1.5 GB bound): "
                       f"{verdict(r.met['sql_memory'])}; {r.outcome}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    names = [c.name for c in CASES] + ["kills", "slow_feed", "sql"]
    parser.add_argument("--quick", action="store_true",
                        help="skip the 50 MB cell, the 200 MB line, the 12,000 copies and the slow feed")
    parser.add_argument("--only", help=f"comma-separated trials to run (the baseline always runs): {', '.join(names)}")
    parser.add_argument("--large", action="store_true", help="also 1,100 broken lines among 100,000")
    parser.add_argument("--kills", type=int, default=6, help="kill trials (default 6)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the kill moments")
    parser.add_argument("--slow-cap", type=float, default=900, help="seconds before the slow-feed run is killed")
    parser.add_argument("--timeout", type=float, default=900, help="seconds before any other run is killed")
    parser.add_argument("--max-mib", type=float, default=6144,
                        help="kill a process tree above this RSS (MiB), to spare the machine")
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else None
    if only and only - set(names):
        parser.error(f"unknown --only {', '.join(sorted(only - set(names)))}; choose from {', '.join(names)}")

    def wanted(name: str, heavy: bool = False, large: bool = False) -> bool:
        if only is not None:
            return name in only
        return not (heavy and args.quick) and not (large and not args.large)

    signal.signal(signal.SIGTERM, _interrupted)
    work = Path(tempfile.mkdtemp(prefix="newsflow-faults-"))
    rows: list[Row] = []
    try:
        print(f"newsflow faults benchmark in {work} (seed {args.seed})", flush=True)
        folder = work / "baseline"
        given = _good(folder / "input")
        print(f"baseline: {given} good records ...", flush=True)
        baseline = _run_case("baseline (good records only)", folder, [str(folder / "input")], given, HOSTILE,
                             "no", args, kind="baseline")
        rows.append(baseline)
        _report(baseline, None)
        for case in CASES:
            if not wanted(case.name, case.heavy, case.large):
                continue
            folder = work / case.name
            given = _good(folder / "input")
            hostile = folder / "input" / "hostile"
            hostile.mkdir()
            made = case.make(hostile)
            if isinstance(made, tuple):
                made, extra = made
                given += extra
            print(f"{case.name}: {made} ...", flush=True)
            row = _run_case(case.name, folder, [str(folder / "input")], given, HOSTILE, f"yes: {made}", args)
            rows.append(row)
            _report(row, baseline)
            shutil.rmtree(folder / "input", ignore_errors=True)
        if wanted("kills") and args.kills:
            print(f"kills: {args.kills} trials between 1 s and {baseline.seconds:.0f} s ...", flush=True)
            rows += kill_trials(work, args, baseline.seconds)
        if wanted("slow_feed", heavy=True):
            print(f"slow feed: capped at {args.slow_cap:.0f} s ...", flush=True)
            row = slow_feed(work, args)
            rows.append(row)
            _report(row, baseline)
        if wanted("sql"):
            print("SQL endpoint ...", flush=True)
            rows += sql_endpoint(work, work / "baseline" / "warehouse", args)
        print()
        print(_table(rows, baseline))
        print()
        print("goals:")
        for line in _goals(rows):
            print(f"  {line}")
    except KeyboardInterrupt:
        print("interrupted: stopping every process started and removing the temporary folder", file=sys.stderr)
        raise SystemExit(130)
    finally:
        _cleanup()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
