"""T5X checkpoints of a run directory (local or gs://), and what is inside one."""

import os
import re
from typing import Any

import tensorflow as tf

_CHECKPOINT = re.compile(r'checkpoint_(\d+)$')


def steps(model_dir: str) -> list[int]:
  """Steps of the checkpoint directories in `model_dir`, ascending. Orbax
  writes locally under a temporary name that this does not match."""
  if not tf.io.gfile.isdir(model_dir):
    return []
  names = (name.rstrip('/') for name in tf.io.gfile.listdir(model_dir))
  return sorted(int(m.group(1)) for m in map(_CHECKPOINT.match, names) if m)


def path(model_dir: str, step: int) -> str:
  return os.path.join(model_dir, f'checkpoint_{step}')


def final(model_dir: str) -> str:
  """The highest-step checkpoint of a run ('' when there is none)."""
  found = steps(model_dir)
  return path(model_dir, found[-1]) if found else ''


def complete(checkpoint: str) -> bool:
  """Whether Orbax finished writing `checkpoint`: renamed from its temporary
  name locally, commit_success.txt on object stores (which cannot rename),
  and the parameter tree's metadata written."""
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  return (tf.io.gfile.exists(os.path.join(checkpoint, 'state', '_METADATA')) and
          ocp.utils.is_checkpoint_finalized(checkpoint))


def complete_steps(model_dir: str) -> list[int]:
  """Steps of the checkpoints a resumed run can restore, ascending."""
  return [s for s in steps(model_dir) if complete(path(model_dir, s))]


def parameter_shapes(checkpoint: str) -> dict[str, tuple[int, ...]]:
  """'encoder/layers_0/mlp/wi_0/kernel' -> shape, read from the checkpoint's
  metadata without loading an array."""
  import jax  # pylint: disable=g-import-not-at-top
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  from etils import epath  # pylint: disable=g-import-not-at-top
  if '://' not in checkpoint:
    checkpoint = os.path.abspath(checkpoint)  # Orbax's OCDBT reader wants it
  tree = ocp.PyTreeCheckpointHandler().metadata(epath.Path(checkpoint) / 'state').tree['target']
  return {_name(p): tuple(leaf.shape)
          for p, leaf in jax.tree_util.tree_leaves_with_path(tree)}


def _name(key_path) -> str:
  return '/'.join(str(getattr(k, 'key', k)) for k in key_path)


def read(checkpoint: str) -> dict[str, Any]:
  """{'target': parameters, 'state': {'step', 'param_states'}} as numpy arrays."""
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  return ocp.PyTreeCheckpointer().restore(os.path.join(checkpoint, 'state'))
