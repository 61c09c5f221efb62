"""SIGTERM and SIGINT passed on to a child process, which is then waited for,
so that stopping a ptjf command never leaves its child training alone."""

import contextlib
import signal
import subprocess
from typing import Iterator

PASSED_ON = (signal.SIGTERM, signal.SIGINT)


@contextlib.contextmanager
def passed_on(process: subprocess.Popen) -> Iterator[list[int]]:
  """While inside, SIGTERM and SIGINT terminate `process` instead of this
  process, which goes on to wait for it; yields the signals received, in order.

  Both become SIGTERM: t5x.train carries on after SIGINT, and `ptjf run`
  stops on either.
  """
  received = []

  def forward(signum, _):
    received.append(signum)
    process.terminate()

  previous = {s: signal.signal(s, forward) for s in PASSED_ON}
  try:
    yield received
  finally:
    for s, handler in previous.items():
      signal.signal(s, handler)
