-- Room revenue per hotel and arrival month, from the bundled bookings (raw.hotel_bookings,
-- loaded by ms-file-import): bookings not cancelled, revenue = average daily rate x nights.
-- One text for both warehouses: it runs as is in DuckDB (locally) and BigQuery (production).
SELECT
  hotel,
  CONCAT(CAST(arrival_date_year AS STRING), '-', LPAD(CAST(month_number AS STRING), 2, '0'))
    AS month,
  COUNT(*) AS bookings,
  SUM(nights) AS room_nights,
  ROUND(SUM(adr * nights), 2) AS revenue
FROM (
  SELECT
    hotel,
    arrival_date_year,
    adr,
    stays_in_weekend_nights + stays_in_week_nights AS nights,
    CASE arrival_date_month
      WHEN 'January' THEN 1 WHEN 'February' THEN 2 WHEN 'March' THEN 3
      WHEN 'April' THEN 4 WHEN 'May' THEN 5 WHEN 'June' THEN 6
      WHEN 'July' THEN 7 WHEN 'August' THEN 8 WHEN 'September' THEN 9
      WHEN 'October' THEN 10 WHEN 'November' THEN 11 WHEN 'December' THEN 12
    END AS month_number
  FROM raw.hotel_bookings
  WHERE is_canceled = 0 AND arrival_date_year >= @from_year
) AS stays
GROUP BY hotel, arrival_date_year, month_number
