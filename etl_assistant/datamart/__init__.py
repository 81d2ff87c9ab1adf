"""Datamarts: an aggregate of one dataset (time bucket, dimensions, measures) kept fresh by the engine."""

from etl_assistant.datamart.build import DatamartDefinition, aggregate_select, build_definition
from etl_assistant.datamart.spec import DatamartSpec, Filter, Measure
from etl_assistant.datamart.words import parse_request

__all__ = [
    "DatamartDefinition",
    "DatamartSpec",
    "Filter",
    "Measure",
    "aggregate_select",
    "build_definition",
    "parse_request",
]
