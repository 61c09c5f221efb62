"""Scalars that T5X wrote as TensorBoard event files under a run directory."""

import collections
import os

import tensorflow as tf


def scalars(run_dir: str, collection: str = 'train') -> dict[str, dict[int, float]]:
  """Tag -> {step: value} of one collection, e.g. 'train' or
  'training_eval/ptjf_synth.gd'. A resumed run's later files win."""
  pattern = os.path.join(run_dir, collection, 'events.out.tfevents.*')
  out = collections.defaultdict(dict)
  for path in sorted(tf.io.gfile.glob(pattern)):
    for record in tf.data.TFRecordDataset(path):
      event = tf.compat.v1.Event.FromString(record.numpy())
      for value in event.summary.value:
        if value.metadata.plugin_data.plugin_name == 'scalars':
          out[value.tag][event.step] = float(tf.make_ndarray(value.tensor))
  return dict(out)


def eval_tasks(run_dir: str) -> list[str]:
  """Tasks and mixtures with a training_eval collection, sorted."""
  root = os.path.join(run_dir, 'training_eval')
  return sorted(tf.io.gfile.listdir(root)) if tf.io.gfile.isdir(root) else []
