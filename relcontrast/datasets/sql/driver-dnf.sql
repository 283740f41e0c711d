-- rel-f1 driver-dnf (RelBench v1 DriverDNFTask), for RelBench 3's manifest runner:
-- `timestamps(timestamp)` holds the split's seed times, `{timedelta}` the 30-day window.
-- Label: 1 if the driver failed to finish (statusId != 1) any race in (t, t + window].
SELECT
    t.timestamp AS date,
    re.driverId AS driverId,
    MAX(CASE WHEN re.statusId != 1 THEN 1 ELSE 0 END) AS did_not_finish
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
