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
--   measure  for a duration (planner_duration_ms of quotes, duration_ms of job and inline outcomes):
--            floor(ln(duration) / ln(1.001)) when it is a JSON number (below 1 us counts as 1 us,
--            above 10 x :max_duration_ms as that), -1000000 when it is negative, -1000001 when it is
--            missing or JSON null, -1000002 when it is not a number; for attempts: 1 with a
--            booking_id, 0 without; null for cache hits;
--   cache    'true' | 'false' | '?' (cache_hit of quotes), null otherwise;
--   reason   reasonCode (quotes, cache hits, attempts; '(none)' when absent), null otherwise;
--   status   the JSON type of `error` (quotes; null when absent), or 'true' | 'false' | '?' for
--            `success` (attempts);
-- with n (how many events) and first_at / last_at (their first and last timestamps).
-- Cost: bench/run.py measures this query; each event costs a handful of JSON lookups, so the common
-- flag states are one containment test each, and durations are clamped as numeric before they
-- become float8 (1e400 is valid JSON but not a float8).
select created_at >= :middle as second_half,
       event_type,
       case when context @> '{"flags": {"FEATURE_AUTO_ASSIGN_RETRY_POLICY_V2": true, "PLANNER_CACHE_ENABLED": true}}' then 'tt'
            when context @> '{"flags": {"FEATURE_AUTO_ASSIGN_RETRY_POLICY_V2": false, "PLANNER_CACHE_ENABLED": false}}' then 'ff'
            else case context #> '{flags,FEATURE_AUTO_ASSIGN_RETRY_POLICY_V2}' when 'true' then 't' when 'false' then 'f' else '?' end
              || case context #> '{flags,PLANNER_CACHE_ENABLED}' when 'true' then 't' when 'false' then 'f' else '?' end
              || case when context ? 'flags' then '' else '-' end
       end as flags,
       case event_type
           when 'auto_assign.attempt' then case when booking_id is null then 0 else 1 end
           when 'auto_assign.planner_cache_hit' then null
           else case coalesce(jsonb_typeof(context -> (case event_type when 'auto_assign.quote' then 'planner_duration_ms' else 'duration_ms' end)), 'null')
               when 'number' then
                   case when (context -> (case event_type when 'auto_assign.quote' then 'planner_duration_ms' else 'duration_ms' end))::numeric < 0 then -1000000
                   else floor(ln(least(greatest((context -> (case event_type when 'auto_assign.quote' then 'planner_duration_ms' else 'duration_ms' end))::numeric, 0.001),
                                       (:max_duration_ms * 10)::numeric)::float8) / ln(1.001))::int
                   end
               when 'null' then -1000001
               else -1000002
           end
       end as measure,
       case event_type
           when 'auto_assign.quote' then case jsonb_typeof(context -> 'cache_hit') when 'boolean' then context ->> 'cache_hit' else '?' end
       end as cache,
       case when event_type in ('auto_assign.quote', 'auto_assign.planner_cache_hit', 'auto_assign.attempt')
            then coalesce(context ->> 'reasonCode', '(none)') end as reason,
       case event_type
           when 'auto_assign.quote' then jsonb_typeof(context -> 'error')
           when 'auto_assign.attempt' then case jsonb_typeof(context -> 'success') when 'boolean' then context ->> 'success' else '?' end
       end as status,
       count(*) as n,
       min(created_at) as first_at,
       max(created_at) as last_at
  from observability_events
 where created_at >= :start
   and created_at < :end
   and event_type = any(:event_types)
 group by 1, 2, 3, 4, 5, 6, 7
