-- name: table_indexes
-- The indexes on the telemetry table, to advise the (event_type, created_at) index when it is missing.
-- Parameters: :table (text, the table name). One row per index: indexdef (its CREATE INDEX statement).
select indexdef
  from pg_indexes
 where tablename = :table
