-- Every messenger metric for every slice level of message_actions, in one scan.
-- Runnable as-is (clickhouse-client --database simulator < message_actions.sql): the bot only
-- replaces the two window bounds below, marked {start} and {end}, with unix timestamps, and
-- writes receiver_id as the table spells it (some installations have reciever_id).
-- Same shape as feed_actions.sql: fold per bucket, sender and attributes, then one pass over
-- all slice levels.
SELECT
    bucket,
    dim,
    multiIf(dim = 'os', os_, dim = 'source', source_, dim = 'country', country_, '') AS dim_value,
    sum(sent) AS rows,
    uniqExact(user_id) AS users,
    sum(sent) AS messages,
    uniqExactArray(receivers) AS receivers
FROM
(
    SELECT
        toUInt32(toStartOfFifteenMinutes(time)) AS bucket,
        user_id,
        cityHash64(os, source, country) AS attrs,
        any(os) AS os_,
        any(source) AS source_,
        any(country) AS country_,
        count() AS sent,
        groupUniqArray(receiver_id) AS receivers
    FROM message_actions
    WHERE time >= toDateTime(0)          -- {start}
      AND time < toDateTime(4102444800)  -- {end}
    GROUP BY bucket, user_id, attrs
)
ARRAY JOIN ['total', 'os', 'source', 'country'] AS dim
GROUP BY bucket, dim, dim_value
ORDER BY bucket, dim, dim_value
