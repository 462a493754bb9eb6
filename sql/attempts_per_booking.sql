-- name: attempts_per_booking
-- How many bookings had how many planner attempts in the window [:start, :end) (timestamptz), split
-- at :middle (timestamptz; pass :end for one whole window) into halves by the booking's first attempt,
-- so that each booking is counted once. One row per (second_half, attempts): attempts = attempt rows
-- of one booking in the window, bookings = how many bookings had that count. Attempt rows without a booking_id are counted by
-- window_evidence.
with per_booking as (
    select booking_id, min(created_at) >= :middle as second_half, count(*) as attempts
      from observability_events
     where event_type = 'auto_assign.attempt'
       and created_at >= :start
       and created_at < :end
       and booking_id is not null
     group by booking_id
)
select second_half, attempts, count(*) as bookings
  from per_booking
 group by 1, 2
 order by 1, 2
