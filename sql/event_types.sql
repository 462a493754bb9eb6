-- name: event_types
-- Every distinct event_type in {table}, by a loose scan of the (event_type, created_at) index (one
-- index probe per distinct value; without the index, one scan of the table). No parameters.
-- One row per event type that occurs (null included when some row has none): event_type.
with recursive found(event_type) as (
    (select event_type from {table} where event_type is not null order by event_type limit 1)
    union all
    select (select t.event_type from {table} as t
             where t.event_type > found.event_type order by t.event_type limit 1)
      from found
     where found.event_type is not null
)
select event_type from found where event_type is not null
union all
select null where exists (select 1 from {table} where event_type is null)
