-- name: demand_mix
-- When and where demand happened in the window [:start, :end) (timestamptz): the job and inline
-- outcome events (:demand_types, text[]), which the rollout should not change, for the comparability
-- check. :middle (timestamptz) splits the window in halves (pass :end for one whole window).
-- One row per (second_half, hour_of_week, restaurant_id) that occurs: hour_of_week counts from
-- Monday 00:00 UTC (0..167; the epoch began on a Thursday, 72 hours after a Monday), restaurant_id
-- (null when absent), n events.
select created_at >= :middle as second_half,
       (floor(date_part('epoch', created_at) / 3600)::int8 + 72) % 168 as hour_of_week,
       restaurant_id,
       count(*) as n
  from observability_events
 where created_at >= :start
   and created_at < :end
   and event_type = any(:demand_types)
 group by 1, 2, 3
