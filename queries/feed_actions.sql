-- Every feed metric for every slice level of feed_actions, in one scan.
-- Runnable as-is (clickhouse-client --database simulator < feed_actions.sql): the bot only
-- replaces the two window bounds below, marked {start} and {end}, with unix timestamps.
--
-- The inner query folds the raw rows to one row per bucket, user and (os, source, country);
-- grouping by a hash of the three strings is exact and several times cheaper than grouping
-- by the strings. ARRAY JOIN then repeats each folded row once per slice level, so the total
-- and every slice are aggregated in the same pass. Users are counted with uniqExact at every
-- level, never summed across slices.
SELECT
    bucket,
    dim,
    multiIf(dim = 'os', os_, dim = 'source', source_, dim = 'country', country_, '') AS dim_value,
    sum(events) AS rows,
    uniqExact(user_id) AS users,
    sum(user_views) AS views,
    sum(user_likes) AS likes
FROM
(
    SELECT
        toUInt32(toStartOfFifteenMinutes(time)) AS bucket,
        user_id,
        cityHash64(os, source, country) AS attrs,
        any(os) AS os_,
        any(source) AS source_,
        any(country) AS country_,
        count() AS events,
        countIf(action = 'view') AS user_views,
        countIf(action = 'like') AS user_likes
    FROM feed_actions
    WHERE time >= toDateTime(0)          -- {start}
      AND time < toDateTime(4102444800)  -- {end}
    GROUP BY bucket, user_id, attrs
)
ARRAY JOIN ['total', 'os', 'source', 'country'] AS dim
GROUP BY bucket, dim, dim_value
ORDER BY bucket, dim, dim_value
