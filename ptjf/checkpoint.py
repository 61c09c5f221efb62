"""T5X checkpoints of a run directory, and what is inside one."""

import os
import re
from typing import Any

_CHECKPOINT = re.compile(r'checkpoint_(\d+)$')


def steps(model_dir: str) -> list[int]:
  """Steps of the committed checkpoints in `model_dir`, ascending. Orbax
  writes under a temporary name and renames when complete."""
  if not os.path.isdir(model_dir):
    return []
  return sorted(int(m.group(1)) for m in map(_CHECKPOINT.match,
                                             os.listdir(model_dir)) if m)


def path(model_dir: str, step: int) -> str:
  return os.path.join(model_dir, f'checkpoint_{step}')


def final(model_dir: str) -> str:
  """The highest-step committed checkpoint of a run ('' when there is none)."""
  found = steps(model_dir)
  return path(model_dir, found[-1]) if found else ''


def read(checkpoint: str) -> dict[str, Any]:
  """{'target': parameters, 'state': {'step', 'param_states'}} as numpy arrays."""
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  return ocp.PyTreeCheckpointer().restore(os.path.join(checkpoint, 'state'))
