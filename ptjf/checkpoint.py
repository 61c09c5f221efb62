"""T5X checkpoints of a run directory (local or gs://), and what is inside one."""

import json
import math
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


def named_as_one(path: str) -> bool:
  """Whether `path` has a checkpoint's name (T5X's checkpoint_N)."""
  return bool(_CHECKPOINT.fullmatch(os.path.basename(path.rstrip('/'))))


def run_holding(path: str) -> tuple[str, str]:
  """The T5X run directory that `path` is or lies in, and what marks it
  (config.gin, a checkpoint_N in it, or a component named so); ('', '') if
  none. Locally each directory up from `path` is looked at; of a gs:// path
  only its own names, which cost no request."""
  if '://' in path:
    parts = path.rstrip('/').split('/')
    for i, name in enumerate(parts):
      if _CHECKPOINT.fullmatch(name):
        return '/'.join(parts[:i]), name
    return '', ''
  here = os.path.abspath(path)
  while True:
    if named_as_one(here):
      return os.path.dirname(here), os.path.basename(here)
    if os.path.isfile(os.path.join(here, 'config.gin')):
      return here, 'config.gin'
    try:
      names = sorted(n for n in os.listdir(here) if _CHECKPOINT.fullmatch(n))
    except OSError:  # not there yet, or not readable: holds nothing of T5X's
      names = []
    if names := [n for n in names if os.path.isdir(os.path.join(here, n))]:
      return here, names[0]
    if here == os.path.dirname(here):
      return '', ''
    here = os.path.dirname(here)


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
  """{'target': parameters, 'state': {'step', 'param_states'}} as numpy
  arrays, whatever mesh of devices and hosts wrote them."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  state = os.path.join(checkpoint, 'state')
  reader = ocp.PyTreeCheckpointer()
  as_numpy = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray),
                          reader.metadata(state).item_metadata.tree)
  return reader.restore(state, restore_args=as_numpy)


# --- Whether T5X can restore a checkpoint, read from its own metadata --------

# A location in an OCDBT tree: 'value:ocdbt.process_0/:d/FILE:OFFSET:LENGTH'.
_LOCATION = re.compile(r'^\w+:([^:]*):([^:]+):(\d+):(\d+)$')
# Bytes of one parameter read at a time by finite(): bounded memory at any size.
_READ_BYTES = 256 << 20


def _state(checkpoint: str) -> str:
  # Orbax's and tensorstore's local readers want absolute paths.
  return os.path.join(checkpoint if '://' in checkpoint
                      else os.path.abspath(checkpoint), 'state')


def _arrays(checkpoint: str) -> list[Any]:
  """Orbax's metadata of each array of the checkpoint, in its tree's order."""
  import jax  # pylint: disable=g-import-not-at-top
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  from etils import epath  # pylint: disable=g-import-not-at-top
  tree = ocp.PyTreeCheckpointHandler().metadata(epath.Path(_state(checkpoint))).tree
  return jax.tree_util.tree_leaves(tree)


def _ocdbt_problem(state: str, names: list[str]) -> str:
  """What is missing of an OCDBT database ('' when nothing): files its tree
  references, bytes past a file's end, arrays without keys. Reads the tree's
  nodes, never the arrays' data."""
  import tensorstore as ts  # pylint: disable=g-import-not-at-top
  base = ts.KvStore.open(state.rstrip('/') + '/' if '://' in state
                         else 'file://' + state + '/').result()
  needed: dict[str, int] = {}  # file -> bytes the tree references in it
  pending = [ts.ocdbt.dump(base).result()['versions'][-1]['root'].get('location')]
  while pending:
    location = pending.pop()
    if not location:
      continue  # an empty tree
    prefix, name, offset, length = _LOCATION.match(location).groups()
    file = prefix + name
    needed[file] = max(needed.get(file, 0), int(offset) + int(length))
    if problem := _file_problem(state, file, needed[file]):
      return problem  # reading the node would fail the same way
    for entry in ts.ocdbt.dump(base, location).result().get('entries', []):
      if 'location' in entry:
        pending.append(entry['location'])
      elif ref := entry.get('indirect_value'):
        prefix, name, offset, length = _LOCATION.match(ref).groups()
        needed[prefix + name] = max(needed.get(prefix + name, 0),
                                    int(offset) + int(length))
  for file, size in sorted(needed.items()):
    if problem := _file_problem(state, file, size):
      return problem
  keys = {k.decode() for k in ts.KvStore.open(
      {'driver': 'ocdbt', 'base': base.spec().to_json()}).result().list().result()}
  missing = [n for n in names if f'{n}/.zarray' not in keys]
  return (f'{len(missing)} of its {len(names)} arrays are not in its OCDBT '
          f'database, e.g. {missing[0]}' if missing else '')


def _file_problem(state: str, file: str, size: int) -> str:
  try:
    have = tf.io.gfile.stat(os.path.join(state, file)).length
  except tf.errors.NotFoundError:
    return f'state/{file} is missing'
  return (f'state/{file} is truncated ({have} of {size} bytes)'
          if have < size else '')


def verify(checkpoint: str) -> str:
  """'' when `checkpoint` is whole, else what is wrong, in a few words: Orbax
  did not finish it, its metadata is missing or unreadable, or files its
  metadata lists are missing or shorter than it records. Reads metadata and
  file sizes, no array."""
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  state = _state(checkpoint)
  if not ocp.utils.is_checkpoint_finalized(checkpoint):
    return 'Orbax did not finish writing it'
  if not tf.io.gfile.exists(os.path.join(state, '_METADATA')):
    return 'state/_METADATA is missing'
  try:
    with tf.io.gfile.GFile(os.path.join(state, '_METADATA')) as f:
      ocdbt = json.load(f).get('use_ocdbt', True)  # Orbax's default
    if ocdbt and not tf.io.gfile.exists(os.path.join(state, 'manifest.ocdbt')):
      return 'state/manifest.ocdbt is missing'
    names = [a.name for a in _arrays(checkpoint)]
    if ocdbt:
      return _ocdbt_problem(state, names)
  except Exception as e:  # pylint: disable=broad-except
    return f'its metadata cannot be read ({str(e).splitlines()[0][:200]})'
  missing = [n for n in names  # one zarr directory per array without OCDBT
             if not tf.io.gfile.exists(os.path.join(state, n, '.zarray'))]
  return (f'{len(missing)} of its {len(names)} arrays are missing, e.g. '
          f'{missing[0]}' if missing else '')


def _count_nonfinite(store) -> int:
  """NaN and infinite values of a tensorstore array, read in slices along its
  first axis of at most _READ_BYTES each."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  if not store.shape:
    return int(not np.isfinite(store.read().result()))
  rows = max(1, _READ_BYTES // max(
      1, store.dtype.numpy_dtype.itemsize * math.prod(store.shape[1:])))
  end = store.shape[0]
  return sum(int(x.size - np.count_nonzero(np.isfinite(x))) for x in (
      store[i:min(i + rows, end)].read().result() for i in range(0, end, rows)))


def finite(checkpoint: str, index: int = 0, count: int = 1) -> str:
  """'' when the parameters of share `index` of `count` (every count-th
  array) are finite, else the first that is not and how. Reads one slice of
  at most _READ_BYTES at a time, so each process of a multi-host run can
  check its share with bounded memory."""
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  import tensorstore as ts  # pylint: disable=g-import-not-at-top
  from etils import epath  # pylint: disable=g-import-not-at-top
  state = epath.Path(_state(checkpoint))
  ocdbt = ocp.type_handlers.is_ocdbt_checkpoint(state)
  params = [a for a in _arrays(checkpoint) if a.name.startswith('target.')]
  context = ocp.type_handlers.get_ts_context(use_ocdbt=ocdbt)
  for array in params[index::count]:
    store = ts.open(ocp.type_handlers.get_json_tspec_read(
        ocp.type_handlers.ParamInfo(name=array.name, parent_dir=state,
                                    is_ocdbt_checkpoint=ocdbt), ocdbt),
                    read=True, context=context).result()
    bad = _count_nonfinite(store)
    if bad:
      return (f'{array.name.removeprefix("target.").replace(".", "/")} has {bad} NaN or '
              f'infinite values of {math.prod(store.shape)}')
  return ''
