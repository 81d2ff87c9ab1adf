"""Pipelines: a source kept in sync with a warehouse table by a mode and a schedule, run by the embedded
scheduler, the CLI or Airflow, with every run and cursor recorded in the catalog."""
