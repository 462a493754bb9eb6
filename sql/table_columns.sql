-- name: table_columns
-- The columns of the telemetry table :table (text, a possibly schema-qualified name), checked against
-- the contract before any row is read. One row per column: name, type (as format_type spells it,
-- without a length or precision: timestamp(3) with time zone is a timestamp with time zone). A column
-- whose collation is nondeterministic (case- or accent-insensitive) says so in its type: the gate
-- compares event types byte for byte, and such a collation would merge variants into clean rows.
-- No row at all: the table does not exist (or the role cannot see it).
select a.attname as name,
       format_type(a.atttypid, null)
       || case when c.collisdeterministic is false
               then ' collate ' || quote_ident(c.collname) || ' (nondeterministic)' else '' end as type
  from pg_attribute as a
  left join pg_collation as c on c.oid = a.attcollation
 where a.attrelid = to_regclass(:table)
   and a.attnum > 0
   and not a.attisdropped
 order by a.attnum
