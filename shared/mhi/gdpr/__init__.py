"""The right to erasure: find one guest's rows in the landed raw files and the warehouse tables of
an account, and remove them (`mhi gdpr erase`).

`guest` says what a guest's data looks like (identifiers, record and SQL matching), `landed`
rewrites the gzip NDJSON files under `raw/<account>/` without the guest, `tables` is the small
erasure port over the warehouse (DuckDB here, BigQuery in `bigquery`), `erase` runs them in
order and reports what it removed.
"""
