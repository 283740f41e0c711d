-- rel-f1 driver-top3 (RelBench v1 DriverTop3Task), for RelBench 3's manifest runner:
-- `timestamps(timestamp)` holds the split's seed times, `{timedelta}` the 30-day window.
-- Label: 1 if the driver qualified in the top 3 for any race in (t, t + window].
SELECT
    t.timestamp AS date,
    qu.driverId AS driverId,
    CAST(CASE WHEN MIN(qu.position) <= 3 THEN 1 ELSE 0 END AS BIGINT) AS qualifying
FROM
    timestamps t
LEFT JOIN
    qualifying qu
ON
    qu.date <= t.timestamp + INTERVAL '{timedelta}'
    AND qu.date > t.timestamp
WHERE
    qu.driverId IN (
        SELECT DISTINCT driverId
        FROM qualifying
        WHERE date > t.timestamp - INTERVAL '1 year'
    )
GROUP BY t.timestamp, qu.driverId
