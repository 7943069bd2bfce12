"""blerun's performance figures, each against baselines measured in the same run.

From the repository root, with the ``bench`` extra installed
(``pip install -e ".[bench]"``, included in ``dev``)::

    python -m bench                     # every figure, a few minutes
    python -m bench --quick             # the same figures, smaller: about a minute
    python -m bench --only latency_p99_10k
    python -m bench --out DIR           # default: bench/results/ (not versioned)
    python -m bench --radio both        # also with the radio in a host process

It writes ``results.json`` (every number, the machine, the load average),
``results.md`` (the table: figure, blerun, baselines, ratio, goal, met/missed),
``results.png`` (latency CDFs at 10k/s and recovery-time CDFs) and ``bench.log`` (what
the libraries logged: the hung-radio trials abandon stubborn tasks on purpose, and
asyncio says so), and prints the table.

Modules, one per group of figures:

* ``pipeline``: the notification path on a scripted bleak backend (no radio): flat-out
  throughput, added CPU and latency at 10k/s, against a direct callback and a bare
  pykka hop.
* ``oversim``: over ``blerun.sim``: notification throughput, read + write round trip on
  the user's loop, drop -> first notification (plain bleak and bleak-retry-connector as
  baselines), the user loop's lateness while streaming.
* ``scale``: 1,000 devices on the scripted backend: threads, RSS, CPU, close time,
  against 1,000 plain ``BleakClient``s.
* ``shutdown``: ``close(1.0)`` with the radio hung in connect, disconnect or write.
* ``hosts``: notification latency over the sim in either mode; with ``--radio process``
  also the radio host's own figures: frozen host -> first notification through its
  successor, RSS per host, ``close(1.0)`` with the host frozen (100 trials).

``scripted`` is the bleak backend and its pushers, ``common`` the shared gauges and
the ``Figure`` record, ``report`` the outputs, ``run`` the orchestrator. Apart from the
table, ``python -m bench.simfacts`` prints plain bleak's figures over the sim (the ones
docs/sim.md quotes).

Method: the bench only uses blerun's public API. Where it is cheap, a figure is the
median of several repetitions after a discarded warm-up, each repetition measures
blerun and its baselines one after the other (in a rotating order), and a ratio is
taken within a repetition. CPU is the process's CPU time over a fixed window at a fixed
offered rate; latency runs from the moment the bench produced a notification (a
``perf_counter`` stamp in the payload) to the user's function. Timings depend on the
machine and its load: compare ratios, and rerun on a quiet machine.
"""
