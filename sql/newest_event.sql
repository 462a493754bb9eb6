-- name: newest_event
-- The newest created_at of any contract event type, and the database's clock: late data shows as a
-- newest event that is not yet past the end of the POST window.
-- Parameters: :event_types (text[], the event types of the telemetry contract).
-- One row: newest_at (timestamptz, null when the table is empty), checked_at (the server's now()).
-- One backward index probe per event type with the (event_type, created_at) index.
select max(newest.created_at) as newest_at,
       now() as checked_at
  from unnest(cast(:event_types as text[])) as wanted(event_type)
  cross join lateral (
        select created_at
          from observability_events
         where event_type = wanted.event_type
         order by created_at desc
         limit 1
       ) as newest
