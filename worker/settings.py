"""Every setting Imagefill reads, validated at start-up (env vars or `.env`; see .env.example)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from urllib.parse import urlparse

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from worker.openai_models import responses_only


class StorageBackend(StrEnum):
    supabase = "supabase"
    local = "local"


class WakeupMode(StrEnum):
    """How a worker learns that jobs were queued (the poll safety net runs in every mode)."""

    listen = "listen"  # LISTEN/NOTIFY: direct connection or session pooler
    realtime = "realtime"  # Supabase Realtime broadcast: any pooler, incl. the transaction pooler
    poll = "poll"  # WORKER_POLL_SECONDS only


class SearchProvider(StrEnum):
    brave = "brave"


class SettingsError(RuntimeError):
    """A missing or malformed setting; the message names it, in one line."""


class Settings(BaseSettings):
    # An empty value (`WORKER_HEALTH_PORT=` as copied from .env.example) means "not set".
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    database_url: str = Field(description="Postgres: Supabase direct or session-pooler connection")
    supabase_url: str | None = None
    supabase_service_role_key: SecretStr | None = None

    off_base_url: str = "https://world.openfoodfacts.org"
    off_user_agent: str = "Imagefill/0.1 (imagefill@example.com)"
    # OFF product reads per minute for this host (all worker processes together).
    off_rate_limit_per_minute: int = Field(default=15, ge=1, le=100_000)
    off_timeout_seconds: float = Field(default=10.0, gt=0)
    off_max_retries: int = Field(default=3, ge=0, le=10)
    off_retry_backoff_seconds: float = Field(default=2.0, ge=0)
    # `imagefill off-index` output: Stage 1 reads it before the live API (unset = API only).
    off_index_path: Path | None = None
    # Where OFF serves product images; URLs built from the export point here.
    off_images_base_url: str = "https://images.openfoodfacts.org"
    # Largest OFF answer read (a product with the fields we ask for is a few KB).
    off_max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=64 * 1024)

    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    # Chosen by cost per verdict, not per token (docs/etapas.md, "Etapa 2"): image tokens differ per family.
    openai_model: str = "gpt-4.1-mini"
    openai_timeout_seconds: float = Field(default=30.0, gt=0)
    # The SDK's own retries (429 honouring Retry-After, 5xx, timeouts); then "no verdict".
    openai_max_retries: int = Field(default=2, ge=0, le=10)
    # USD per 1M tokens, `model=input/output`, comma-separated: what `status` and `eval` multiply by.
    openai_prices: str = (
        "gpt-4.1-mini=0.40/1.60,gpt-4.1-nano=0.10/0.40,gpt-4o-mini=0.15/0.60,"
        "gpt-5-mini=0.25/2.00,gpt-5-nano=0.05/0.40"
    )

    image_search_provider: SearchProvider | None = None
    image_search_api_key: SecretStr | None = None
    image_search_base_url: str | None = None
    # Results asked per query (the 5–10) and most candidates judged per product (cost cap).
    image_search_results_per_query: int = Field(default=8, ge=1, le=50)
    image_search_max_candidates: int = Field(default=10, ge=1, le=50)
    image_search_min_side: int = Field(default=300, ge=1, le=4000)
    # Comma-separated domains never used (their subdomains too), e.g. marketplaces with watermarks.
    image_search_blocked_domains: str = ""
    image_search_country: str = "BR"
    image_search_language: str = "pt-br"

    # How long a paid answer (a search query's hits, the attributes OpenAI extracted) is reused for
    # the same product and question: a retried job or a "reject and retry" does not pay again.
    # 0 = never reused.
    answer_cache_ttl_hours: float = Field(default=168.0, ge=0, le=24 * 365)
    # Caps in US$ for every paid call together (OpenAI by OPENAI_PRICES, the search by the price
    # below), per calendar month and day in UTC; empty = no cap. At a cap the paid stages wait.
    budget_monthly_usd: float | None = Field(default=None, ge=0)
    budget_daily_usd: float | None = Field(default=None, ge=0)
    # Requests per month per provider, `provider=N`, comma-separated (e.g. the Brave plan's `brave=2000`).
    budget_monthly_requests: str = ""
    # Pacing shared by every worker process on this host (like OFF_RATE_LIMIT_PER_MINUTE), from the
    # plans' limits: Brave's free plan allows 1 request/second; OpenAI's tier 1, 500 requests/minute.
    image_search_rate_per_second: float = Field(default=1.0, gt=0, le=10_000)
    openai_requests_per_minute: float = Field(default=500.0, gt=0, le=1_000_000)
    # US$ per 1,000 image-search requests (check your plan's price).
    image_search_price_per_1000: float = Field(default=5.0, ge=0)

    image_confidence_threshold: float = Field(default=0.80, ge=0, le=1)
    image_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    image_max_side: int = Field(default=1200, ge=64, le=8000)
    image_download_timeout_seconds: float = Field(default=15.0, gt=0)
    # Comma-separated hosts/CIDRs that may be private (tests and the demo serve from 127.0.0.1).
    image_fetch_allow_hosts: str = ""

    worker_concurrency: int = Field(default=5, ge=1, le=100)
    worker_lease_seconds: int = Field(default=120, ge=10, le=3600)
    worker_poll_seconds: float = Field(default=5.0, gt=0)
    worker_wakeup: WakeupMode = WakeupMode.listen
    worker_shutdown_grace_seconds: float = Field(default=20.0, ge=0)
    # First retry delay of a failed job; doubles per attempt, capped at one hour (in SQL).
    worker_retry_backoff_seconds: int = Field(default=30, ge=0, le=3600)
    worker_health_port: int | None = Field(default=None, ge=0, le=65535)
    # The periodic sweep: fails leases that expired on their last attempt, folds the panel
    # counters and applies the retention policy below (0 days = keep forever). 0 seconds: this
    # worker never sweeps (pg_cron runs imagefill.sweep_image_queue instead; see docs/worker.md).
    worker_sweep_seconds: float = Field(default=60.0, ge=0)
    retention_done_jobs_days: int = Field(default=30, ge=0)
    retention_events_days: int = Field(default=90, ge=0)

    storage_backend: StorageBackend = StorageBackend.supabase
    storage_bucket: str = "product-images"
    local_storage_dir: Path = Path(".local/storage")
    local_storage_public_url: str | None = None

    rate_limit_dir: Path = Path("/tmp/imagefill-ratelimit")

    # Stage 4, the manual browser search (`imagefill browse ID`, or a worker with WORKER_BROWSER=true
    # that takes the panel's "Buscar no navegador" jobs). Templates: comma-separated, `{query}` is
    # replaced by the URL-encoded query (brand + name, then the EAN).
    worker_browser: bool = False
    browser_executable: Path | None = None  # default: Debian's chromium (worker/offline/system-deps.tsv)
    browser_search_urls: str = "https://www.bing.com/images/search?q={query}"
    browser_min_image_side: int = Field(default=200, ge=16, le=4000)
    browser_max_candidates: int = Field(default=8, ge=1, le=50)
    browser_page_timeout_seconds: float = Field(default=20.0, gt=0)
    log_json: bool | None = None

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str) -> str:
        if urlparse(value).scheme not in ("postgres", "postgresql"):
            raise ValueError("deve começar com postgresql://")
        return value

    @field_validator(
        "off_base_url", "off_images_base_url", "supabase_url", "openai_base_url", "image_search_base_url"
    )
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if urlparse(value).scheme not in ("http", "https") or not urlparse(value).netloc:
            raise ValueError("deve ser uma URL http(s) completa")
        return value.rstrip("/")

    @field_validator("openai_model")
    @classmethod
    def _chat_completions_model(cls, value: str) -> str:
        # The judge calls Chat Completions; these models answer 404 there (worker/openai_models.py).
        if responses_only(value):
            raise ValueError(
                f"{value} só funciona na Responses API da OpenAI, e o Imagefill usa Chat Completions:"
                " escolha um modelo de chat (ex.: gpt-4.1-mini, gpt-5-mini)"
            )
        return value

    @field_validator("browser_search_urls")
    @classmethod
    def _search_templates(cls, value: str) -> str:
        for template in (part.strip() for part in value.split(",") if part.strip()):
            if "{query}" not in template or urlparse(template).scheme not in ("http", "https"):
                raise ValueError("cada modelo deve ser uma URL http(s) com {query}")
        return value

    @property
    def browser_search_templates(self) -> tuple[str, ...]:
        return tuple(part.strip() for part in self.browser_search_urls.split(",") if part.strip())

    @model_validator(mode="after")
    def _storage_needs_credentials(self) -> Settings:
        if self.storage_backend is StorageBackend.supabase and not (
            self.supabase_url and self.supabase_service_role_key
        ):
            raise ValueError(
                "STORAGE_BACKEND=supabase exige SUPABASE_URL e SUPABASE_SERVICE_ROLE_KEY "
                "(ou use STORAGE_BACKEND=local)"
            )
        return self

    @model_validator(mode="after")
    def _realtime_needs_the_project(self) -> Settings:
        if self.worker_wakeup is WakeupMode.realtime and not (
            self.supabase_url and self.supabase_service_role_key
        ):
            raise ValueError(
                "WORKER_WAKEUP=realtime exige SUPABASE_URL e SUPABASE_SERVICE_ROLE_KEY (o worker entra no"
                " canal privado imagefill:jobs do Supabase Realtime); ou use WORKER_WAKEUP=listen ou poll"
            )
        return self

    @field_validator("openai_prices")
    @classmethod
    def _price_table(cls, value: str) -> str:
        parse_price_table(value)
        return value

    @field_validator("budget_monthly_requests")
    @classmethod
    def _quotas(cls, value: str) -> str:
        parse_request_quotas(value)
        return value

    @property
    def prices(self) -> dict[str, tuple[float, float]]:
        return parse_price_table(self.openai_prices)

    @property
    def uses_transaction_pooler(self) -> bool:
        """Supabase's transaction pooler (port 6543) cannot LISTEN."""
        return urlparse(self.database_url).port == 6543


def parse_price_table(text: str) -> dict[str, tuple[float, float]]:
    """`gpt-4.1-mini=0.40/1.60,...` → {model: (input, output)} in USD per 1M tokens."""
    table: dict[str, tuple[float, float]] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        model, _, prices = item.partition("=")
        input_price, _, output_price = prices.partition("/")
        try:
            table[model.strip()] = (float(input_price), float(output_price))
        except ValueError:
            raise ValueError(
                f"preço inválido em {item!r} (use modelo=entrada/saída, USD por 1M tokens)"
            ) from None
    return table


def parse_request_quotas(text: str) -> dict[str, int]:
    """`brave=2000,openai=100000` → {provider: requests per month}."""
    quotas: dict[str, int] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        provider, _, number = item.partition("=")
        try:
            quotas[provider.strip().lower()] = int(number)
        except ValueError:
            raise ValueError(
                f"cota inválida em {item!r} (use provedor=requisições, ex.: brave=2000)"
            ) from None
        if quotas[provider.strip().lower()] < 0 or not provider.strip():
            raise ValueError(f"cota inválida em {item!r} (use provedor=requisições, ex.: brave=2000)")
    return quotas


def load_settings(**overrides: object) -> Settings:
    """Loads and validates settings, turning pydantic's report into one line per bad setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            name = "_".join(str(part) for part in error["loc"]).upper() or "CONFIGURAÇÃO"
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "missing":
                message = "obrigatória e não definida"
            lines.append(f"{name}: {message}")
        raise SettingsError("Configuração inválida — " + "; ".join(lines)) from None
