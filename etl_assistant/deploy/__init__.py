"""Deploys: plan (what changes, stored with source fingerprints) -> approval -> apply (staging, bulk load,
count check, atomic swap, history), rollback to the kept previous version, per-target locks."""

from etl_assistant.deploy.apply import AppliedStep, ApplyResult, apply_plan
from etl_assistant.deploy.plan import DeployPlan, PlanStep, make_plan
from etl_assistant.deploy.rollback import history, rollback
from etl_assistant.deploy.store import Deployment, DeployStore

__all__ = [
    "AppliedStep",
    "ApplyResult",
    "DeployPlan",
    "DeployStore",
    "Deployment",
    "PlanStep",
    "apply_plan",
    "history",
    "make_plan",
    "rollback",
]
