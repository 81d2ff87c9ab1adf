"""Pipelines: connections, sources, modes, schedules, runs and the Airflow export."""
