"""Shared test set-up: quiet TF, registries loaded, no network.

With PTJF_REQUIRE_T5X=1 (`make test-t5x`), the suite refuses to run from
another checkout of the project and fails every test that would skip for
lack of T5X or libtpu, so a provisioned environment runs everything.
"""

import collections
import os
import socket
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
os.environ.setdefault('JAX_PLATFORMS', 'cpu')  # libtpu, if installed, is for ptjf compile
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import pytest  # pylint: disable=g-import-not-at-top

import mixtures  # pylint: disable=g-import-not-at-top
from ptjf import recipe  # pylint: disable=g-import-not-at-top
import tasks  # pylint: disable=g-import-not-at-top

REQUIRE_T5X = os.environ.get('PTJF_REQUIRE_T5X') == '1'
# The words of recipe.t5x_missing() and recipe.libtpu_missing().
MISSING_MARKS = ('T5X is not installed', 'libtpu is not installed')


def pytest_sessionstart(session):
  del session  # unused
  if not REQUIRE_T5X:
    return
  for package in (mixtures, recipe, tasks):
    tested = os.path.abspath(package.__file__)
    if not tested.startswith(REPO + os.sep):
      pytest.exit(f'PTJF_REQUIRE_T5X: {package.__name__} is imported from '
                  f'{tested}, not from this checkout ({REPO}); put {REPO} '
                  'first on PYTHONPATH', 3)
  for missing in (recipe.t5x_missing(), recipe.libtpu_missing()):
    if missing:
      pytest.exit(f'PTJF_REQUIRE_T5X: {missing}', 3)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
  del item, call  # unused
  outcome = yield
  report = outcome.get_result()
  if REQUIRE_T5X and report.skipped:
    reason = str(report.longrepr)
    if any(mark in reason for mark in MISSING_MARKS):
      report.outcome = 'failed'
      report.longrepr = f'skipped under PTJF_REQUIRE_T5X=1: {reason}'


def pytest_terminal_summary(terminalreporter):
  """One line per reason a test was skipped, with its count (make test)."""
  reasons = collections.Counter(
      report.longrepr[2].removeprefix('Skipped: ')
      for report in terminalreporter.stats.get('skipped', [])
      if isinstance(report.longrepr, tuple))
  for reason, count in reasons.most_common():
    terminalreporter.write_line(f'{count} skipped: {reason}')


@pytest.fixture
def no_network(monkeypatch):
  """Fails any attempt to open a network connection."""
  def refuse(*args, **kwargs):
    raise AssertionError(f'network access attempted: {args}')
  monkeypatch.setattr(socket.socket, 'connect', refuse)
  monkeypatch.setattr(socket, 'create_connection', refuse)
