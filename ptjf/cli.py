"""ptjf: run, check, plan, compile, data, sweep, launch, plot, eval: PTJF on T5X.

Usage: ptjf COMMAND [ARGS] [--flags]    (ptjf COMMAND --help for its flags)

Commands:
  run     pre-train, then joint fine-tune from its final checkpoint; resumable
  check   every check ptjf run makes before training, and nothing else
  plan    steps, tokens, rates and epochs per task of each phase; LR schedule PNG
  compile each phase's train step compiled for a Cloud TPU slice: memory, FLOPs
  data    which data each phase reads, how to get it; --check=DIR checks mC4's shards
  sweep   the paper's grids as ptjf run commands or gin binding files
  launch  the gcloud (TPU VM pod) or ssh (GPU hosts) commands that run an experiment
  plot    trade-off fronts, curves per task, best per method of runs (PNG, CSV)
  eval    BLEU or cross-entropy of a run's checkpoints with t5x.eval; resumable
"""

import contextlib
import importlib
import os
import re
import signal
import sys
import tempfile
import threading
import traceback
from typing import Iterator

from absl import app
from absl import flags

from ptjf import recipe

COMMANDS = ('run', 'check', 'plan', 'compile', 'data', 'sweep', 'launch',
            'plot', 'eval')
# Commands whose module is named otherwise: `eval` would shadow a builtin.
_MODULES = {'eval': 'evaluate'}
# T5X's own spelling `--gin.NAME=VALUE`, also with a phase prefix.
_GIN_DOT = re.compile(r'^--((?:pretrain_|finetune_)?gin)\.(.+)$')
# What asks for a command's help; absl's own --help would exit 1.
_HELP = ('-h', '--help', '--helpshort', '-?')
# Either stops any command with one line and exit status 128 + its number
# (130, 143) once the command's cleanup has run.
_STOPS = (signal.SIGINT, signal.SIGTERM)
# The checks made before anything is written: an interrupt inside them
# (ptjf check's whole run, ptjf run's until it takes the lock) left nothing.
# What TensorFlow's native libraries log while they load, before anything
# can configure that logging (TF_CPP_MIN_LOG_LEVEL no longer reaches it).
_LOAD_NOISE = re.compile(r'WARNING: All log messages before absl::Initialize'
                         r'Log|[IW]\d{4} [\d:.]+ +\d+ \w+\.cc:\d+\]|To enable '
                         r'the following instructions')
_PREFLIGHT = tuple(os.path.join(os.path.dirname(os.path.abspath(__file__)), f)
                   for f in ('check.py', 'preflight.py'))


class Interrupted(KeyboardInterrupt):
  """SIGINT or SIGTERM, raised where the command was."""

  def __init__(self, signum: int):
    super().__init__(signum)
    self.signum = signum


def _raise_interrupted(signum, unused_frame) -> None:
  raise Interrupted(signum)


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
  """SIGTERM, like SIGINT, raises in the command, so that its cleanup runs
  (SIGTERM's default would end the process at once); a signal the parent
  ignored stays ignored."""
  previous = {}
  if threading.current_thread() is threading.main_thread():
    for s in _STOPS:
      if signal.getsignal(s) in (signal.SIG_DFL, signal.default_int_handler):
        previous[s] = signal.signal(s, _raise_interrupted)
  try:
    yield
  finally:
    for s, handler in previous.items():
      signal.signal(s, handler)


def interrupted(error: KeyboardInterrupt) -> tuple[str, int]:
  """The line an interrupted command ends with, and its exit status."""
  signum = getattr(error, 'signum', signal.SIGINT)
  where = ('during the pre-flight; nothing was written' if any(
      frame.filename in _PREFLIGHT
      for frame in traceback.extract_tb(error.__traceback__)) else
           'before the command finished')
  return (f'error: interrupted by {signal.Signals(signum).name} {where}.',
          128 + signum)


@contextlib.contextmanager
def _quiet_native_load() -> Iterator[None]:
  """Holds this process's stderr (the file descriptor, where native
  libraries write) while inside, then copies back all but _LOAD_NOISE."""
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile() as held:
    os.dup2(held.fileno(), 2)
    try:
      yield
    finally:
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
      held.seek(0)
      for line in held.read().decode(errors='replace').splitlines(True):
        if not _LOAD_NOISE.match(line):
          sys.stderr.write(line)
      sys.stderr.flush()


def rewrite_gin_args(args: list[str]) -> list[str]:
  """`--gin.LEARNING_RATE=5e-3` -> `--gin=LEARNING_RATE=5e-3`, as T5X accepts."""
  return [_GIN_DOT.sub(r'--\1=\2', a) for a in args]


def command_help(module) -> str:
  """A command's usage (its module's docstring) and its own flags."""
  own = flags.FLAGS.module_help(module).strip().split('\n', 1)[-1]
  return f'{module.__doc__.strip()}\n\nflags:\n{own}'


def main(argv=None) -> None:
  with _interruptible():
    try:
      _dispatch(list(sys.argv if argv is None else argv))
    except KeyboardInterrupt as e:
      line, status = interrupted(e)
      print(line, file=sys.stderr, flush=True)
      sys.exit(status)


def _dispatch(argv: list[str]) -> None:
  """Runs the command `argv` names."""
  command = argv[1] if len(argv) > 1 else ''
  if command not in COMMANDS:
    print(__doc__.strip(), file=sys.stderr)
    if command in ('-h', '--help', 'help'):
      sys.exit(0)
    sys.exit(f'\nerror: unknown command {command!r}: expected one of '
             f'{", ".join(COMMANDS)}.' if command else '\nerror: no command given.')
  # Task modules beside the user, as `python -m t5x.train` finds them.
  recipe.add_working_directory()
  with _quiet_native_load():
    module = importlib.import_module(f'ptjf.{_MODULES.get(command, command)}')
  if any(a in _HELP for a in argv[2:]):
    print(command_help(module))
    sys.exit(0)
  sys.modules['__main__'].__doc__ = module.__doc__  # what --helpfull prints
  flags.adopt_module_key_flags(module)
  app.run(module.main, argv=[f'ptjf {command}', *rewrite_gin_args(argv[2:])])


if __name__ == '__main__':
  main()
