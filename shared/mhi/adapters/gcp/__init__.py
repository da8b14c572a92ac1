"""Google Cloud back ends."""
