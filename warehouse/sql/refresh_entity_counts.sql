-- Entity counts are warehouse-wide, recomputed after each load for the entities the run touched
-- (temp table touched_entities: the entities of its mentions, before and after), so a run's cost
-- does not grow with the warehouse. Entities no article mentions any more are dropped.
UPDATE entities
SET mention_count = c.mention_count, article_count = c.article_count
FROM (
    SELECT entity_id, count(*) AS mention_count, count(DISTINCT article_id) AS article_count
    FROM entity_mentions
    WHERE entity_id IN (SELECT entity_id FROM touched_entities)
    GROUP BY entity_id
) AS c
WHERE entities.entity_id = c.entity_id
  AND (entities.mention_count IS DISTINCT FROM c.mention_count
       OR entities.article_count IS DISTINCT FROM c.article_count);

DELETE FROM entities
WHERE entity_id IN (SELECT entity_id FROM touched_entities)
  AND entity_id NOT IN (SELECT entity_id FROM entity_mentions WHERE entity_id IN (SELECT entity_id FROM touched_entities));
