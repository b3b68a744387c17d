"""Settings: defaults, YAML file, environment and overrides, with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from sharedline.config.settings import ListenAddress, SettingsError, load_settings


def test_embedded_defaults_listen_on_loopback_with_sqlite() -> None:
    settings = load_settings()
    assert [str(a) for a in settings.sip.listen] == ["udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"]
    assert settings.database_url.startswith("sqlite+aiosqlite:///")


def test_file_then_environment_then_overrides(tmp_path: Path, monkeypatch) -> None:
    config = tmp_path / "sharedline.yaml"
    config.write_text("database_url: sqlite+aiosqlite:///file.db\nsip:\n  t1: 0.25\n  t2: 2\n")
    assert load_settings(config).sip.t1 == 0.25
    monkeypatch.setenv("SHAREDLINE_SIP__T1", "0.1")
    settings = load_settings(config, database_url="sqlite+aiosqlite:///cli.db")
    assert settings.sip.t1 == 0.1
    assert settings.sip.t2 == 2
    assert settings.database_url == "sqlite+aiosqlite:///cli.db"


def test_listen_overrides_replace_the_default_list() -> None:
    settings = load_settings(sip_listen=["udp:127.0.0.1:15060", "tcp:[::1]:15061"])
    assert settings.sip.listen == [
        ListenAddress(transport="udp", host="127.0.0.1", port=15060),
        ListenAddress(transport="tcp", host="::1", port=15061),
    ]


@pytest.mark.parametrize("text", ["udp:127.0.0.1", "sctp:127.0.0.1:5060", "udp:h:99999", ""])
def test_bad_listen_address_names_the_value(text: str) -> None:
    with pytest.raises((SettingsError, ValidationError), match=r"listen|port"):
        load_settings(sip_listen=[text])


def test_tls_without_certificate_is_refused() -> None:
    with pytest.raises(ValidationError, match="tls_certificate"):
        load_settings(sip_listen=["tls:127.0.0.1:15061"])


def test_malformed_yaml_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "broken.yaml"
    config.write_text("sip: [unclosed\n")
    with pytest.raises(SettingsError, match=r"broken\.yaml"):
        load_settings(config)


def test_unknown_setting_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "typo.yaml"
    config.write_text("databse_url: x\n")
    with pytest.raises(ValidationError, match="databse_url"):
        load_settings(config)
