"""The target table of a pipeline, designed by the DDL designer and adapted to the load mode.

The output schema (source columns after the transforms) goes through `ddl.builder` like any inferred dataset,
so the target gets the same types, sort keys and LowCardinality choices. The mode then adds what loading
needs:

- every mode but full refresh gets `_etla_batch`, the number of the batch that wrote the row, so the rows of a
  batch that never committed can be found and removed;
- with a primary key (upsert, incremental by key) ClickHouse stores versions in a
  `ReplacingMergeTree(_etla_batch)` ordered by the key, and the target itself is a view reading it with
  `FINAL`, so readers always see one row per key, the newest; PostgreSQL gets a PRIMARY KEY for `ON CONFLICT
  DO UPDATE`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify

from etl_assistant.ddl import resolve_target
from etl_assistant.ddl.builder import build, render
from etl_assistant.ddl.notes import Notes
from etl_assistant.errors import ToolError
from etl_assistant.pipelines.spec import PipelineSpec
from etl_assistant.pipelines.transforms import Projection
from etl_assistant.schema.model import ColumnProfile, DatasetSchema, LogicalType, TypeDetails

BATCH_COLUMN = "_etla_batch"
_SOURCE = "_etla_source"


def versions_table(target: str) -> str:
    """Where a keyed ClickHouse pipeline keeps every version of its rows (the target is a view over it)."""
    return f"{target[:40]}__versions"


@dataclass
class TargetDesign:
    table: str  # what people and queries read
    storage: str  # where rows are written (the table itself, or the versions table behind the view)
    dialect: str
    columns: list[str]  # output columns in order (without _etla_batch)
    statements: list[str]  # DDL in execution order
    explanation: list[str]
    batch_column: bool  # whether the storage has _etla_batch
    keyed: bool  # rows merge by primary key


def keyed(spec: PipelineSpec) -> bool:
    """Whether rows are merged by key (upsert, or incremental with a primary key) rather than appended."""
    return bool(spec.primary_key) and spec.mode in ("upsert", "incremental")


def _logical(data_type: exp.DataType) -> tuple[LogicalType, TypeDetails] | None:
    t = exp.DataType.Type
    kind = data_type.this
    integers = {
        t.TINYINT: 8,
        t.SMALLINT: 16,
        t.INT: 32,
        t.BIGINT: 64,
        t.UTINYINT: 8,
        t.USMALLINT: 16,
        t.UINT: 32,
        t.UBIGINT: 64,
    }
    if kind in integers:
        return "integer", TypeDetails(int_bits=integers[kind], signed=not kind.value.startswith("U"))
    if kind in (t.FLOAT, t.DOUBLE):
        return "float", TypeDetails()
    if kind == t.DECIMAL:
        params = [int(p.name) for p in data_type.expressions if p.name.isdigit()]
        precision, scale = (params + [18, 2])[:2] if params else (38, 9)
        return "decimal", TypeDetails(precision=precision, scale=scale)
    if kind in (t.DATE, t.DATE32):
        return "date", TypeDetails()
    if kind in (t.TIMESTAMP, t.DATETIME, t.DATETIME64, t.TIMESTAMPNTZ):
        return "datetime", TypeDetails(fraction_digits=6, timezone=False)
    if kind in (t.TIMESTAMPTZ, t.TIMESTAMPLTZ):
        return "datetime", TypeDetails(fraction_digits=6, timezone=True)
    if kind == t.BOOLEAN:
        return "boolean", TypeDetails()
    if kind in (t.TEXT, t.VARCHAR, t.CHAR, t.NVARCHAR, t.NCHAR):
        return "string", TypeDetails()
    if kind == t.UUID:
        return "uuid", TypeDetails()
    if kind in (t.JSON, t.JSONB):
        return "json", TypeDetails()
    return None


def _sql_type(col: ColumnProfile) -> str:
    """A generic SQL type for a source column, so sqlglot can type expressions over it."""
    d = col.details
    return {
        "integer": "BIGINT",
        "float": "DOUBLE",
        "decimal": f"DECIMAL({d.precision or 38}, {d.scale or 0})",
        "date": "DATE",
        "datetime": "TIMESTAMPTZ" if d.timezone else "TIMESTAMP",
        "boolean": "BOOLEAN",
        "uuid": "UUID",
        "json": "JSON",
        "time": "TIME",
    }.get(col.type, "TEXT")


def source_columns(source: DatasetSchema) -> list[str]:
    """The columns a run reads: a table's own column names; a file's identifiers (its staging table's)."""
    return [c.name if source.format == "table" else c.identifier for c in source.columns]


def output_schema(source: DatasetSchema, projection: Projection, spec: PipelineSpec) -> DatasetSchema:
    """The schema of what the pipeline writes: source profiles carried through renames, types of casts and
    derived columns from sqlglot's type annotation (an expression it cannot type needs an explicit cast)."""
    by_source = dict(zip(source_columns(source), source.columns, strict=True))
    types = {_SOURCE: {name: _sql_type(c) for name, c in by_source.items()}}
    columns: list[ColumnProfile] = []
    for name, expr in projection.columns.items():
        if isinstance(expr, exp.Column) and expr.name in by_source:
            profile = by_source[expr.name].model_copy(update={"name": name, "identifier": name})
        else:
            profile = _typed_profile(name, expr, types, source.row_count)
        if profile.type == "datetime" and name == spec.cursor:  # compare cursors at full precision
            profile = profile.model_copy(
                update={
                    "details": profile.details.model_copy(
                        update={"fraction_digits": max(profile.details.fraction_digits or 0, 6)}
                    )
                }
            )
        if name in spec.primary_key:
            profile = profile.model_copy(update={"nullable": False, "null_fraction": 0.0})
        columns.append(profile)
    return source.model_copy(update={"name": spec.target_table, "columns": columns, "relationships": []})


def _typed_profile(
    name: str, expr: exp.Expression, types: dict[str, dict[str, str]], row_count: int
) -> ColumnProfile:
    """A profile for a cast or derived column, typed by sqlglot over the source column types."""
    query = exp.select(expr.copy().as_("value")).from_(_SOURCE)
    try:
        typed = annotate_types(
            qualify(query, schema=types, dialect="postgres"), schema=types, dialect="postgres"
        )
        logical = _logical(typed.selects[0].type)
    except Exception:  # sqlglot could not type it (an unknown function): ask for a cast below
        logical = None
    if logical is None:
        raise ToolError(
            f"The type of the column {name} cannot be worked out from its expression; "
            f"wrap it in a cast, like CAST(... AS numeric(14, 2))."
        )
    kind, details = logical
    return ColumnProfile(
        name=name,
        identifier=name,
        type=kind,
        details=details,
        nullable=True,
        null_fraction=0.0,
        distinct_count=max(row_count, 1),
    )


def design(spec: PipelineSpec, schema: DatasetSchema, dialect: str) -> TargetDesign:
    """DDL for the pipeline's target on `dialect`, from the output schema, adapted to the mode."""
    target = resolve_target(dialect)
    notes = Notes()
    is_keyed = keyed(spec)
    storage = (
        versions_table(spec.target_table) if is_keyed and target.name == "clickhouse" else spec.target_table
    )
    built = build(schema, target, storage, notes)
    create = built[0]
    extra = built[1:]
    if spec.mode != "full_refresh":
        batch_type = "UInt64" if target.name == "clickhouse" else "BIGINT"
        constraints = (
            [exp.ColumnConstraint(kind=exp.NotNullColumnConstraint())]
            if target.name != "clickhouse"
            else None
        )
        create.this.append(
            "expressions",
            exp.ColumnDef(
                this=exp.to_identifier(BATCH_COLUMN, quoted=True),
                kind=exp.DataType.build(batch_type, dialect=target.name),
                constraints=constraints,
            ),
        )
        notes.say(
            f"{BATCH_COLUMN} records the batch that wrote each row, so a run that dies midway is "
            "cleaned up and redone, never doubled."
        )
    if is_keyed:
        _key_by(create, spec.primary_key, target.name, notes)
    else:  # rows are appended or reloaded as the source has them: a key seen unique in a sample may repeat
        create.this.set(
            "expressions", [e for e in create.this.expressions if not isinstance(e, exp.PrimaryKey)]
        )
        extra = [s for s in extra if not _is_partition(s)]
    statements = [render(s, target.name) for s in [create, *extra]]
    if is_keyed and target.name == "clickhouse":
        statements.append(
            render(
                _final_view(spec.target_table, storage, [c.identifier for c in schema.columns]), "clickhouse"
            )
        )
        notes.say(
            f"{spec.target_table} is a view reading {storage} with FINAL, so queries see one row per "
            f"{', '.join(spec.primary_key)}: the newest batch wins."
        )
    # The designer's sort-key sentence no longer holds once the key orders the table.
    explanation = [
        s
        for s in notes.sentences()
        if not (is_keyed and target.name == "clickhouse" and s.startswith("ORDER BY ("))
    ]
    return TargetDesign(
        table=spec.target_table,
        storage=storage,
        dialect=target.name,
        columns=[c.identifier for c in schema.columns],
        statements=statements,
        explanation=explanation,
        batch_column=spec.mode != "full_refresh",
        keyed=is_keyed,
    )


def _is_partition(statement: exp.Expression) -> bool:
    properties = statement.args.get("properties")
    return bool(properties and any(isinstance(p, exp.PartitionedOfProperty) for p in properties.expressions))


def _key_by(create: exp.Create, key: list[str], dialect: str, notes: Notes) -> None:
    """Make the table merge rows by `key`: ClickHouse ReplacingMergeTree ordered by it; PostgreSQL
    PRIMARY KEY."""
    columns = [exp.column(exp.to_identifier(c, quoted=True)) for c in key]
    schema_node = create.this
    if dialect == "clickhouse":
        order = columns[0] if len(columns) == 1 else exp.Tuple(expressions=columns)
        properties = [
            exp.EngineProperty(
                this=exp.Anonymous(
                    this="ReplacingMergeTree",
                    expressions=[exp.column(exp.to_identifier(BATCH_COLUMN, quoted=True))],
                )
            ),
            exp.Order(expressions=[exp.Ordered(this=order)]),
        ]
        create.set("properties", exp.Properties(expressions=properties))
        notes.say(
            f"ReplacingMergeTree({BATCH_COLUMN}) ORDER BY {', '.join(key)}: a row loaded again replaces "
            "the older version with the same key (no partitions, so a key never spans two)."
        )
        return
    kept = [e for e in schema_node.expressions if not isinstance(e, exp.PrimaryKey)]
    for definition in kept:
        if isinstance(definition, exp.ColumnDef) and definition.name in key:
            constraints = definition.args.get("constraints") or []
            if not any(isinstance(c.args.get("kind"), exp.NotNullColumnConstraint) for c in constraints):
                definition.append("constraints", exp.ColumnConstraint(kind=exp.NotNullColumnConstraint()))
    kept.append(exp.PrimaryKey(expressions=[exp.to_identifier(c, quoted=True) for c in key]))
    schema_node.set("expressions", kept)
    create.set("properties", None)
    notes.say(f"PRIMARY KEY ({', '.join(key)}): each batch is merged with INSERT ... ON CONFLICT DO UPDATE.")


def _final_view(view: str, storage: str, columns: list[str]) -> exp.Create:
    table = exp.Table(this=exp.to_identifier(storage, quoted=True))
    query = exp.select(*[exp.column(exp.to_identifier(c, quoted=True)) for c in columns]).from_(
        exp.Final(this=table)
    )
    return exp.Create(
        this=exp.Table(this=exp.to_identifier(view, quoted=True)), kind="VIEW", expression=query
    )
