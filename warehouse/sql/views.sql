-- Ready-made views for analysts (recreated on every load; documented in the README).
-- Negated ("did not expel") and hypothetical ("could expel") events are left out of the counts.
-- The event views hold the events with a mention at or above the coder's view threshold
-- ({view_threshold}, the learned coder's view_threshold, lexicons/event_coder.json.gz); the tables keep every event.
-- Codes get their names from cameo_codes. Each view's columns and their meaning are declared in
-- schemas/views.py (a test checks the two agree).

CREATE OR REPLACE VIEW confident_events AS
SELECT e.*, c.event_name, c.event_root_name, c.quad_class_name
FROM events AS e
LEFT JOIN cameo_codes AS c ON c.event_code = e.event_code
WHERE e.event_id IN (SELECT event_id FROM event_mentions WHERE confidence >= {view_threshold});

CREATE OR REPLACE VIEW daily_event_counts AS
SELECT event_date, event_root_code, event_root_name, quad_class, quad_class_name,
       count(*) AS events, sum(num_mentions) AS mentions, avg(goldstein_scale) AS mean_goldstein
FROM confident_events
WHERE NOT is_negated AND NOT is_hypothetical
GROUP BY ALL;

CREATE OR REPLACE VIEW actor_network AS
SELECT coalesce(actor1_code, actor1_name) AS actor1, actor1_country_code,
       coalesce(actor2_code, actor2_name) AS actor2, actor2_country_code,
       count(*) AS events, sum(num_mentions) AS mentions, avg(goldstein_scale) AS mean_goldstein,
       min(event_date) AS first_event_date, max(event_date) AS last_event_date
FROM confident_events
WHERE NOT is_negated AND NOT is_hypothetical AND coalesce(actor1_code, actor1_name) IS NOT NULL
  AND coalesce(actor2_code, actor2_name) IS NOT NULL
GROUP BY ALL;

CREATE OR REPLACE VIEW entity_summary AS
WITH seen AS (
    SELECT m.entity_id, min(coalesce(a.published_at, a.ingested_at)) AS first_seen_at,
           max(coalesce(a.published_at, a.ingested_at)) AS last_seen_at
    FROM (SELECT DISTINCT entity_id, article_id FROM entity_mentions) AS m
    JOIN articles AS a USING (article_id)
    GROUP BY m.entity_id
), named AS (
    SELECT entity_id, list(DISTINCT alias ORDER BY alias) AS aliases FROM entity_aliases GROUP BY entity_id
)
SELECT e.entity_id, e.name, e.label, e.actor_code, e.country_code,
       e.article_count AS articles, e.mention_count AS mentions, s.first_seen_at, s.last_seen_at,
       coalesce(n.aliases, []::VARCHAR[]) AS aliases
FROM entities AS e
LEFT JOIN seen AS s USING (entity_id)
LEFT JOIN named AS n USING (entity_id);

CREATE OR REPLACE VIEW entity_co_mentions AS
WITH pairs AS (
    SELECT DISTINCT article_id, entity_id FROM entity_mentions
)
SELECT a.entity_id AS entity1_id, ea.name AS entity1_name, ea.label AS entity1_label,
       ea.country_code AS entity1_country_code,
       b.entity_id AS entity2_id, eb.name AS entity2_name, eb.label AS entity2_label,
       eb.country_code AS entity2_country_code,
       count(*) AS articles
FROM pairs AS a
JOIN pairs AS b ON a.article_id = b.article_id AND a.entity_id < b.entity_id
JOIN entities AS ea ON ea.entity_id = a.entity_id
JOIN entities AS eb ON eb.entity_id = b.entity_id
GROUP BY ALL;

CREATE OR REPLACE VIEW event_timeline AS
SELECT e.event_id, e.event_date, e.event_date_precision,
       e.actor1_name, e.actor1_code, e.actor1_country_code, e.actor1_entity_id,
       e.event_code, c.event_name, c.quad_class_name, e.plover_event,
       e.actor2_name, e.actor2_code, e.actor2_country_code, e.actor2_entity_id,
       e.goldstein_scale, e.is_negated, e.is_hypothetical, e.action_geo_name, e.action_geo_country_code,
       m.actor1_text, m.action_text, m.actor2_text, m.mention_id, m.article_id, a.title AS article_title, a.url, m.field, m.sentence_index,
       substring(CASE m.field WHEN 'title' THEN a.title ELSE a.text END,
                 m.sentence_start_char + 1, m.sentence_end_char - m.sentence_start_char) AS evidence_sentence,
       m.confidence
FROM events AS e
JOIN event_mentions AS m USING (event_id)
JOIN articles AS a USING (article_id)
LEFT JOIN cameo_codes AS c ON c.event_code = e.event_code
WHERE m.confidence >= {view_threshold};
