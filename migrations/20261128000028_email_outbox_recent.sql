-- The hourly email allowance counts an org's recent outbox rows on every invitation; sent rows
-- are kept, so without this the count would read the org's whole history.
create index email_outbox_org_recent on email_outbox (org_id, created_at);
