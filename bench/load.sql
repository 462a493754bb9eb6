-- name: bench_load
-- Generates :n events of a realistic mix in the window [:start, :end) inside the database (no rows
-- cross the wire), deterministically from :seed. :scale multiplies durations, :bookings_per_attempt
-- sets how many bookings share the attempt rows (attempts per booking = 1 / it), :cache_hit_rate and
-- :flags (boolean) set the POST behaviour; :job_scale multiplies job and inline durations. Used by bench/run.py only; not a gate query.
with numbered as (
    select i, random() as kind, random() as u1, random() as u2, random() as u3, random() as when_
      from generate_series(1, :n) as i
)
insert into observability_events (id, created_at, event_type, booking_id, restaurant_id, context)
select md5(:tag || i)::uuid,
       -- A booking's attempts happen together, at the booking's place in the window.
       :start + (:end - :start) * case
           when event_type = 'auto_assign.attempt'
               then (floor(u3 * :n * 0.4 * :bookings_per_attempt) + 0.5) / ceil(:n * 0.4 * :bookings_per_attempt)
           else when_
       end,
       event_type,
       case when event_type like 'auto_assign.%' and event_type <> 'auto_assign.planner_cache_hit'
            then md5(:tag || 'b' || floor(u3 * :n * 0.4 * :bookings_per_attempt)::bigint)::uuid end,
       md5('r' || floor(u3 * 40)::int)::uuid,
       case
           when event_type = 'auto_assign.quote' then jsonb_build_object(
               'planner_duration_ms', round((:scale * 420 * exp(0.55 * sqrt(-2 * ln(greatest(u1, 1e-12))) * cos(2 * pi() * u2)))::numeric, 3),
               'cache_hit', u3 < :cache_hit_rate,
               'reasonCode', case when u3 < 0.5 then 'transient.hold_conflict' else 'hard.no_capacity' end,
               'flags', jsonb_build_object('FEATURE_AUTO_ASSIGN_RETRY_POLICY_V2', :flags, 'PLANNER_CACHE_ENABLED', :flags))
           when event_type = 'auto_assign.attempt' then jsonb_build_object(
               'attempt', 1, 'success', u1 < 0.3, 'reasonCode', 'transient.hold_conflict',
               'flags', jsonb_build_object('FEATURE_AUTO_ASSIGN_RETRY_POLICY_V2', :flags, 'PLANNER_CACHE_ENABLED', :flags))
           else jsonb_build_object(
               'duration_ms', round((:job_scale * (case when event_type like 'inline%' then 700 else 9000 end)
                                     * exp(0.5 * sqrt(-2 * ln(greatest(u1, 1e-12))) * cos(2 * pi() * u2)))::numeric, 3),
               'flags', jsonb_build_object('FEATURE_AUTO_ASSIGN_RETRY_POLICY_V2', :flags, 'PLANNER_CACHE_ENABLED', :flags))
       end
  from (
        select *,
               case
                   when kind < 0.40 then 'auto_assign.quote'
                   when kind < 0.80 then 'auto_assign.attempt'
                   when kind < 0.81 then 'auto_assign.planner_cache_hit'
                   when kind < 0.89 then case when u3 < 0.8 then 'auto_assign.succeeded' when u3 < 0.9 then 'auto_assign.exhausted' else 'auto_assign.failed' end
                   else case when u3 < 0.9 then 'inline_auto_assign.succeeded' when u3 < 0.97 then 'inline_auto_assign.timeout' else 'inline_auto_assign.failed' end
               end as event_type
          from numbered
       ) as typed
