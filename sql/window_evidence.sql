-- name: window_evidence
-- Everything the goals measure in one window, aggregated in one parallel pass over its events.
-- Parameters: :start, :end (timestamptz, the half-open window [start, end)); :middle (timestamptz,
--   splits it in two halves for the placebo check; pass :end for one whole window); :event_types
--   (text[], the event types of the telemetry contract); :max_duration_ms (float8, longer durations
--   are absurd).
-- One row per combination that occurs of:
--   second_half (created_at >= :middle) and event_type;
--   flags    two letters, one per flag (FEATURE_AUTO_ASSIGN_RETRY_POLICY_V2, PLANNER_CACHE_ENABLED):
--            t (JSON true), f (JSON false), ? (anything else), then '-' when the event has no flags;
--   kind     number | missing | not_a_number (the measured duration), booking | no_booking
--            (attempts), null for events without a measure;
--   bucket   floor(ln(duration) / ln(1.001)) when kind = number (below 1 us counts as 1 us, above
--            10 x :max_duration_ms as that), -1000000 for a negative duration;
--   cache    t | f | ? (cache_hit of quotes), null otherwise;
--   reason   reasonCode (quotes, cache hits, attempts; '(none)' when absent), null otherwise;
--   status   the JSON type of `error` (quotes; null when absent), or t | f | ? for `success` (attempts);
-- with n (how many events) and first_at / last_at (their first and last timestamps).
-- Every JSON lookup appears once, and the aggregation is a plain GROUP BY so PostgreSQL runs it in
-- parallel workers; sprintgate.evidence turns the codes into verdict inputs and exclusion counts.
select created_at >= :middle as second_half,
       event_type,
       case context #> '{flags,FEATURE_AUTO_ASSIGN_RETRY_POLICY_V2}' when 'true' then 't' when 'false' then 'f' else '?' end
         || case context #> '{flags,PLANNER_CACHE_ENABLED}' when 'true' then 't' when 'false' then 'f' else '?' end
         || case when context ? 'flags' then '' else '-' end as flags,
       case
           when event_type = 'auto_assign.attempt' then case when booking_id is null then 'no_booking' else 'booking' end
           when event_type = 'auto_assign.planner_cache_hit' then null
           else coalesce(jsonb_typeof(context -> (case when event_type = 'auto_assign.quote' then 'planner_duration_ms' else 'duration_ms' end)), 'missing')
       end as kind,
       case
           when event_type in ('auto_assign.attempt', 'auto_assign.planner_cache_hit') then null
           when jsonb_typeof(context -> (case when event_type = 'auto_assign.quote' then 'planner_duration_ms' else 'duration_ms' end)) = 'number' then
               case
                   when (context ->> (case when event_type = 'auto_assign.quote' then 'planner_duration_ms' else 'duration_ms' end))::float8 < 0 then -1000000
                   else floor(ln(least(greatest((context ->> (case when event_type = 'auto_assign.quote' then 'planner_duration_ms' else 'duration_ms' end))::float8, 0.001),
                                       :max_duration_ms * 10)) / ln(1.001))::int
               end
       end as bucket,
       case when event_type = 'auto_assign.quote' then
           case context -> 'cache_hit' when 'true' then 't' when 'false' then 'f' else '?' end
       end as cache,
       case when event_type in ('auto_assign.quote', 'auto_assign.planner_cache_hit', 'auto_assign.attempt')
            then coalesce(context ->> 'reasonCode', '(none)') end as reason,
       case
           when event_type = 'auto_assign.quote' then jsonb_typeof(context -> 'error')
           when event_type = 'auto_assign.attempt' then case context -> 'success' when 'true' then 't' when 'false' then 'f' else '?' end
       end as status,
       count(*) as n,
       min(created_at) as first_at,
       max(created_at) as last_at
  from observability_events
 where created_at >= :start
   and created_at < :end
   and event_type = any(:event_types)
 group by 1, 2, 3, 4, 5, 6, 7, 8
