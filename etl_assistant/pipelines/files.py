"""File sources: a path, a glob or a folder, where each new file is loaded once.

A file is known by name, size and mtime; when those changed, its content hash decides (a file touched but not
changed is not loaded again). Each new file is inferred and bulk-loaded into a staging table by the same path
as `load_table` (native chDB `file()`, PostgreSQL COPY), then inserted through the pipeline's transforms as
one batch, and remembered in the manifest in the same catalog transaction that commits the batch.
"""

from __future__ import annotations

import hashlib
from glob import glob
from pathlib import Path
from typing import TYPE_CHECKING

from etl_assistant.errors import InputError
from etl_assistant.pipelines.extract import WarehouseTableSource
from etl_assistant.pipelines.load import BatchResult, Loader, Window, clean_up
from etl_assistant.pipelines.spec import PipelineSpec
from etl_assistant.pipelines.store import LoadedFile, PipelineStore

if TYPE_CHECKING:  # tools.base loads the tool registry, whose tools import this room
    from etl_assistant.tools.base import ToolContext

_HASH_CHUNK = 1 << 20


def matching_files(ctx: ToolContext, pattern: str) -> list[Path]:
    """The files a path, glob or folder names, sorted; each must lie within the allowed roots."""
    from etl_assistant.schema.source import resolve_source

    base = Path(pattern).expanduser()
    if base.is_dir():
        candidates = sorted(p for p in base.iterdir() if p.is_file() and not p.name.startswith("."))
    elif any(ch in pattern for ch in "*?["):
        candidates = sorted(Path(p) for p in glob(str(base), recursive=True) if Path(p).is_file())
    else:
        candidates = [base]
    return [resolve_source(path, ctx.settings).path for path in candidates]  # outside the roots: InputError


def content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def new_files(ctx: ToolContext, store: PipelineStore, spec: PipelineSpec) -> list[tuple[Path, str]]:
    """(path, content hash) of the matching files not loaded yet, in name order."""
    loaded = store.loaded_files(ctx.tenant, spec.name)
    seen = {(f.path, f.size, f.mtime_ns) for f in loaded}
    hashes: dict[str, set[str]] = {}
    for f in loaded:
        hashes.setdefault(f.path, set()).add(f.sha256)
    found = []
    for path in matching_files(ctx, spec.source.path or ""):
        stat = path.stat()
        if (str(path), stat.st_size, stat.st_mtime_ns) in seen:
            continue
        digest = content_hash(path)
        if digest not in hashes.get(str(path), set()):
            found.append((path, digest))
    return found


def load_new_files(ctx: ToolContext, store: PipelineStore, spec: PipelineSpec, committed: int) -> BatchResult:
    """Load every new file as its own batch; returns the totals. A failing file stops the run, the files
    before it stay committed."""
    from etl_assistant.pipelines.runner import spec_projection, target_create_sql
    from etl_assistant.schema.infer import infer_file
    from etl_assistant.tools.load_table import load_staging

    warehouse = ctx.warehouse
    create_sql = target_create_sql(ctx, spec)
    pending = new_files(ctx, store, spec)
    total = BatchResult(0, 0)
    clean_up(warehouse, spec, committed)
    for number, (path, digest) in enumerate(pending, start=1):
        stat = path.stat()
        schema = infer_file(path, ctx.settings, name=spec.target_table)
        ctx.progress(number - 1, len(pending), f"{spec.name}: loading {path.name}")
        staging, rows, _method = load_staging(ctx, warehouse, schema, spec.target_table)
        try:
            projection = spec_projection(spec, [c.identifier for c in schema.columns])
            loader = Loader(warehouse, spec, projection, WarehouseTableSource(warehouse, staging), create_sql,
                            ctx.progress)
            batch = committed + 1
            result = loader.write(batch, Window())
        finally:
            warehouse.drop_table(staging)
        store.commit_batch(ctx.tenant, spec.name, batch, None, files=[LoadedFile(
            path=str(path), size=stat.st_size, mtime_ns=stat.st_mtime_ns, sha256=digest, rows=rows,
            batch=batch)])
        committed = batch
        total = BatchResult(total.rows_read + rows, total.rows_written + result.rows_written)
    if not pending and not matching_files(ctx, spec.source.path or ""):
        raise InputError(f"No file matches {spec.source.path}; check the path, glob or folder.")
    ctx.progress(len(pending), len(pending),
                 f"{spec.name}: {len(pending)} new file(s), {total.rows_written} rows")
    return total
