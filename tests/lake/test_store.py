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
