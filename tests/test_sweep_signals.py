"""SIGTERM to `ptjf sweep --run` while t5x.train trains: the sweep passes it
on to its `ptjf run`, which stops t5x.train; all of them are waited for, and
no process of the sweep is left. Real T5X on CPU, stopped at its first
checkpoint (about a minute)."""

import os
import signal
import time

import pytest


def processes_naming(text):
  """Ids of the live processes whose command line contains `text`."""
  found = []
  for pid in filter(str.isdigit, os.listdir('/proc')):
    try:
      with open(f'/proc/{pid}/cmdline', 'rb') as f:
        cmdline = f.read().replace(b'\0', b' ').decode(errors='replace')
      with open(f'/proc/{pid}/stat') as f:
        state = f.read().rsplit(')', 1)[1].split()[0]
    except OSError:  # it ended meanwhile
      continue
    if text in cmdline and state != 'Z':
      found.append(int(pid))
  return found


def wait_for(condition, timeout_s, what):
  deadline = time.time() + timeout_s
  while not condition():
    if time.time() > deadline:
      raise AssertionError(f'timed out after {timeout_s} s waiting for {what}')
    time.sleep(1)


@pytest.mark.needs_t5x
@pytest.mark.skipif(not os.path.isdir('/proc'), reason='reads /proc')
def test_sigterm_to_a_sweep_stops_its_runs_and_leaves_no_process(tmp_path,
                                                                ptjf):
  root = tmp_path / 'sweep'
  out, err = tmp_path / 'stdout', tmp_path / 'stderr'  # never a full pipe
  with open(out, 'w') as stdout, open(err, 'w') as stderr:
    sweep = ptjf.start('sweep', 'ptjf_synth_ro_fr_tiny', f'--root={root}',
                       '--high_rates=0.3', '--run', stdout=stdout,
                       stderr=stderr, start_new_session=True)
  try:
    # t5x.train writes checkpoint_0 once it has initialised: it is training
    wait_for(lambda: any(name.startswith('checkpoint_0') for name in (
        os.listdir(root / 'pretrain') if (root / 'pretrain').is_dir() else ())),
             600, "the first phase's checkpoint_0")
    assert len(processes_naming(str(root))) >= 2  # ptjf run and t5x.train
    sweep.send_signal(signal.SIGTERM)  # to the sweep alone, not its group
    sweep.wait(timeout=180)
    stderr = err.read_text()
    assert sweep.returncode == 128 + signal.SIGTERM, stderr
    assert processes_naming(str(root)) == []
    last = stderr.strip().splitlines()[-1]
    assert last.startswith('error: stopped by signal 15 during [1/2]'), stderr
    assert 'run the same sweep again to resume' in last
    assert 'Traceback' not in stderr
  finally:
    if sweep.poll() is None or processes_naming(str(root)):
      os.killpg(sweep.pid, signal.SIGKILL)  # whatever the test left
    sweep.wait()
