-- Entity counts are warehouse-wide: recomputed from every stored mention after each load, and
-- entities no article mentions any more are dropped.
UPDATE entities
SET mention_count = c.mention_count, article_count = c.article_count
FROM (
    SELECT entity_id, count(*) AS mention_count, count(DISTINCT article_id) AS article_count
    FROM entity_mentions
    GROUP BY entity_id
) AS c
WHERE entities.entity_id = c.entity_id
  AND (entities.mention_count <> c.mention_count OR entities.article_count <> c.article_count);

DELETE FROM entities WHERE entity_id NOT IN (SELECT entity_id FROM entity_mentions);
