"""What the assistant can do. REGISTRY is the one list the graph, MCP and the CLI all read."""

from __future__ import annotations

from etl_assistant.tools import (
    add_connection,
    apply_deploy,
    approve_action,
    ask,
    connections,
    create_pipeline,
    delete_pipeline,
    deploy,
    deployments,
    design_datamart,
    export_pipeline,
    generate_ddl,
    infer_schema,
    list_datasets,
    list_tables,
    load_table,
    nl_to_sql,
    pause_pipeline,
    pipeline_runs,
    pipelines,
    plan_deploy,
    refresh,
    remove_connection,
    resume_pipeline,
    rollback,
    run_pipeline,
    run_query,
    verify,
)
from etl_assistant.tools.base import Tool, ToolContext

REGISTRY: list[Tool] = []
REGISTRY.append(infer_schema.TOOL)
REGISTRY.append(generate_ddl.TOOL)
REGISTRY.append(run_query.TOOL)
REGISTRY.append(load_table.TOOL)
REGISTRY.append(list_datasets.TOOL)
REGISTRY.append(nl_to_sql.TOOL)
REGISTRY.append(ask.TOOL)
REGISTRY.append(design_datamart.TOOL)
REGISTRY.append(plan_deploy.TOOL)
REGISTRY.append(apply_deploy.TOOL)
REGISTRY.append(deploy.TOOL)
REGISTRY.append(rollback.TOOL)
REGISTRY.append(deployments.TOOL)
REGISTRY.append(verify.TOOL)
REGISTRY.append(export_pipeline.TOOL)
REGISTRY.append(create_pipeline.TOOL)
REGISTRY.append(run_pipeline.TOOL)
REGISTRY.append(pipelines.TOOL)
REGISTRY.append(pause_pipeline.TOOL)
REGISTRY.append(resume_pipeline.TOOL)
REGISTRY.append(pipeline_runs.TOOL)
REGISTRY.append(delete_pipeline.TOOL)
REGISTRY.append(connections.TOOL)
REGISTRY.append(add_connection.TOOL)
REGISTRY.append(remove_connection.TOOL)
REGISTRY.append(list_tables.TOOL)
REGISTRY.append(refresh.TOOL)
REGISTRY.append(approve_action.TOOL)


def get_tool(name: str) -> Tool:
    for tool in REGISTRY:
        if tool.name == name:
            return tool
    raise KeyError(name)


__all__ = ["REGISTRY", "Tool", "ToolContext", "get_tool"]
