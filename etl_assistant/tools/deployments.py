"""The deployments tool: the version history of a deployed table or datamart."""

from __future__ import annotations

from pydantic import BaseModel, Field

from etl_assistant.deploy.rollback import history
from etl_assistant.deploy.store import Deployment
from etl_assistant.tools.base import Tool, ToolContext


class DeploymentsInput(BaseModel):
    target: str = Field(description="A deployed table or datamart name.")


class DeploymentsOutput(BaseModel):
    target: str
    deployments: list[Deployment]  # newest first


def run(ctx: ToolContext, args: DeploymentsInput) -> DeploymentsOutput:
    """List the deployments of a table or datamart, newest first: version, action (create, replace,
    rollback), row count, DDL, who approved and when."""
    return DeploymentsOutput(target=args.target, deployments=history(ctx, args.target))


TOOL = Tool(name="deployments", fn=run, input_model=DeploymentsInput, output_model=DeploymentsOutput)
