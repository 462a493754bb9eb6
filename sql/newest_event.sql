-- name: newest_event
-- The newest plausible created_at of any event type in :event_types (text[]): at or before :plausible
-- (timestamptz: the database clock plus slack), so one row dated 2099 cannot make a window look
-- complete. One backward index probe per event type with the (event_type, created_at) index.
-- One row: newest_at (timestamptz, null when no row qualifies).
select max(newest.created_at) as newest_at
  from unnest(cast(:event_types as text[])) as wanted(event_type)
  cross join lateral (
        select created_at
          from {table}
         where event_type = wanted.event_type
           and created_at <= :plausible
         order by created_at desc
         limit 1
       ) as newest
