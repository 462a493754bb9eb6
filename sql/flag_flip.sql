-- name: flag_flip
-- When the flags flipped: the first event with both FEATURE_AUTO_ASSIGN_RETRY_POLICY_V2 and
-- PLANNER_CACHE_ENABLED true in the search range [:start, :end) (timestamptz), over :event_types
-- (text[], the event types of the telemetry contract).
-- One row: first_on (timestamptz, null when no event has both flags on). With the
-- (event_type, created_at) index each event type is walked forward only until its first flagged event.
select min(first_flagged.created_at) as first_on
  from unnest(cast(:event_types as text[])) as wanted(event_type)
  cross join lateral (
        select created_at
          from observability_events
         where event_type = wanted.event_type
           and created_at >= :start
           and created_at < :end
           and context -> 'flags' ->> 'FEATURE_AUTO_ASSIGN_RETRY_POLICY_V2' = 'true'
           and context -> 'flags' ->> 'PLANNER_CACHE_ENABLED' = 'true'
         order by created_at
         limit 1
       ) as first_flagged
