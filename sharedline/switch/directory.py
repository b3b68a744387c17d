"""Who is behind each shared number: a plain-data snapshot the switch routes calls with.

The store builds a :class:`Directory` (``sharedline.store.repositories.load_directory``) at
start-up and whenever provisioning changes it; the switch only reads it. Registrations are not
part of it: they change every few minutes and live in the switch's registrar state, persisted
through actions. Caller names (each workspace's address book, DESIGN.md "Team inbox") are, and
are refreshed on their own with :meth:`Directory.with_caller_names`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

__all__ = ["Directory", "DirectoryDevice", "DirectoryMember", "DirectoryNumber", "DirectoryTrunk"]


@dataclass(frozen=True, slots=True, kw_only=True)
class DirectoryDevice:
    """A SIP account: what the registrar authenticates and what rings."""

    id: int
    username: str
    user_id: int
    realm: str
    ha1_md5: str
    ha1_sha256: str
    default_number: str | None = None
    """E.164 of the number its outbound calls use when it names none."""

    def ha1(self, algorithm: str) -> str | None:
        """The stored HA1 for a digest algorithm, or None when we keep none for it."""
        base = algorithm.upper().removesuffix("-SESS")
        return {"MD5": self.ha1_md5, "SHA-256": self.ha1_sha256}.get(base)


@dataclass(frozen=True, slots=True, kw_only=True)
class DirectoryMember:
    """A user with access to a number."""

    user_id: int
    name: str
    email: str
    role: str
    """The number role: owner, admin or member."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DirectoryTrunk:
    """A carrier: who may send calls, where outbound calls go, how they authenticate."""

    id: int
    name: str
    allowed_sources: tuple[str, ...]
    outbound_proxy: str | None = None
    auth_username: str | None = None
    auth_realm: str | None = None
    auth_ha1_md5: str | None = None
    auth_ha1_sha256: str | None = None

    def allows(self, host: str) -> bool:
        """True when ``host`` is in one of the allowed networks (addresses or CIDRs)."""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(
            address in ipaddress.ip_network(net, strict=False) for net in self.allowed_sources
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DirectoryNumber:
    """A shared number, its members in ring order, and its trunk."""

    id: int
    e164: str
    name: str
    plan: str
    members: tuple[DirectoryMember, ...]
    """Members ordered by when they joined the number, then by user id (stable ring order)."""
    trunk: DirectoryTrunk | None = None
    workspace_id: int = 0
    """The workspace that owns the number: whose address book names its callers."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Directory:
    """Numbers by E.164, devices by username and by user, trunks by name.

    Build it with :meth:`build`, which computes the indexes the call path reads.
    """

    numbers: Mapping[str, DirectoryNumber] = field(default_factory=dict)
    devices: Mapping[str, DirectoryDevice] = field(default_factory=dict)
    trunks: Mapping[str, DirectoryTrunk] = field(default_factory=dict)
    devices_by_user: Mapping[int, tuple[DirectoryDevice, ...]] = field(default_factory=dict)
    caller_names: Mapping[int, Mapping[str, str]] = field(default_factory=dict)
    """Workspace id → E.164 → the contact's name, from each workspace's address book."""

    @classmethod
    def build(
        cls,
        numbers: Iterable[DirectoryNumber],
        devices: Iterable[DirectoryDevice],
        trunks: Iterable[DirectoryTrunk],
        caller_names: Mapping[int, Mapping[str, str]] | None = None,
    ) -> Directory:
        """A directory with its indexes."""
        by_user: dict[int, list[DirectoryDevice]] = {}
        device_list = sorted(devices, key=lambda d: d.username)
        for device in device_list:
            by_user.setdefault(device.user_id, []).append(device)
        return cls(
            numbers={n.e164: n for n in numbers},
            devices={d.username: d for d in device_list},
            trunks={t.name: t for t in trunks},
            devices_by_user={user: tuple(found) for user, found in by_user.items()},
            caller_names=caller_names or {},
        )

    def with_caller_names(self, caller_names: Mapping[int, Mapping[str, str]]) -> Directory:
        """This directory with fresh address books (the rest unchanged)."""
        return replace(self, caller_names=caller_names)

    def caller_name(self, number: DirectoryNumber, caller: str) -> str | None:
        """The name the number's workspace gave ``caller`` (E.164, with or without its plus)."""
        names = self.caller_names.get(number.workspace_id)
        if not names or not caller:
            return None
        return names.get(caller) or names.get(f"+{caller.lstrip('+')}")

    def devices_of(self, user_id: int) -> tuple[DirectoryDevice, ...]:
        """Every device of a user, by username."""
        return self.devices_by_user.get(user_id, ())

    def trunk_for_source(self, host: str) -> DirectoryTrunk | None:
        """The trunk whose allowed sources include ``host``."""
        return next((t for t in self.trunks.values() if t.allows(host)), None)

    def numbers_of(self, user_id: int) -> tuple[DirectoryNumber, ...]:
        """The numbers a user is a member of."""
        return tuple(
            n for n in self.numbers.values() if any(m.user_id == user_id for m in n.members)
        )
