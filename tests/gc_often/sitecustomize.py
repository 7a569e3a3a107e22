"""Put this folder on PYTHONPATH of a server under test to run the cyclic garbage collector every
0.1 s (the server makes collections rare on purpose, see ocppd.server.GC_THRESHOLDS).

Leaked asyncio tasks are only reported ("Task was destroyed but it is pending!") when the collector
frees them, so without this a leak shows up at some random later moment in production logs instead
of in the test. Every finished collection appends a line to $TEST_GC_MARKS_FILE, so a test can wait
until the collector has run after the moment it cares about.
"""

import gc
import os
import threading
import time


def _collect_often() -> None:
    marks = os.environ.get("TEST_GC_MARKS_FILE")
    while True:
        time.sleep(0.1)
        gc.collect()
        if marks:
            with open(marks, "a") as f:
                f.write(".\n")


threading.Thread(target=_collect_often, name="test-gc-often", daemon=True).start()
