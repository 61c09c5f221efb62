r"""The project's XXL pre-training step against T5X's stock umT5-XXL, compiled
side by side for one TPU slice by the real TPU compiler.

Both are compiled in this one process with ptjf compile's code (ptjf/aot.py):
recipes/pretrain_mc4_xxl.gin, and t5x/examples/scalable_t5/umt5/pretrain_xxl.gin,
the stock configuration closest to the paper's mC4 arm. The stock file is given
the recipe's mesh, batch, feature lengths, remat policy and microbatches, so
that what differs is what each file chooses for the model itself. Printed:
model and hardware FLOPs per chip per step (ptjf compile's counts) and
per-chip memory of each, and the ratios project / stock.

The stock file includes t5x/configs/runs/pretrain_deterministic.gin, which
T5X's head no longer ships; a temporary search path stands T5X's
pretrain.gin in its place.

  python -m benchmarks.stock_umt5 [--topology=v4-256]
"""

import os
import sys
import tempfile

from absl import app
from absl import flags

from ptjf import aot
from ptjf import recipe
from ptjf import tpu

_TOPOLOGY = flags.DEFINE_string('topology', 'v4-256', 'The Cloud TPU slice.')
PROJECT = os.path.join(recipe.RECIPES_DIR, 'pretrain_mc4_xxl.gin')
STOCK = 't5x/examples/scalable_t5/umt5/pretrain_xxl.gin'
# What the stock file takes from the recipe, so that only the model differs.
SHARED = ('MODEL_PARALLEL_SUBMESH', 'BATCH_SIZE', 'TASK_FEATURE_LENGTHS')


def _stock_parse(settings: dict, extra=()) -> None:
  recipe.parse(os.path.join(recipe.search_paths()[1], STOCK), [
      'MODEL_DIR = "<workdir>"', "MIXTURE_OR_TASK_NAME = 'ptjf_mc4.en_only'",
      "TRAIN_EVAL_MIXTURE_OR_TASK_NAME = 'ptjf_mc4.en_only'",
      f"partitioning.PjitPartitioner.model_parallel_submesh = {settings['MODEL_PARALLEL_SUBMESH']}",
      f"BATCH_SIZE = {settings['BATCH_SIZE']}",
      f"TASK_FEATURE_LENGTHS = {settings['TASK_FEATURE_LENGTHS']}",
      f"network.T5Config.remat_policy = '{settings['remat_policy']}'",
      f"trainer.Trainer.num_microbatches = {settings['num_microbatches']}",
      *extra])


def measure(parse, devices):
  parse()
  step = aot.step_config()
  compiled = aot.compile_step(devices)
  return step, compiled, aot.hardware_flops(parse, devices, step)


def main(argv):
  del argv
  try:
    recipe.require_t5x(libtpu=True)
  except ValueError as e:
    sys.exit(f'error: {e}')
  where = tpu.parse(_TOPOLOGY.value)
  devices = where.devices()
  project_parse = lambda extra=(): recipe.parse(PROJECT, [  # pylint: disable=g-long-lambda
      'MODEL_DIR = "<workdir>"', *extra])
  project_parse()
  settings = {name: recipe.value(name) for name in SHARED}
  step = aot.step_config()
  settings.update(remat_policy=step.remat_policy,
                  num_microbatches=step.num_microbatches)
  with tempfile.TemporaryDirectory() as search_dir:
    runs = os.path.join(search_dir, 't5x', 'configs', 'runs')
    os.makedirs(runs)
    with open(os.path.join(runs, 'pretrain_deterministic.gin'), 'w') as f:
      f.write("include 't5x/configs/runs/pretrain.gin'\n")
    original = recipe.search_paths  # the stand-in is searched after T5X's tree
    recipe.search_paths = lambda: [*original(), search_dir]
    try:
      stock = measure(lambda extra=(): _stock_parse(settings, extra),
                      devices)
    finally:
      recipe.search_paths = original
  project = measure(project_parse, devices)
  print(f'{where.name}: mesh submesh {settings["MODEL_PARALLEL_SUBMESH"]}, batch '
        f'{settings["BATCH_SIZE"]}, lengths {settings["TASK_FEATURE_LENGTHS"]}, '
        f'remat {settings["remat_policy"]}, num_microbatches '
        f'{settings["num_microbatches"]}')
  print(f'{"":30} {"project":>14} {"stock umT5":>14} {"ratio":>7}')
  chips = len(devices)
  rows = [('parameters', lambda s, c, f: s.parameters, '{:,}'),
          ('model FLOPs per chip, step', lambda s, c, f: s.model_flops() / chips,
           '{:.3e}'),
          ('hardware FLOPs per chip, step', lambda s, c, f: f, '{:.3e}'),
          ('train state per chip', lambda s, c, f: c.state_bytes, 'bytes'),
          ('temporaries per chip', lambda s, c, f: c.temp_bytes, 'bytes'),
          ('peak per chip', lambda s, c, f: c.peak_bytes, 'bytes')]
  for name, get, form in rows:
    mine, theirs = get(*project), get(*stock)
    show = aot.bytes_text if form == 'bytes' else form.format
    print(f'{name:30} {show(mine):>14} {show(theirs):>14} {mine / theirs:7.3f}')


if __name__ == '__main__':
  app.run(main)
