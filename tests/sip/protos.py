"""The PROTOS c07-sip robustness corpus as ready-to-send INVITE and teardown messages.

The corpus (University of Oulu, OUSPG, 2003; GPLv2 test data) lives beside the repository in
``shared/fuzz/protos-c07-sip/``: 4,527 cases in one ``.tar.xz`` whose SHA-256 its README gives,
and ``groups.tsv``, the case-number ranges of the 54 test groups. The archive is checked and
unpacked once into ``<tempdir>/sharedline-protos-<sha256 prefix>/`` and reused from there.

Each case file is ``<length> <INVITE PDU><length> <teardown PDU>``, every length counting the
octets of the PDU after its space. The PDUs carry placeholders, substituted here for a target
on 127.0.0.1 (the templates read ``sip:<To>``, ``branch=z9hG4bK<case digits><Branch-ID>`` and
``Call-ID: <Call-ID>@<From-Address>``, so the values below complete those):

=====================  ===============================================================
``<To>``               ``user@127.0.0.1`` (so ``sip:user@127.0.0.1``)
``<From>``             ``protos@127.0.0.1`` (so ``sip:protos@127.0.0.1``)
``<From-Address>``     ``127.0.0.1``
``<From-IP>``          ``127.0.0.1``
``<Local-Port>``       ``5999`` (``local_port``)
``<Branch-ID>``        16 hex digits unique per case and ``run`` (after ``z9hG4bK``)
``<Call-ID>``          the same 16 hex digits (before ``@127.0.0.1``)
``<CSeq>``             ``1``
``<Teardown-Method>``  ``CANCEL``
``<Content-Length>``   the INVITE body's length in octets after the substitutions above
=====================  ===============================================================

The body is what follows the first empty line (CRLF CRLF). In the ``crlf-request`` group
(cases 2417-2426) that empty line is the mutated element, so there the body is the unchanged
SDP that follows the mutation (from ``v=0``). Teardown PDUs carry ``Content-Length: 0``, and the
``sip-content-length`` group (2361-2406) mutates the value itself: no placeholder to fill.

Usage::

    for case in iter_cases():
        send(case.invite); send(case.teardown); probe_with_options()
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import shutil
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

CORPUS = Path("fuzz") / "protos-c07-sip"
ARCHIVE = "protos-c07-sip-cases.tar.xz"
CASE_COUNT = 4527
COMPLETE = ".complete"

TO = b"user@127.0.0.1"
FROM = b"protos@127.0.0.1"
FROM_ADDRESS = b"127.0.0.1"
LOCAL_PORT = 5999
CSEQ = b"1"
TEARDOWN_METHOD = b"CANCEL"

_README_SHA256 = re.compile(r"SHA-256 of the archive:\s*`([0-9a-f]{64})`")
_CONTENT_LENGTH = b"<Content-Length>"
_CASE_MEMBER = re.compile(r"(\./)?cases/[0-9]{7}")


class ProtosCorpusError(Exception):
    """The corpus is missing, does not match its README's SHA-256, or a case is malformed."""


@dataclass(frozen=True, slots=True)
class ProtosGroup:
    """One row of ``groups.tsv``: a test group and the case numbers it covers."""

    name: str
    first: int
    last: int
    expectation: str
    """What rtckit/php-sip's parser test expects for the group: "parses" or "rejected"."""


@dataclass(frozen=True, slots=True)
class ProtosCase:
    """One PROTOS case with its placeholders substituted, ready to send to 127.0.0.1."""

    number: int
    """The case number, 0 (the valid reference INVITE) to 4526."""
    group: str
    """The test group from ``groups.tsv`` (``valid``, ``sip-method``, ``sdp-media-port`` …)."""
    invite: bytes
    """The (mutated) INVITE."""
    teardown: bytes
    """The request that ends it (CANCEL)."""

    @property
    def name(self) -> str:
        """``0002361-sip-content-length``: the file name and group, for test ids."""
        return f"{self.number:07d}-{self.group}"


def find_shared_dir() -> Path | None:
    """The shared reference directory holding the corpus, or None when there is none.

    ``SHAREDLINE_SHARED_DIR`` when set (and then only that), otherwise ``shared/`` next to
    the repository, found from this file's real path or, if the repository is reached
    through a symlink, from the path it was imported by.
    """
    configured = os.environ.get("SHAREDLINE_SHARED_DIR")
    if configured:
        path = Path(configured)
        return path if (path / CORPUS).is_dir() else None
    here = Path(__file__)
    for repo in (here.resolve().parents[2], here.absolute().parents[2]):
        path = repo.parent / "shared"
        if (path / CORPUS).is_dir():
            return path
    return None


def corpus_dir() -> Path:
    """``<shared>/fuzz/protos-c07-sip``; raises :class:`ProtosCorpusError` when absent."""
    shared = find_shared_dir()
    if shared is None:
        where = os.environ.get("SHAREDLINE_SHARED_DIR") or "../shared beside the repository"
        raise ProtosCorpusError(f"protos corpus {str(CORPUS)!r} not found in {where!r}")
    return shared / CORPUS


@cache
def cases_dir() -> Path:
    """The directory of unpacked case files, unpacking the checked archive on first use."""
    corpus = corpus_dir()
    expected = _expected_sha256(corpus / "README.md")
    cache_dir = Path(tempfile.gettempdir()) / f"sharedline-protos-{expected[:16]}"
    if not _is_complete(cache_dir, expected):
        _unpack(corpus / ARCHIVE, expected, cache_dir)
    return cache_dir / "cases"


def _expected_sha256(readme: Path) -> str:
    match = _README_SHA256.search(readme.read_text(encoding="utf-8"))
    if match is None:
        raise ProtosCorpusError(f"no archive SHA-256 in {str(readme)!r}")
    return match.group(1)


def _is_complete(cache_dir: Path, expected: str) -> bool:
    marker = cache_dir / COMPLETE
    try:
        return marker.read_text(encoding="ascii") == expected and (
            cache_dir.stat().st_uid == os.getuid()
        )
    except (FileNotFoundError, NotADirectoryError):
        return False


def _unpack(archive: Path, expected: str, cache_dir: Path) -> None:
    actual = hashlib.sha256(archive.read_bytes()).hexdigest()
    if actual != expected:
        raise ProtosCorpusError(
            f"protos archive {str(archive)!r} has SHA-256 {actual}, its README says {expected}"
        )
    staging = Path(tempfile.mkdtemp(prefix=f"{cache_dir.name}.", dir=cache_dir.parent))
    try:
        found = _extract_cases(archive, staging / "cases")
        if found != CASE_COUNT:
            raise ProtosCorpusError(f"protos archive holds {found} cases, not {CASE_COUNT}")
        (staging / COMPLETE).write_text(expected, encoding="ascii")
        if cache_dir.exists() and not _is_complete(cache_dir, expected):
            shutil.rmtree(cache_dir)  # a stale or partial copy
        try:
            staging.rename(cache_dir)
        except OSError:
            if not _is_complete(cache_dir, expected):  # not a concurrent unpacker's copy
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _extract_cases(archive: Path, folder: Path) -> int:
    """Write the archive's ``cases/NNNNNNN`` files into ``folder``; refuse anything else."""
    folder.mkdir()
    count = 0
    with tarfile.open(archive, "r:xz") as tar:
        for member in tar:
            if member.isdir() and member.name.rstrip("/") == "cases":
                continue
            source = tar.extractfile(member) if member.isfile() else None
            if source is None or not _CASE_MEMBER.fullmatch(member.name):
                raise ProtosCorpusError(f"protos archive member {member.name!r} is not a case")
            with source:
                (folder / member.name.rpartition("/")[2]).write_bytes(source.read())
            count += 1
    return count


@cache
def load_groups() -> tuple[ProtosGroup, ...]:
    """The 54 test groups of ``groups.tsv``, in case-number order."""
    with (corpus_dir() / "groups.tsv").open(encoding="utf-8", newline="") as table:
        rows = list(csv.DictReader(table, delimiter="\t"))
    return tuple(
        ProtosGroup(
            name=row["group"],
            first=int(row["first_case"]),
            last=int(row["last_case"]),
            expectation=row["php_sip_parser_expectation"],
        )
        for row in rows
    )


@cache
def _group_names() -> tuple[str, ...]:
    names = [""] * CASE_COUNT
    for group in load_groups():
        names[group.first : group.last + 1] = [group.name] * (group.last - group.first + 1)
    if "" in names:
        raise ProtosCorpusError(f"groups.tsv does not cover case {names.index('')}")
    return tuple(names)


def iter_cases(*, local_port: int = LOCAL_PORT, run: int = 0) -> Iterator[ProtosCase]:
    """Every case, 0 to 4526, substituted for 127.0.0.1 (see the module docstring).

    ``local_port`` fills ``<Local-Port>`` (the Via port responses go to); ``run`` changes every
    branch and Call-ID, for sending the corpus twice to the same server.
    Raises :class:`ProtosCorpusError` when the corpus is missing or malformed.
    """
    folder = cases_dir()
    for number, group in enumerate(_group_names()):
        yield _case(folder, number, group, local_port, run)


def load_case(number: int, *, local_port: int = LOCAL_PORT, run: int = 0) -> ProtosCase:
    """Case ``number`` (0 to 4526), substituted as :func:`iter_cases` does."""
    if not 0 <= number < CASE_COUNT:
        raise ValueError(f"protos case {number!r} is not in 0..{CASE_COUNT - 1}")
    return _case(cases_dir(), number, _group_names()[number], local_port, run)


def _case(folder: Path, number: int, group: str, local_port: int, run: int) -> ProtosCase:
    invite, teardown = _split((folder / f"{number:07d}").read_bytes(), number)
    token = f"{run:08x}{number:08x}".encode()
    values = {
        b"<To>": TO,
        b"<From>": FROM,
        b"<From-Address>": FROM_ADDRESS,
        b"<From-IP>": FROM_ADDRESS,
        b"<Local-Port>": str(local_port).encode(),
        b"<Branch-ID>": token,
        b"<Call-ID>": token,
        b"<CSeq>": CSEQ,
        b"<Teardown-Method>": TEARDOWN_METHOD,
    }
    invite = _substitute(invite, values)
    if _CONTENT_LENGTH in invite:
        invite = invite.replace(_CONTENT_LENGTH, str(_body_length(invite)).encode())
    return ProtosCase(number, group, invite, _substitute(teardown, values))


def _split(data: bytes, number: int) -> tuple[bytes, bytes]:
    """``<length> <PDU><length> <PDU>`` → the two PDUs."""
    pdus: list[bytes] = []
    position = 0
    for _ in range(2):
        space = data.find(b" ", position)
        prefix = data[position:space]
        if space < 0 or not prefix.isdigit():
            raise ProtosCorpusError(f"protos case {number} has no length at offset {position}")
        end = space + 1 + int(prefix)
        if end > len(data):
            raise ProtosCorpusError(f"protos case {number} is truncated at offset {position}")
        pdus.append(data[space + 1 : end])
        position = end
    if position != len(data):
        raise ProtosCorpusError(f"protos case {number} has {len(data) - position} extra octets")
    return pdus[0], pdus[1]


def _substitute(pdu: bytes, values: Mapping[bytes, bytes]) -> bytes:
    # No value contains "<", so one replace per placeholder is one simultaneous substitution.
    for placeholder, value in values.items():
        if placeholder in pdu:
            pdu = pdu.replace(placeholder, value)
    return pdu


def _body_length(invite: bytes) -> int:
    """Octets after the first empty line; in the crlf-request group, from the SDP's ``v=0``."""
    blank = invite.find(b"\r\n\r\n")
    if blank >= 0:
        return len(invite) - (blank + 4)
    line_end = invite.find(b"\r\n", invite.find(_CONTENT_LENGTH)) + 2
    sdp = invite.find(b"v=0\r\n", line_end)
    return len(invite) - (sdp if sdp >= 0 else line_end)
