"""Leaderboard business logic: SQL aggregation, fitting snapshots, coalesced recomputes, exports, imports.

Modules, each with one job:
- `aggregation`: verdicts → grouped rows in SQL, and the fingerprint of the data a run reads;
- `boards`: grouped rows → one input per leaderboard (source × dimension × category);
- `fitting`: one leaderboard's input → ratings, intervals, matrices, style control (pure, no database);
- `agreement`: LLM judges against the people's majority;
- `recompute`: one versioned run of every leaderboard, stored atomically;
- `coalescing`: concurrent recompute requests → at most one running and one more;
- `exports`: a leaderboard as CSV or JSON; `importing`: battle files into the database.
"""
