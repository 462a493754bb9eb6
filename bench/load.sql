-- name: bench_load
-- The scale benchmark's telemetry, generated inside the database (no event crosses the wire): the
-- auto-assign service of goals/demo.py, with the behaviour of a scenario of goals/scenarios.toml bound
-- as parameters, at any volume and with thousands of restaurants. Each step below is one statement;
-- bench/run.py runs them in order, binding to each the parameters it names. Deterministic: every step
-- that draws starts from setseed(:seed), and ids come from sequences.
--
-- The shapes of goals/demo.py: restaurants with lognormal volume weights and a latency and a retry
-- factor each; days that differ in volume; a lunch and dinner peak (:hourly, the demo's profile);
-- per booking a negative-binomial number of attempts (dispersion 2: a sum of two geometric draws),
-- each attempt writing an auto_assign.quote (lognormal planner duration with a heavy tail, or a cache
-- hit), an auto_assign.planner_cache_hit on a hit, and an auto_assign.attempt; one background job
-- outcome per booking; inline runs on their own. Used by bench/ only; never by the gate.

-- step: setup
create sequence bench_event_ids;
create sequence bench_booking_ids;
select setseed(:seed);
create unlogged table bench_restaurants as
select r,
       ('00000000-0003-4000-8000-' || lpad(to_hex(r), 12, '0'))::uuid as id,
       latency,
       retries,
       coalesce(sum(weight) over (order by r rows between unbounded preceding and 1 preceding), 0)
           / sum(weight) over () as share_below
  from (select r,
               exp(sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())) as weight,
               exp(:restaurant_spread * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())) as latency,
               exp(:restaurant_spread * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())) as retries
          from generate_series(1, :restaurants) as r
        offset 0) as drawn;
create unique index on bench_restaurants (r);
analyze bench_restaurants;

-- step: bookings
-- The bookings of one span of :days days from :start with one behaviour: per booking its attempts
-- (quote, cache hit, attempt rows) and its background job outcome. :flags is the context's flags object.
select setseed(:seed);
insert into observability_events (id, created_at, event_type, context, booking_id, restaurant_id)
with hours as materialized (
    -- Bookings per hour of the span: the day's volume weight times the hour-of-day profile.
    select day, hour, round(:bookings_per_day * :days * day_weight * hour_weight)::int as bookings
      from (select day, weight / sum(weight) over () as day_weight
              from (select day, exp(:day_spread * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())) as weight
                      from generate_series(0, :days - 1) as day
                    offset 0) as drawn) as days
     cross join unnest(cast(:hourly as float8[])) with ordinality as profile(hour_weight, hour)
),
bookings as materialized (
    select ('00000000-0002-4000-8000-' || lpad(to_hex(drawn.booking), 12, '0'))::uuid as booking_id,
           drawn.at,
           restaurant.id as restaurant_id,
           restaurant.latency,
           drawn.succeeded,
           drawn.exhausted,
           drawn.job_z,
           -- Attempts: 1 + NB(dispersion 2, mean - 1), the restaurant's retry factor on the mean.
           1 + case when mean <= 1 then 0
                    else floor(ln(1 - drawn.g1) / ln(1 - :attempts_dispersion / (:attempts_dispersion + mean - 1)))
                       + floor(ln(1 - drawn.g2) / ln(1 - :attempts_dispersion / (:attempts_dispersion + mean - 1)))
               end::int as attempts
      from (select nextval('bench_booking_ids') as booking,
                   :start + make_interval(days => day, hours => hour::int - 1) + random() * interval '1 hour' as at,
                   width_bucket(random(), (select array_agg(share_below order by r) from bench_restaurants)) as r,
                   random() < :job_success_rate as succeeded,
                   random() < 0.7 as exhausted,
                   sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) as job_z,
                   random() as g1,
                   random() as g2
              from hours
             cross join generate_series(1, hours.bookings)
            offset 0) as drawn
      join bench_restaurants as restaurant using (r)
     cross join lateral (select 1 + (:attempts_mean - 1) * restaurant.retries as mean) as per_restaurant
),
attempts as (
    select bookings.booking_id,
           bookings.restaurant_id,
           bookings.at + (k - 1) * interval '15 seconds' + random() * interval '10 seconds' as at,
           k,
           k = bookings.attempts and bookings.succeeded as ok,
           random() < :cache_hit_rate as hit,
           case when random() < 0.6 then 'transient.hold_conflict' else 'hard.no_capacity' end as reason,
           random() < :quote_error_rate as error,
           case when random() < :planner_tail_share then :planner_median_ms * :planner_tail_factor
                else :planner_median_ms end * bookings.latency as median,
           sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) as z
      from bookings
     cross join generate_series(1, bookings.attempts) as k
    offset 0
)
select ('00000000-0001-4000-8000-' || lpad(to_hex(nextval('bench_event_ids')), 12, '0'))::uuid,
       attempts.at,
       case kind when 1 then 'auto_assign.quote' when 2 then 'auto_assign.planner_cache_hit' else 'auto_assign.attempt' end,
       jsonb_strip_nulls(case kind
           when 1 then jsonb_build_object(
               'planner_duration_ms', round((case when hit then :cache_hit_median_ms * exp(0.5 * z)
                                                  else median * exp(:planner_sigma * z) end)::numeric, 3),
               'cache_hit', hit,
               'reasonCode', case when not ok then reason end,
               'error', case when error then 'planner threw: capacity snapshot unavailable' end)
           when 2 then jsonb_build_object('reasonCode', case when not ok then reason end)
           else jsonb_build_object('attempt', k, 'success', ok, 'reasonCode', case when not ok then reason end)
       end) || jsonb_build_object('flags', cast(:flags as jsonb)),
       attempts.booking_id,
       attempts.restaurant_id
  from attempts
 cross join (values (1), (2), (3)) as kinds(kind)
 where kind <> 2 or hit
 union all
select ('00000000-0001-4000-8000-' || lpad(to_hex(nextval('bench_event_ids')), 12, '0'))::uuid,
       bookings.at + (bookings.attempts - 1) * interval '15 seconds' + interval '11 seconds',
       case when succeeded then 'auto_assign.succeeded' when exhausted then 'auto_assign.exhausted' else 'auto_assign.failed' end,
       jsonb_build_object(
           'duration_ms', round((:job_median_ms * latency * exp(:job_sigma * job_z))::numeric, 3),
           'attempts', attempts,
           'flags', cast(:flags as jsonb)),
       booking_id,
       restaurant_id
  from bookings;

-- step: inline
-- The inline auto-assign runs of the same span: no booking, a restaurant each, a timeout at :inline_timeout_ms.
select setseed(:seed);
insert into observability_events (id, created_at, event_type, context, booking_id, restaurant_id)
with hours as materialized (
    select day, hour, round(:inline_runs_per_day * :days * day_weight * hour_weight)::int as runs
      from (select day, weight / sum(weight) over () as day_weight
              from (select day, exp(:day_spread * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())) as weight
                      from generate_series(0, :days - 1) as day
                    offset 0) as drawn) as days
     cross join unnest(cast(:hourly as float8[])) with ordinality as profile(hour_weight, hour)
)
select ('00000000-0001-4000-8000-' || lpad(to_hex(nextval('bench_event_ids')), 12, '0'))::uuid,
       runs.at,
       case when timeout then 'inline_auto_assign.timeout' when failed then 'inline_auto_assign.failed'
            else 'inline_auto_assign.succeeded' end,
       jsonb_build_object(
           'duration_ms', round((case when timeout then :inline_timeout_ms
                                      else :inline_median_ms * restaurant.latency * exp(:inline_sigma * z) end)::numeric, 3),
           'flags', cast(:flags as jsonb)),
       null,
       restaurant.id
  from (select :start + make_interval(days => day, hours => hour::int - 1) + random() * interval '1 hour' as at,
               width_bucket(random(), (select array_agg(share_below order by r) from bench_restaurants)) as r,
               random() < :inline_timeout_rate as timeout,
               random() < 0.05 as failed,
               sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) as z
          from hours
         cross join generate_series(1, hours.runs)
        offset 0) as runs
  join bench_restaurants as restaurant using (r);

-- step: finish
drop table bench_restaurants;
drop sequence bench_event_ids;
drop sequence bench_booking_ids;
