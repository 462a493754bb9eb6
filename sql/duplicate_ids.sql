-- name: duplicate_ids
-- Extra copies of ids among the rows of :event_types (text[]) in [:start, :end) (timestamptz), run
-- only when no unique index on id rules duplicates out (a hash of every id in the window: as costly
-- as a pass). One row: extra (rows beyond the first with the same id).
select coalesce(sum(copies - 1), 0)::bigint as extra
  from (select count(*) as copies
          from {table}
         where event_type = any(cast(:event_types as text[]))
           and created_at >= :start and created_at < :end
         group by id
        having count(*) > 1) as repeated
