"""Batches that are the same on any number of hosts.

T5X gives each host its own shard of every task (seqio's ShardInfo), so the
examples of a step change with the number of hosts. With
gin/data/host_invariant.gin every host builds the whole global batch, as one
process would, and keeps its block of rows: a run trains on the same
examples on 1, 2 or 64 hosts, at the price of every host doing the input
work of the whole batch.
"""

from t5x import utils
import tensorflow as tf


def global_batch_rows(cfg: utils.DatasetConfig, shard_id: int,
                      num_shards: int, feature_converter_cls,
                      num_epochs=None,
                      continue_from_last_checkpoint: bool = False
                      ) -> tf.data.Dataset:
  """T5X's get_dataset of one process, rows `shard_id` of `num_shards` of
  each global batch; its signature is T5X's GetDatasetCallable."""
  whole = utils.get_dataset(cfg, 0, 1, feature_converter_cls, num_epochs,
                            continue_from_last_checkpoint)
  rows = cfg.batch_size // num_shards
  return whole.map(lambda batch: {
      name: feature[shard_id * rows:(shard_id + 1) * rows]
      for name, feature in batch.items()})
