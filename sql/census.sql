-- name: census
-- What the table holds beside the rows the measures read, per event type in :types (text[], the
-- declared types and every other type found; null stands for rows without a type), by index probes:
-- rows in BASELINE [:baseline_start, :baseline_end) and POST [:post_start, :post_end) (counted only for
-- the types in :count_types, text[]: the undeclared ones; the evidence query counts the rest), rows dated
-- after :future (timestamptz: the database clock plus slack) or before :ancient (timestamptz), rows
-- without created_at. One row per type: event_type, baseline, post, future, ancient, undated.
select wanted.event_type,
       case when wanted.event_type = any(cast(:count_types as text[])) or wanted.event_type is null then (
           select count(*) from {table} as t
            where t.event_type is not distinct from wanted.event_type
              and t.created_at >= :baseline_start and t.created_at < :baseline_end) else 0 end as baseline,
       case when wanted.event_type = any(cast(:count_types as text[])) or wanted.event_type is null then (
           select count(*) from {table} as t
            where t.event_type is not distinct from wanted.event_type
              and t.created_at >= :post_start and t.created_at < :post_end) else 0 end as post,
       (select count(*) from {table} as t where t.event_type is not distinct from wanted.event_type and t.created_at > :future) as future,
       (select count(*) from {table} as t where t.event_type is not distinct from wanted.event_type and t.created_at < :ancient) as ancient,
       (select count(*) from {table} as t where t.event_type is not distinct from wanted.event_type and t.created_at is null) as undated
  from unnest(cast(:types as text[])) as wanted(event_type)
