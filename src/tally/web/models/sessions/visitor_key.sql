-- A hit's visitor (sc: scoped_hits.sql's hit; du: its cookie's user of the day; salt: the
-- day's salt): its user, else its cookie, else a salted hash of its browser and address.
-- Shared by actions.sql ("keyed") and the sorted engine's sort (sorted_hits.sql).
    CASE
        WHEN coalesce(sc.user_id, du.user_id) IS NOT NULL
            THEN 'u:' || coalesce(sc.user_id, du.user_id)
        WHEN sc.visitor_id IS NOT NULL THEN 'c:' || sc.visitor_id
        ELSE 'h:' || md5(
            salt.salt || '|' || coalesce(sc.user_agent, '') || '|' || coalesce(sc.ip, '')
        )
    END
