-- Web reports (issue 7): a version per site-day, new each time sessionize rebuilds the day,
-- so a cached report of a closed period knows when a late hit changed one of its days.
CREATE TABLE IF NOT EXISTS web.day_versions (
    idsite INTEGER NOT NULL,
    local_date DATE NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (idsite, local_date)
);
