"""Adapters: one technology behind one port each (local folder, GCP services, ...)."""
