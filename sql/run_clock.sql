-- name: run_clock
-- The snapshot every query of the run reads (one REPEATABLE READ, READ ONLY transaction) and the
-- database clock. No parameters. One row: snapshot (pg_current_snapshot() as text), checked_at (now(),
-- the transaction's start), server_version (text).
select pg_current_snapshot()::text as snapshot,
       now() as checked_at,
       current_setting('server_version') as server_version
