"""Each source's block of the settings tree, ``[sources.<name>]`` (see ``tally.config``).

One model per source module, named after it; every source shares ``SourceSettings``'
``schedule``, ``schedule_timezone``, ``lag_days`` and ``deadline_hours``. The models live
here rather than in the source modules because loading settings imports this module, and
a source module imports its client (httpx, pyarrow, JWT: about 1.6 s): this module imports
only pydantic and ``tally.config``. A new source adds its model here and to ``SECTIONS``.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr

from tally.config import SourceSettings, Strict


class ItunesSettings(SourceSettings):
    """``tally.sources.itunes`` and ``itunes_subscription``: App Store Connect's API. The
    older top-level ``[itunes]`` block (``TALLY_ITUNES__…``) is read as this one."""

    source = "itunes"

    api_url: str = "https://api.appstoreconnect.apple.com"
    vendor_number: str = "85082573"
    issuer_id: str = ""
    key_id: str = Field(default="", description="the API key's id; scheduled once set")
    private_key: SecretStr | None = Field(default=None, description="PEM text of the .p8 key")
    private_key_path: str = ""
    report_version: str = "1_4"
    subscription_report_version: str = Field(
        default="", description="the Subscription report's own version (default: as above)"
    )
    # Apple's day is Pacific time
    schedule: str = Field(default="0 9 * * *", description="cron of the daily fetch")
    schedule_timezone: str = Field(default="America/Los_Angeles", description="IANA zone")


class GoogleSettings(SourceSettings):
    """A service-account key, inline or in a file (else ``GOOGLE_APPLICATION_CREDENTIALS``)."""

    credentials_file: str = ""
    credentials_json: SecretStr | None = Field(
        default=None, description="the service-account JSON key itself"
    )
    api_url: str = Field(default="", description="another server than Google's")


class GooglePlaySettings(GoogleSettings):
    """``tally.sources.google_play``: the Play Console's reports bucket in Cloud Storage."""

    source = "google-play"

    bucket: str = Field(default="", description="pubsite_prod_rev_...")
    packages: list[str] = Field(default_factory=list, description="app package names")
    storage_url: str = Field(default="", description="another Cloud Storage server")


class Sheet(Strict):
    spreadsheet_id: str
    range: str = "A:Z"


class GoogleDriveSettings(GoogleSettings):
    """``tally.sources.google_drive``: sheets read with the Sheets API."""

    source = "google-drive"

    sheets: dict[str, Sheet] = Field(
        default_factory=dict, description="dataset name -> {spreadsheet_id, range}"
    )


class GoogleAnalyticsSettings(GoogleSettings):
    """``tally.sources.google_analytics``: the GA4 Data API."""

    source = "google-analytics"

    property_id: str = ""
    queries: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="series -> the query replacing the built-in one"
    )


class ViuCmsSettings(SourceSettings):
    """``tally.sources.viu_cms``: the CMS database over SQLAlchemy."""

    source = "viu-cms"

    url: SecretStr | None = Field(
        default=None, description="SQLAlchemy URL, e.g. postgresql+psycopg://reader@db/cms"
    )
    query: str = Field(default="", description="SQL binding :day and :until; default built in")


class ViuPremiumSettings(SourceSettings):
    """``tally.sources.viu_premium``: the subscription system's exports in a file drop."""

    source = "viu-premium"

    url: str = Field(default="", description="the drop folder or s3://bucket/prefix")
    path_template: str = Field(default="{file}", description="{yyyy}, {mm}, {dd} and {file}")
    storage_options: dict[str, Any] = Field(default_factory=dict, description="for fsspec")


SECTIONS: list[type[SourceSettings]] = [
    ItunesSettings,
    GooglePlaySettings,
    GoogleDriveSettings,
    GoogleAnalyticsSettings,
    ViuCmsSettings,
    ViuPremiumSettings,
]
BY_SOURCE = {model.source: model for model in SECTIONS}
