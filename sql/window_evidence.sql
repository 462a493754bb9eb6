-- name: window_evidence
-- Everything the goals measure in one window, aggregated in one pass over its events.
-- Parameters: :start, :end (timestamptz, the half-open window [start, end)); :event_types (text[],
--   the event types of the telemetry contract); :max_duration_ms (float8, longer durations are absurd).
-- One row per group of one grouping set, told apart by `section`:
--   flags       label = on | off | mixed | absent | malformed         (every event)
--   quality     label = ok | missing | not_a_number | negative | absurd | no_booking,
--               bucket = log bucket of the duration when label = ok    (events that carry a measure)
--   reason      label = true | false | malformed (cache_hit of quotes), detail = reasonCode
--               (quotes, cache hits and attempts)
--   status      label = error | ok | malformed (quotes), success | failure | malformed (attempts)
--   hour        bucket = hour of the week in UTC, 0 = Monday 00:00     (every event)
--   restaurant  label = restaurant_id                                  (job and inline outcomes)
-- n counts the events in the group; first_at / last_at bound their timestamps.
with events as (
    select created_at, event_type, booking_id, restaurant_id, context
      from observability_events
     where created_at >= :start
       and created_at < :end
       and event_type = any(:event_types)
),
typed as (
    select created_at,
           event_type,
           booking_id,
           restaurant_id,
           context,
           context -> 'flags' as flags,
           case
               when event_type = 'auto_assign.quote' then context -> 'planner_duration_ms'
               when event_type in ('inline_auto_assign.succeeded', 'inline_auto_assign.timeout', 'inline_auto_assign.failed',
                                   'auto_assign.succeeded', 'auto_assign.failed', 'auto_assign.exhausted') then context -> 'duration_ms'
           end as duration
      from events
),
measured as (
    select created_at,
           event_type,
           case
               when flags is null then 'absent'
               when jsonb_typeof(flags -> 'FEATURE_AUTO_ASSIGN_RETRY_POLICY_V2') is distinct from 'boolean'
                 or jsonb_typeof(flags -> 'PLANNER_CACHE_ENABLED') is distinct from 'boolean' then 'malformed'
               when (flags ->> 'FEATURE_AUTO_ASSIGN_RETRY_POLICY_V2')::boolean and (flags ->> 'PLANNER_CACHE_ENABLED')::boolean then 'on'
               when not (flags ->> 'FEATURE_AUTO_ASSIGN_RETRY_POLICY_V2')::boolean and not (flags ->> 'PLANNER_CACHE_ENABLED')::boolean then 'off'
               else 'mixed'
           end as flag_state,
           case
               when event_type = 'auto_assign.attempt' then case when booking_id is null then 'no_booking' else 'ok' end
               when event_type = 'auto_assign.planner_cache_hit' then null
               when duration is null then 'missing'
               when jsonb_typeof(duration) <> 'number' then 'not_a_number'
               when duration::float8 < 0 then 'negative'
               when duration::float8 > :max_duration_ms then 'absurd'
               else 'ok'
           end as quality,
           case
               when jsonb_typeof(duration) = 'number' and duration::float8 between 0 and :max_duration_ms
                   then floor(ln(greatest(duration::float8, 0.001)) / ln(1.001))::int
           end as bucket,
           case
               when event_type <> 'auto_assign.quote' then null
               when jsonb_typeof(context -> 'cache_hit') = 'boolean' then context ->> 'cache_hit'
               else 'malformed'
           end as cache,
           case
               when event_type in ('auto_assign.quote', 'auto_assign.planner_cache_hit', 'auto_assign.attempt')
                   then coalesce(context ->> 'reasonCode', '(none)')
           end as reason,
           case
               when event_type = 'auto_assign.quote' then
                   case
                       when coalesce(jsonb_typeof(context -> 'error'), 'null') = 'null' then 'ok'
                       when jsonb_typeof(context -> 'error') = 'string' then 'error'
                       else 'malformed'
                   end
               when event_type = 'auto_assign.attempt' then
                   case
                       when jsonb_typeof(context -> 'success') <> 'boolean' or context -> 'success' is null then 'malformed'
                       when (context ->> 'success')::boolean then 'success'
                       else 'failure'
                   end
           end as status,
           ((extract(isodow from created_at at time zone 'UTC')::int - 1) * 24
             + extract(hour from created_at at time zone 'UTC')::int) as hour_of_week,
           case
               when event_type in ('inline_auto_assign.succeeded', 'inline_auto_assign.timeout', 'inline_auto_assign.failed',
                                   'auto_assign.succeeded', 'auto_assign.failed', 'auto_assign.exhausted')
                   then coalesce(restaurant_id::text, '(none)')
           end as restaurant
      from typed
)
select case
           when grouping(flag_state) = 0 then 'flags'
           when grouping(quality) = 0 then 'quality'
           when grouping(cache) = 0 then 'reason'
           when grouping(status) = 0 then 'status'
           when grouping(hour_of_week) = 0 then 'hour'
           else 'restaurant'
       end as section,
       event_type,
       coalesce(flag_state, quality, cache, status, restaurant) as label,
       reason as detail,
       coalesce(bucket, hour_of_week) as bucket,
       count(*) as n,
       min(created_at) as first_at,
       max(created_at) as last_at
  from measured
 group by grouping sets (
           (event_type, flag_state),
           (event_type, quality, bucket),
           (event_type, cache, reason),
           (event_type, status),
           (event_type, hour_of_week),
           (event_type, restaurant)
       )
