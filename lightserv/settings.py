"""Typed settings, read once from the environment.

`Settings()` reads environment variables (names equal the field names in upper case). Tests build their
own `Settings(...)` and pass it to `create_app`. Nothing here connects to anything.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY_FILE = PROJECT_ROOT / "var" / "secret-key"
MIN_SECRET_KEY_BYTES = 32
# a trusted-proxy network wider than this is refused in PROD unless TRUSTED_PROXIES_ALLOW_WIDE is set
MIN_PROXY_PREFIX = {4: 16, 6: 48}


class SettingsError(RuntimeError):
    """A required setting is missing or invalid; the message names the setting."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", env_file=None)

    # --- mode and secrets -------------------------------------------------------------------------
    lightserv_mode: Literal["DEV", "PROD", "TEST"]
    secret_key: str = ""

    # --- databases --------------------------------------------------------------------------------
    db_host: str = "127.0.0.1"
    db_port: int = 3306
    db_user: str = "root"
    db_password: str = ""
    dj_schema_prefix: str = "lightserv_dev_"
    redis_url: str = "redis://127.0.0.1:6379/0"

    # --- facility and links -----------------------------------------------------------------------
    public_base_url: str = "http://127.0.0.1:5000"
    #: the address every link in emails and pages starts with; default: PUBLIC_BASE_URL
    site_url: str = ""
    facility_name: str = "the Light-Sheet Microscopy Core Facility"
    facility_contact_email: str = "lightsheet-core@example.org"
    email_domain: str = "example.org"
    display_timezone: str = "America/New_York"

    # --- mail -------------------------------------------------------------------------------------
    mail_server: str = "127.0.0.1"
    mail_port: int = 8025
    mail_use_tls: bool = False
    mail_username: str = ""
    mail_password: str = ""
    mail_default_sender: str = "lightserv@example.org"
    mail_dev_recipient: str = "lightserv-dev@example.org"
    it_help_email: str = ""
    mail_timeout_seconds: float = 10.0

    # --- authentication ---------------------------------------------------------------------------
    auth_local: bool = True
    remote_user_header: str = ""
    trusted_proxies: str = ""  # comma-separated addresses or CIDR networks
    trusted_proxies_allow_wide: bool = False  # PROD: accept networks wider than /16 (IPv4) or /48 (IPv6)
    #: when set, the identity header counts only with `X-Lightserv-Proxy-Secret: <this value>` from the proxy
    sso_shared_secret: str = ""
    sso_logout_url: str = ""
    #: reverse proxies in front of the app whose X-Forwarded-For entry is believed (0 = none, the peer is the client)
    proxy_fix_hops: int = Field(default=0, ge=0, le=5)
    login_free_failures: int = Field(default=5, ge=1)  # failed logins of one account before it must wait
    login_address_free_failures: int = Field(default=20, ge=1)  # failed logins from one address before it waits
    login_backoff_max_seconds: int = Field(default=60, ge=1)  # the wait doubles from 1 s up to this
    login_max_failures_per_hour: int = Field(default=100, ge=1)  # failed logins of one account per hour
    session_idle_minutes: int = Field(default=30, ge=1)  # a login ends after this long without a request
    session_max_hours: int = Field(default=12, ge=1)  # and this long after it started, whatever the use
    session_cookie_secure: bool | None = None  # default: True outside DEV/TEST
    wtf_csrf_time_limit: int = 8 * 3600

    # --- storage ----------------------------------------------------------------------------------
    data_root: Path = PROJECT_ROOT / "var" / "data"
    data_root_display: str = ""
    atlas_root: Path = PROJECT_ROOT / "var" / "atlas"
    data_group: str = ""
    storage_path: Path | None = None
    storage_check_time: str = "08:30"
    storage_warn_free_tb: float = 5.0

    # --- requests and processing -------------------------------------------------------------------
    allow_self_processing: bool = True
    registration_channels: str = "lavision:488,555;smartspim:488,561,642,785"
    subject_directory: str = ""  # optional DataJoint "schema.Table" listing subject_fullname
    #: camera pixel size x = y in µm per resolution; copied into every run's parameters
    pixel_size_um: dict[str, float] = Field(
        default_factory=lambda: {"1.1x": 5.909091, "1.3x": 5.0, "2x": 3.25, "4x": 1.63, "3.6x": 1.866, "15x": 0.41}
    )
    smartspim_autostitch: bool = True  # start SmartSPIM stitching when imaging of a sample is submitted
    #: destriping options recorded in every destripe run
    destripe_params: dict[str, str | int | float | list[float]] = Field(
        default_factory=lambda: {"method": "shadow", "line_px": 9, "window_px": 136}
    )
    superseded_retention_days: int = 30  # superseded outputs of re-runs are deleted after this many days

    # --- cluster -------------------------------------------------------------------------------------
    cluster_backend: Literal["local", "slurm"] = "local"
    slurm_transport: Literal["local", "ssh"] = "local"
    slurm_ssh_host: str = ""
    slurm_ssh_port: int = 22
    slurm_ssh_user: str = ""
    slurm_ssh_key_path: str = ""
    slurm_known_hosts_path: str = ""
    slurm_account: str = ""
    slurm_partition_default: str = ""
    slurm_lost_job_minutes: int = 30
    #: per-stage resource overrides, JSON: {"<stage>" | "<run kind>:<stage>" | "*": {"cpus": 2, "mem_gb": 4,
    #: "time_limit": "01:00:00", "partition": "short"}}; the most specific key wins, keys merge field by field
    slurm_stage_resources: dict[str, dict[str, str | int | float]] = Field(default_factory=dict)
    cluster_timezone: str = ""  # zone of the times Slurm prints; default: this host's zone
    processing_code_dir: Path = PROJECT_ROOT
    processing_python: str = ""  # default: this interpreter
    local_executor_dir: Path = PROJECT_ROOT / "var" / "executor"

    # --- background work --------------------------------------------------------------------------
    slurm_poll_seconds: int = 60
    email_retry_seconds: int = 300
    task_relay_seconds: int = 5  # how often beat hands waiting outbox tasks to the broker
    clearing_reminder_seconds: int = 86400
    imaging_reminder_seconds: int = 86400
    processing_reminder_seconds: int = 86400
    digest_time: str = "17:00"  # facility time of the daily notification digest (HH:MM)
    viewer_cleanup_seconds: int | None = None  # default 900 (DEV 300)
    celery_task_always_eager: bool = False

    # --- viewer (used from the viewer issue on; /healthz reports "not_configured" until set) ------
    viewer_launcher_url: str = ""
    viewer_launcher_token: str = ""
    #: configurable-http-proxy API (e.g. http://127.0.0.1:8001) and its CONFIGPROXY_AUTH_TOKEN; without them
    #: sessions get direct loopback URLs from the launcher's process back end
    viewer_proxy_api_url: str = ""
    configproxy_auth_token: str = ""
    viewer_idle_seconds: int | None = None  # the idle timeout: PROD 43200 (12 h), DEV/TEST 300
    viewer_max_lifetime_seconds: int = 7 * 86400
    viewer_launch_timeout_seconds: int = 120
    viewer_max_sessions_per_user: int = 5
    viewer_max_sessions: int = 40
    viewer_max_layers: int = 12
    viewer_gain: float = 45.0
    viewer_cookie_seconds: int = Field(default=43200, ge=60)  # how long the browser's access to one view lasts

    # --- pages ------------------------------------------------------------------------------------
    page_size: int = Field(default=50, ge=1, le=500)

    @field_validator("lightserv_mode", mode="before")
    @classmethod
    def _upper_mode(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.lightserv_mode == "PROD" and len(self.secret_key.encode()) < MIN_SECRET_KEY_BYTES:
            raise ValueError(f"SECRET_KEY is required in PROD (at least {MIN_SECRET_KEY_BYTES} bytes)")
        if not self.secret_key:
            # DEV/TEST only: a random key of this checkout, so sessions survive restarts
            object.__setattr__(self, "secret_key", checkout_secret_key())
        nets = self.trusted_proxy_networks()  # validates the list
        if self.lightserv_mode == "PROD" and not self.trusted_proxies_allow_wide:
            wide = [str(net) for net in nets if _too_wide(net)]
            if wide:
                raise ValueError(
                    f"TRUSTED_PROXIES: {', '.join(wide)} trusts too many addresses (wider than /16 for IPv4 or /48 "
                    "for IPv6); name the reverse proxy's own addresses, or set TRUSTED_PROXIES_ALLOW_WIDE=true"
                )
        object.__setattr__(self, "site_url", (self.site_url or self.public_base_url).rstrip("/"))
        if not self.processing_python:
            import sys

            object.__setattr__(self, "processing_python", sys.executable)
        if self.remote_user_header and not self.trusted_proxies:
            raise ValueError("TRUSTED_PROXIES is required when REMOTE_USER_HEADER is set")
        return self

    # --- derived values ---------------------------------------------------------------------------
    def trusted_proxy_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        nets = []
        for part in self.trusted_proxies.split(","):
            part = part.strip()
            if part:
                try:
                    nets.append(ipaddress.ip_network(part, strict=False))
                except ValueError as exc:
                    raise ValueError(f"TRUSTED_PROXIES: {part!r} is not an address or network") from exc
        return nets

    @property
    def cookie_secure(self) -> bool:
        if self.session_cookie_secure is not None:
            return self.session_cookie_secure
        return self.lightserv_mode == "PROD"

    @property
    def app_database(self) -> str:
        return f"{self.dj_schema_prefix}app"

    @property
    def sqlalchemy_url(self) -> str:
        from urllib.parse import quote_plus

        return (
            f"mysql+pymysql://{quote_plus(self.db_user)}:{quote_plus(self.db_password)}"
            f"@{self.db_host}:{self.db_port}/{self.app_database}?charset=utf8mb4"
        )

    @property
    def cleanup_interval(self) -> int:
        if self.viewer_cleanup_seconds:
            return self.viewer_cleanup_seconds
        return 300 if self.lightserv_mode == "DEV" else 900

    @property
    def idle_seconds(self) -> int:
        """VIEWER_IDLE_SECONDS, the one place the viewer idle timeout is decided."""
        if self.viewer_idle_seconds:
            return self.viewer_idle_seconds
        return 43200 if self.lightserv_mode == "PROD" else 300


def _too_wide(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    """More addresses than one proxy installation needs; IPv4-mapped IPv6 networks count as IPv4."""
    if net.version == 6 and net.subnet_of(ipaddress.ip_network("::ffff:0:0/96")):
        return net.prefixlen - 96 < MIN_PROXY_PREFIX[4]
    return net.prefixlen < MIN_PROXY_PREFIX[net.version]


def checkout_secret_key(path: Path = SECRET_KEY_FILE) -> str:
    """DEV/TEST without SECRET_KEY: a random key made once per checkout, kept in var/ (mode 600, never
    committed). The first process to write it wins; the others read its key."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48) + "\n")
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    key = path.read_text().strip()
    if len(key.encode()) < MIN_SECRET_KEY_BYTES:
        raise ValueError(f"SECRET_KEY: {path} holds a key shorter than {MIN_SECRET_KEY_BYTES} bytes; delete the file")
    return key


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; a missing or bad one raises SettingsError naming it."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]).upper() or "settings"
            if err["type"] == "missing":
                problems.append(f"{name} is required but not set")
            else:
                problems.append(f"{name}: {err['msg']}")
        raise SettingsError("lightserv cannot start: " + "; ".join(problems)) from None
