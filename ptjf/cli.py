"""ptjf: run, check, plan, compile, data, sweep, launch, plot, eval: PTJF on T5X.

Usage: ptjf COMMAND [ARGS] [--flags]    (ptjf COMMAND --help for its flags)

Commands:
  run     pre-train, then joint fine-tune from its final checkpoint; resumable
  check   every check ptjf run makes before training, and nothing else
  plan    steps, tokens, rates and epochs per task of each phase; LR schedule PNG
  compile each phase's train step compiled for a Cloud TPU slice: memory, FLOPs
  data    which data each phase reads, how to get it; --check=DIR checks mC4's shards
  sweep   the paper's grids as ptjf run commands or gin binding files
  launch  the gcloud commands that run an experiment on a Cloud TPU VM pod
  plot    trade-off fronts, curves per task, best per method of runs (PNG, CSV)
  eval    BLEU or cross-entropy of a run's checkpoints with t5x.eval; resumable
"""

import importlib
import re
import sys

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


def rewrite_gin_args(args: list[str]) -> list[str]:
  """`--gin.LEARNING_RATE=5e-3` -> `--gin=LEARNING_RATE=5e-3`, as T5X accepts."""
  return [_GIN_DOT.sub(r'--\1=\2', a) for a in args]


def command_help(module) -> str:
  """A command's usage (its module's docstring) and its own flags."""
  own = flags.FLAGS.module_help(module).strip().split('\n', 1)[-1]
  return f'{module.__doc__.strip()}\n\nflags:\n{own}'


def main(argv=None) -> None:
  argv = list(sys.argv if argv is None else argv)
  command = argv[1] if len(argv) > 1 else ''
  if command not in COMMANDS:
    print(__doc__.strip(), file=sys.stderr)
    if command in ('-h', '--help', 'help'):
      sys.exit(0)
    sys.exit(f'\nerror: unknown command {command!r}: expected one of '
             f'{", ".join(COMMANDS)}.' if command else '\nerror: no command given.')
  # Task modules beside the user, as `python -m t5x.train` finds them.
  recipe.add_working_directory()
  module = importlib.import_module(
      f'ptjf.{_MODULES.get(command, command)}')
  if any(a in _HELP for a in argv[2:]):
    print(command_help(module))
    sys.exit(0)
  sys.modules['__main__'].__doc__ = module.__doc__  # what --helpfull prints
  flags.adopt_module_key_flags(module)
  app.run(module.main, argv=[f'ptjf {command}', *rewrite_gin_args(argv[2:])])


if __name__ == '__main__':
  main()
