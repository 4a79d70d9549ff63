-- Goal attribution (issue 20): the referrer a conversion on this hit is credited with when
-- the request names one, by Matomo's rule (plugins/Referrers/Columns/Base.php,
-- getValueForRecordGoal): matomo.js's attribution cookie, sent as _rcn/_rck (a campaign) or
-- _ref (a search engine, website or social network read from that URL). NULL: the visit's
-- referrer. Reports read it with the visit's (tally.web.reporting.methods).
ALTER TABLE web.hits ADD COLUMN attributed_type VARCHAR;
ALTER TABLE web.hits ADD COLUMN attributed_name VARCHAR;
ALTER TABLE web.hits ADD COLUMN attributed_keyword VARCHAR;
