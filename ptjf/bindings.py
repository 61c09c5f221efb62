"""Flags that configure a recipe's runs, shared by run, plan, sweep and launch."""

from absl import flags

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


def tfds_data_dir():
  return _TFDS_DATA_DIR.value


def gin_files() -> list[str]:
  return list(_GIN_FILE.value)


def values() -> dict[str, list[str]]:
  """The flags as keyword arguments of preflight.prepare."""
  return dict(gin=list(_GIN.value), pretrain_gin=list(_PRETRAIN_GIN.value),
              finetune_gin=list(_FINETUNE_GIN.value), gin_files=gin_files())
