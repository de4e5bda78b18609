"""``config.load_settings``: the environment first, then the env file, then the defaults; secrets never shown.

Only usable values here: what an unusable value says is tested with start-up (tests/app/test_bad_input.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lab11_persistence.config import DEFAULT_CONTEXT_MESSAGES, load_settings

pytestmark = pytest.mark.fast


def test_with_nothing_set_the_app_uses_the_embedded_server_and_the_offline_model() -> None:
    settings = load_settings({}, read_dotenv=False)
    assert settings.uses_embedded_redis and not settings.redis_is_cluster and not settings.uses_entra_id
    assert settings.model_kind == "offline"
    assert settings.context_messages == DEFAULT_CONTEXT_MESSAGES == 40
    assert settings.key_scope == {}


def test_blank_values_count_as_unset_and_values_are_trimmed() -> None:
    settings = load_settings({"REDIS_URL": "   ", "LAB11_APPLICATION_ID": "  travel  "}, read_dotenv=False)
    assert settings.redis_url is None and settings.uses_embedded_redis
    assert settings.key_scope == {"application_id": "travel"}


def test_the_environment_wins_over_the_env_file_which_fills_the_rest(tmp_path: Path) -> None:
    env_file = tmp_path / "lab11.env"
    env_file.write_text("REDIS_URL=redis://from-file:6379/0\nLAB11_TENANT_ID=acme\nOPENAI_API_KEY=sk-file\n")
    settings = load_settings({"LAB11_ENV_FILE": str(env_file), "REDIS_URL": "redis://from-env:6379/0"})
    assert (settings.redis_url, settings.tenant_id, settings.model_kind) == (
        "redis://from-env:6379/0",
        "acme",
        "openai",
    )


@pytest.mark.parametrize(("given", "window"), [("8", 8), (" 200 ", 200), ("all", None), ("ALL", None), ("0", None)])
def test_the_window_is_a_number_of_messages_or_every_message(given: str, window: int | None) -> None:
    assert load_settings({"LAB11_CONTEXT_MESSAGES": given}, read_dotenv=False).context_messages == window


@pytest.mark.parametrize(("given", "cluster"), [("1", True), ("true", True), ("YES", True), ("on", True), ("0", False)])
def test_redis_cluster_applies_to_the_users_redis_url(given: str, cluster: bool) -> None:
    assert (
        load_settings({"REDIS_URL": "redis://h:1/0", "REDIS_CLUSTER": given}, read_dotenv=False).redis_is_cluster
        is cluster
    )
    assert load_settings({"REDIS_CLUSTER": given}, read_dotenv=False).redis_is_cluster is False  # embedded: never


@pytest.mark.parametrize(
    ("environment", "kind"),
    [
        ({"AOAI_ENDPOINT": "https://x.openai.azure.com", "AOAI_DEPLOYMENT": "gpt"}, "azure"),
        ({"OPENAI_API_KEY": "sk-test"}, "openai"),
        ({"AOAI_ENDPOINT": "https://x.openai.azure.com", "AOAI_DEPLOYMENT": "gpt", "OPENAI_API_KEY": "k"}, "azure"),
        ({"OPENAI_BASE_URL": "http://localhost:11434/v1"}, "offline"),
    ],
    ids=["azure", "openai", "azure first", "a base url alone"],
)
def test_the_model_is_azure_then_openai_then_offline(environment: dict[str, str], kind: str) -> None:
    assert load_settings(environment, read_dotenv=False).model_kind == kind


def test_the_scope_holds_only_what_is_set() -> None:
    settings = load_settings({"LAB11_APPLICATION_ID": "travel", "LAB11_AGENT_ID": "planner"}, read_dotenv=False)
    assert settings.key_scope == {"application_id": "travel", "agent_id": "planner"}


def test_a_data_dir_is_expanded_from_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert load_settings({"LAB11_DATA_DIR": "~/lab11-data"}, read_dotenv=False).data_dir == tmp_path / "lab11-data"


def test_no_secret_is_shown_by_repr_and_every_secret_is_redacted() -> None:
    settings = load_settings(
        {
            "REDIS_URL": "redis://ana:s3cret-pass@cache.example:6380/0",
            "OPENAI_API_KEY": "sk-very-secret",
            "AOAI_API_KEY": "azure-secret-key",
        },
        read_dotenv=False,
    )
    shown = repr(settings)
    assert all(secret not in shown for secret in ("s3cret-pass", "sk-very-secret", "azure-secret-key"))
    assert "redis_url='set'" in shown
    said = settings.redact("auth s3cret-pass failed for sk-very-secret and azure-secret-key")
    assert said == "auth *** failed for *** and ***"
