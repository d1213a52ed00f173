#!/usr/bin/env python3
"""TEST DOUBLE for the customer's npu_info_gen.py NPU info collector (seed 000 #7; no NPU here).

Lives only under tests/. Writes one JSON line per second; the tests kill it and expect systemd
to start it again.
"""

import json
import os
import time

while True:
    print(json.dumps({"pid": os.getpid(), "time": time.time(), "npus": 1}), flush=True)
    time.sleep(1)
