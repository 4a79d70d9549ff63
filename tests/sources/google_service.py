"""A service-account key whose token endpoint is the test's local server (pytest-httpserver).

google-auth signs a JWT with the key and POSTs it to ``token_uri``; the local server answers
like Google's OAuth endpoint, so the real token flow runs without the network.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

ACCESS_TOKEN = "ya29.local-test-token"


@functools.cache
def _private_key() -> rsa.RSAPrivateKey:
    # one key per test process: generating RSA keys is the slow part of these tests
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def google_key(httpserver: HTTPServer, folder: Path) -> tuple[Path, list[dict]]:
    """Write a key file and serve its token endpoint; returns the file and the JWT claims seen."""
    private = _private_key()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    claims_seen: list[dict] = []

    def token(request: Request) -> Response:
        form = parse_qs(request.get_data(as_text=True))
        assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
        claims_seen.append(
            jwt.decode(
                form["assertion"][0],
                private.public_key(),
                algorithms=["RS256"],
                options={"verify_aud": False},
            )
        )
        body = {"access_token": ACCESS_TOKEN, "expires_in": 3600, "token_type": "Bearer"}
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/token", method="POST").respond_with_handler(token)
    key = {
        "type": "service_account",
        "project_id": "tally-test",
        "private_key_id": "local1",
        "private_key": pem,
        "client_email": "tally-reader@tally-test.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": httpserver.url_for("/token"),
    }
    path = folder / "service-account.json"
    path.write_text(json.dumps(key), encoding="utf-8")
    return path, claims_seen
