"""The binding flags, given to every phase run of the commands that read a
recipe (run, check, plan, compile, data, sweep, launch); experiment.py says which
phases each reaches."""

import os

from absl import flags

from ptjf import experiment

_GIN = flags.DEFINE_multi_string(
    'gin', [], "Gin binding for every phase, 'NAME = VALUE' (or T5X's "
    '--gin.NAME=VALUE).')
_PRETRAIN_GIN = flags.DEFINE_multi_string(
    'pretrain_gin', [], 'Gin binding for the first phase only (pretrain, or '
    'static for a restart).')
_FINETUNE_GIN = flags.DEFINE_multi_string(
    'finetune_gin', [], 'Gin binding for the fine-tune only.')
_GIN_FILE = flags.DEFINE_multi_string(
    'gin_file', [], 'Gin file parsed after the recipe in every phase, e.g. '
    'gin/meshes/gpu_host.gin.')
_TFDS_DATA_DIR = flags.DEFINE_string(
    'tfds_data_dir', None, "Passed to t5x.train: where TFDS's prepared data is.")


def pass_through_from_flags() -> experiment.PassThrough:
  """What these flags give every phase run of the command."""
  return experiment.PassThrough(
      experiment.Bindings(_GIN.value, _PRETRAIN_GIN.value, _FINETUNE_GIN.value),
      [os.path.abspath(f) if os.path.isfile(f) else f for f in _GIN_FILE.value],
      _TFDS_DATA_DIR.value)
