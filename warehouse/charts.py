"""The page's charts: one fixed SQL per chart, over the warehouse cut by the page's filters (the
same cut as a filtered download, `warehouse.reader.filtered_query`), and one fixed SQL for the
rows behind one of its marks (a bar, a cell). The web service runs them through the reader's
read-only connection (`Reader.charts`, `Reader.chart_rows`); the browser test counts the marks
each chart draws against these counts.

Event charts leave negated and hypothetical events out (as the views do), and by default keep
only the confident events (those in the `confident_events` view); `events="all"` keeps every
coded event whatever its confidence.
"""

from __future__ import annotations

from dataclasses import dataclass

EVENT_SCOPES = ("confident", "all")
TOP_PAIRS = 20  # actor pairs in the matrix
TOP_ENTITIES = 15  # entities in the bar chart
TOP_SOURCES = 10  # sources in the articles chart
SOURCE = "coalesce(source_name, domain, feed_name, '(no source)')"  # as the source filter reads it
ACTOR1 = "coalesce(actor1_code, actor1_name)"  # as the actor_network view names actors
ACTOR2 = "coalesce(actor2_code, actor2_name)"


@dataclass(frozen=True)
class Chart:
    """A chart's counts (`counts`, over the relation `cut`) and the rows behind one mark (`rows`,
    over `cut`, with one ? parameter per name in `keys`, in order)."""

    name: str
    table: str  # the table `cut` is taken from (cut by the filters)
    title: str
    counts: str
    rows: str
    keys: tuple[str, ...]


CHARTS: dict[str, Chart] = {c.name: c for c in (
    Chart(
        "events_per_day", "events", "Events per day by quad class",
        counts="SELECT e.event_date AS day, e.quad_class, q.quad_class_name, count(*) AS events FROM cut AS e "
               "LEFT JOIN (SELECT DISTINCT quad_class, quad_class_name FROM cameo_codes) AS q USING (quad_class) "
               "WHERE e.event_date IS NOT NULL GROUP BY ALL ORDER BY day, e.quad_class",
        rows="SELECT e.event_date, e.actor1_name, e.actor1_code, e.event_code, c.event_name, e.actor2_name, "
             "e.actor2_code, e.goldstein_scale, e.num_mentions, e.event_id FROM cut AS e "
             "LEFT JOIN cameo_codes AS c ON c.event_code = e.event_code "
             "WHERE e.event_date = CAST(? AS DATE) AND e.quad_class = CAST(? AS INTEGER) "
             "ORDER BY e.num_mentions DESC, e.event_id",
        keys=("day", "quad_class"),
    ),
    Chart(
        "actor_pairs", "events", f"Top {TOP_PAIRS} actor pairs (source actor → target actor)",
        counts=f"SELECT {ACTOR1} AS actor1, {ACTOR2} AS actor2, count(*) AS events FROM cut "
               f"WHERE {ACTOR1} IS NOT NULL AND {ACTOR2} IS NOT NULL GROUP BY ALL "
               f"ORDER BY events DESC, actor1, actor2 LIMIT {TOP_PAIRS}",
        rows="SELECT e.event_date, e.actor1_name, e.actor1_code, e.event_code, c.event_name, e.actor2_name, "
             "e.actor2_code, e.goldstein_scale, e.num_mentions, e.event_id FROM cut AS e "
             "LEFT JOIN cameo_codes AS c ON c.event_code = e.event_code "
             f"WHERE {ACTOR1} = ? AND {ACTOR2} = ? ORDER BY e.event_date NULLS LAST, e.event_id",
        keys=("actor1", "actor2"),
    ),
    Chart(
        "top_entities", "entity_mentions", f"Top {TOP_ENTITIES} entities by mentions",
        counts="SELECT e.entity_id, e.name, e.label, count(*) AS mentions FROM cut AS m "
               "JOIN entities AS e USING (entity_id) WHERE ? IS NULL OR e.label = ? GROUP BY ALL "
               f"ORDER BY mentions DESC, e.name, e.entity_id LIMIT {TOP_ENTITIES}",
        rows=f"SELECT a.published_at, {SOURCE} AS source, a.title, m.field, m.text, m.sentence_index, "
             "m.article_id FROM cut AS m JOIN articles AS a USING (article_id) WHERE m.entity_id = ? "
             "ORDER BY a.published_at NULLS LAST, m.article_id, m.field DESC, m.start_char",
        keys=("entity_id",),
    ),
    Chart(
        "articles_per_source", "articles", f"Articles per source per day (the {TOP_SOURCES} largest sources)",
        counts=f"WITH counted AS (SELECT CAST(published_at AS DATE) AS day, {SOURCE} AS source, count(*) AS articles "
               "FROM cut WHERE published_at IS NOT NULL GROUP BY ALL), "
               "top AS (SELECT source FROM counted GROUP BY source ORDER BY sum(articles) DESC, source "
               f"LIMIT {TOP_SOURCES}) "
               "SELECT day, source, articles FROM counted WHERE source IN (SELECT source FROM top) "
               "ORDER BY day, source",
        rows=f"SELECT published_at, {SOURCE} AS source, title, url, word_count, article_id FROM cut "
             f"WHERE CAST(published_at AS DATE) = CAST(? AS DATE) AND {SOURCE} = ? "
             "ORDER BY published_at, article_id",
        keys=("day", "source"),
    ),
)}

# Labels of the entities mentioned in the cut, most mentioned first (the entity chart's choices).
ENTITY_LABELS = ("SELECT e.label, count(*) AS mentions FROM cut AS m JOIN entities AS e USING (entity_id) "
                 "GROUP BY ALL ORDER BY mentions DESC, e.label")
# What the charts leave out: events and articles of the cut without a date.
UNDATED = {
    "events": "SELECT count(*) AS total, count(*) FILTER (WHERE event_date IS NULL) AS undated FROM cut",
    "articles": "SELECT count(*) AS total, count(*) FILTER (WHERE published_at IS NULL) AS undated FROM cut",
}


def cut_relation(table: str, filtered: str, events: str) -> str:
    """The SQL of `cut`: the filtered table (`filtered`, from filtered_query); for events, without
    negated and hypothetical ones, and only the confident ones unless `events` is "all"."""
    if table != "events":
        return filtered
    confident = " AND event_id IN (SELECT event_id FROM confident_events)" if events == "confident" else ""
    return f"SELECT * FROM ({filtered}) AS f WHERE NOT is_negated AND NOT is_hypothetical{confident}"


def with_cut(cut: str, body: str) -> str:
    """`body` reading the relation `cut` (its own WITH clauses follow cut's)."""
    if body.startswith("WITH "):
        return f"WITH cut AS ({cut}), {body[len('WITH '):]}"
    return f"WITH cut AS ({cut}) {body}"
