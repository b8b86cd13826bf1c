"""Jobs on a queue: recompute (arena/jobs), generation and judging (arena/llm) and export run as queued jobs,
each recorded in a `job_run` row (job_runs), on RQ (rq_queue) or a thread of the site (schedule), with the
recompute scheduled by votes and time. Above jobs/ and llm/, like the commands: it dispatches to both."""
