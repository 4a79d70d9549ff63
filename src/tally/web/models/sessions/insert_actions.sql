-- The columns web.actions is written in: the head of actions.sql's INSERT and of the
-- sorted engine's (sorted_actions.sql), whose SELECTs list them in this order.
INSERT INTO web.actions (
    hit_id, idsite, local_date, idvisit, visitor_key, position, hit_time, local_time, kind,
    is_action, url, action_name, link_url, event_category, event_action, event_name,
    event_value, search_keyword, idgoal, revenue, pv_id, seconds_since_previous, url_fragment,
    visit_key, interaction, pageview_number, page_label, next_page_label, time_spent,
    previous_kind, previous_label, next_kind, next_label, first_view_of_page
)
