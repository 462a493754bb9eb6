-- name: table_columns
-- The columns of the telemetry table :table (text, a possibly schema-qualified name), checked against
-- the contract before any row is read. One row per column: name, type (as format_type spells it).
-- No row at all: the table does not exist (or the role cannot see it).
select a.attname as name,
       format_type(a.atttypid, a.atttypmod) as type
  from pg_attribute as a
 where a.attrelid = to_regclass(:table)
   and a.attnum > 0
   and not a.attisdropped
 order by a.attnum
