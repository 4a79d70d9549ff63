-- UsersFlow.getUsersFlow on DuckDB (web/reporting/usersflow.py _counted_here): each page
-- view's (step, page id, next page id) packed into one number, which numpy tallies.
-- packed: the packing expression (cast to 32 bits when asked); join, where: the actions in
-- scope.
SELECT {packed} AS packed
FROM web.actions AS a
{join}
WHERE {where} AND a.page_id IS NOT NULL
