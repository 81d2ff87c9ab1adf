"""Pipelines: named connections to source databases, their tables, and the jobs that keep warehouse tables in
sync with them (modes, transforms, runs, schedules), with every run and cursor recorded in the catalog."""
