"""ptjf.child on real child processes: logs, signals, root errors, a child
that dies with its parent; ptjf launch passes signals on through it."""

import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time

import pytest

from ptjf import child
from ptjf import launch
from ptjf import lock
from ptjf import recipe

FAILS = ('import sys; print("one", flush=True); '
         'print("two", file=sys.stderr, flush=True); raise ValueError("boom")')
WAITS = ('import time; print("ready", flush=True); time.sleep(60); '
         'print("not stopped", flush=True)')


def python(code):
  return [sys.executable, '-c', code]


def read(path):
  with open(path) as f:
    return f.read().splitlines()


def test_a_logged_child_is_read_line_by_line_between_launch_and_exit(tmp_path):
  path = str(tmp_path / 'a.log')
  with child.started(python(FAILS), path) as process:
    seen = list(process.lines())
  assert seen[:2] == ['one\n', 'two\n']
  assert process.returncode == 1 and process.signals == []
  assert process.root_error == 'ValueError: boom'
  assert process.tail.startswith('one\ntwo\nTraceback')
  log = read(path)
  launch, end = child.LAUNCH_LINE.match(log[0]), child.EXIT_LINE.match(log[-1])
  assert launch and launch.group(2) == shlex.join(python(FAILS))
  assert end and end.group(1) == '1'
  assert float(launch.group(1)) <= float(end.group(2))
  assert log[1:-1] == [line.rstrip('\n') for line in seen]


def test_run_reads_the_whole_log_without_a_reader(tmp_path):
  path = str(tmp_path / 'b.log')
  done = child.run(python('print("x"); print("y")'), path)
  assert done.returncode == 0 and done.root_error == ''
  assert read(path)[1:-1] == ['x', 'y']


def test_a_child_without_a_log_writes_to_the_terminal(capfd):
  done = child.run(python('import os; print(os.getcwd(), os.environ["PTJF_X"])'),
                   env={**os.environ, 'PTJF_X': 'given'})
  assert done.returncode == 0 and done.tail == ''
  assert capfd.readouterr().out == f'{recipe.REPO} given\n'


@pytest.mark.parametrize('received', [signal.SIGTERM, signal.SIGINT])
def test_signals_are_passed_on_as_sigterm_and_waited_for(tmp_path, received):
  before = signal.getsignal(received)
  path = str(tmp_path / 'c.log')
  with child.started(python(WAITS), path) as process:
    for line in process.lines():
      if line == 'ready\n':
        os.kill(os.getpid(), received)  # this process carries on
  assert process.signals == [received]
  assert process.returncode == -signal.SIGTERM
  assert read(path)[-1].startswith(f'ptjf: exited with {-signal.SIGTERM} at ')
  assert 'not stopped' not in process.tail
  assert signal.getsignal(received) == before


def test_stop_terminates_and_an_error_in_the_block_stops_the_child(tmp_path):
  with child.started(python(WAITS), str(tmp_path / 'd.log')) as process:
    next(process.lines())
    process.stop()
  assert process.returncode == -signal.SIGTERM and process.signals == []
  with pytest.raises(KeyError):
    with child.started(python(WAITS), str(tmp_path / 'e.log')) as process:
      next(process.lines())
      raise KeyError('the reader failed')
  assert process.returncode == -signal.SIGTERM


@pytest.mark.skipif(not sys.platform.startswith('linux'),
                    reason='the parent-death signal is Linux\'s')
def test_a_child_dies_with_its_parent_even_by_sigkill():
  parent = subprocess.Popen(python(
      'import sys, time; from ptjf import child\n'
      f'with child.started({python("import time; time.sleep(60)")!r}) as c:\n'
      '  print(c.pid, flush=True); time.sleep(60)'),
      cwd=recipe.REPO, stdout=subprocess.PIPE, text=True,
      env={**os.environ, 'PYTHONPATH': recipe.REPO})
  grandchild = int(parent.stdout.readline())
  assert lock.alive(grandchild)
  parent.kill()
  try:  # its output pipe ends when the child, which holds it too, is gone
    parent.communicate(timeout=30)
  except subprocess.TimeoutExpired:
    os.kill(grandchild, signal.SIGKILL)
    pytest.fail('the child outlived its parent by 30 s')


def test_root_error_skips_asyncio_noise_at_shutdown():
  tail = ['Traceback (most recent call last):\n',
          '  File "t5x/train.py", line 370, in train\n',
          'FileNotFoundError: No structure could be identified for the '
          'checkpoint at /w/pretrain/checkpoint_40/state.\n',
          "  In call to configurable 'train'\n",
          'Exception ignored in: <function _ProactorBasePipeTransport.__del__>\n',
          'RuntimeError: Event loop is closed\n'] + [
              'RuntimeError: Event loop is closed\n'] * 30
  assert child.root_error(tail) == (
      'FileNotFoundError: No structure could be identified for the checkpoint '
      'at /w/pretrain/checkpoint_40/state.')
  assert child.root_error(['I1202 ok\n', 'jax.errors.JaxRuntimeError: '
                           'INTERNAL: boom\n']) == (
                               'jax.errors.JaxRuntimeError: INTERNAL: boom')
  assert child.root_error(['no error here\n']) == ''


def test_log_names_never_collide_and_sort_by_time(tmp_path):
  names = [child.log_path(str(tmp_path), 'ptjf') for _ in range(50)]
  assert len(set(names)) == len(names) and names == sorted(names)
  assert re.fullmatch(r'ptjf\..+\.\d{8}-\d{6}\.\d{6}\.\d+\.log',
                      os.path.basename(names[0])), names[0]
  alone = child.log_path(str(tmp_path), 'checkpoint_12', shared=False)
  assert re.fullmatch(r'checkpoint_12\.\d{8}-\d{6}\.log',
                      os.path.basename(alone)), alone


def test_launch_passes_signals_on_to_the_running_step(tmp_path, capsys):
  ready, finished = tmp_path / 'ready', tmp_path / 'finished'
  step = launch.Step('Wait', python(
      f'import pathlib, time; pathlib.Path({str(ready)!r}).touch(); '
      f'time.sleep(60); pathlib.Path({str(finished)!r}).touch()'))

  def stop_when_ready():
    while not ready.exists():
      time.sleep(0.05)
    os.kill(os.getpid(), signal.SIGTERM)

  threading.Thread(target=stop_when_ready, daemon=True).start()
  with pytest.raises(SystemExit) as stopped:
    launch.execute([step, launch.Step('Never', ['false'])])
  assert stopped.value.code == 128 + signal.SIGTERM  # as a shell reports it
  assert capsys.readouterr().err.splitlines()[-1] == (
      f'error: stopped by signal {signal.SIGTERM.value} during step 1/2 '
      f'(Wait): {step.text}')
  assert not finished.exists()
