"""The export_pipeline tool: write a pipeline as an Airflow 3 DAG file, for when one machine is outgrown."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from etl_assistant.errors import InputError
from etl_assistant.pipelines.airflow import dag_id, write_dag
from etl_assistant.pipelines.store import PipelineStore
from etl_assistant.tools.base import Tool, ToolContext


class ExportPipelineInput(BaseModel):
    name: str = Field(description="The pipeline to export.")
    folder: str | None = Field(
        default=None, description="Folder to write the DAG file into (an Airflow dags folder); default "
        "data_dir/airflow. It must be inside the allowed folders.")


class ExportPipelineOutput(BaseModel):
    name: str
    dag_id: str
    path: str
    text: str


def _folder(ctx: ToolContext, folder: str | None) -> Path:
    resolved = (Path(folder).expanduser() if folder else ctx.settings.data_dir / "airflow").resolve()
    roots = ctx.settings.resolved_allowed_roots
    if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        allowed = ", ".join(str(root) for root in roots)
        raise InputError(f"{resolved} is outside the allowed folders ({allowed}); name a folder inside one, "
                         "or add it to ETLA_ALLOWED_ROOTS.")
    return resolved


def run(ctx: ToolContext, args: ExportPipelineInput) -> ExportPipelineOutput:
    """Export a pipeline as an Airflow 3 DAG file (its cron and timezone, catchup off, one active run, retries
    with backoff) whose one task runs `etl-assistant pipelines run NAME`, so Airflow only schedules; the file
    names the connection, never its URL or password. Returns the file's path and text."""
    spec = PipelineStore(ctx.catalog).require(ctx.tenant, args.name)
    path = write_dag(spec, _folder(ctx, args.folder))
    return ExportPipelineOutput(name=spec.name, dag_id=dag_id(spec), path=str(path),
                                text=path.read_text(encoding="utf-8"))


TOOL = Tool(name="export_pipeline", fn=run, input_model=ExportPipelineInput,
            output_model=ExportPipelineOutput, read_only=False)
