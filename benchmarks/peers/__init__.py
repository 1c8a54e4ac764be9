"""``make bench-peers``: Soma against pykka, thespian, triotp and hand-written asyncio.

The same workloads go through every peer, in one process, round after round, the peers'
order rotating each round so that a noisy machine's load falls on all of them alike:

* ``call``: request/reply round trips from one caller to one echo actor;
* ``oneway``: one-way messages from one sender to one actor, then one round trip to know
  that every message has been handled;
* ``spawn_stop``: start 10k actors (each started as its library starts one), then stop them
  all and wait until every one is gone;
* ``memory``: what 10k live idle actors cost, on the Python heap (tracemalloc) and in resident
  memory — each peer in a fresh interpreter, so one peer's freed memory does not flatter the
  next (see ``memory.py``);
* ``restarts``: a supervised child that crashes as soon as it starts, restarted back to back;
* ``cancel``: how long after a cancel request a handler blocked in an await runs its cleanup.

Each peer lives in its own module and is imported only here, so ``make bench`` and ``make
test`` never need the peers installed. ``raw`` is the floor each figure is compared with:
the same workload written directly on asyncio / anyio.
"""
