-- (token_hash, name, user_name, expires_at, the user's is_admin) of tokens not revoked
-- whose user (if any) still exists (accounts.live_tokens)
SELECT t.token_hash, t.name, t.user_name, t.expires_at, u.is_admin
FROM tally_meta.api_tokens AS t
LEFT JOIN tally_meta.users AS u ON u.name = t.user_name
WHERE t.revoked_at IS NULL AND (t.user_name IS NULL OR u.name IS NOT NULL)
