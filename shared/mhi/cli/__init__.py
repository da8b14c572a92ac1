"""The `mhi` command line."""
