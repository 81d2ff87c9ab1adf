"""The SQL guard: the only way free-form SQL (a person's, a model's) reaches an engine.

`guard` parses the text with sqlglot and refuses anything that is not exactly one read-only query over the
allowed tables; what runs is sqlglot's rendering of the checked tree (comments dropped, LIMIT clamped), never
the original text, so a comment, a look-alike character or a second statement cannot ride along. The engines
add their own read-only mode and timeout underneath (see the warehouse adapters): this is the first fence, not
the only one.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError, TokenError
from sqlglot.optimizer.scope import traverse_scope

from etl_assistant.errors import ToolError

# Schemas (ClickHouse databases) holding engine metadata, users and settings.
SYSTEM_SCHEMAS = frozenset({"system", "information_schema", "pg_catalog", "pg_toast", "mysql",
                            "performance_schema", "temp", "sqlite_temp"})
SYSTEM_TABLE_PREFIXES = ("pg_", "sqlite_")
# Functions that read files or the network, reach other tables by name, change settings, write, or stall.
DENIED_FUNCTIONS = frozenset({
    # ClickHouse
    "file", "url", "remote", "remotesecure", "cluster", "clusterallreplicas", "s3", "s3cluster", "gcs",
    "hdfs", "mysql", "postgresql", "jdbc", "odbc", "mongodb", "redis", "sqlite", "input", "executable",
    "dictionary", "merge", "hascolumnintable", "getmacro", "getsetting", "filesystemavailable",
    "filesystemfree", "filesystemcapacity", "catboostevaluate", "sleep", "sleepeachrow", "azureblobstorage",
    "deltalake", "iceberg", "hudi", "filecluster", "urlcluster", "hdfscluster", "azureblobstoragecluster",
    "getserversetting", "getmergetreesetting",
    # PostgreSQL (plus every pg_* function, see DENIED_FUNCTION_PREFIXES)
    "lo_import", "lo_export", "lo_get", "lo_put", "lo_open", "lo_unlink", "dblink", "dblink_exec",
    "set_config",
    "current_setting", "query_to_xml", "query_to_xml_and_xmlschema", "table_to_xml", "schema_to_xml",
    "database_to_xml", "cursor_to_xml", "nextval", "setval", "txid_current",
    # SQLite
    "load_extension", "readfile", "writefile", "edit", "fts3_tokenizer",
})
DENIED_FUNCTION_PREFIXES = ("pg_", "dictget", "dicthas", "joinget", "dblink")
# Whole statements, and clauses that write, lock, change session state or leave the engine.
DENIED_NODES: dict[type[exp.Expression], str] = {
    exp.DML: "data changes (INSERT/UPDATE/DELETE/MERGE/COPY)",
    exp.DDL: "schema changes",
    exp.Drop: "DROP",
    exp.Alter: "ALTER",
    exp.TruncateTable: "TRUNCATE",
    exp.Command: "statements sqlglot cannot read (EXPLAIN, SHOW, SYSTEM, OPTIMIZE...)",
    exp.Transaction: "transaction control",
    exp.Commit: "COMMIT",
    exp.Rollback: "ROLLBACK",
    exp.Set: "SET",
    exp.Use: "USE",
    exp.Pragma: "PRAGMA",
    exp.Into: "SELECT INTO (it creates a table)",
    exp.Lock: "row locks (FOR UPDATE/SHARE)",
    exp.Describe: "DESCRIBE",
    exp.Show: "SHOW",
    exp.LoadData: "LOAD DATA",
    exp.Grant: "GRANT",
    exp.Revoke: "REVOKE",
    exp.Kill: "KILL",
    exp.Analyze: "ANALYZE",
    exp.Attach: "ATTACH",
    exp.Detach: "DETACH",
    exp.Cache: "CACHE",
    exp.Refresh: "REFRESH",
}
ALLOWED_CONTROL = frozenset("\t\n\r")
DEFAULT_MAX_DEPTH = 32  # callers pass ETLA_MAX_SQL_DEPTH; sqlglot recurses past ~45 parentheses


def guard(sql: str, *, dialect: str, allowed_tables: set[str] | None, limit: int,
          max_depth: int = DEFAULT_MAX_DEPTH) -> str:
    """The SQL to run instead of `sql`: one SELECT over allowed tables, LIMIT <= `limit`, nested at most
    `max_depth` parentheses deep; else ToolError. A pure function of its arguments, so an answer is kept
    (the same question asked again is parsed, checked and rendered once); a refusal is not kept."""
    allowed = frozenset(allowed_tables) if allowed_tables is not None else None
    return _guarded(sql, dialect, allowed, limit, max_depth)


@lru_cache(maxsize=1024)
def _guarded(sql: str, dialect: str, allowed_tables: frozenset[str] | None, limit: int, max_depth: int
             ) -> str:
    _check_characters(sql)
    _check_tokens(sql, dialect, max_depth)
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None
                      and not isinstance(s, exp.Semicolon)]
    except (ParseError, TokenError) as exc:
        raise ToolError(f"The query could not be parsed as {dialect} SQL ({_first_error(exc)}); "
                        "fix the syntax and send one SELECT.") from exc
    except RecursionError:
        raise ToolError("The query is nested too deeply to be read; flatten it (a CTE with WITH, or fewer "
                        "nested subqueries) and try again.") from None
    if not statements:
        raise ToolError("The query is empty; send one SELECT statement.")
    if len(statements) > 1:
        raise ToolError(f"Only one statement may run at a time, got {len(statements)}; send a single SELECT "
                        "without ';'-separated extras.")
    root = statements[0]
    while isinstance(root, exp.Subquery | exp.Paren) and isinstance(root.this, exp.Query):
        root = root.this
    if not isinstance(root, exp.Select | exp.SetOperation):
        raise ToolError(f"Only read-only SELECT queries (WITH ... SELECT, UNION of SELECTs) may run here, "
                        f"not {_kind(root)}; rewrite it as a SELECT.")
    for node in root.walk():
        _check_node(node)
    _check_tables(root, dialect, allowed_tables)
    safe = _limited(root, limit).sql(dialect=dialect, comments=False)
    _check_rendering(safe, dialect)
    return safe


def _check_depth(tokens: list[sqlglot.tokens.Token], max_depth: int) -> None:
    depth = deepest = 0
    for token in tokens:
        if token.token_type in (sqlglot.TokenType.L_PAREN, sqlglot.TokenType.L_BRACKET):
            depth += 1
            deepest = max(deepest, depth)
        elif token.token_type in (sqlglot.TokenType.R_PAREN, sqlglot.TokenType.R_BRACKET):
            depth -= 1
    if deepest > max_depth:
        raise ToolError(f"The query nests parentheses {deepest} deep, more than the {max_depth} allowed; "
                        "flatten it (a CTE with WITH, or fewer nested subqueries) and try again.")


def _check_characters(sql: str) -> None:
    """Invisible, control and look-alike whitespace characters can hide text from a reviewer: refuse them."""
    for position, char in enumerate(sql):
        category = unicodedata.category(char)
        hidden = (category in ("Cc", "Cf", "Co", "Cs", "Zl", "Zp") and char not in ALLOWED_CONTROL) or (
            category == "Zs" and char != " ")
        if hidden:
            raise ToolError(f"The query contains an invisible or look-alike character (U+{ord(char):04X} at "
                            f"position {position}); retype it in plain text.")


def _check_tokens(sql: str, dialect: str, max_depth: int) -> None:
    """Clauses sqlglot would only report as a syntax error get a clear refusal of their own; nesting deeper
    than `max_depth` is refused before the (recursive) parser sees it: 3,000 parentheses would take it a
    minute and end in a RecursionError."""
    try:
        tokens = sqlglot.Dialect.get_or_raise(dialect).tokenize(sql)
    except TokenError as exc:
        raise ToolError(f"The query could not be read as {dialect} SQL ({exc}); fix the quoting.") from exc
    _check_depth(tokens, max_depth)
    words = [t.text.upper() for t in tokens if t.token_type != sqlglot.TokenType.STRING]
    if any(a == "INTO" and b in ("OUTFILE", "DUMPFILE") for a, b in zip(words, words[1:], strict=False)):
        raise ToolError("INTO OUTFILE is not allowed: queries cannot write files; drop that clause.")


def _check_node(node: exp.Expression) -> None:
    for kind, label in DENIED_NODES.items():
        if isinstance(node, kind):
            raise ToolError(f"The query contains {label}, which is not allowed here; send a plain SELECT.")
    if isinstance(node, exp.Query):
        if node.args.get("settings"):
            raise ToolError("SETTINGS overrides are not allowed; the server sets limits itself, so drop the "
                            "SETTINGS clause.")
        if node.args.get("format"):
            raise ToolError("A FORMAT clause is not allowed; results come back as rows, so drop it.")
    if isinstance(node, exp.Table) and _is_table_function(node):
        raise ToolError(f"Table functions such as {_function_name(node.this) or node.name}() are not "
                        "allowed; query a table by name.")
    if isinstance(node, exp.In) and node.args.get("field"):
        raise ToolError("IN followed by a bare table name is not allowed; write IN (SELECT ... FROM table) "
                        "or IN (list of values).")
    if isinstance(node, exp.Func):
        name = _function_name(node)
        if name in DENIED_FUNCTIONS or name.startswith(DENIED_FUNCTION_PREFIXES):
            shown = node.name if isinstance(node, exp.Anonymous) else name
            raise ToolError(f"The function {shown}() is not allowed in queries (it reaches files, the "
                            "network, other tables or server settings); remove it.")
    if isinstance(node, exp.Identifier | exp.Var) and not node.name.isascii():
        raise ToolError(f"The name {node.name!r} contains non-ASCII characters; table and column names are "
                        "plain ASCII, so retype it.")


def _is_table_function(table: exp.Table) -> bool:
    """`FROM f(...)`: a function node, or (some dialects) a name whose arguments became alias columns."""
    if not isinstance(table.this, exp.Identifier):
        return True
    alias = table.args.get("alias")
    return alias is not None and not alias.name and bool(alias.columns)


def _function_name(node: exp.Expression) -> str:
    if isinstance(node, exp.Anonymous):
        return node.name.lower()
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    return ""


def _check_tables(root: exp.Expression, dialect: str, allowed: frozenset[str] | None) -> None:
    """Every real table (not a CTE) must be a user table and, when an allow-list is given, on it."""
    try:
        tables = [t for scope in traverse_scope(root) for t in scope.tables
                  if t.db or t.name not in scope.cte_sources]
    except SqlglotError:  # scoping failed: every table reference counts as real (CTEs must be allowed too)
        tables = list(root.find_all(exp.Table))
    fold = {"postgres": _fold_postgres, "sqlite": _fold_lower}.get(dialect, _fold_none)
    allowed_names = {fold(name, quoted=True) for name in allowed} if allowed is not None else None
    for table in tables:
        if _is_system_table(table):
            raise ToolError(f"System tables such as {table.sql(dialect=dialect)} are not allowed; query your "
                            "own tables (ask 'what datasets do I have?' to see them).")
        name = fold(table.name, quoted=table.this.quoted)
        qualified = f"{fold(table.db, quoted=True)}.{name}" if table.db else name
        if allowed_names is not None and qualified not in allowed_names:
            known = ", ".join(sorted(allowed)) if allowed else "none yet"
            raise ToolError(f"The table {table.sql(dialect=dialect)} is not one you can query; known tables: "
                            f"{known}.")


def _is_system_table(table: exp.Table) -> bool:
    name = table.name.lower()
    return (table.db.lower() in SYSTEM_SCHEMAS or table.catalog.lower() in SYSTEM_SCHEMAS
            or name in SYSTEM_SCHEMAS or name.startswith(SYSTEM_TABLE_PREFIXES))


def _fold_postgres(name: str, *, quoted: bool) -> str:
    return name if quoted else name.lower()


def _fold_lower(name: str, *, quoted: bool) -> str:
    return name.lower()


def _fold_none(name: str, *, quoted: bool) -> str:
    return name


def _limited(root: exp.Query, limit: int) -> exp.Query:
    """Clamp a plain numeric LIMIT, add one when missing, wrap anything else (LIMIT BY, FETCH, LIMIT ALL)."""
    current = root.args.get("limit")
    if current is None:
        return root.limit(limit, copy=False)
    if isinstance(current, exp.Limit) and not current.expressions and current.expression.is_int:
        current.set("expression", exp.Literal.number(min(int(current.expression.name), limit)))
        return root
    return exp.select(exp.Star()).from_(root.subquery("limited_rows", copy=False)).limit(limit)


def _check_rendering(safe: str, dialect: str) -> None:
    """What we will run must read back as one query; a renderer surprise is refused, not run."""
    try:
        parsed = sqlglot.parse(safe, read=dialect)
    except SqlglotError as exc:
        raise ToolError(f"The query could not be made safe to run ({_first_error(exc)}); "
                        "simplify it.") from exc
    if len(parsed) != 1 or not isinstance(parsed[0], exp.Query) or parsed[0].find(exp.Command):
        raise ToolError("The query could not be made safe to run; simplify it to a plain SELECT.")


def _kind(node: exp.Expression) -> str:
    if isinstance(node, exp.Command):
        return node.name.upper()
    labels = [label for kind, label in DENIED_NODES.items() if isinstance(node, kind)]
    return labels[0] if labels else "this kind of statement"


def _first_error(exc: SqlglotError) -> str:
    """sqlglot's first error, without its internals (class names) that mean nothing to a person."""
    errors = getattr(exc, "errors", None)
    text = str((errors[0].get("description") if errors else None) or exc).split("\n")[0]
    return "incomplete or unsupported syntax" if "Required keyword" in text or "<class" in text else text
