"""SIP over TLS with a certificate from the settings (a self-signed one made by openssl)."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from sharedline.app import Engine
from sharedline.config.settings import load_settings
from sharedline.sip.parser import parse_message
from tests.integration.conftest import bound
from tests.integration.wire import options_request


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    assert openssl is not None, "openssl (Debian package openssl) is needed for the TLS test"
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return cert, key


async def test_tls_options_gets_200(certificate: tuple[Path, Path], tmp_path: Path) -> None:
    cert, key = certificate
    settings = load_settings(
        sip_listen=["tls:127.0.0.1:0"],
        sip={"tls_certificate": cert, "tls_key": key},
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'tls.db'}",
    )
    engine = Engine(settings)
    await engine.start()
    try:
        client_ssl = ssl.create_default_context(cafile=str(cert))
        host, port = bound(engine, "tls")
        reader, writer = await asyncio.open_connection(host, port, ssl=client_ssl)
        writer.write(options_request("TLS"))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        response = parse_message(head)
        assert response.start_line() == "SIP/2.0 200 OK"
        assert response.top_via.transport == "TLS"
        writer.close()
        await writer.wait_closed()
    finally:
        await engine.stop()
