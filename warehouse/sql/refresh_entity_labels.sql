-- An entity's label is the label most of its mentions carry (transforms.entities.entity_labels):
-- a nationality (NORP) of a country entity, whose actor code is its country's, votes GPE; ties go
-- to the first label alphabetically. Recomputed for the entities in the temp table
-- relabel_entities only (those a run's mentions vote otherwise, or whose mentions changed).
UPDATE entities
SET label = v.label
FROM (
    SELECT entity_id, arg_min(label, (-votes, label)) AS label
    FROM (
        SELECT m.entity_id,
               CASE WHEN m.label = 'NORP' AND e.actor_code = e.country_code AND length(e.actor_code) = 3
                    THEN 'GPE' ELSE m.label END AS label,
               count(*) AS votes
        FROM entity_mentions AS m
        JOIN entities AS e USING (entity_id)
        WHERE m.entity_id IN (SELECT entity_id FROM relabel_entities)
        GROUP BY ALL
    )
    GROUP BY entity_id
) AS v
WHERE entities.entity_id = v.entity_id AND entities.label IS DISTINCT FROM v.label;
