"""Settings: every one documented in .env.example; bad values named in one line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.harness import ROOT
from worker.settings import Settings, SettingsError, load_settings


def test_every_setting_is_documented_in_env_example() -> None:
    documented = set(
        re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE)
    )
    expected = {name.upper() for name in Settings.model_fields}
    assert expected - documented == set()


def test_bad_values_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://x@127.0.0.1/db")
    monkeypatch.setenv("STORAGE_BACKEND", "local")
    monkeypatch.setenv("IMAGE_CONFIDENCE_THRESHOLD", "1.5")
    monkeypatch.setenv("OFF_BASE_URL", "not a url")
    with pytest.raises(SettingsError) as error:
        load_settings()
    message = str(error.value)
    assert "\n" not in message
    assert "IMAGE_CONFIDENCE_THRESHOLD" in message and "OFF_BASE_URL" in message


def test_supabase_storage_needs_its_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://x@127.0.0.1/db")
    monkeypatch.delenv("SUPABASE_URL", raising=False)
    with pytest.raises(SettingsError, match="SUPABASE_URL"):
        load_settings(storage_backend="supabase")


def test_realtime_wakeup_needs_the_project_url_and_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUPABASE_URL", raising=False)
    monkeypatch.delenv("SUPABASE_SERVICE_ROLE_KEY", raising=False)
    with pytest.raises(SettingsError, match="WORKER_WAKEUP=realtime exige SUPABASE_URL"):
        load_settings(database_url="postgresql://x@h/db", storage_backend="local", worker_wakeup="realtime")
    with pytest.raises(SettingsError, match="WORKER_WAKEUP"):
        load_settings(database_url="postgresql://x@h/db", storage_backend="local", worker_wakeup="webhook")
    assert (
        load_settings(database_url="postgresql://x@h/db", storage_backend="local").worker_wakeup == "listen"
    )


def test_transaction_pooler_is_detected() -> None:
    settings = load_settings(
        database_url="postgresql://u@aws-0-sa-east-1.pooler.supabase.com:6543/postgres",
        storage_backend="local",
    )
    assert settings.uses_transaction_pooler
    assert not load_settings(
        database_url="postgresql://u@db.x.supabase.co:5432/postgres", storage_backend="local"
    ).uses_transaction_pooler


def test_secrets_do_not_leak_through_repr() -> None:
    settings = load_settings(
        database_url="postgresql://u@h/db", storage_backend="local", openai_api_key="sk-secret-value"
    )
    assert "sk-secret-value" not in repr(settings)


def _optional_settings() -> list[str]:
    return [name for name, field in Settings.model_fields.items() if not field.is_required()]


@pytest.mark.parametrize("name", _optional_settings())
def test_an_empty_optional_setting_means_not_set(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """`NAME=` as copied from .env.example behaves exactly like leaving NAME out."""
    monkeypatch.setenv("DATABASE_URL", "postgresql://x@127.0.0.1/db")
    monkeypatch.setenv("STORAGE_BACKEND", "local")
    baseline = load_settings(_env_file=None)
    if name.upper() not in ("DATABASE_URL", "STORAGE_BACKEND"):
        monkeypatch.setenv(name.upper(), "")
    assert getattr(load_settings(_env_file=None), name) == getattr(baseline, name)


def test_empty_values_in_a_dotenv_file_mean_not_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The same through a `.env` file: every optional setting present and empty, as users copy it."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    env_file = tmp_path / ".env"
    lines = ["DATABASE_URL=postgresql://x@127.0.0.1/db", "STORAGE_BACKEND=local"]
    lines += [f"{name.upper()}=" for name in _optional_settings() if name != "storage_backend"]
    env_file.write_text("\n".join(lines) + "\n")
    settings = load_settings(_env_file=env_file)
    defaults = Settings.model_construct()
    for name in _optional_settings():
        if name != "storage_backend":
            assert getattr(settings, name) == getattr(defaults, name), name
    assert settings.worker_health_port is None


def test_an_empty_required_setting_is_reported_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "")
    monkeypatch.setenv("STORAGE_BACKEND", "local")
    with pytest.raises(SettingsError, match="DATABASE_URL: obrigatória e não definida"):
        load_settings(_env_file=None)


@pytest.mark.parametrize(
    "model", ["gpt-5-pro", "o3-pro", "o1-pro", "codex-mini-latest", "computer-use-preview", "gpt-5-codex"]
)
def test_a_responses_only_model_is_refused_naming_openai_model(
    monkeypatch: pytest.MonkeyPatch, model: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://x@127.0.0.1/db")
    monkeypatch.setenv("STORAGE_BACKEND", "local")
    monkeypatch.setenv("OPENAI_MODEL", model)
    with pytest.raises(SettingsError) as error:
        load_settings()
    message = str(error.value)
    assert "\n" not in message and message.count("OPENAI_MODEL") == 1
    assert f"OPENAI_MODEL: {model} só funciona na Responses API" in message


@pytest.mark.parametrize("model", ["gpt-4.1-mini", "gpt-5-mini", "gpt-5-nano", "gpt-4o-mini", "o4-mini"])
def test_chat_completions_models_are_accepted(monkeypatch: pytest.MonkeyPatch, model: str) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://x@127.0.0.1/db")
    assert load_settings(storage_backend="local", openai_model=model).openai_model == model
