"""Trains the stages of an experiment in order with `python -m t5x.train`,
skipping finished ones (and those a later stage with checkpoints of its own
no longer needs) and showing progress from T5X's log."""

import datetime
import math
import os
import re
import shlex
import threading
import time
from typing import Callable, Sequence

import tensorflow as tf

from ptjf import checkpoint
from ptjf import child
from ptjf import host
from ptjf import phase
from ptjf import settings

_STEP = r'\[(\d+)\] collection='
_TRAIN_LINE = re.compile(_STEP + r'train (.*)')
_EVAL_LINE = re.compile(_STEP + r'training_eval/(\S+) (.*)')
_SAVING = re.compile(r'Saving checkpoint at step (\d+)')
# T5X writes non-finite values as Python does: nan, inf, -inf.
_METRIC = re.compile(r'(?:^|, )(loss|learning_rate/current)='
                     r'([-+]?(?:nan|inf|[\d.]+(?:e[-+]?\d+)?))')
_COMPLETION_WAIT_S = 120  # other hosts of a pod may see the commit late
# What t5x.train prints when another host of its run is gone: a collective
# whose peer closed its connection (gloo, JAX's on CPU), or JAX's distributed
# service, which declares a host dead after missing its heartbeats.
_HOST_LOST = re.compile(r'(Gloo [\w-]+ failed|Task \d+ heartbeat timeout|'
                        r'distributed service detected fatal errors)')
# Where the host that found non-finite restored parameters says so, in the
# fine-tune's run directory, for the hosts whose share was finite.
NONFINITE_NOTE = 'ptjf_nonfinite_restore.txt'
# JAX's preemption service, on in every multi-host run, takes SIGTERM for a
# sync point that t5x.train never asks about: off, SIGTERM stops the trainer.
_TRAINER_ENV = {'JAX_ENABLE_PREEMPTION_SERVICE': 'false'}
# t5x.train, once a host is lost, would wait in JAX's shutdown barrier until
# the heartbeats time out (100 s): it is stopped, and killed if still there.
_LOST_KILL_S = 2


class PhaseFailed(RuntimeError):
  """A phase stopped before its final checkpoint; the message is one line,
  `log_tail` the end of t5x.train's output where it failed, `signum` the
  signal that stopped it (0 when none did)."""

  def __init__(self, message: str, log_tail: str = '', signum: int = 0):
    super().__init__(message)
    self.log_tail = log_tail
    self.signum = signum


class _Progress:
  """Turns T5X's log lines into short progress lines; `diverged` says which
  loss was first not finite, and at which step ('' while all are)."""

  def __init__(self, total: int):
    self.total, self.first, self.diverged = total, None, ''
    self.evals: dict[int, dict[str, float]] = {}

  def line(self, text: str) -> None:
    if m := _TRAIN_LINE.search(text):
      values = dict(_METRIC.findall(m.group(2)))
      if 'loss' in values:
        self.flush()
        self._train(int(m.group(1)), values)
        self._check(int(m.group(1)), 'train loss', values['loss'])
    elif (m := _EVAL_LINE.search(text)) and (
        loss := dict(_METRIC.findall(m.group(3))).get('loss')):
      self.evals.setdefault(int(m.group(1)), {})[m.group(2)] = float(loss)
      self._check(int(m.group(1)), f'validation loss of {m.group(2)}', loss)
    elif m := _SAVING.search(text):
      self.flush()
      print(f'    saving checkpoint_{m.group(1)}', flush=True)

  def _check(self, step: int, metric: str, value: str) -> None:
    if not self.diverged and not math.isfinite(float(value)):
      self.flush()
      self.diverged = f'{metric} is {value} at step {step}'

  def _train(self, step: int, values: dict[str, str]) -> None:
    now = time.time()
    if self.first is None:
      self.first = (step, now)
    rate = (step - self.first[0]) / (now - self.first[1]) if step > self.first[0] else 0
    eta = (f'  eta {datetime.timedelta(seconds=round((self.total - step) / rate))}'
           if rate else '')
    lr = values.get('learning_rate/current')
    print(f'    step {step}/{self.total} ({100 * step // self.total}%)  '
          f'train loss {float(values["loss"]):.3f}'
          + (f'  learning rate {float(lr):.4g}' if lr else '')
          + (f'  {rate:.2f} steps/s' if rate else '') + eta, flush=True)

  def flush(self) -> None:
    for step, losses in sorted(self.evals.items()):
      print(f'    validation loss at step {step}: ' + ', '.join(
          f'{task} {loss:.3f}' for task, loss in sorted(losses.items())),
            flush=True)
    self.evals.clear()


def _check_restored(run: phase.PhaseRun, initial: str,
                    share: tuple[int, int], process: child.Child,
                    stop: list[str]) -> None:
  """Once T5X has written the stage's first checkpoint (checkpoint_0, or
  the step its kept state starts at), which holds the parameters it
  restored from `initial`, reads this process's share of them;
  stops t5x.train if one is not finite. T5X compiles the first step
  meanwhile, so this usually ends before that step runs."""
  first = checkpoint.path(run.model_dir, run.first_step)
  while process.running and not checkpoint.complete(first):
    time.sleep(1)
  if not process.running:
    return
  try:
    found = checkpoint.finite(first, *share)
  except Exception as e:  # pylint: disable=broad-except
    print(f'    could not check the restored parameters in {first}: '
          f'{str(e).splitlines()[0][:200]}', flush=True)
    return
  if not found:
    print(f'    restored parameters are finite '
          f'({os.path.basename(first)}, share {share[0] + 1} of {share[1]})',
          flush=True)
  elif not stop:
    stop.append(f'{run.phase.arm} restored non-finite parameters from {initial} '
                f'({found}, in {first}); t5x.train was stopped before training '
                f'on them. Re-train or restore that checkpoint, and move '
                f'{run.model_dir} aside before running again.')
    if share[1] > 1:  # the other hosts lose this one, and read why
      with tf.io.gfile.GFile(os.path.join(run.model_dir, NONFINITE_NOTE),
                             'w') as note:
        note.write(stop[0])
    process.stop()


def _ignore(pid: int) -> None:
  del pid  # unused


def train(run: phase.PhaseRun, log_dir: str, gin_files: Sequence[str] = (),
          t5x_flags: Sequence[str] = (), start_step: int = 0,
          initial: str = '',
          trainer: Callable[[int], None] = _ignore) -> None:
  """Runs (or resumes, from `start_step`) one phase through t5x.train,
  showing its progress; `trainer` is told t5x.train's pid once it starts.

  On SIGTERM or SIGINT, t5x.train is terminated and waited for; its latest
  checkpoint is where the next attempt resumes. A loss that is not finite
  stops it at once, and so do non-finite parameters restored from `initial`
  (a fine-tune's first phase, checked in its checkpoint_0). Raises
  PhaseFailed then, or when t5x.train fails.
  """
  command = run.command(gin_files, t5x_flags, start_step)
  tf.io.gfile.makedirs(log_dir)
  log_path = child.log_path(log_dir, run.phase.arm)
  print(f'    {shlex.join(command)}\n    log: {log_path}', flush=True)
  progress, stop = _Progress(run.steps), []
  share = host.process_share(t5x_flags)
  with child.started(command, log_path,
                     env={**os.environ, **_TRAINER_ENV}) as process:
    trainer(process.pid)
    if initial:
      threading.Thread(target=_check_restored, daemon=True, args=(
          run, initial, share, process, stop)).start()
    for text in process.lines():
      progress.line(text)
      if progress.diverged and not stop:
        stop.append(_diverged(run, progress.diverged, log_path))
        process.stop()
      elif share[1] > 1 and not stop and (lost := _HOST_LOST.search(text)):
        stop.append(_noted(run) or _host_lost(run, share, lost.group(1),
                                              log_path))
        process.stop()
        killer = threading.Timer(_LOST_KILL_S, process.kill)
        killer.daemon = True
        killer.start()
  progress.flush()
  if process.signals:
    raise PhaseFailed(f'stopped by signal {process.signals[0]} during '
                      f'{run.phase.arm}; run the same command again to resume.',
                      signum=process.signals[0])
  if stop:
    raise PhaseFailed(stop[0])
  root = process.root_error
  if process.returncode:
    raise PhaseFailed(
        f't5x.train failed in {run.phase.arm} '
        f'(exit {child.exit_status(process.returncode)})'
        + (f' with {root}' if root else '') + f'; full log: {log_path}',
        (f"t5x.train's error: {root}\n" if root else '') + process.tail)


def _diverged(run: phase.PhaseRun, what: str, log_path: str) -> str:
  found = checkpoint.steps(run.model_dir)
  resume = f'checkpoint_{found[-1]}' if found else 'its start'
  return (f'{run.phase.arm} diverged: {what}; t5x.train was stopped. '
          f'{settings.divergence_hint_of(run.model_dir)}, or check the data '
          f'and the initial checkpoint; a re-run resumes from {resume} (move '
          f'it aside if it diverged too). Full log: {log_path}')


def _noted(run: phase.PhaseRun) -> str:
  """Why another host of the run stopped, where it wrote that down."""
  note = os.path.join(run.model_dir, NONFINITE_NOTE)
  try:
    with tf.io.gfile.GFile(note) as f:
      return f.read()
  except tf.errors.NotFoundError:
    return ''


def _host_lost(run: phase.PhaseRun, share: tuple[int, int], what: str,
               log_path: str) -> str:
  found = checkpoint.steps(run.model_dir)
  resume = (f'checkpoint_{found[-1]}, the last complete checkpoint, with its '
            'optimizer state' if found else 'its start')
  return (f'{run.phase.arm} lost a host: another of the run\'s '
          f'{share[1]} hosts is gone (t5x.train: {what}), so host '
          f'{share[0]} stopped its t5x.train too. Run the same command again '
          f'on every host; they resume from {resume}. Full log: {log_path}')


def _wait_until_done(run: phase.PhaseRun) -> None:
  deadline = time.time() + _COMPLETION_WAIT_S
  while not run.done():
    if time.time() > deadline:
      raise PhaseFailed(f't5x.train ended but {run.final_checkpoint} is not a '
                        'complete checkpoint; run the same command again to '
                        'resume.')
    time.sleep(5)


def run_experiment(runs: Sequence[phase.PhaseRun], log_dir: str,
                   gin_files: Sequence[str] = (),
                   t5x_flags: Sequence[str] = (),
                   trainer: Callable[[int], None] = _ignore) -> None:
  """Trains each stage that is not finished, in order; `trainer` is told the
  pid of each t5x.train started."""
  for i, run in enumerate(runs, 1):
    title = run.heading(i, len(runs))
    if run.done():
      print(f'{title}\n    complete ({os.path.basename(run.final_checkpoint)}); '
            'skipped', flush=True)
      continue
    # A later stage that resumes its own checkpoints needs nothing of this one.
    if later := next((r for r in runs[i:] if checkpoint.steps(r.model_dir)),
                     None):
      print(f'{title}\n    not needed: {later.phase.arm} resumes from its own '
            f'checkpoint_{checkpoint.steps(later.model_dir)[-1]}; skipped',
            flush=True)
      continue
    found = checkpoint.steps(run.model_dir)  # T5X resumes from the last by name
    if run.initial and not found:
      run.check_initial(run.initial, f'{runs[i - 2].phase.arm} did not '
                        'finish; run the same command again.')
    carried = ('the whole state' if run.phase.keeps_state else
               'the parameters')
    start = (f'resuming from checkpoint_{found[-1]}' if found else
             f'restoring {carried} of {run.initial}' if run.initial else
             'from scratch')
    steps = (f'steps {run.first_step} to {run.steps}' if run.first_step
             else f'{run.steps} steps')
    print(f'{title}\n    {steps}, {start}', flush=True)
    began = time.time()
    train(run, log_dir, gin_files, t5x_flags, found[-1] if found else 0,
          run.initial if not found else '', trainer)
    _wait_until_done(run)
    print(f'    done in {datetime.timedelta(seconds=round(time.time() - began))}: '
          f'{run.final_checkpoint}', flush=True)
