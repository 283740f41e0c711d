-- rel-f1 driver-position (RelBench v1 DriverPositionTask), for RelBench 3's manifest runner:
-- `timestamps(timestamp)` holds the split's seed times, `{timedelta}` the 60-day window.
-- Label: the driver's mean finishing order (positionOrder) over races in (t, t + window].
SELECT
    t.timestamp AS date,
    re.driverId AS driverId,
    MEAN(re.positionOrder) AS position
FROM
    timestamps t
LEFT JOIN
    results re
ON
    re.date <= t.timestamp + INTERVAL '{timedelta}'
    AND re.date > t.timestamp
WHERE
    re.driverId IN (
        SELECT DISTINCT driverId
        FROM results
        WHERE date > t.timestamp - INTERVAL '1 year'
    )
GROUP BY t.timestamp, re.driverId
