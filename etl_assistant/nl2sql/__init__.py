"""NL->SQL offline: a schema-linking semantic parser that turns a question into a sqlglot query.

Pipeline: `schema_graph` (what tables, columns, roles and joins exist) + `values` (low-cardinality values to
ground filters) -> `parser` (question -> `QueryParse`, or a clarifying question) -> `followup` (merge with the
previous turn) -> `build` (QueryParse -> sqlglot expression for the warehouse dialect) -> `service` (guard,
execute) -> `answer` (summary line and a Vega-Lite chart).
"""
