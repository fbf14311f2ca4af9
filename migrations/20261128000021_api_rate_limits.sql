-- API rate limits per org and per agent (requests per minute), from the org's plan; null means
-- no limit. Counted in Redis, shared by every app node.
alter table plan
  add column api_requests_per_minute integer check (api_requests_per_minute >= 0),
  add column agent_requests_per_minute integer check (agent_requests_per_minute >= 0);
update plan set api_requests_per_minute = 600, agent_requests_per_minute = 120
 where plan_name = 'free';
update plan set api_requests_per_minute = 6000, agent_requests_per_minute = 1200
 where plan_name = 'pro_monthly';
