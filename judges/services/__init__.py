"""Business logic of the judges app, one job per module (writes are `<entity>_<action>` functions):

configs      judge configs and their versions          secrets      API-key references, redaction
planning     pairing plans → battles                   estimates    calls, tokens and cost before starting
campaigns    validate, estimate, start                 lifecycle    pause, resume, cancel, finish, halt
claims       the claim protocol of work items          limits       cross-worker concurrency slots, 429 cool-down
requests     what a judge is sent, reuse keys          calls        provider calls, spend, backoff
judging      one judgment end to end                   judgment_sql the per-call statements, in SQL
runtime      per-process cache of versions, configs    outcomes     what failures do to a work item
consistency  both orders → final verdicts              generation   missing outputs from contender endpoints
progress     live counts, rate, spend, ETA             reconcile    recovery sweeps after crashes, lost messages
enqueue      queueing on commit, in small batches
"""
