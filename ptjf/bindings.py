"""The binding flags, given to every phase run of the commands that read a
recipe (run, check, plan, compile, data, sweep, launch); experiment.py says which
phases each reaches."""

import os

from absl import flags

from ptjf import experiment
from ptjf import recipe

_GIN = flags.DEFINE_multi_string(
    'gin', [], "Gin binding for every phase, 'NAME = VALUE' (or T5X's "
    '--gin.NAME=VALUE).')
_PRETRAIN_GIN = flags.DEFINE_multi_string(
    'pretrain_gin', [], 'Gin binding for the first stage only (pretrain, or '
    'static for a restart).')
_FINETUNE_GIN = flags.DEFINE_multi_string(
    'finetune_gin', [], 'Gin binding for every stage after the first (the '
    'fine-tune of a two-stage experiment).')
_STAGE_GIN = flags.DEFINE_multi_string(
    'stage_gin', [], "Gin binding for one stage, 'ARM:NAME = VALUE', ARM the "
    "first word of its recipe's name, e.g. 'cooldown:TRAIN_STEPS = 3000'.")
_GIN_FILE = flags.DEFINE_multi_string(
    'gin_file', [], 'Gin file parsed after the recipe in every phase, e.g. '
    'gin/meshes/gpu_host.gin.')
_TFDS_DATA_DIR = flags.DEFINE_string(
    'tfds_data_dir', None, "Passed to t5x.train: where TFDS's prepared data is.")


def pass_through_from_flags() -> experiment.PassThrough:
  """What these flags give every phase run of the command; raises ValueError
  for a --gin_file that is not a gin file t5x.train would find."""
  tfds_data_dir = _TFDS_DATA_DIR.value
  return experiment.PassThrough(
      experiment.Bindings(_GIN.value, _PRETRAIN_GIN.value, _FINETUNE_GIN.value,
                          _STAGE_GIN.value),
      [gin_file(f) for f in _GIN_FILE.value],
      experiment.absolute(tfds_data_dir) if tfds_data_dir else tfds_data_dir)


def gin_file(given: str) -> str:
  """A --gin_file as t5x.train, which starts in the repository, finds it:
  absolute where it is here (from where the command was typed, else in the
  repository), as given where T5X's own directory holds it; checked as gin."""
  flag = f'--gin_file={given}'
  if '://' in given:
    return given
  path = os.path.expanduser(given)
  found = next((os.path.abspath(p) for p in (path, os.path.join(recipe.REPO, path))
                if os.path.exists(p)), None)
  if found is None and (t5x_root := recipe.t5x_root()) and os.path.isfile(
      os.path.join(t5x_root, path)):
    experiment.check_gin_file(os.path.join(t5x_root, path), flag)
    return given
  if found is None:
    raise ValueError(f'{flag}: {experiment.absolute(path)} does not exist (nor '
                     'does it under the repository or T5X): give the path of a '
                     'gin file.')
  if os.path.isdir(found):
    raise ValueError(f'{flag}: {found} is a directory: give a gin file.')
  if not os.path.isfile(found):  # a device or a pipe, which gin cannot read
    raise ValueError(f'{flag}: {found} is not a regular file: give a gin file.')
  if experiment.is_recipe(found):
    raise ValueError(f'{flag}: {found} is a recipe, not a gin file to add to '
                     'one: give it as the EXPERIMENT (ptjf run RECIPE or '
                     'PATH.gin).')
  experiment.check_gin_file(found, flag)
  return found

