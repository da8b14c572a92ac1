"""Embedded back ends: no cloud at all."""
