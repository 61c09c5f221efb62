"""Faults rather than typos, with real T5X: a pre-training checkpoint holding NaN,
a run that diverges, a broken latest checkpoint, two runs on one directory, a
`ptjf run` killed or stopped by SIGTERM under its trainer, a fine-tune whose
pre-training is gone.
One tiny pre-training (40 steps, checkpoints 0, 20, 40) is shared; each test
copies it. The parser and lock tests need no T5X.
"""

import contextlib
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

from ptjf import chain
from ptjf import checkpoint
from ptjf import child
from ptjf import lock

SHORT = ['--gin=TRAIN_STEPS = 40', '--gin=utils.SaveCheckpointConfig.period = 20']
CHAIN = [*SHORT, '--finetune_gin=WARMUP_STEPS = 10']  # a fine-tune warms up within its steps


def last_line(result):
  return result.stderr.strip().splitlines()[-1]


@pytest.fixture(scope='module')
def pretrained(tmp_path_factory, ptjf):
  workdir = tmp_path_factory.mktemp('faults') / 'shared'
  result = ptjf('run', 'pretrain_synth_mc4_tiny', f'--workdir={workdir}', *SHORT)
  assert result.returncode == 0, result.stderr[-3000:]
  return str(workdir / 'pretrain')


def copy(pretrained, workdir, steps=(0, 20, 40)):
  for step in steps:
    shutil.copytree(checkpoint.path(pretrained, step),
                    checkpoint.path(os.path.join(workdir, 'pretrain'), step))
  return os.path.join(workdir, 'pretrain')


@pytest.mark.needs_t5x
def test_nonfinite_initial_checkpoint_stops_the_finetune_before_training(
    pretrained, tmp_path, ptjf, poison):
  workdir = str(tmp_path)
  poisoned = poison(checkpoint.path(copy(pretrained, workdir), 40))
  result = ptjf('run', 'ptjf_synth_mc4_tiny', f'--workdir={workdir}', *CHAIN)
  assert result.returncode == 1, result.stdout[-3000:]
  match = re.fullmatch(
      f'error: ptjf restored non-finite parameters from {workdir}/pretrain/'
      r'checkpoint_40 \((\S+) has \d+ NaN or infinite values of \d+, in '
      f'{workdir}/ptjf/checkpoint_0\\); t5x.train was stopped before training '
      'on them. Re-train or restore that checkpoint, and move '
      f'{workdir}/ptjf aside before running again.', last_line(result))
  assert match and match.group(1) == poisoned, (last_line(result), poisoned)
  assert 'Traceback' not in result.stderr
  assert '    step ' not in result.stdout  # no step was shown
  assert checkpoint.steps(os.path.join(workdir, 'ptjf')) == [0]


@pytest.mark.needs_t5x
def test_divergence_stops_the_phase_at_its_first_logged_step(pretrained, tmp_path,
                                                            ptjf, poison):
  workdir = str(tmp_path)
  poison(checkpoint.path(copy(pretrained, workdir, (0, 20)), 20))
  result = ptjf('run', 'pretrain_synth_mc4_tiny', f'--workdir={workdir}',
                '--gin=TRAIN_STEPS = 80')
  assert result.returncode == 1, result.stdout[-3000:]
  assert '    step 40/80 (50%)  train loss nan' in result.stdout
  line = last_line(result)
  assert line.startswith('error: pretrain diverged: train loss is nan at step '
                         '40; t5x.train was stopped.'), line
  assert 'a re-run resumes from checkpoint_' in line
  assert 'Traceback' not in result.stderr
  assert checkpoint.steps(os.path.join(workdir, 'pretrain'))[-1] < 80


@pytest.mark.needs_t5x
@pytest.mark.parametrize('damage, problem', [
    ('metadata', 'state/_METADATA is missing'),
    ('truncate', r'state/ocdbt.process_0/d/\w+ is truncated \(1000 of \d+ bytes\)'),
    ('delete', r'state/ocdbt.process_0/d/\w+ is missing'),
])
def test_broken_latest_checkpoint_is_refused_naming_the_good_one(
    pretrained, tmp_path, damage, problem, ptjf):
  workdir = str(tmp_path)
  latest = checkpoint.path(copy(pretrained, workdir), 40)
  data = os.path.join(latest, 'state', 'ocdbt.process_0', 'd')
  biggest = max(os.listdir(data), key=lambda n: os.path.getsize(os.path.join(data, n)))
  if damage == 'metadata':
    os.remove(os.path.join(latest, 'state', '_METADATA'))
  elif damage == 'truncate':
    os.truncate(os.path.join(data, biggest), 1000)
  else:
    os.remove(os.path.join(data, biggest))
  result = ptjf('check', 'pretrain_synth_mc4_tiny', f'--workdir={workdir}',
                '--gin=TRAIN_STEPS = 60')
  assert result.returncode == 1
  assert re.fullmatch(
      f'error: {re.escape(latest)} is broken \\({problem}\\): move checkpoint_40 '
      f'out of {re.escape(os.path.dirname(latest))} \\(or rename, e.g. to '
      'checkpoint_40.broken\\); the newest good one is checkpoint_20, where the '
      'phase resumes.', last_line(result)), last_line(result)
  if damage == 'metadata':  # ptjf run refuses it too, before T5X starts
    run = ptjf('run', 'pretrain_synth_mc4_tiny', f'--workdir={workdir}',
               '--gin=TRAIN_STEPS = 60')
    assert run.returncode == 1 and last_line(run) == last_line(result)
    assert not os.path.exists(os.path.join(workdir, 'logs'))
    shutil.move(latest, latest + '.broken')
    check = ptjf('check', 'pretrain_synth_mc4_tiny', f'--workdir={workdir}',
                 '--gin=TRAIN_STEPS = 60')
    assert 't5x.train resumes from checkpoint_20: whole' in check.stdout


@pytest.mark.needs_t5x
def test_a_second_run_on_the_same_workdir_is_refused(tmp_path, ptjf):
  workdir = str(tmp_path)
  first = ptjf.start('run', 'pretrain_synth_mc4_tiny', f'--workdir={workdir}',
                     '--gin=TRAIN_STEPS = 20', stdout=subprocess.PIPE,
                     stderr=subprocess.STDOUT, text=True)
  output = []
  for line in first.stdout:
    output.append(line)
    if line.startswith('    log: '):
      break
  second = ptjf('run', 'pretrain_synth_mc4_tiny', f'--workdir={workdir}',
                '--gin=TRAIN_STEPS = 20')
  output.append(first.stdout.read())
  assert first.wait() == 0, ''.join(output)[-3000:]
  assert second.returncode == 1
  assert last_line(second).startswith(
      f'error: {workdir} is in use by ptjf run on {socket.gethostname()} (pid '
      f'{first.pid}, started '), last_line(second)
  assert 'Traceback' not in second.stderr
  logs = os.listdir(os.path.join(workdir, 'logs'))
  assert len(logs) == 1
  with open(os.path.join(workdir, 'logs', logs[0])) as f:
    text = f.read().splitlines()
  assert child.LAUNCH_LINE.match(text[0]) and child.EXIT_LINE.match(text[-1])
  assert checkpoint.steps(os.path.join(workdir, 'pretrain')) == [0, 20]
  assert not os.path.exists(os.path.join(workdir, lock.NAME))  # released


def gone_within(pid, seconds):
  """Whether process `pid` has ended (or is a zombie) within `seconds`."""
  deadline = time.monotonic() + seconds
  while lock.alive(pid) and time.monotonic() < deadline:
    time.sleep(0.1)
  return not lock.alive(pid)


def recorded_trainer(process, path, seconds=300):
  """The t5x.train that the `ptjf run` `process` records in its lock `path`,
  once it has started one."""
  deadline = time.monotonic() + seconds
  while process.poll() is None and time.monotonic() < deadline:
    with contextlib.suppress(OSError, ValueError), open(path) as f:
      if trainer := json.load(f).get('trainer'):
        return trainer
    time.sleep(0.2)
  raise AssertionError(f'no trainer recorded in {path} (exit {process.poll()})')


@pytest.mark.needs_t5x
def test_trainer_dies_with_ptjf_run_and_a_live_one_keeps_the_workdir(tmp_path,
                                                                    ptjf):
  workdir = str(tmp_path / 'w')
  path = os.path.join(workdir, lock.NAME)
  with open(tmp_path / 'out', 'w') as out:
    parent = ptjf.start('run', 'pretrain_synth_mc4_tiny', f'--workdir={workdir}',
                        '--gin=TRAIN_STEPS = 20', stdout=out,
                        stderr=subprocess.STDOUT)
  trainer = recorded_trainer(parent, path)
  assert lock.alive(trainer['pid'], trainer['start'])
  parent.kill()  # SIGKILL, to the parent alone
  parent.wait()
  assert gone_within(trainer['pid'], 60), (tmp_path / 'out').read_text()[-3000:]
  # As if the trainer had outlived it: a re-run is refused while it lives.
  orphan = subprocess.Popen(['sleep', '600'])
  try:
    with open(path) as f:
      record = {**json.load(f), 'trainer': lock.process(orphan.pid)}
    with open(path, 'w') as f:
      json.dump(record, f)
    refused = ptjf('run', 'pretrain_synth_mc4_tiny', f'--workdir={workdir}',
                   '--gin=TRAIN_STEPS = 20')
  finally:
    orphan.kill()
    orphan.wait()
  assert refused.returncode == 1
  assert last_line(refused).startswith(
      f'error: {workdir} is in use by t5x.train (pid {orphan.pid}), started by '
      f'ptjf run on {socket.gethostname()} (pid {parent.pid}, '), last_line(refused)
  with lock.Lock(workdir) as held:  # the orphan is gone too: taken over
    assert held.owner


@pytest.mark.needs_t5x
def test_sigterm_stops_ptjf_run_and_its_trainer_with_status_143(tmp_path, ptjf):
  workdir = str(tmp_path / 'w')
  with open(tmp_path / 'out', 'w') as out:
    parent = ptjf.start('run', 'pretrain_synth_mc4_tiny', f'--workdir={workdir}',
                        '--gin=TRAIN_STEPS = 20', stdout=out,
                        stderr=subprocess.STDOUT)
  trainer = recorded_trainer(parent, os.path.join(workdir, lock.NAME))
  parent.send_signal(signal.SIGTERM)
  output = (tmp_path / 'out').read_text
  assert parent.wait(timeout=300) == 128 + signal.SIGTERM, output()[-3000:]
  assert gone_within(trainer['pid'], 60)
  assert output().strip().splitlines()[-1] == (
      'error: stopped by signal 15 during pretrain; run the same command '
      'again to resume.'), output()[-3000:]
  assert 'Traceback' not in output()


@pytest.mark.needs_t5x
def test_finetune_resumes_its_own_checkpoint_without_its_pretraining(
    pretrained, tmp_path, ptjf):
  workdir = str(tmp_path)
  finetune = os.path.join(workdir, 'ptjf')
  # The fine-tune's own checkpoint_20 (a pre-training one has the same tree),
  # and no W/pretrain, as after `rm -r W/pretrain`.
  shutil.copytree(checkpoint.path(pretrained, 20), checkpoint.path(finetune, 20))
  check = ptjf('check', 'ptjf_synth_mc4_tiny', f'--workdir={workdir}',
               f'--pretrain_dir={workdir}/deleted', *CHAIN)
  assert check.returncode == 0, check.stderr[-3000:]
  assert (f'initial checkpoint {workdir}/deleted/checkpoint_40 (parameters): '
          'not needed, this stage resumes its own\n') in check.stdout
  result = ptjf('run', 'ptjf_synth_mc4_tiny', f'--workdir={workdir}', *CHAIN)
  assert result.returncode == 0, result.stderr[-3000:]
  assert (f'[1/2] pretrain: recipes/pretrain_synth_mc4_tiny.gin -> {workdir}/'
          'pretrain\n    not needed: ptjf resumes from its own checkpoint_20; '
          'skipped\n') in result.stdout
  assert '    40 steps, resuming from checkpoint_20\n' in result.stdout
  assert not os.path.exists(os.path.join(workdir, 'pretrain'))
  assert checkpoint.steps(finetune) == [20, 40]  # from scratch, it saves 0
  [log] = os.listdir(os.path.join(workdir, 'logs'))
  with open(os.path.join(workdir, 'logs', log)) as f:  # T5X's own words
    assert ('Initializing parameters from specific T5X checkpoint '
            f'{checkpoint.path(finetune, 20)}\n') in f.read()


@pytest.mark.needs_t5x
def test_pretrain_dir_of_other_steps_or_a_checkpoint_is_told_what_fits(
    pretrained, tmp_path, ptjf):
  def check(*flags):
    return ptjf('check', 'ptjf_synth_mc4_tiny', f'--workdir={tmp_path}', *flags)
  other_steps = check(f'--pretrain_dir={pretrained}')
  assert last_line(other_steps) == (
      f'error: --pretrain_dir {pretrained} finished at step 40, not at the '
      "first phase's TRAIN_STEPS = 160 (pretrain_synth_mc4_tiny.gin): add "
      "--pretrain_gin='TRAIN_STEPS = 40' to fine-tune from its checkpoint_40.")
  a_checkpoint = check(f'--pretrain_dir={pretrained}/checkpoint_40')
  assert last_line(a_checkpoint) == (
      f'error: --pretrain_dir {pretrained}/checkpoint_40 is a checkpoint, not a '
      f'run directory: give its run directory (--pretrain_dir={pretrained}), '
      'whose final checkpoint the fine-tune restores.')
  fits = check(f'--pretrain_dir={pretrained}', '--pretrain_gin=TRAIN_STEPS = 40')
  assert fits.returncode == 0, fits.stderr[-3000:]
  assert (f'initial checkpoint {pretrained}/checkpoint_40 (parameters): '
          'whole, of this model' in fits.stdout)


# --- No T5X needed ------------------------------------------------------------

TRAIN = ('I1202 04:27:06.266606 1403 logging_writer.py:48] [{step}] '
         'collection=train accuracy=0, cross_ent_loss={loss}, '
         'learning_rate/current=0.158114, loss={loss}, '
         'loss_per_all_target_tokens={loss}')
EVAL = ('I1202 04:27:08.645335 1403 logging_writer.py:48] [{step}] '
        'collection=training_eval/ptjf_synth.en accuracy=0, loss={loss}')


def parse(*lines):
  progress, out = chain._Progress(160), io.StringIO()
  with contextlib.redirect_stdout(out):
    for line in lines:
      progress.line(line)
    progress.flush()
  return progress.diverged, out.getvalue()


def test_progress_shows_and_flags_a_nan_train_loss():
  diverged, shown = parse(TRAIN.format(step=20, loss='4.5'),
                          TRAIN.format(step=40, loss='nan'))
  assert 'step 20/160 (12%)  train loss 4.500' in shown
  assert 'step 40/160 (25%)  train loss nan  learning rate 0.1581' in shown
  assert diverged == 'train loss is nan at step 40'


@pytest.mark.parametrize('value', ['inf', '-inf'])
def test_progress_flags_an_infinite_validation_loss(value):
  diverged, shown = parse(TRAIN.format(step=20, loss='4.5'),
                          EVAL.format(step=20, loss=value))
  assert f'validation loss at step 20: ptjf_synth.en {value}' in shown
  assert diverged == f'validation loss of ptjf_synth.en is {value} at step 20'


def test_progress_keeps_finite_losses_quiet():
  diverged, shown = parse(TRAIN.format(step=20, loss='5.29e-01'),
                          EVAL.format(step=20, loss='3.5'))
  assert not diverged and 'train loss 0.529' in shown


def write_lock(workdir, **record):
  with open(os.path.join(workdir, lock.NAME), 'w') as f:
    json.dump({'host': socket.gethostname(), 'boot': lock._boot_id(),
               'started': 0, 'seen': time.time(), **record}, f)


def test_lock_refuses_a_live_run_and_takes_over_a_dead_one(tmp_path):
  workdir, live = str(tmp_path), os.getppid()
  write_lock(workdir, identity=lock.identity(pid=live), pid=live)
  with pytest.raises(lock.Busy, match=f'is in use by ptjf run on '
                     f'{socket.gethostname()} \\(pid {live}'):
    lock.Lock(workdir).acquire()
  gone = subprocess.Popen(['true'])
  gone.wait()
  write_lock(workdir, identity=lock.identity(pid=gone.pid), pid=gone.pid)
  with lock.Lock(workdir) as held:  # its process is gone from this host
    assert held.owner
  assert not os.path.exists(os.path.join(workdir, lock.NAME))


def test_of_runs_taking_over_a_stale_lock_at_once_one_wins(tmp_path,
                                                          monkeypatch):
  workdir, gone = str(tmp_path), subprocess.Popen(['true'])
  gone.wait()
  write_lock(workdir, identity=lock.identity(pid=gone.pid), pid=gone.pid)
  runs = [lock.Lock(workdir, [f'--coordinator_address=run{i}:1'])
          for i in range(4)]  # four runs, each its own identity
  read_by_all, judged, stale = threading.Barrier(len(runs), timeout=60), set(), lock.stale

  def stale_once_all_have_read(holder, now=None):
    if threading.get_ident() not in judged:  # each run's first look
      judged.add(threading.get_ident())
      read_by_all.wait()
    return stale(holder, now)

  monkeypatch.setattr(lock, 'stale', stale_once_all_have_read)
  outcomes = []

  def take(run):
    try:
      outcomes.append(run.acquire().owner)
    except lock.Busy:
      outcomes.append('busy')

  threads = [threading.Thread(target=take, args=(run,)) for run in runs]
  for thread in threads:
    thread.start()
  for thread in threads:
    thread.join()
  for run in runs:
    run.release()
  assert sorted(map(str, outcomes)) == ['True'] + ['busy'] * 3, outcomes


def test_lock_is_live_while_the_trainer_of_a_dead_run_runs(tmp_path):
  workdir, path = str(tmp_path), os.path.join(str(tmp_path), lock.NAME)
  gone = subprocess.Popen(['true'])
  gone.wait()
  trainer = subprocess.Popen(['sleep', '600'])
  try:
    write_lock(workdir, identity=lock.identity(pid=gone.pid), pid=gone.pid,
               trainer=lock.process(trainer.pid))
    with pytest.raises(lock.Busy) as busy:
      lock.Lock(workdir).acquire()
    assert str(busy.value).startswith(
        f'{workdir} is in use by t5x.train (pid {trainer.pid}), started by ptjf '
        f'run on {socket.gethostname()} (pid {gone.pid}, started ')
    assert str(busy.value).endswith(
        'which is gone while its trainer still runs: wait for it to end, or '
        f'stop it (kill {trainer.pid}), then run again to resume from its last '
        'checkpoint.')
    reused = {**lock.process(trainer.pid), 'start': 1}  # another process's pid
    write_lock(workdir, identity=lock.identity(pid=gone.pid), pid=gone.pid,
               trainer=reused)
    assert lock.Lock(workdir).acquire().owner
    write_lock(workdir, identity=lock.identity(pid=gone.pid), pid=gone.pid,
               trainer=lock.process(trainer.pid))
  finally:
    trainer.kill()
    trainer.wait()
  with lock.Lock(workdir) as held:  # run and trainer gone: taken over
    assert held.owner
    held.trainer(os.getpid())
    with open(path) as f:
      assert json.load(f)['trainer'] == lock.process(os.getpid())
  assert not os.path.exists(path)


@pytest.mark.parametrize('text, problem', [
    (b'', 'empty'), (b'{"pid": 1', 'not JSON'), (b'\xff\xfe', 'not JSON'),
    (b'[1, 2]', 'JSON, but not an object'),
    (b'{"owner": "me"}', 'its JSON lacks identity, host, pid, seen'),
    (b'{"identity": "h pid 1", "host": "h", "pid": "1", "seen": 0}',
     'its JSON lacks pid'),
])
def test_a_lock_file_ptjf_did_not_write_is_refused_naming_the_fix(
    tmp_path, text, problem):
  path = tmp_path / lock.NAME
  path.write_bytes(text)
  with pytest.raises(lock.Foreign) as refused:
    lock.Lock(str(tmp_path)).acquire()
  assert str(refused.value) == (
      f'{path} is not a lock ptjf run wrote ({problem}): check that no ptjf '
      f'run or t5x.train uses {tmp_path} (`pgrep -af {tmp_path}` on each of '
      f'its hosts lists none), then remove {path} and run again.')
  assert path.read_bytes() == text


def test_a_lock_that_cannot_be_written_is_refused_in_one_line():
  # procfs takes no new entries: as a full disk, the write fails (tensorstore
  # writes a temporary file and renames it, so nothing partial is left)
  with pytest.raises(ValueError, match=r'^/proc/1/ptjf/ptjf_run\.lock cannot be '
                     r'written \([^)]+\): give a --workdir on a file system '
                     'with room, that this user can write\\.$'):
    lock.Lock('/proc/1/ptjf').acquire()


def test_lock_from_another_host_is_live_until_it_stops_refreshing(tmp_path):
  workdir = str(tmp_path)
  record = {'identity': 'other-host pid 7', 'host': 'other-host', 'pid': 7,
            'started': 0, 'seen': time.time()}
  with open(os.path.join(workdir, lock.NAME), 'w') as f:
    json.dump(record, f)
  with pytest.raises(lock.Busy, match='on other-host'):
    lock.Lock(workdir).acquire()
  record['seen'] -= lock.STALE_S + 1
  with open(os.path.join(workdir, lock.NAME), 'w') as f:
    json.dump(record, f)
  assert lock.Lock(workdir).acquire().owner


def test_workers_of_one_run_share_the_lock(tmp_path):
  workdir, flags = str(tmp_path), ['--coordinator_address=host0:1234']
  record = {'identity': lock.identity(flags), 'host': 'host1', 'pid': 7,
            'started': 0, 'seen': time.time()}
  with open(os.path.join(workdir, lock.NAME), 'w') as f:
    json.dump(record, f)
  joined = lock.Lock(workdir, flags).acquire()
  assert not joined.owner  # joined the worker that holds it
  assert lock.identity(host='t1v-n-5e1f0d5a-w-3') == lock.identity(
      host='t1v-n-5e1f0d5a-w-0') == 'TPU t1v-n-5e1f0d5a'
