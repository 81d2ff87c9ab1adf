"""What the pipeline intents sound like (normalised form, like exemplars.py), and their keyword cues.

Kept apart from the file intents' data so both can grow without colliding; `exemplars.py` merges them. The
planner only considers these intents when the message could mean one (see pipeline_intents.excluded_intents),
so they never compete with loading a file or asking a question.
"""

from __future__ import annotations

EXEMPLARS: dict[str, tuple[str, ...]] = {
    "create_pipeline": (
        "load the orders data from postgres into clickhouse every day at 3 am",
        "sync the orders table from postgres every 15 minutes",
        "copy customers from the shop database to the warehouse every night",
        "keep the warehouse in sync with the events table",
        "replicate the invoices table from postgres hourly",
        "set up a pipeline from postgres to clickhouse",
        "create a pipeline for the sales table",
        "pull new rows from the payments table every hour",
        "schedule a load of the users table weekdays at 6",
        "move the orders table into clickhouse incrementally every day",
        "ingest the events table from the database on the 1st of each month",
        "mirror the products table into the warehouse twice a day",
    ),
    "pipelines": (
        "show my pipelines",
        "list the pipelines",
        "what pipelines do i have",
        "which syncs are scheduled",
        "when does the pipeline run next",
        "status of my pipelines",
    ),
    "run_pipeline": (
        "run it now",
        "run the pipeline now",
        "trigger the pipeline",
        "sync it now",
        "start a run now",
        "kick off the sync",
        "run the sync again",
        "refresh it now",
    ),
    "pause_pipeline": (
        "pause it",
        "pause the pipeline",
        "stop the schedule",
        "suspend the sync",
        "hold the pipeline for now",
        "disable the scheduled runs",
    ),
    "resume_pipeline": (
        "resume it",
        "resume the pipeline",
        "unpause the sync",
        "start the schedule again",
        "enable the pipeline again",
        "continue the scheduled runs",
    ),
    "pipeline_runs": (
        "show me the pipeline runs",
        "pipeline run history",
        "how did the last run go",
        "did the sync succeed",
        "show the runs of the pipeline",
        "how many rows did the last run load",
        "why did the run fail",
    ),
    "delete_pipeline": (
        "delete the pipeline",
        "remove the pipeline",
        "drop the sync",
        "get rid of the pipeline",
        "delete it and its schedule",
        "stop and delete the pipeline for good",
    ),
    "export_pipeline": (
        "export it to airflow",
        "export the pipeline as an airflow dag",
        "give me an airflow dag for it",
        "write the dag file for airflow",
        "generate an airflow dag",
        "move the pipeline to airflow",
    ),
}

CUES: dict[str, tuple[tuple[str, float], ...]] = {
    "create_pipeline": (
        (r"\b(pipeline|sync\w*|replicat\w*|mirror\w*|in sync)\b", 0.12),
        (r"\b(daily|hourly|nightly|weekly|monthly|weekdays?|twice a day|every \d* ?(minutes?|hours?|day|night"
         r"|week|month|monday|tuesday|wednesday|thursday|friday|saturday|sunday)|at \d{1,2}( ?[ap]m)?\b"
         r"|on the \d+\w* of)", 0.15),
        (r"\bfrom (postgres|clickhouse|sqlite|the database|the db)\b", 0.1),
    ),
    "pipelines": ((r"\b(pipelines|syncs|scheduled|schedules)\b", 0.2),),
    "run_pipeline": (
        (r"\b(run|trigger|kick off|sync|refresh)\b.*\b(now|again|pipeline|sync|right away)\b"
         r"|\bstart a run\b", 0.2),
    ),
    "pause_pipeline": ((r"\b(pause|suspend|hold|disable|stop)\b", 0.3),),
    "resume_pipeline": (
        (r"\b(resume|unpause|re-?enable|continue|restart)\b|\bstart\b.*\b(again|up|back)\b", 0.3),
    ),
    "pipeline_runs": ((r"\b(runs|run history|last run|did .* (succeed|fail|run)|why did)\b", 0.25),),
    "delete_pipeline": ((r"\b(delete|remove|drop|get rid of)\b", 0.3),),
    "export_pipeline": ((r"\b(airflow|dags?)\b", 0.35),),
}
