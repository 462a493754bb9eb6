-- name: flag_flip
-- When the flags flipped: the first event of :event_types (text[]) whose context contains :flags_on
-- (jsonb: every flag of the suite true) in the search range [:start, :end) (timestamptz).
-- One row: first_on (timestamptz, null when no event has every flag on). With the
-- (event_type, created_at) index each event type is walked forward only until its first flagged event.
select min(first_flagged.created_at) as first_on
  from unnest(cast(:event_types as text[])) as wanted(event_type)
  cross join lateral (
        select created_at
          from {table}
         where event_type = wanted.event_type
           and created_at >= :start
           and created_at < :end
           and context @> cast(:flags_on as jsonb)
         order by created_at
         limit 1
       ) as first_flagged
