-- Every messenger metric for every slice level of message_actions.
-- Runnable as-is (clickhouse-client --database simulator < message_actions.sql): the bot only
-- replaces the window bounds below, marked {start} and {end}, with unix timestamps, and
-- writes receiver_id as the table spells it (some installations have reciever_id).
--
-- One plain GROUP BY per slice level (the total, then each dim), glued with UNION ALL. Senders
-- and receivers are counted with uniqExact at every level, never summed across slices. Same
-- shape and the same reasoning as feed_actions.sql.
SELECT bucket, dim, dim_value, rows, users, messages, receivers
FROM
(
    SELECT
        toUInt32(toStartOfFifteenMinutes(time)) AS bucket,
        'total' AS dim,
        '' AS dim_value,
        count() AS rows,
        uniqExact(user_id) AS users,
        count() AS messages,
        uniqExact(receiver_id) AS receivers
    FROM message_actions
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
        count() AS messages,
        uniqExact(receiver_id) AS receivers
    FROM message_actions
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
        count() AS messages,
        uniqExact(receiver_id) AS receivers
    FROM message_actions
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
        count() AS messages,
        uniqExact(receiver_id) AS receivers
    FROM message_actions
    WHERE time >= toDateTime(0)          -- {start}
      AND time < toDateTime(4102444800)  -- {end}
    GROUP BY bucket, dim_value
)
ORDER BY bucket, dim, dim_value
