"""Full-text search over the articles: a SQLite FTS5 index beside the warehouse, ranked by BM25.

DuckLake tables take no full-text index (`create_fts_index` fails on them), so the index lives in
its own file, `<warehouse>/search.sqlite` (stdlib `sqlite3`, FTS5): titles and texts, with the
columns the filters need (published_at, source name, domain, feed). It is local to the warehouse
folder: with a Postgres catalog and S3 data, each machine that searches keeps its own index, built
from the lake and rebuildable at any time with `newsflow search --rebuild`.

The index records the lake snapshot it is current with. A run brings it up to date after its
commit from the lake's change feed (`ducklake_table_changes` of `articles` since that snapshot):
only the articles inserted, updated or deleted since are written, so the cost of a run's update
does not grow with the warehouse. When the index is missing, belongs to another lake, or the
snapshots since are gone (expired), it is rebuilt from the warehouse instead.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from warehouse.lake import CATALOG, _literal

SEARCH_FILE = "search.sqlite"
SCHEMA_VERSION = "1"
# BM25 weights of the indexed columns (title, text): a word in the title says more about what an
# article is about than the same word once in its body.
TITLE_WEIGHT, TEXT_WEIGHT = 5.0, 1.0
SNIPPET_TOKENS = 16
DEFAULT_LIMIT = 20
MAX_LIMIT = 1000
BATCH_ROWS = 10_000  # articles read from the lake and written to the index at a time
# The index's columns besides title and text (what results show and filters cut by).
COLUMNS = ("article_id", "url", "source_name", "domain", "feed_name", "published_at")
# Highlight markers in the index's answers: private-use characters that no article carries, turned
# into [brackets] for a terminal or <mark> for a page after the text is escaped.
_OPEN, _CLOSE = "\ue000", "\ue001"
# A query's pieces: a "quoted phrase" (an unclosed quote runs to the end of the query), else a run
# of other characters; either may start with `-` (leave out). Parentheses only separate.
_TOKEN = re.compile(r'(-?)"([^"]*)"?|([^\s"()]+)')
_WORD = re.compile(r"[^\W_]")  # a letter or digit: what the index's tokenizer keeps
# Function words dropped from a query that has other words ("missile attack on airbase" looks for
# missile, attack and airbase), as search engines do; they stay in "quoted phrases" and in a query
# of nothing else.
STOPWORDS = frozenset("""
    a an the and or but nor of on in at to for from by with without into onto over under about as
    is are was were be been being it its this that these those he she they we i you his her their
    our your not no do does did has have had will would can could should may might than then so
""".split())
NOTE_MOST = "no article holds every word; showing articles that hold most of them"
BUSY_TIMEOUT = 60.0  # seconds a writer waits for another (a run's update, a rebuild)


class SearchQueryError(ValueError):
    """The user's query has nothing to search for."""


class SearchIndexMissing(FileNotFoundError):
    """There is no search index yet (and it was not to be built here)."""


@dataclass(frozen=True)
class SearchHit:
    """One article matching a query, with its rank (1 = best) and BM25 score (higher = better)."""

    rank: int
    article_id: str
    score: float
    title: str  # with highlight markers (see `marked`)
    snippet: str  # a passage of the text with highlight markers
    url: str | None
    source: str | None  # the source name, else the domain, else the feed's title
    published_at: str | None  # ISO 8601, UTC

    words: int  # how many of the query's words (or OR groups) the article holds

    def marked(self, field: str, start: str = "[", end: str = "]") -> str:
        """`field` (title or snippet) as plain text, matched words between `start` and `end`."""
        return getattr(self, field).replace(_OPEN, start).replace(_CLOSE, end)

    def html(self, field: str) -> str:
        """`field` (title or snippet) as HTML: the text escaped, matched words in <mark>."""
        return html.escape(getattr(self, field), quote=False).replace(_OPEN, "<mark>").replace(_CLOSE, "</mark>")


@dataclass(frozen=True)
class Refresh:
    """What bringing the index up to date did: `action` is "current" (nothing to do), "updated"
    (the changes since its snapshot), "rebuilt" or "stale" (could not catch up: `reason`)."""

    action: str
    snapshot: int | None
    upserted: int = 0
    deleted: int = 0
    reason: str | None = None


@dataclass(frozen=True)
class Query:
    """A user's query as FTS5 expressions, every term quoted (FTS5 syntax in the input is searched
    as words, never run): `groups`, the words to look for, each one term or several joined by OR;
    `excluded`, the terms an article must not hold."""

    groups: tuple[str, ...]
    excluded: tuple[str, ...]

    def every_word(self) -> str:
        """Articles holding every group."""
        return self._without(" AND ".join(self.groups))

    def any_word(self) -> str:
        """Articles holding at least one group."""
        return self._without(" OR ".join(self.groups))

    def _without(self, expression: str) -> str:
        if not self.excluded:
            return expression
        return f"({expression}) NOT ({' OR '.join(self.excluded)})"


def parse_query(text: str) -> Query:
    """The user's query, read as search engines read one: every word must occur (in any form
    Porter stemming maps to the same stem), `a OR b` either of them, `-word` or `NOT word` not at
    all; "quoted words" occur together as a phrase (an unclosed quote runs to the end); `word*`
    matches as a prefix; `AND` and parentheses are allowed and change nothing; function words (on,
    the, of, ...) are dropped unless quoted or alone. Raises SearchQueryError when nothing is left
    to look for."""
    groups: list[list[str]] = []  # OR groups of FTS5 terms, in the query's order
    excluded: list[str] = []
    stopword_groups: set[int] = set()  # groups of one function word
    negate = join = False
    for dash, phrase, bare in _TOKEN.findall(text or ""):
        if bare in ("OR", "|"):
            join = bool(groups)
            continue
        if bare in ("AND", "&&", "+"):
            continue
        if bare == "NOT":
            negate = True
            continue
        if bare:
            dash = "-" if bare.startswith("-") else ""
            term = bare[1:] if dash else bare
            prefix = term.endswith("*")
            term = term.rstrip("*")
        else:
            term, prefix = phrase, False
        if not _WORD.search(term):
            continue
        quoted = '"' + term.replace('"', '""') + '"' + ("*" if prefix else "")
        if dash or negate:
            excluded.append(quoted)
        elif join:
            groups[-1].append(quoted)
            stopword_groups.discard(len(groups) - 1)
        else:
            if bare and not prefix and term.lower() in STOPWORDS:
                stopword_groups.add(len(groups))
            groups.append([quoted])
        negate = join = False
    if len(stopword_groups) < len(groups):
        groups = [g for i, g in enumerate(groups) if i not in stopword_groups]
    if not groups:
        raise SearchQueryError("the search needs at least one word (letters or digits) to look for"
                               + (", besides the words to leave out" if excluded else ""))
    return Query(tuple(g[0] if len(g) == 1 else f"({' OR '.join(g)})" for g in groups), tuple(excluded))


def fts_query(text: str) -> str:
    """The FTS5 query for articles holding every word of the user's query (see parse_query)."""
    return parse_query(text).every_word()


def _iso(value) -> str | None:
    """A published_at as sortable ISO text in UTC (`YYYY-MM-DDTHH:MM:SS+00:00`)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value.replace(microsecond=0).isoformat() + "+00:00"
    return str(value)


class SearchIndex:
    """The full-text index of a warehouse's articles (article_id), in one SQLite file."""

    def __init__(self, path: Path):
        self.path = Path(path)

    @classmethod
    def of(cls, warehouse) -> "SearchIndex":
        """The index of a `warehouse.store.Warehouse` (in its local folder)."""
        return cls(Path(warehouse.root) / SEARCH_FILE)

    def exists(self) -> bool:
        return self.path.is_file() and self._meta("schema_version") == SCHEMA_VERSION

    # --- the file --------------------------------------------------------------------------------

    def _connect(self, create: bool = False) -> sqlite3.Connection:
        if not create and not self.path.is_file():
            raise SearchIndexMissing(f"no search index at {self.path}; build it with `newsflow search --rebuild`")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: transactions are begun and committed explicitly below.
        con = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, isolation_level=None)
        # WAL: searches read the last committed index while a run or a rebuild writes.
        con.execute("PRAGMA journal_mode = WAL")
        return con

    def _meta(self, key: str) -> str | None:
        try:
            with _closing(sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True,
                                          timeout=BUSY_TIMEOUT)) as con:
                row = con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        except sqlite3.Error:
            return None
        return row[0] if row else None

    def snapshot(self) -> int | None:
        """The lake snapshot the index is current with (None: never built from a lake)."""
        value = self._meta("snapshot_id")
        return int(value) if value not in (None, "") else None

    @staticmethod
    def _create(con: sqlite3.Connection) -> None:
        con.executescript(f"""
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
            CREATE TABLE IF NOT EXISTS documents (
                rowid INTEGER PRIMARY KEY, article_id TEXT NOT NULL UNIQUE, url TEXT, source_name TEXT,
                domain TEXT, feed_name TEXT, published_at TEXT);
            CREATE INDEX IF NOT EXISTS documents_published_at ON documents (published_at);
            -- Porter stemming: "expel", "expels" and "expelled" match each other.
            CREATE VIRTUAL TABLE IF NOT EXISTS documents_fts USING fts5(
                title, text, tokenize = 'porter unicode61 remove_diacritics 2');
            INSERT OR REPLACE INTO meta VALUES ('schema_version', '{SCHEMA_VERSION}');
        """)

    def _writing(self) -> sqlite3.Connection:
        """A connection holding the index's write lock (BEGIN IMMEDIATE), the tables created; an
        index of another schema version, or a file that is not one, is started afresh."""
        try:
            con = self._connect(create=True)
            version = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() \
                if con.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone() else None
        except sqlite3.DatabaseError:  # not a database (damaged): it is only an index, start again
            self._remove()
            con, version = self._connect(create=True), None
        if version is not None and version[0] != SCHEMA_VERSION:
            con.close()
            self._remove()
            con = self._connect(create=True)
        self._create(con)
        con.execute("BEGIN IMMEDIATE")
        return con

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """`_writing()`'s connection, committed when the block ends, rolled back if it raises."""
        con = self._writing()
        try:
            yield con
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            con.close()

    def _remove(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(str(self.path) + suffix).unlink(missing_ok=True)

    # --- writing -----------------------------------------------------------------------------------

    def update(self, articles: pl.DataFrame | Iterable[pl.DataFrame], deleted: Iterable[str] = (),
               snapshot: int | None = None) -> tuple[int, int]:
        """Index `articles` (rows with article_id, title, text and the COLUMNS they have; an
        article already indexed is replaced) and remove the `deleted` article ids, in one
        transaction; with `snapshot`, record it as the lake snapshot the index is now current
        with. Returns (articles written, articles removed)."""
        with self._transaction() as con:
            written, removed = self._apply(con, articles, list(deleted))
            if snapshot is not None:
                self._set(con, snapshot=snapshot)
        return written, removed

    @staticmethod
    def _apply(con: sqlite3.Connection, articles, deleted: list[str]) -> tuple[int, int]:
        frames = [articles] if isinstance(articles, pl.DataFrame) else articles
        con.execute("CREATE TEMP TABLE IF NOT EXISTS batch (article_id TEXT PRIMARY KEY, title TEXT, text TEXT, "
                    + ", ".join(f"{c} TEXT" for c in COLUMNS[1:]) + ")")
        con.execute("CREATE TEMP TABLE IF NOT EXISTS gone (article_id TEXT PRIMARY KEY)")
        written = 0
        for frame in frames:
            rows = _rows(frame)
            con.execute("DELETE FROM temp.batch")
            con.executemany(f"INSERT OR REPLACE INTO temp.batch VALUES ({', '.join('?' * (len(COLUMNS) + 2))})", rows)
            _replace(con, "temp.batch")
            con.execute("INSERT INTO documents (article_id, url, source_name, domain, feed_name, published_at) "
                        "SELECT article_id, url, source_name, domain, feed_name, published_at FROM temp.batch")
            con.execute("INSERT INTO documents_fts (rowid, title, text) SELECT d.rowid, b.title, b.text "
                        "FROM temp.batch AS b JOIN documents AS d USING (article_id)")
            written += len(rows)
        con.execute("DELETE FROM temp.gone")
        con.executemany("INSERT OR IGNORE INTO temp.gone VALUES (?)", [(a,) for a in deleted])
        (removed,) = con.execute("SELECT count(*) FROM documents WHERE article_id IN (SELECT article_id FROM temp.gone)"
                                 ).fetchone()
        _replace(con, "temp.gone")
        return written, removed

    @staticmethod
    def _set(con: sqlite3.Connection, **values) -> None:
        con.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                        [(k, "" if v is None else str(v)) for k, v in values.items()])

    def rebuild(self, warehouse) -> Refresh:
        """Replace the whole index with the warehouse's articles at its current snapshot, in one
        transaction (searches see the old index until it commits)."""
        with warehouse.connect() as lake:
            snapshot = _current_snapshot(lake)
            with self._transaction() as con:
                con.execute("DELETE FROM documents")
                con.execute("DELETE FROM documents_fts")
                if _has_articles(lake):
                    written, _ = self._apply(con, _lake_batches(lake, _articles_sql(snapshot)), [])
                else:
                    written = 0
                self._set(con, snapshot_id=snapshot, lake=_lake_identity(warehouse),
                          snapshot_time=_snapshot_time(lake, snapshot), refreshed_by="rebuild")
        return Refresh("rebuilt", snapshot, upserted=written)

    def refresh(self, warehouse, rebuild: bool = True) -> Refresh:
        """Bring the index up to the warehouse's current snapshot: write only the articles changed
        since the index's snapshot (the lake's change feed); rebuild when that cannot be done (no
        index yet, another lake, the snapshots since expired) if `rebuild`, else return "stale"
        with the reason."""
        with warehouse.connect() as lake:
            current = _current_snapshot(lake)
            known = self.snapshot() if self.exists() else None
            if known == current and self._same_lake(lake, warehouse, known):
                return Refresh("current", current)
            reason = self._why_not_incremental(lake, warehouse, known, current)
            if reason is None:
                with self._transaction() as con:
                    # Read again under the write lock: another writer may have moved it meanwhile.
                    row = con.execute("SELECT value FROM meta WHERE key = 'snapshot_id'").fetchone()
                    known = int(row[0]) if row and row[0] else current
                    if known >= current:
                        return Refresh("current", known)  # nothing written: the commit is empty
                    upserts, deletes = 0, []
                    changes = _changes_sql(known + 1, current)
                    for batch in _lake_batches(lake, changes):
                        deletes += batch.filter(pl.col("change_type") == "delete")["article_id"].to_list()
                        written, _ = self._apply(con, batch.filter(pl.col("change_type") == "upsert"), [])
                        upserts += written
                    _, deleted = self._apply(con, [], deletes)
                    self._set(con, snapshot_id=current, snapshot_time=_snapshot_time(lake, current),
                              refreshed_by="update")
                return Refresh("updated", current, upserted=upserts, deleted=deleted)
        if not rebuild:
            return Refresh("stale", known, reason=reason)
        return self.rebuild(warehouse)

    def _same_lake(self, lake: duckdb.DuckDBPyConnection, warehouse, snapshot: int | None) -> bool:
        """Whether the index was built from this lake: same catalog, and its snapshot (when still
        kept) committed at the time the index recorded."""
        if snapshot is None or self._meta("lake") != _lake_identity(warehouse):
            return False
        recorded, actual = self._meta("snapshot_time"), _snapshot_time(lake, snapshot)
        return actual is None or recorded == actual

    def _why_not_incremental(self, lake, warehouse, known: int | None, current: int) -> str | None:
        """Why the index cannot catch up from the change feed (None: it can)."""
        if known is None:
            return "there is no search index yet" if not self.path.exists() else "the search index is incomplete"
        if not self._same_lake(lake, warehouse, known):
            return "the search index was built from another warehouse"
        if known > current:
            return f"the search index is ahead of the warehouse (snapshot {known} > {current})"
        (kept,) = lake.execute(f"SELECT count(*) FROM ducklake_snapshots({_literal(CATALOG)}) "
                               f"WHERE snapshot_id BETWEEN {known + 1} AND {current}").fetchone()
        if kept != current - known:
            return f"the warehouse no longer keeps the snapshots since {known} (expired)"
        if not _has_articles(lake):
            return "the warehouse has no articles table"
        return None

    # --- reading ----------------------------------------------------------------------------------

    def search(self, query: str, start: dt.date | None = None, end: dt.date | None = None,
               source: str | None = None, limit: int = DEFAULT_LIMIT) -> "SearchResults":
        """The articles matching `query` (see parse_query), best first by BM25 over titles
        (weighted TITLE_WEIGHT) and texts; when no article holds every word, the articles holding
        most of them (then by BM25), with a note saying so. `start`/`end`: published on those days
        (UTC, both included); `source`: the source name, domain or feed title (any case)."""
        parsed = parse_query(query)
        where, params = [], []
        if start is not None:
            where.append("d.published_at >= ?")
            params.append(start.isoformat())
        if end is not None:
            # "T24" sorts after every time of that day and before the next day (no date overflow).
            where.append("d.published_at < ?")
            params.append(end.isoformat() + "T24")
        if source:
            where.append("(lower(d.source_name) = lower(?) OR lower(d.domain) = lower(?) OR lower(d.feed_name) = lower(?))")
            params += [source.strip()] * 3
        limit = max(1, min(int(limit), MAX_LIMIT))
        with _closing(self._connect()) as con:
            hits = self._select(con, parsed, False, where, params, limit)
            if hits or len(parsed.groups) == 1:
                return SearchResults(hits, len(parsed.groups))
            most = self._select(con, parsed, True, where, params, limit)
        return SearchResults(most, len(parsed.groups), NOTE_MOST if most else None)

    @staticmethod
    def _select(con: sqlite3.Connection, parsed: Query, most: bool, where: list[str], params: list,
                limit: int) -> list[SearchHit]:
        """The articles holding every group of `parsed`, best first; with `most`, those holding
        any, the most groups first."""
        held, joined, held_params, order = str(len(parsed.groups)), "", [], ""
        if most:
            # How many groups each article holds: one MATCH per group, counted per row, once.
            per_group = " UNION ALL ".join(["SELECT rowid FROM documents_fts WHERE documents_fts MATCH ?"]
                                           * len(parsed.groups))
            held, held_params, order = "h.words", list(parsed.groups), "h.words DESC, "
            joined = f"JOIN (SELECT rowid, count(*) AS words FROM ({per_group}) GROUP BY rowid) AS h ON h.rowid = d.rowid "
        rows = con.execute(
            f"SELECT d.article_id, -bm25(documents_fts, {TITLE_WEIGHT}, {TEXT_WEIGHT}) AS score, "
            f"highlight(documents_fts, 0, '{_OPEN}', '{_CLOSE}'), "
            f"snippet(documents_fts, 1, '{_OPEN}', '{_CLOSE}', ' … ', {SNIPPET_TOKENS}), "
            f"d.url, coalesce(d.source_name, d.domain, d.feed_name), d.published_at, {held} "
            f"FROM documents_fts JOIN documents AS d ON d.rowid = documents_fts.rowid {joined}"
            f"WHERE {' AND '.join(['documents_fts MATCH ?', *where])} "
            f"ORDER BY {order}score DESC, d.article_id LIMIT {limit}",
            [*held_params, parsed.any_word() if most else parsed.every_word(), *params],
        ).fetchall()
        return [SearchHit(i + 1, a, float(f"{s:.6g}"), t, sn, u, so, p, w)
                for i, (a, s, t, sn, u, so, p, w) in enumerate(rows)]


@dataclass(frozen=True)
class SearchResults:
    """A search's hits, best first; `words`: how many words (or OR groups) the query looks for;
    `note`: set when no article holds them all and the hits are those holding most of them."""

    hits: list[SearchHit]
    words: int
    note: str | None = None


class _closing:
    """A sqlite3 connection closed on exit (its own context manager only ends a transaction)."""

    def __init__(self, con: sqlite3.Connection):
        self.con = con

    def __enter__(self) -> sqlite3.Connection:
        return self.con

    def __exit__(self, *exc) -> None:
        self.con.close()


def _replace(con: sqlite3.Connection, keys: str) -> None:
    """Remove the indexed articles whose article_id is in the table `keys` (to be re-added or gone)."""
    con.execute(f"DELETE FROM documents_fts WHERE rowid IN (SELECT d.rowid FROM documents AS d "
                f"WHERE d.article_id IN (SELECT article_id FROM {keys}))")
    con.execute(f"DELETE FROM documents WHERE article_id IN (SELECT article_id FROM {keys})")


def _rows(frame: pl.DataFrame) -> list[tuple]:
    """The index rows of `frame` (article_id, title, text, then COLUMNS), one per article (the last)."""
    if frame.is_empty():
        return []
    present = [c for c in ("title", "text", *COLUMNS[1:]) if c in frame.columns]
    frame = frame.unique("article_id", keep="last", maintain_order=True).select(
        "article_id",
        *[pl.col(c).fill_null("") if c in ("title", "text") else pl.col(c) for c in present],
        *[pl.lit(None, pl.String).alias(c) for c in ("title", "text", *COLUMNS[1:]) if c not in present],
    ).select("article_id", "title", "text", *COLUMNS[1:])
    published = [_iso(v) for v in frame["published_at"].to_list()]
    return [(*row[:-1], p) for row, p in zip(frame.iter_rows(), published)]


def _lake_identity(warehouse) -> str:
    """The catalog the index was built from, as configured ("" for the warehouse folder's own, so
    that a copied or moved folder keeps its index); never a password."""
    return warehouse.lake.catalog.split(" password=")[0]


def _current_snapshot(lake: duckdb.DuckDBPyConnection) -> int:
    return lake.execute(f"SELECT max(snapshot_id) FROM ducklake_snapshots({_literal(CATALOG)})").fetchone()[0]


def _snapshot_time(lake: duckdb.DuckDBPyConnection, snapshot: int) -> str | None:
    row = lake.execute(f"SELECT snapshot_time FROM ducklake_snapshots({_literal(CATALOG)}) WHERE snapshot_id = ?",
                       [snapshot]).fetchone()
    return None if row is None else _iso(row[0])


def _has_articles(lake: duckdb.DuckDBPyConnection) -> bool:
    """Whether the lake (at its current snapshot) has an articles table (not before the first run)."""
    (found,) = lake.execute(f"SELECT count(*) FROM duckdb_tables() WHERE database_name = {_literal(CATALOG)} "
                            f"AND schema_name = 'main' AND table_name = 'articles'").fetchone()
    return bool(found)


_SELECTED = "article_id, title, text, " + ", ".join(COLUMNS[1:])


def _articles_sql(snapshot: int) -> str:
    return f"SELECT {_SELECTED} FROM articles AT (VERSION => {int(snapshot)})"


def _changes_sql(start: int, end: int) -> str:
    """The articles changed in snapshots start..end: each as it is at `end` ("upsert"), or its
    key when it is gone by then ("delete")."""
    changed = (f"(SELECT DISTINCT article_id FROM ducklake_table_changes({_literal(CATALOG)}, 'main', 'articles', "
               f"{int(start)}, {int(end)}))")
    return (f"SELECT 'upsert' AS change_type, {_SELECTED} FROM articles AT (VERSION => {int(end)}) "
            f"WHERE article_id IN {changed} "
            f"UNION ALL SELECT 'delete', c.article_id, {', '.join(['NULL'] * (len(COLUMNS) + 1))} FROM {changed} AS c "
            f"WHERE c.article_id NOT IN (SELECT article_id FROM articles AT (VERSION => {int(end)}))")


def _lake_batches(lake: duckdb.DuckDBPyConnection, sql: str) -> Iterator[pl.DataFrame]:
    """The rows of `sql` in frames of at most BATCH_ROWS, so an index build's memory stays flat."""
    reader = lake.execute(sql).fetch_record_batch(BATCH_ROWS)
    for batch in reader:
        yield pl.from_arrow(batch)
