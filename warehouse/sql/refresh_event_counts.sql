-- Event counts are warehouse-wide, as in GDELT: recomputed after each load for the events the run
-- touched (temp table touched_events: the events of its mentions, before and after), so a second
-- article reporting a stored event raises its num_articles while a run's cost does not grow with
-- the warehouse. Events no mention points to any more are dropped.
UPDATE events
SET num_mentions = c.num_mentions, num_articles = c.num_articles, num_sources = c.num_sources,
    avg_tone = c.avg_tone, first_seen_at = c.first_seen_at
FROM (
    SELECT m.event_id,
           count(*) AS num_mentions,
           count(DISTINCT m.article_id) AS num_articles,
           count(DISTINCT coalesce(a.source_name, a.domain)) AS num_sources,
           avg(a.tone) AS avg_tone,
           min(a.ingested_at) AS first_seen_at
    FROM event_mentions AS m
    JOIN articles AS a USING (article_id)
    WHERE m.event_id IN (SELECT event_id FROM touched_events)
    GROUP BY m.event_id
) AS c
WHERE events.event_id = c.event_id
  AND (events.num_mentions IS DISTINCT FROM c.num_mentions OR events.num_articles IS DISTINCT FROM c.num_articles
       OR events.num_sources IS DISTINCT FROM c.num_sources OR events.avg_tone IS DISTINCT FROM c.avg_tone
       OR events.first_seen_at IS DISTINCT FROM c.first_seen_at);

DELETE FROM events
WHERE event_id IN (SELECT event_id FROM touched_events)
  AND event_id NOT IN (SELECT event_id FROM event_mentions WHERE event_id IN (SELECT event_id FROM touched_events));
