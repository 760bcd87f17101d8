"""Listening services: ingestion (files, push, pulls), processing, alerts, crisis cases."""
