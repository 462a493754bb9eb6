-- name: attempts_per_booking
-- How many bookings had how many planner attempts in the window [:start, :end) (timestamptz).
-- One row per attempt count: `attempts` (attempt rows of one booking) and `bookings` (how many
-- bookings had that count). Attempt rows without a booking_id are counted by window_evidence.
with per_booking as (
    select booking_id, count(*) as attempts
      from observability_events
     where event_type = 'auto_assign.attempt'
       and created_at >= :start
       and created_at < :end
       and booking_id is not null
     group by booking_id
)
select attempts, count(*) as bookings
  from per_booking
 group by attempts
 order by attempts
