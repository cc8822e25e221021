"""How a long-running process of opsbot is tuned: `opsbot serve` and its playbook worker (`bot.worker`).

Both run an event loop beside threads doing CPU work (parsing, classifying, redacting, rendering),
and both make many short-lived objects; these settings are measured with `bench/scale.py`.
"""

from __future__ import annotations

import asyncio
import gc
from concurrent.futures import ThreadPoolExecutor

# The event loop shares the GIL with the threads parsing and redacting logs; each time the loop gives
# the GIL up (every socket call) it waits up to this long to get it back. At CPython's default (5 ms)
# an acknowledgement or a help answer, a dozen socket calls, queued ~200 ms behind a 20-command burst
# (bench/scale.py); the cost is more frequent switches between threads.
SWITCH_INTERVAL = 0.0005
# A burst allocates millions of short-lived objects (log lines, blocks, JSON): at CPython's default
# thresholds (700, 10, 10) the cyclic collector ran ~700 times in a 20-command burst, 1.6 s of CPU,
# with full collections of 110-180 ms that held the GIL. Nothing opsbot makes per request forms
# cycles that matter, so collections are rarer; what start-up made (modules, tables, the app) is
# frozen out of them. A young collection walks every object allocated since the last one and still
# alive (~0.5 us each): at 50,000 that is a 20-35 ms stop of every thread, which the playbook worker
# can afford (throughput) and the serving process cannot (an answer waits behind it): there, young
# collections are 5x as frequent and as short, and the middle generation as rare as before.
WORKER_GC = (50_000, 20, 20)
SERVE_GC = (10_000, 100, 20)
# The playbook worker's scheduling priority (nice), below the server's: when both want a core, the one
# answering people gets it (on 2 busy cores, a help answer's p99 during a burst: 8-74 ms against 68-104
# ms at nice 0; the burst itself no slower). Raising one's own nice value needs no privilege.
WORKER_NICE = 5
# The default executor (asyncio.to_thread) does the CPU work: CPython hands the GIL to any waiting
# thread, so with asyncio's default of 6 workers busy the event loop won the GIL back only about one
# time in 7 after each socket call; and threads add no throughput to CPU work under one GIL.
# Blocking I/O has its own pools (Kubernetes calls, the store).
CPU_WORKERS = 1


def cpu_thread(name: str) -> None:
    """One thread for the running loop's CPU work (`asyncio.to_thread`), named `name`."""
    cpu = ThreadPoolExecutor(max_workers=CPU_WORKERS, thread_name_prefix=name)
    asyncio.get_running_loop().set_default_executor(cpu)


def settle_memory(thresholds: tuple[int, int, int]) -> None:
    """Once a process is up: freeze what start-up allocated out of the collector's sight, and collect
    at `thresholds` (see SERVE_GC)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)
