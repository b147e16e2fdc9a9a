"""The bench's measuring instrument (bench/processes.py): CPU time and memory from /proc."""
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench import processes

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")

BURN = """
import threading, time
def burn(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
thread = threading.Thread(target=burn, args=(0.3,))  # a thread that ends: counted all the same
thread.start(); thread.join()
burn(0.2)
print("done", flush=True)
time.sleep(30)
"""


def test_cpu_time_counts_every_thread_including_ended_ones():
    with subprocess.Popen([sys.executable, "-c", BURN], stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout.readline().strip() == "done"
            # 0.3 s in a thread that has ended, 0.2 s in the main thread, plus start-up; the upper
            # bound is wide: what is checked is the counting, not the machine's speed
            assert 0.5 <= processes.cpu_seconds(process.pid) <= 10
            assert processes.rss_mib(process.pid) > 1
        finally:
            process.kill()


def test_an_idle_process_spends_next_to_nothing():
    idle = "import time; print('up', flush=True); time.sleep(30)"
    with subprocess.Popen([sys.executable, "-c", idle], stdout=subprocess.PIPE, text=True) as process:
        try:
            process.stdout.readline()
            before = processes.cpu_seconds(process.pid)
            time.sleep(0.3)
            assert processes.cpu_seconds(process.pid) - before < 0.05
        finally:
            process.kill()
