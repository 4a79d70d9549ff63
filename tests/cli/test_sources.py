"""``tally sources``: what has landed per dataset, and the reachability check."""

import datetime as dt
import gzip
import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from typer.testing import CliRunner

from tally.cli.main import app
from tally.config import load_settings
from tally.pipeline.context import open_context
from tally.pipeline.ingest import ingest
from tally.pipeline.load import load
from tally.sources import get_dataset

FIXTURE = (
    Path(__file__).parent.parent / "fixtures" / "sources" / "itunes_subscription_event_small.txt"
)
runner = CliRunner()


def test_sources_lists_last_landed_partition_and_load_status(workdir):
    context = open_context(load_settings())
    events = get_dataset("itunes", "subscription-events")
    report = workdir / "report.txt.gz"
    report.write_bytes(gzip.compress(FIXTURE.read_bytes()))
    for day in (dt.date(2016, 10, 22), dt.date(2016, 10, 23)):
        ingest(context, events, day, [report])
        load(context, events, day)
    context.warehouse.close()
    result = runner.invoke(app, ["sources", "--json"])
    assert result.exit_code == 0, result.output
    rows = {(r["source"], r["dataset"]): r for r in json.loads(result.output)}
    mine = rows[("itunes", "subscription-events")]
    assert (mine["last_landed"], mine["files"], mine["last_load"]) == ("2016-10-23", 2, "ok")
    assert rows[("itunes", "active-subscription")]["last_load"] is None


def test_check_says_exactly_what_is_wrong(workdir):
    result = runner.invoke(app, ["sources", "check", "--source", "itunes"])
    assert result.exit_code == 1
    assert "sources.itunes.issuer_id and key_id are required" in " ".join(result.output.split())


def test_check_passes_when_apple_accepts_the_key(workdir, httpserver, monkeypatch):
    key = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    httpserver.expect_request("/v1/salesReports").respond_with_json(
        {"errors": [{"status": "404", "code": "NOT_FOUND", "detail": "no report"}]}, status=404
    )
    monkeypatch.setenv("TALLY_ITUNES__API_URL", httpserver.url_for("").rstrip("/"))
    monkeypatch.setenv("TALLY_ITUNES__ISSUER_ID", "issuer")
    monkeypatch.setenv("TALLY_ITUNES__KEY_ID", "KEY123")
    monkeypatch.setenv("TALLY_ITUNES__PRIVATE_KEY", key)
    result = runner.invoke(app, ["sources", "check", "--source", "itunes"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert result.output.count("accepted the key") == 2
    assert "BEGIN PRIVATE KEY" not in result.output
