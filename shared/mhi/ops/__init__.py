"""The operations service: find, show, start, cancel, rerun, pause, backfill runs; stats; audit.

One layer over the run store, used alike by `mhi runs ...`, the HTTP API and the console.
"""
