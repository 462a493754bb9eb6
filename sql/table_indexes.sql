-- name: table_indexes
-- The indexes of the telemetry table :table (text): to advise the (event_type, created_at) index when
-- it is missing, and to know whether a unique index on id alone rules out duplicate ids.
-- One row per index: indexdef (its CREATE INDEX statement), unique_id (true only for a valid, ready,
-- unique index on the id column alone, with no predicate and no expression: a partial index, or one
-- left INVALID by a failed CREATE INDEX CONCURRENTLY, rules out nothing).
select pg_get_indexdef(i.indexrelid) as indexdef,
       i.indisunique and i.indisvalid and i.indisready and i.indpred is null and i.indexprs is null
       and i.indnkeyatts = 1 and (
           select a.attname from pg_attribute as a where a.attrelid = i.indrelid and a.attnum = i.indkey[0]
       ) = 'id' as unique_id
  from pg_index as i
 where i.indrelid = to_regclass(:table)
