"""One typed Settings object: every knob comes from env vars (prefix ETLA_) or `.env`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ETLA_", env_file=".env", extra="ignore")

    data_dir: Path = Path("./data")
    # Empty means "embedded default under data_dir" (see the resolved_* properties).
    warehouse_url: str = ""
    catalog_url: str = ""
    # Files may only be read from these roots (plus data_dir). Empty: data_dir and the current directory.
    allowed_roots: list[Path] = Field(default_factory=list)
    tenant: str = "default"

    # Chat model: "offline" (deterministic planner) or "openai" (any OpenAI-compatible endpoint).
    model: Literal["offline", "openai"] = "offline"
    llm_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("ETLA_LLM_BASE_URL", "OPENAI_BASE_URL")
    )
    llm_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("ETLA_LLM_API_KEY", "OPENAI_API_KEY")
    )
    llm_model: str = Field(
        default="gpt-4o-mini", validation_alias=AliasChoices("ETLA_LLM_MODEL", "OPENAI_MODEL")
    )

    redis_url: str | None = None

    # Vector store for retrieval context, verified question->SQL pairs and the semantic cache:
    # empty = an embedded Chroma (PersistentClient) under data_dir; set = a Chroma server (http://host:8000).
    chroma_url: str | None = None
    retrieval_top_k: int = 5  # tables (with their columns) the LLM sees per question, never the whole schema
    # Cosine similarity a cached question must reach (plus equal literals); bench/bench_cache.py: 0 false hits
    # in 51 probes from 0.8 up, 24/25 paraphrases hit at 0.85 (embedding alone: 17 false hits there).
    cache_threshold: float = 0.85
    llm_sql_tries: int = 3  # LLM NL->SQL attempts, each fed the previous error

    # Slack channel (POST /slack/events): both secrets set, or the endpoint answers 503.
    slack_signing_secret: SecretStr | None = None
    slack_bot_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"  # tests point it at a local recorder
    host: str = "127.0.0.1"
    port: int = 8000

    # Inference sampling and limits.
    sample_rows: int = 20_000
    query_row_limit: int = 1_000
    query_timeout_s: float = 30.0

    # Largest file accepted by POST /v1/datasets, in MiB.
    max_upload_mb: float = 200.0

    # IANA zone pipeline schedules are read and said back in ("daily at 2 AM" = 02:00 there).
    timezone: str = "UTC"
    # Named source databases, JSON object name -> URL (secrets: shown only without their password).
    connections: dict[str, SecretStr] = Field(default_factory=dict)
    # A Fernet key: connection URLs added in chat or the CLI are stored encrypted with it in the catalog.
    connections_key: SecretStr | None = None
    # Register the warehouse's own tables (those the assistant did not create) for every tenant that asks.
    discover_warehouse: bool = True
    # Schemas (ClickHouse: databases) to discover; empty: the search path; ["*"]: every user schema.
    discover_schemas: list[str] = Field(default_factory=list)
    # Seconds one refresh may spend profiling samples; tables past it get their declared structure only.
    discover_budget_s: float = 60.0

    # The pipeline scheduler inside the server process, and how often it looks for due pipelines.
    scheduler: bool = True
    scheduler_tick_s: float = 30.0
    # Access (etl_assistant/access): API keys live in the catalog (`etl-assistant keys create`). Host names
    # the server answers to besides the one it is bound to; other web origins allowed to call it (CORS is off
    # while this is empty); requests per key per minute (0: no limit); Slack team id -> tenant.
    allowed_hosts: list[str] = Field(default_factory=list)
    cors_origins: list[str] = Field(default_factory=list)
    rate_limit_per_minute: int = 600
    slack_tenants: dict[str, str] = Field(default_factory=dict)
    # Hostile sizes: each limit is refused with one sentence before anything is written.
    max_decompressed_mb: float = 1024.0  # bytes a (gzip) source may expand to while it is read
    max_rows: int = 50_000_000  # data rows of one source file
    max_columns: int = 2_000  # columns of one source file
    max_line_kb: int = 4096  # bytes of one line of a delimited file (a row must fit a parser block)
    query_max_memory_mb: int = 2048  # a read query's memory: ClickHouse max_memory_usage, PostgreSQL work_mem
    max_sql_depth: int = 32  # parentheses nested in free-form SQL, checked before parsing (sqlglot recurses)
    max_tool_result_kb: int = 256  # a tool result for a model or an MCP client; larger ones are summarised

    @property
    def resolved_warehouse_url(self) -> str:
        return self.warehouse_url or f"chdb:///{(self.data_dir / 'warehouse').resolve()}"

    @property
    def resolved_catalog_url(self) -> str:
        return self.catalog_url or f"sqlite:///{(self.data_dir / 'catalog.db').resolve()}"

    @property
    def resolved_allowed_roots(self) -> list[Path]:
        roots = self.allowed_roots or [Path.cwd()]
        return [p.resolve() for p in [*roots, self.data_dir]]

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
