"""Moves this Python process's wall clock by N8NOPS_CLOCK_OFFSET_S seconds (time-machine),
for `make test-future`: on PYTHONPATH, it runs in pytest, its workers and every Python
process they start. Monotonic clocks are left alone, so sleeps and timeouts stay real."""

import os

if offset := os.environ.get("N8NOPS_CLOCK_OFFSET_S"):
    import time
    from datetime import UTC, datetime, timedelta

    import time_machine

    _traveller = time_machine.travel(
        datetime.fromtimestamp(time.time(), UTC) + timedelta(seconds=int(offset)), tick=True
    )
    _traveller.start()
