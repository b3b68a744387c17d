"""Declarative provisioning: a YAML file says what a workspace holds; :func:`provision` makes it so.

The format (``sharedline provision acme.yaml``)::

    workspace:
      name: Acme                        # the workspace's key
      plan: starter                     # starter (10 users per number) | business (100);
                                        # omitted: unchanged (starter for a new workspace)
    users:
      - email: alice@acme.test          # the user's key within the workspace (lower-cased)
        name: Alice
        role: owner                     # workspace role: owner | admin | member (default member)
        devices:
          - username: alice-desk        # the device's key, unique across all workspaces
            password: "correct horse"   # stored only as digest HA1 (MD5 and SHA-256) with the
                                        # engine's realm (settings sip.realm); never stored
            default_number: "+14155550100"  # optional: outbound caller ID when the device
                                            # names none; the user must be a member of it
    trunks:
      - name: carrier                   # the trunk's key within the workspace
        allowed_sources: [127.0.0.1/32] # addresses or CIDRs whose INVITEs are this trunk's
        outbound_proxy: sip:127.0.0.1:5080  # optional: where outbound calls go
        username: acme                  # optional digest credentials for outbound calls:
        realm: carrier.example.net      #   username, realm and password go together
        password: s3cret                #   (stored as HA1 only)
    numbers:
      - e164: "+14155550100"            # the number's key; quote it (YAML reads +1… as an int)
        name: Support
        trunk: carrier                  # optional
        members:                        # the number's complete member list: others are removed
          - user: alice@acme.test       # omit members: to leave the membership untouched
            role: owner                 # owner | admin | member (default member)
          - user: bob@acme.test

What a run does:

- Creates what is missing and updates what differs, idempotently; a second run prints
  ``no changes``. Users, devices, trunks and numbers not in the file are left alone; a number's
  ``members`` list replaces its membership. Fields left out of an entry take their defaults
  (``role: member``, no trunk, no default number, no credentials), except ``plan`` and
  ``members`` as noted above.
- References (a member's ``user``, a number's ``trunk``, a device's ``default_number``) may name
  entries in the file or ones already in the workspace.
- Passwords become HA1 values (RFC 7616 §3.4.2); a changed password is found by recomputing the
  HA1 with the stored realm. No plaintext is stored or printed.
- Rules (DESIGN.md "Roles, access and plans"): at most 10 users per number on Starter and 100 on
  Business; a device's default number must be one its user belongs to (outbound access is per
  number); keys unique; E.164 numbers ``^\\+[1-9][0-9]{1,14}$``.
- Every problem is reported, each as ``FILE:LINE:COLUMN path: message``, and then nothing is
  written: the whole run is one transaction.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from hmac import compare_digest
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
)
from pydantic_core import PydanticCustomError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..sip.auth import compute_ha1
from ..sip.errors import ProtocolError
from ..sip.uri import SipUri, parse_uri
from ..yamldoc.fields import E164, Email, Password, text
from ..yamldoc.source import (
    SourceMap,
    YamlSourceError,
    did_you_mean,
    format_error,
    format_path,
    load_yaml,
    validation_errors,
)
from .database import Database
from .models import (
    PLAN_USER_LIMITS,
    Device,
    NumberMembership,
    NumberRole,
    PhoneNumber,
    Plan,
    Trunk,
    User,
    Workspace,
    WorkspaceRole,
)

__all__ = [
    "DeviceSpec",
    "MemberSpec",
    "NumberSpec",
    "ProvisioningDocument",
    "ProvisioningError",
    "TrunkSpec",
    "UserSpec",
    "WorkspaceSpec",
    "load_provisioning_file",
    "parse_provisioning",
    "provision",
]

_USERNAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~+-]*")

Loc = tuple[str | int, ...]


class ProvisioningError(ValueError):
    """The document is wrong; ``errors`` lists every problem as ``FILE:LINE:COLUMN path: msg``."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


# --- the document -------------------------------------------------------------------------------


def _username(value: str) -> str:
    if not _USERNAME_RE.fullmatch(value):
        raise PydanticCustomError(
            "username",
            "{value} is not a device username: letters, digits and . _ ~ + -, "
            "starting with a letter or digit",
            {"value": repr(value)},
        )
    return value


def _network(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise PydanticCustomError(
            "network", "{value} is not an IP address or CIDR network", {"value": repr(value)}
        ) from None
    return value


def _sip_uri(value: str) -> str:
    try:
        uri = parse_uri(value)
    except ProtocolError:
        uri = None
    if not isinstance(uri, SipUri):
        raise PydanticCustomError(
            "sip_uri", "{value} is not a sip: or sips: URI", {"value": repr(value)}
        )
    return value


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WorkspaceSpec(_Spec):
    """``workspace:`` the workspace, by name."""

    name: Annotated[str, text(200)]
    plan: Plan | None = None
    """None leaves the plan as it is (Starter for a new workspace)."""


class DeviceSpec(_Spec):
    """A SIP account of a user; the password is turned into HA1 values and dropped."""

    username: Annotated[str, text(100), AfterValidator(_username)]
    password: Password
    default_number: E164 | None = None


class UserSpec(_Spec):
    """A workspace user, by email."""

    email: Email
    name: Annotated[str, text(200)]
    role: WorkspaceRole = WorkspaceRole.MEMBER
    devices: list[DeviceSpec] = Field(default_factory=list)


class TrunkSpec(_Spec):
    """A carrier connection, by name."""

    name: Annotated[str, text(100)]
    allowed_sources: list[Annotated[str, text(64), AfterValidator(_network)]] = Field(
        default_factory=list
    )
    outbound_proxy: Annotated[str, text(300), AfterValidator(_sip_uri)] | None = None
    username: Annotated[str, text(200)] | None = None
    realm: Annotated[str, text(200)] | None = None
    password: Password | None = None


class MemberSpec(_Spec):
    """One member of a number, with the number role."""

    user: Email
    role: NumberRole = NumberRole.MEMBER


class NumberSpec(_Spec):
    """A shared number, by E.164."""

    e164: E164
    name: Annotated[str, text(200)]
    trunk: Annotated[str, text(100)] | None = None
    members: list[MemberSpec] | None = None
    """The complete member list; None leaves the membership as it is."""


class ProvisioningDocument(_Spec):
    """A whole provisioning file; build it with :func:`load_provisioning_file` or
    :meth:`from_data` so that errors found later can still point into the file."""

    workspace: WorkspaceSpec
    users: list[UserSpec] = Field(default_factory=list)
    trunks: list[TrunkSpec] = Field(default_factory=list)
    numbers: list[NumberSpec] = Field(default_factory=list)

    _source: SourceMap | None = PrivateAttr(default=None)

    @classmethod
    def from_data(cls, data: Any, source: SourceMap | None = None) -> ProvisioningDocument:
        """Validate plain data (from YAML or JSON); raise :class:`ProvisioningError`."""
        if data is None:
            raise ProvisioningError(
                [format_error(source, (), "empty document: expected workspace: and its entries")]
            )
        try:
            document = cls.model_validate(data)
        except ValidationError as error:
            raise ProvisioningError(validation_errors(error, source, cls)) from None
        document._source = source
        return document

    def error(self, path: Loc, message: str) -> str:
        """A problem at ``path``, formatted with its file position when known."""
        return format_error(self._source, path, message)


def load_provisioning_file(path: Path) -> ProvisioningDocument:
    """Read and validate a provisioning file; raise :class:`ProvisioningError` listing every
    problem the file alone shows (syntax, structure, duplicate keys, plan limits)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ProvisioningError([f"{path}: cannot read provisioning file: {error}"]) from None
    return parse_provisioning(text, str(path))


def parse_provisioning(text: str, file: str = "<provisioning>") -> ProvisioningDocument:
    """:func:`load_provisioning_file` for text already read; ``file`` names it in errors."""
    try:
        data, source = load_yaml(text, file)
    except YamlSourceError as error:
        raise ProvisioningError(error.errors) from None
    document = ProvisioningDocument.from_data(data, source)
    problems = _document_problems(document, document.workspace.plan)
    if problems:
        raise ProvisioningError(problems)
    return document


# --- checks on the document alone ---------------------------------------------------------------


def _plan_limit(plan: Plan, given: int) -> str | None:
    limit = PLAN_USER_LIMITS[plan]
    if given <= limit:
        return None
    message = (
        f"the {plan.value.title()} plan allows at most {limit} users per number ({given} given)"
    )
    bigger = [p for p in Plan if PLAN_USER_LIMITS[p] > limit]
    if bigger:
        best = max(bigger, key=PLAN_USER_LIMITS.__getitem__)
        message += f"; upgrade to {best.value.title()} for up to {PLAN_USER_LIMITS[best]}"
    return message


def _keyed(at: str | Loc, items: Sequence[BaseModel], key: str) -> Iterator[tuple[Loc, str]]:
    """(path of each item's key, key value) for the items of a list at path ``at``."""
    prefix: Loc = (at,) if isinstance(at, str) else at
    for index, item in enumerate(items):
        yield (*prefix, index, key), str(getattr(item, key))


def _duplicates(
    document: ProvisioningDocument,
    entries: Iterable[tuple[Loc, str]],
    what: str,
    first: dict[str, Loc] | None = None,
) -> list[str]:
    """A problem for each key seen before (in ``first`` too, which it updates)."""
    first = {} if first is None else first
    problems = []
    for loc, key in entries:
        if key in first:
            earlier = format_path(first[key])
            problems.append(document.error(loc, f"duplicate {what} {key!r} (first at {earlier})"))
        else:
            first[key] = loc
    return problems


def _document_problems(document: ProvisioningDocument, plan: Plan | None) -> list[str]:
    """Duplicate keys, incomplete trunk credentials and plan limits: no database needed."""
    users, trunks, numbers = document.users, document.trunks, document.numbers
    problems = _duplicates(document, _keyed("users", users, "email"), "user")
    seen: dict[str, Loc] = {}  # device usernames are unique across all users
    for i, user in enumerate(users):
        devices = _keyed(("users", i, "devices"), user.devices, "username")
        problems += _duplicates(document, devices, "device username", seen)
    problems += _duplicates(document, _keyed("trunks", trunks, "name"), "trunk")
    problems += _duplicates(document, _keyed("numbers", numbers, "e164"), "number")
    for i, trunk in enumerate(trunks):
        given = {"username": trunk.username, "realm": trunk.realm, "password": trunk.password}
        missing = [name for name, value in given.items() if value is None]
        if missing and len(missing) < len(given):
            problems.append(
                document.error(
                    ("trunks", i),
                    f"username, realm and password go together: {' and '.join(missing)} missing",
                )
            )
    for i, number in enumerate(numbers):
        if number.members is None:
            continue
        members = _keyed(("numbers", i, "members"), number.members, "user")
        problems += _duplicates(document, members, "member")
        if plan is not None and (message := _plan_limit(plan, len(number.members))):
            problems.append(document.error(("numbers", i, "members"), message))
    return problems


# --- applying it --------------------------------------------------------------------------------


async def provision(
    database: Database, document: ProvisioningDocument, *, realm: str, dry_run: bool = False
) -> list[str]:
    """Make the database hold what ``document`` describes; return one line per change.

    ``realm`` is the engine's digest realm (settings ``sip.realm``) that device HA1 values are
    computed with. Returns ``["no changes"]`` when everything already matched. With ``dry_run``
    the changes are computed and reported but rolled back. Raises :class:`ProvisioningError`
    (every problem, formatted) before anything is written.
    """
    # One transaction: an error (or leaving the block any other way) closes the session, which
    # rolls back everything flushed so far.
    async with database.session() as session:
        changes = await _Run(session, document, realm).execute()
        if dry_run:
            await session.rollback()
        else:
            await session.commit()
    return changes or ["no changes"]


def _show(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, Plan | WorkspaceRole | NumberRole):
        return repr(value.value)
    if isinstance(value, list):
        return "[" + ", ".join(map(_show, value)) + "]"
    return repr(value)


def _ha1s(username: str, realm: str, password: SecretStr) -> tuple[str, str]:
    """HA1 for MD5 and SHA-256 (RFC 7616 §3.4.2): all a registrar needs to check a response."""
    secret = password.get_secret_value()
    md5 = compute_ha1(username, realm, secret, "MD5")
    return md5, compute_ha1(username, realm, secret, "SHA-256")


def _same_ha1s(stored: tuple[str | None, str | None], computed: tuple[str, str]) -> bool:
    return all(
        s is not None and compare_digest(s, c) for s, c in zip(stored, computed, strict=True)
    )


class _Run:
    """One provisioning run in one session: load what exists, check, then apply."""

    def __init__(self, session: AsyncSession, document: ProvisioningDocument, realm: str) -> None:
        self.session = session
        self.doc = document
        self.realm = realm
        self.changes: list[str] = []
        self.workspace: Workspace | None = None
        self.users: dict[str, User] = {}
        self.trunks: dict[str, Trunk] = {}
        self.numbers: dict[str, PhoneNumber] = {}
        self.members: dict[int, dict[int, NumberMembership]] = {}
        self.devices: dict[str, tuple[Device, User]] = {}
        self.foreign_numbers: set[str] = set()

    async def execute(self) -> list[str]:
        await self._load()
        plan = self.doc.workspace.plan or (self.workspace.plan if self.workspace else Plan.STARTER)
        problems = _document_problems(self.doc, plan) + self._reference_problems(plan)
        if problems:
            raise ProvisioningError(problems)
        workspace = await self._apply_workspace(plan)
        await self._apply_users(workspace)
        await self._apply_trunks(workspace)
        await self._apply_numbers(workspace)
        await self._apply_memberships()
        await self._apply_devices()
        await self.session.flush()
        return self.changes

    # loading

    async def _load(self) -> None:
        s, doc = self.session, self.doc
        self.workspace = await s.scalar(
            select(Workspace).where(Workspace.name == doc.workspace.name)
        )
        ws_id = self.workspace.id if self.workspace else None
        if ws_id is not None:
            users = await s.scalars(select(User).where(User.workspace_id == ws_id))
            self.users = {u.email.lower(): u for u in users}
            trunks = await s.scalars(select(Trunk).where(Trunk.workspace_id == ws_id))
            self.trunks = {t.name: t for t in trunks}
            numbers = await s.scalars(select(PhoneNumber).where(PhoneNumber.workspace_id == ws_id))
            self.numbers = {n.e164: n for n in numbers}
            memberships = await s.scalars(
                select(NumberMembership)
                .join(PhoneNumber)
                .where(PhoneNumber.workspace_id == ws_id)
                .order_by(NumberMembership.created_at, NumberMembership.user_id)
            )
            for membership in memberships:
                self.members.setdefault(membership.number_id, {})[membership.user_id] = membership
        wanted = [n.e164 for n in doc.numbers]
        foreign = select(PhoneNumber.e164).where(PhoneNumber.e164.in_(wanted))
        if ws_id is not None:
            foreign = foreign.where(PhoneNumber.workspace_id != ws_id)
        self.foreign_numbers = set(await s.scalars(foreign))
        usernames = [d.username for u in doc.users for d in u.devices]
        rows = await s.execute(
            select(Device, User).join(User).where(Device.username.in_(usernames))
        )
        self.devices = {device.username: (device, user) for device, user in rows}

    # checks that need the database

    def _reference_problems(self, plan: Plan) -> list[str]:
        doc, workspace = self.doc, repr(self.doc.workspace.name)
        emails = {u.email for u in doc.users} | set(self.users)
        trunks = {t.name for t in doc.trunks} | set(self.trunks)
        problems: list[str] = []
        broken: set[str] = set()

        def unknown(loc: Loc, what: str, name: str, known: set[str]) -> None:
            hint = did_you_mean(name, sorted(known))
            message = f"no {what} {name!r} in this file or in workspace {workspace}{hint}"
            problems.append(doc.error(loc, message))

        for i, number in enumerate(doc.numbers):
            if number.e164 in self.foreign_numbers:
                problems.append(
                    doc.error(("numbers", i, "e164"), f"{number.e164} belongs to another workspace")
                )
            if number.trunk is not None and number.trunk not in trunks:
                unknown(("numbers", i, "trunk"), "trunk", number.trunk, trunks)
            for j, member in enumerate(number.members or ()):
                if member.user not in emails:
                    broken.add(number.e164)  # its membership is unknown: check no further
                    unknown(("numbers", i, "members", j, "user"), "user", member.user, emails)
        final = self._final_members()
        workspace_id = self.workspace.id if self.workspace else None
        for i, user in enumerate(doc.users):
            for j, device in enumerate(user.devices):
                loc: Loc = ("users", i, "devices", j)
                found = self.devices.get(device.username)
                if found is not None and found[1].workspace_id != workspace_id:
                    message = f"device username {device.username!r} is taken by another workspace"
                    problems.append(doc.error((*loc, "username"), message))
                default = device.default_number
                if default is None or default in broken:
                    continue
                if default not in final:
                    unknown((*loc, "default_number"), "number", default, set(final))
                elif user.email not in final[default]:
                    # DESIGN.md "Outbound": a member calls out only through numbers they belong to.
                    message = f"{user.email} is not a member of {default}; add them to its members"
                    problems.append(doc.error((*loc, "default_number"), message))
        return problems + self._downgrade_problems(plan, final)

    def _final_members(self) -> dict[str, set[str]]:
        """E.164 → member emails once this run is applied."""
        by_id = {u.id: email for email, u in self.users.items()}
        final = {
            e164: {by_id.get(uid, f"#{uid}") for uid in self.members.get(n.id, {})}
            for e164, n in self.numbers.items()
        }
        for number in self.doc.numbers:
            if number.members is not None:
                final[number.e164] = {m.user for m in number.members}
            else:
                final.setdefault(number.e164, set())
        return final

    def _downgrade_problems(self, plan: Plan, final: dict[str, set[str]]) -> list[str]:
        if self.doc.workspace.plan is None:
            return []
        limit = PLAN_USER_LIMITS[plan]
        in_file = {n.e164 for n in self.doc.numbers if n.members is not None}
        return [
            self.doc.error(
                ("workspace", "plan"),
                f"the {plan.value.title()} plan allows at most {limit} users per number but "
                f"{e164} has {len(members)}; remove members first",
            )
            for e164, members in sorted(final.items())
            if e164 not in in_file and len(members) > limit
        ]

    # applying

    def _set(self, what: str, row: object, attribute: str, new: object, label: str = "") -> bool:
        old = getattr(row, attribute)
        if old == new:
            return False
        setattr(row, attribute, new)
        self.changes.append(f"updated {what}: {label or attribute} {_show(old)} -> {_show(new)}")
        return True

    async def _apply_workspace(self, plan: Plan) -> Workspace:
        name = self.doc.workspace.name
        if self.workspace is None:
            self.workspace = Workspace(name=name, plan=plan)
            self.session.add(self.workspace)
            await self.session.flush()
            self.changes.append(f"created workspace {name}")
        else:
            self._set(f"workspace {name}", self.workspace, "plan", plan)
        return self.workspace

    async def _apply_users(self, workspace: Workspace) -> None:
        for spec in self.doc.users:
            user = self.users.get(spec.email)
            if user is None:
                user = User(
                    workspace_id=workspace.id, email=spec.email, name=spec.name, role=spec.role
                )
                self.session.add(user)
                self.users[spec.email] = user
                self.changes.append(f"created user {spec.email}")
                continue
            self._set(f"user {spec.email}", user, "name", spec.name)
            self._set(f"user {spec.email}", user, "role", spec.role)
        await self.session.flush()

    async def _apply_trunks(self, workspace: Workspace) -> None:
        for spec in self.doc.trunks:
            trunk = self.trunks.get(spec.name)
            if trunk is None:
                trunk = Trunk(workspace_id=workspace.id, name=spec.name)
                self.session.add(trunk)
                self.trunks[spec.name] = trunk
                self.changes.append(f"created trunk {spec.name}")
                self._apply_trunk(trunk, spec, report=False)
            else:
                self._apply_trunk(trunk, spec, report=True)
        await self.session.flush()

    def _apply_trunk(self, trunk: Trunk, spec: TrunkSpec, *, report: bool) -> None:
        what = f"trunk {spec.name}"
        before = len(self.changes)
        self._set(what, trunk, "allowed_sources", list(spec.allowed_sources))
        self._set(what, trunk, "outbound_proxy", spec.outbound_proxy)
        renamed = self._set(what, trunk, "auth_username", spec.username, "username")
        renamed |= self._set(what, trunk, "auth_realm", spec.realm, "realm")
        stored = (trunk.auth_ha1_md5, trunk.auth_ha1_sha256)
        if spec.password is None or spec.username is None or spec.realm is None:
            trunk.auth_ha1_md5 = trunk.auth_ha1_sha256 = None
            if stored != (None, None):
                self.changes.append(f"updated {what}: password removed")
        else:
            computed = _ha1s(spec.username, spec.realm, spec.password)
            if not _same_ha1s(stored, computed):
                trunk.auth_ha1_md5, trunk.auth_ha1_sha256 = computed
                if not renamed:  # a new username or realm changes the HA1 by itself
                    change = "password set" if stored == (None, None) else "password changed"
                    self.changes.append(f"updated {what}: {change}")
        if not report:
            del self.changes[before:]

    async def _apply_numbers(self, workspace: Workspace) -> None:
        trunk_names = {t.id: name for name, t in self.trunks.items()}
        for spec in self.doc.numbers:
            trunk_id = self.trunks[spec.trunk].id if spec.trunk is not None else None
            number = self.numbers.get(spec.e164)
            if number is None:
                number = PhoneNumber(
                    workspace_id=workspace.id, e164=spec.e164, name=spec.name, trunk_id=trunk_id
                )
                self.session.add(number)
                self.numbers[spec.e164] = number
                self.changes.append(f"created number {spec.e164}")
                continue
            what = f"number {spec.e164}"
            self._set(what, number, "name", spec.name)
            if number.trunk_id != trunk_id:
                old = trunk_names.get(number.trunk_id) if number.trunk_id is not None else None
                number.trunk_id = trunk_id
                self.changes.append(f"updated {what}: trunk {_show(old)} -> {_show(spec.trunk)}")
        await self.session.flush()

    async def _apply_memberships(self) -> None:
        emails = {u.id: email for email, u in self.users.items()}
        for spec in self.doc.numbers:
            if spec.members is None:
                continue
            number = self.numbers[spec.e164]
            existing = self.members.get(number.id, {})
            wanted: set[int] = set()
            # Ring order is join order (DESIGN.md; DirectoryNumber.members): members added in
            # one run join in the order the file lists them.
            joined = datetime.now(UTC)
            for index, member in enumerate(spec.members):
                user = self.users[member.user]
                wanted.add(user.id)
                membership = existing.get(user.id)
                if membership is None:
                    self.session.add(
                        NumberMembership(
                            number_id=number.id,
                            user_id=user.id,
                            role=member.role,
                            created_at=joined + timedelta(microseconds=index),
                        )
                    )
                    self.changes.append(
                        f"added {member.user} to {spec.e164} as {member.role.value}"
                    )
                else:
                    self._set(f"{member.user} on {spec.e164}", membership, "role", member.role)
            for user_id, membership in existing.items():
                if user_id not in wanted:
                    await self.session.delete(membership)
                    self.changes.append(
                        f"removed {emails.get(user_id, f'user #{user_id}')} from {spec.e164}"
                    )
        await self.session.flush()

    async def _apply_devices(self) -> None:
        for user_spec in self.doc.users:
            user = self.users[user_spec.email]
            for spec in user_spec.devices:
                number = self.numbers[spec.default_number].id if spec.default_number else None
                found = self.devices.get(spec.username)
                if found is None:
                    md5, sha256 = _ha1s(spec.username, self.realm, spec.password)
                    device = Device(
                        user_id=user.id,
                        username=spec.username,
                        realm=self.realm,
                        ha1_md5=md5,
                        ha1_sha256=sha256,
                        default_number_id=number,
                    )
                    self.session.add(device)
                    self.changes.append(f"created device {spec.username}")
                else:
                    self._update_device(*found, user, spec, number)

    def _update_device(
        self, device: Device, owner: User, user: User, spec: DeviceSpec, number: int | None
    ) -> None:
        what = f"device {spec.username}"
        if device.user_id != user.id:
            device.user_id = user.id
            self.changes.append(f"updated {what}: user {_show(owner.email)} -> {_show(user.email)}")
        # The stored realm is the one the stored HA1 was computed with (RFC 7616 §3.4.2), so a
        # password is compared by recomputing; a new realm means new HA1 values anyway.
        realm_changed = self._set(what, device, "realm", self.realm)
        computed = _ha1s(spec.username, self.realm, spec.password)
        if not _same_ha1s((device.ha1_md5, device.ha1_sha256), computed):
            device.ha1_md5, device.ha1_sha256 = computed
            if not realm_changed:
                self.changes.append(f"updated {what}: password changed")
        if device.default_number_id != number:
            old = device.default_number_id
            e164s = {n.id: e164 for e164, n in self.numbers.items()}
            shown = None if old is None else e164s.get(old, f"#{old}")
            device.default_number_id = number
            new = _show(spec.default_number)
            self.changes.append(f"updated {what}: default_number {_show(shown)} -> {new}")
