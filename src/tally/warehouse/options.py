"""``[warehouse.options]``: the keys each backend takes, typed (pydantic only, so loading the
settings imports no driver). A backend's registration names its model
(``Backend(options="tally.warehouse.options:Redshift")``); the settings load checks the
options against it (unknown key or wrong type: the key, its ``TALLY_WAREHOUSE__OPTIONS__…``
variable and the expected form), and the backend's factory reads the values at connect."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class BackendOptions(BaseModel):
    """A backend's options; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class NoOptions(BackendOptions):
    """DuckDB and PostgreSQL: everything they need is in the URL and ``[warehouse]``."""


class Redshift(BackendOptions):
    staging_url: str = Field(
        default="",
        description="s3://bucket/prefix where loads stage Parquet; default: lake/_staging",
    )
    iam_role: str = Field(default="", description="the role COPY and UNLOAD assume")
    access_key_id: str = Field(default="", description="instead of iam_role, with the secret")
    secret_access_key: SecretStr | None = Field(default=None, description="never logged nor shown")
    region: str = Field(default="", description="the staging bucket's region")


class Spark(BackendOptions):
    master: str = Field(
        default="", description="spark://host:port, yarn, local[2]; default: the URL's"
    )
    location: str = Field(default="", description="folder or s3a:// prefix of the tables")
    serving: str = Field(default="", description="the DuckDB file tally's own tables live in")
    prefix: str = Field(default="", description="before each Spark database name")
    conf: dict[str, str] = Field(default_factory=dict, description="spark.* settings")
