"""Trains the phases of an experiment in order with `python -m t5x.train`,
skipping finished ones and showing progress from T5X's log."""

import collections
import datetime
import os
import re
import shlex
import signal
import socket
import subprocess
import time
from typing import Sequence

import tensorflow as tf

from ptjf import checkpoint
from ptjf import preflight
from ptjf import recipe

_STEP = r'\[(\d+)\] collection='
_TRAIN_LINE = re.compile(_STEP + r'train (.*)')
_EVAL_LINE = re.compile(_STEP + r'training_eval/(\S+) (.*)')
_SAVING = re.compile(r'Saving checkpoint at step (\d+)')
_METRIC = re.compile(r'(?:^|, )(loss|learning_rate/current)=([-\d.e+]+)')
_COMPLETION_WAIT_S = 120  # other hosts of a pod may see the commit late
# First and last lines of each attempt's log: when t5x.train was launched
# (and how), and when it exited.
LAUNCH_LINE = re.compile(r'^ptjf: launched at ([\d.]+): (.*)$')
EXIT_LINE = re.compile(r'^ptjf: exited with (-?\d+) at ([\d.]+)$')


class PhaseFailed(RuntimeError):
  """A phase stopped before its final checkpoint; the message is one line,
  `log_tail` the end of t5x.train's output where it failed."""

  def __init__(self, message: str, log_tail: str = ''):
    super().__init__(message)
    self.log_tail = log_tail


class _Progress:
  """Turns T5X's log lines into short progress lines."""

  def __init__(self, total: int):
    self.total, self.first = total, None
    self.evals: dict[int, dict[str, float]] = {}

  def line(self, text: str) -> None:
    if m := _TRAIN_LINE.search(text):
      values = dict(_METRIC.findall(m.group(2)))
      if 'loss' in values:
        self.flush()
        self._train(int(m.group(1)), values)
    elif (m := _EVAL_LINE.search(text)) and (
        loss := dict(_METRIC.findall(m.group(3))).get('loss')):
      self.evals.setdefault(int(m.group(1)), {})[m.group(2)] = float(loss)
    elif m := _SAVING.search(text):
      self.flush()
      print(f'    saving checkpoint_{m.group(1)}', flush=True)

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


def _log_path(log_dir: str, arm: str) -> str:
  stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%d-%H%M%S')
  return os.path.join(log_dir, f'{arm}.{socket.gethostname()}.{stamp}.log')


def train(run: preflight.PhaseRun, log_dir: str, gin_files: Sequence[str] = (),
          t5x_flags: Sequence[str] = (), start_step: int = 0) -> None:
  """Runs (or resumes, from `start_step`) one phase through t5x.train,
  showing its progress.

  On SIGTERM or SIGINT, t5x.train is terminated and waited for; its latest
  checkpoint is where the next attempt resumes. Raises PhaseFailed then, or
  when t5x.train fails.
  """
  command = recipe.train_command([run.phase.recipe, *gin_files],
                                 run.attempt_bindings(start_step), t5x_flags)
  tf.io.gfile.makedirs(log_dir)
  log_path = _log_path(log_dir, run.phase.arm)
  print(f'    {shlex.join(command)}\n    log: {log_path}', flush=True)
  progress, received = _Progress(run.steps), []
  with tf.io.gfile.GFile(log_path, 'w') as log, subprocess.Popen(
      command, cwd=recipe.REPO, stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT, text=True) as process:
    log.write(f'ptjf: launched at {time.time():.3f}: {shlex.join(command)}\n')

    def forward(signum, _):
      received.append(signum)
      process.terminate()  # t5x.train carries on after SIGINT; SIGTERM stops it

    previous = {s: signal.signal(s, forward)
                for s in (signal.SIGTERM, signal.SIGINT)}
    try:
      tail = collections.deque(maxlen=25)  # shown if t5x.train fails
      for text in process.stdout:
        log.write(text)
        tail.append(text)
        progress.line(text)
      process.wait()
      log.write(f'ptjf: exited with {process.returncode} at {time.time():.3f}\n')
    finally:
      for s, handler in previous.items():
        signal.signal(s, handler)
  progress.flush()
  if received:
    raise PhaseFailed(f'stopped by signal {received[0]} during '
                      f'{run.phase.arm}; run the same command again to resume.')
  if process.returncode:
    raise PhaseFailed(f't5x.train failed in {run.phase.arm} (exit '
                      f'{process.returncode}); full log: {log_path}',
                      ''.join(tail))


def _wait_until_done(run: preflight.PhaseRun) -> None:
  deadline = time.time() + _COMPLETION_WAIT_S
  while not run.done():
    if time.time() > deadline:
      raise PhaseFailed(f't5x.train ended but {run.final_checkpoint} is not a '
                        'complete checkpoint; run the same command again to '
                        'resume.')
    time.sleep(5)


def run_experiment(runs: Sequence[preflight.PhaseRun], log_dir: str,
                   gin_files: Sequence[str] = (),
                   t5x_flags: Sequence[str] = ()) -> None:
  """Trains each phase that is not finished, in order."""
  for i, run in enumerate(runs, 1):
    title = run.heading(i, len(runs))
    if run.done():
      print(f'{title}\n    complete ({os.path.basename(run.final_checkpoint)}); '
            'skipped', flush=True)
      continue
    if run.phase.restores:
      preflight.check_initial(runs[0].final_checkpoint, run, 'the first phase '
                              'did not finish; run the same command again.')
    found = checkpoint.complete_steps(run.model_dir)
    start = (f'resuming from checkpoint_{found[-1]}' if found else
             f'restoring the parameters of {runs[0].final_checkpoint}'
             if run.phase.restores else 'from scratch')
    print(f'{title}\n    {run.steps} steps, {start}', flush=True)
    began = time.time()
    train(run, log_dir, gin_files, t5x_flags, found[-1] if found else 0)
    _wait_until_done(run)
    print(f'    done in {datetime.timedelta(seconds=round(time.time() - began))}: '
          f'{run.final_checkpoint}', flush=True)
