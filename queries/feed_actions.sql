-- Every feed metric for every slice level of feed_actions.
-- Runnable as-is (clickhouse-client --database simulator < feed_actions.sql): the bot only
-- replaces the window bounds below, marked {start} and {end}, with unix timestamps.
--
-- One plain GROUP BY per slice level (the total, then each dim), glued with UNION ALL. Users
-- are counted with uniqExact at every level, never summed across slices. This gives the same
-- numbers as folding rows per user and repeating them per level with ARRAY JOIN, at about half
-- the cost: each level's aggregation keeps only its own keys. A new dim is one more branch.
SELECT bucket, dim, dim_value, rows, users, views, likes
FROM
(
    SELECT
        toUInt32(toStartOfFifteenMinutes(time)) AS bucket,
        'total' AS dim,
        '' AS dim_value,
        count() AS rows,
        uniqExact(user_id) AS users,
        countIf(action = 'view') AS views,
        countIf(action = 'like') AS likes
    FROM feed_actions
    WHERE time >= toDateTime(0)          -- {start}
      AND time < toDateTime(4102444800)  -- {end}
    GROUP BY bucket
    UNION ALL
    SELECT
        toUInt32(toStartOfFifteenMinutes(time)) AS bucket,
        'os' AS dim,
        os AS dim_value,
        count() AS rows,
        uniqExact(user_id) AS users,
        countIf(action = 'view') AS views,
        countIf(action = 'like') AS likes
    FROM feed_actions
    WHERE time >= toDateTime(0)          -- {start}
      AND time < toDateTime(4102444800)  -- {end}
    GROUP BY bucket, dim_value
    UNION ALL
    SELECT
        toUInt32(toStartOfFifteenMinutes(time)) AS bucket,
        'source' AS dim,
        source AS dim_value,
        count() AS rows,
        uniqExact(user_id) AS users,
        countIf(action = 'view') AS views,
        countIf(action = 'like') AS likes
    FROM feed_actions
    WHERE time >= toDateTime(0)          -- {start}
      AND time < toDateTime(4102444800)  -- {end}
    GROUP BY bucket, dim_value
    UNION ALL
    SELECT
        toUInt32(toStartOfFifteenMinutes(time)) AS bucket,
        'country' AS dim,
        country AS dim_value,
        count() AS rows,
        uniqExact(user_id) AS users,
        countIf(action = 'view') AS views,
        countIf(action = 'like') AS likes
    FROM feed_actions
    WHERE time >= toDateTime(0)          -- {start}
      AND time < toDateTime(4102444800)  -- {end}
    GROUP BY bucket, dim_value
)
ORDER BY bucket, dim, dim_value
