"""One lake suite, run on local disk and on S3 (moto's server on loopback)."""

import datetime as dt

import pytest

from tally.errors import LakeConflictError, NotFoundError
from tally.lake import Lake, lake_key, parse_key

KEY = lake_key(
    "external",
    "itunes",
    "subscription-events",
    dt.date(2016, 10, 23),
    "Subscription_Event_85082573_20161023.txt.gz",
)


@pytest.fixture(params=["local", "s3"])
def lake(request, tmp_path):
    if request.param == "local":
        return Lake(str(tmp_path / "lake"))
    bucket = request.getfixturevalue("s3_bucket")
    endpoint = request.getfixturevalue("s3_endpoint")
    return Lake(
        f"s3://{bucket}/prefix",
        {"key": "testing", "secret": "testing", "client_kwargs": {"endpoint_url": endpoint}},
    )


def test_key_follows_the_seed_layout():
    assert KEY == (
        "thirdparty/external/itunes/subscription-events/2016/10/23/"
        "Subscription_Event_85082573_20161023.txt.gz"
    )
    no_dataset = lake_key("internal", "viu-cms", None, dt.date(2016, 10, 26), "cms-episode.csv.gz")
    assert no_dataset == "thirdparty/internal/viu-cms/2016/10/26/cms-episode.csv.gz"
    parts = parse_key(KEY)
    assert parts.source == "itunes" and parts.dataset == "subscription-events"
    assert parts.day == dt.date(2016, 10, 23)
    assert parse_key(no_dataset).dataset is None
    assert parse_key("elsewhere/file.txt") is None


def test_new_then_same_bytes_is_a_no_op(lake):
    first = lake.put(KEY, b"one")
    again = lake.put(KEY, b"one")
    assert (first.status, again.status) == ("new", "unchanged")
    assert first.sha256 == again.sha256 and first.size == 3
    assert lake.get(KEY) == b"one"


def test_other_bytes_are_refused_without_force(lake):
    lake.put(KEY, b"one")
    with pytest.raises(LakeConflictError, match="immutable"):
        lake.put(KEY, b"two")
    assert lake.get(KEY) == b"one"


def test_forced_rewrite_keeps_the_old_version(lake):
    lake.put(KEY, b"one")
    result = lake.put(KEY, b"two", force=True)
    assert result.status == "replaced"
    assert result.previous_version.startswith(f"_versions/{KEY}/")
    assert lake.get(KEY) == b"two"
    assert lake.get(result.previous_version) == b"one"
    assert lake.list() == [KEY]  # old versions are not listed as landed files


def test_list_by_prefix(lake):
    other = KEY.replace("2016/10/23", "2016/10/24")
    lake.put(KEY, b"a")
    lake.put(other, b"b")
    assert lake.list("thirdparty/external/itunes") == [KEY, other]
    assert lake.list("thirdparty/external/itunes/subscription-events/2016/10/24") == [other]
    assert lake.list("thirdparty/internal") == []


def test_missing_key_is_a_clear_error(lake):
    with pytest.raises(NotFoundError, match="no object"):
        lake.get("thirdparty/external/none/2016/01/01/x.csv")


def test_the_same_report_in_a_new_gzip_wrapper_is_the_same_file(lake):
    import gzip

    report = b"Event Date\tEvent\tQuantity\n2016-10-23\tRenew\t3\n"
    first = gzip.compress(report, mtime=1_700_000_000)
    later = gzip.compress(report, mtime=1_700_086_400)  # the header's time differs
    assert first != later
    assert lake.put(KEY, first).status == "new"
    again = lake.put(KEY, later)
    assert again.status == "unchanged" and lake.get(KEY) == first  # the first download stays
    # other content in a gzip is still a conflict
    with pytest.raises(LakeConflictError, match="other content"):
        lake.put(KEY, gzip.compress(report + b"2016-10-23\tCancel\t1\n"))


def test_content_digest_reads_through_gzip_and_zip():
    import gzip
    import io
    import zipfile

    from tally.lake.content import content_digest

    def zipped(data: bytes, when: tuple[int, ...]) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr(zipfile.ZipInfo("sales.csv", date_time=when), data)
        return buffer.getvalue()

    assert content_digest(gzip.compress(b"a", mtime=1)) == content_digest(gzip.compress(b"a"))
    assert zipped(b"a", (2026, 1, 1, 0, 0, 0)) != zipped(b"a", (2026, 1, 2, 0, 0, 0))
    assert content_digest(zipped(b"a", (2026, 1, 1, 0, 0, 0))) == content_digest(
        zipped(b"a", (2026, 1, 2, 0, 0, 0))
    )
    assert content_digest(zipped(b"a", (2026, 1, 1, 0, 0, 0))) != content_digest(
        zipped(b"b", (2026, 1, 1, 0, 0, 0))
    )
    # a damaged gzip is compared by its bytes, never taken for another file's content
    assert content_digest(b"\x1f\x8bnot really") != content_digest(b"\x1f\x8bnot really!")
