"""Settings: one typed object built from defaults, a YAML file and environment variables.

Precedence, highest first: command-line overrides passed to :func:`load_settings`, environment
variables (``SHAREDLINE_DATABASE_URL``, ``SHAREDLINE_SIP__T1``: nested fields joined by ``__``),
the YAML settings file, the embedded defaults (SQLite file, SIP on 127.0.0.1).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

__all__ = [
    "ApiListen",
    "ApiSettings",
    "ListenAddress",
    "MessagingSettings",
    "Settings",
    "SettingsError",
    "SipSettings",
    "TwilioSettings",
    "load_settings",
]

_LISTEN_RE = re.compile(r"(udp|tcp|tls):(\[[0-9A-Fa-f:.]+\]|[^:\[\]]+):([0-9]{1,5})")
_HOST_PORT_RE = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[^:\[\]]+):([0-9]{1,5})")


class SettingsError(ValueError):
    """The settings file or a value in it is wrong; the message names the place."""


class ListenAddress(BaseModel):
    """Where to listen for SIP: ``udp:127.0.0.1:5060``, ``tls:[::1]:5061``."""

    model_config = {"frozen": True}

    transport: Literal["udp", "tcp", "tls"]
    host: str
    port: int = Field(ge=0, le=65535)

    @classmethod
    def parse(cls, text: str) -> ListenAddress:
        """Parse ``TRANSPORT:HOST:PORT``; raise :class:`SettingsError` naming the value."""
        match = _LISTEN_RE.fullmatch(text.strip())
        if match is None:
            raise SettingsError(
                f"listen address must be TRANSPORT:HOST:PORT with TRANSPORT udp, tcp or tls, "
                f"got {text!r}"
            )
        transport, host, port = match.groups()
        if int(port) > 65535:
            raise SettingsError(f"port {port} out of range in {text!r}")
        return cls(transport=transport, host=host.strip("[]"), port=int(port))

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.transport}:{host}:{self.port}"


DigestAlgorithm = Literal["SHA-256", "MD5"]
_DEFAULT_ALGORITHMS: tuple[DigestAlgorithm, ...] = ("SHA-256", "MD5")


def _default_listen() -> list[ListenAddress]:
    return [ListenAddress.parse("udp:127.0.0.1:5060"), ListenAddress.parse("tcp:127.0.0.1:5060")]


class SipSettings(BaseModel):
    """The SIP core and its transports."""

    listen: list[ListenAddress] = Field(default_factory=_default_listen)
    realm: str = Field(
        "sharedline", min_length=1, description="digest realm; device HA1 values depend on it"
    )
    max_channels: int = Field(1000, ge=1, description="calls at once; beyond: 503 Retry-After")
    ring_timeout: float = Field(
        30.0, gt=0, description="seconds a number bound to no call flow rings before 480"
    )
    voicemail_uri: str | None = Field(
        None,
        description="SIP URI template of a voicemail server for call flows' voicemail steps, "
        "with {box} for the box (e.g. sip:vm-{box}@127.0.0.1:5070); none: 480",
    )
    min_expires: int = Field(60, ge=1, description="shorter registrations get 423 (RFC 3261)")
    max_expires: int = Field(3600, ge=1, description="longer registrations are capped")
    drain_timeout: float = Field(30.0, ge=0, description="on SIGTERM, seconds calls may finish")
    advertised_host: str | None = Field(
        None, description="host for our Via and Contact when listening on 0.0.0.0 or ::"
    )
    digest_algorithms: list[DigestAlgorithm] = Field(
        default_factory=lambda: list(_DEFAULT_ALGORITHMS),
        min_length=1,
        description="challenges offered, preferred first (RFC 8760 §2.4); MD5 first for SIPp",
    )
    digest_secret: SecretStr | None = Field(
        None, description="nonce key; random per process when unset (restarts then re-challenge)"
    )
    t1: float = Field(0.5, gt=0, description="RFC 3261 T1, seconds")
    t2: float = Field(4.0, gt=0, description="RFC 3261 T2, seconds")
    t4: float = Field(5.0, gt=0, description="RFC 3261 T4, seconds")
    max_message_size: int = Field(65_535, ge=1024)
    max_header_size: int = Field(16_384, ge=512)
    udp_receive_buffer: int = Field(4 * 1024 * 1024, ge=65_536, description="SO_RCVBUF bytes")
    tcp_max_connections: int = Field(1024, ge=1)
    tcp_message_timeout: float = Field(10.0, gt=0, description="seconds to complete a message")
    tcp_idle_timeout: float = Field(600.0, gt=0)
    tls_certificate: Path | None = None
    tls_key: Path | None = None

    @field_validator("listen", mode="before")
    @classmethod
    def _parse_listen(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            return [ListenAddress.parse(v) if isinstance(v, str) else v for v in value]
        return value

    @model_validator(mode="after")
    def _check(self) -> SipSettings:
        if self.min_expires > self.max_expires:
            raise ValueError(f"min_expires ({self.min_expires}) exceeds max_expires")
        if self.t1 > self.t2:
            raise ValueError(f"t1 ({self.t1}) must not exceed t2 ({self.t2})")
        wants_tls = any(address.transport == "tls" for address in self.listen)
        if wants_tls and (self.tls_certificate is None or self.tls_key is None):
            raise ValueError("a tls listen address needs sip.tls_certificate and sip.tls_key")
        return self


class ApiListen(BaseModel):
    """Where the team inbox API listens: ``127.0.0.1:8080``, ``[::1]:8080``; port 0: any free."""

    model_config = {"frozen": True}

    host: str
    port: int = Field(ge=0, le=65535)

    @classmethod
    def parse(cls, text: str) -> ApiListen:
        """Parse ``HOST:PORT``; raise :class:`SettingsError` naming the value."""
        match = _HOST_PORT_RE.fullmatch(text.strip())
        if match is None or int(match.group(2)) > 65535:
            raise SettingsError(f"api listen address must be HOST:PORT, got {text!r}")
        return cls(host=match.group(1).strip("[]"), port=int(match.group(2)))

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


class ApiSettings(BaseModel):
    """The team inbox API (REST), served by uvicorn on the engine's event loop."""

    enabled: bool = Field(True, description="serve the API alongside the switch")
    listen: Annotated[ApiListen, NoDecode] = Field(
        default_factory=lambda: ApiListen(host="127.0.0.1", port=8080)
    )
    token_ttl: int = Field(
        12 * 3600, ge=60, description="seconds a bearer token from POST /auth/token stays valid"
    )
    invitation_ttl: int = Field(
        7 * 24 * 3600, ge=60, description="seconds an invitation can be accepted"
    )
    password_time_cost: int = Field(3, ge=1, description="argon2id iterations")
    password_memory_cost: int = Field(65_536, ge=8, description="argon2id memory, KiB")
    password_parallelism: int = Field(4, ge=1, description="argon2id lanes")
    min_password_length: int = Field(10, ge=1)

    @field_validator("listen", mode="before")
    @classmethod
    def _parse_listen(cls, value: Any) -> Any:
        return ApiListen.parse(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check(self) -> ApiSettings:
        if self.password_memory_cost < 8 * self.password_parallelism:
            raise ValueError("password_memory_cost must be at least 8 KiB per lane (parallelism)")
        return self


class TwilioSettings(BaseModel):
    """Twilio's Programmable Messaging: sending through its REST API, and its webhooks."""

    account_sid: str = Field("", description="the account SID (AC...); REST user name")
    auth_token: SecretStr | None = Field(
        None, description="REST password and the key of X-Twilio-Signature on webhooks"
    )
    api_base_url: str = Field(
        "https://api.twilio.com", description="where the REST API is; tests point it elsewhere"
    )
    status_callback_url: str | None = Field(
        None,
        description="public URL of POST /webhooks/twilio/status, sent as StatusCallback; "
        "none: delivery reports are not requested",
    )
    webhook_base_url: str | None = Field(
        None,
        description="public base URL Twilio calls (https://inbox.example.com), used to check "
        "signatures behind a proxy; none: the URL of the request as received",
    )
    timeout: float = Field(10.0, gt=0, description="seconds for one REST request")


class MessagingSettings(BaseModel):
    """Where outbound messages go: ``loopback`` (development and tests) or ``twilio``."""

    provider: Literal["loopback", "twilio"] = "loopback"
    twilio: TwilioSettings = Field(default_factory=lambda: TwilioSettings())

    @model_validator(mode="after")
    def _check(self) -> MessagingSettings:
        if self.provider == "twilio" and not (self.twilio.account_sid and self.twilio.auth_token):
            raise ValueError("messaging.provider twilio needs twilio.account_sid and auth_token")
        return self


class Settings(BaseSettings):
    """Everything the engine is configured with."""

    model_config = SettingsConfigDict(
        env_prefix="SHAREDLINE_", env_nested_delimiter="__", extra="forbid"
    )

    database_url: str = "sqlite+aiosqlite:///sharedline.db"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["console", "json"] = "console"
    sip: SipSettings = Field(default_factory=lambda: SipSettings())
    api: ApiSettings = Field(default_factory=lambda: ApiSettings())
    flows: Path | None = Field(
        None, description="call-flow YAML file or directory; reloaded on change and on SIGHUP"
    )
    flows_poll_interval: float = Field(
        2.0, gt=0, description="seconds between checks of the flow files and members' availability"
    )
    events_url: str | None = Field(
        None,
        description="the live events bus shared by engine nodes: redis://... (or postgresql://, "
        "memory://); default: the database when it is PostgreSQL, else in memory (one node)",
    )
    messaging: MessagingSettings = Field(default_factory=lambda: MessagingSettings())

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Overrides beat the environment, which beats the file (passed in as init values too,
        # but merged below the overrides by load_settings).
        return (init_settings, env_settings)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings from ``config_file`` (YAML), the environment and ``overrides``.

    ``overrides`` with value ``None`` are ignored. Raises :class:`SettingsError` for a missing
    or malformed file, and pydantic's ``ValidationError`` for bad values.
    """
    file_values: dict[str, Any] = {}
    if config_file is not None:
        try:
            loaded = yaml.safe_load(config_file.read_text(encoding="utf-8"))
        except OSError as error:
            raise SettingsError(f"{config_file}: cannot read settings file: {error}") from None
        except yaml.YAMLError as error:
            raise SettingsError(f"{config_file}: not valid YAML: {error}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise SettingsError(f"{config_file}: the settings file must be a mapping")
        file_values = loaded or {}
    from_env = Settings()
    merged = _deep_merge(file_values, from_env.model_dump(exclude_unset=True))
    for key, value in overrides.items():
        if value is None:
            continue
        update = {"sip": {"listen": value}} if key == "sip_listen" else {key: value}
        merged = _deep_merge(merged, update)
    return Settings.model_validate(merged) if merged else Settings()


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
