"""The devices t5x.train will find on this host, held against the mesh and
batch a recipe asks for, and the data it reads: checked before compute."""

import os

import pytest

from ptjf import host
from ptjf import tpu

XXL = host.MeshNeed(model=8, submesh=(1, 1, 8, 1), batch=1024, microbatches=4)
MC4_SPLITS = [f'{lang}{suffix}' for lang in ('en', 'hi', 'gu', 'gd', 'sw')
              for suffix in ('', '-validation')]


@pytest.fixture
def clean_env(monkeypatch):
  for name in ('JAX_PLATFORMS', 'XLA_FLAGS', 'JAX_NUM_CPU_DEVICES',
               'TPU_ACCELERATOR_TYPE', 'CUDA_VISIBLE_DEVICES', 'TPU_WORKER_ID',
               'TPU_WORKER_HOSTNAMES'):
    monkeypatch.delenv(name, raising=False)
  return monkeypatch


def test_cpu_devices_count_every_process(clean_env):
  clean_env.setenv('JAX_PLATFORMS', 'cpu')
  clean_env.setenv('XLA_FLAGS', '--xla_force_host_platform_device_count=2')
  flags = ['--multiprocess_gpu', '--process_count=3', '--process_index=1']
  assert host.found(flags) == host.Devices('cpu', 6)
  assert host.process_share(flags) == (1, 3)
  assert host.found() == host.Devices('cpu', 2)


def test_a_tpu_vm_counts_its_slice_by_gclouds_name(clean_env):
  clean_env.setenv('JAX_PLATFORMS', 'tpu')
  clean_env.setenv('TPU_ACCELERATOR_TYPE', 'v4-256')
  assert host.found() == host.Devices('tpu', 128, tpu.parse('v4-256'))
  clean_env.setenv('TPU_ACCELERATOR_TYPE', 'v5litepod-16')
  assert host.found().count == 16
  assert str(host.found()) == '16 tpu devices (a v5litepod-16 slice)'


def test_gpus_are_counted_as_cuda_shows_them(clean_env):
  clean_env.setenv('JAX_PLATFORMS', 'cuda')
  clean_env.setenv('CUDA_VISIBLE_DEVICES', '0,1,2,3')
  assert host.found(['--process_count=2']) == host.Devices('gpu', 8)


@pytest.mark.parametrize('need, devices, expected', [
    # v4-256: 128 chips, 16 replicas of 8; 1024 / 4 microbatches / 16 = 16.
    (XXL, host.Devices('tpu', 128), ''),
    (XXL, host.Devices('tpu', 4), 'this host has 4 tpu devices; the mesh '
     'needs a multiple of 8 (MODEL_PARALLEL_SUBMESH (1, 1, 8, 1))'),
    (XXL, host.Devices('cpu', 1), 'this host has 1 cpu device; the mesh needs '
     'a block of 8 TPU chips per model replica (MODEL_PARALLEL_SUBMESH '
     '(1, 1, 8, 1))'),
    # 24 rows over a data axis of 3: 8 each.
    (host.MeshNeed(1, None, 24, 1), host.Devices('cpu', 3), ''),
    # 4 microbatches of 6 rows do not split over 4 devices.
    (host.MeshNeed(1, None, 24, 4), host.Devices('cpu', 4),
     'BATCH_SIZE 24 does not split over the data axis: 4 cpu devices with 1 '
     'per model replica make a data axis of 4, which must divide each of 4 '
     "microbatches: bind a multiple of 16, e.g. --gin='BATCH_SIZE = 16'"),
    # 8 GPUs, 2 per replica: a data axis of 4, which 16 rows split over.
    (host.MeshNeed(2, None, 16, 1), host.Devices('gpu', 8), ''),
    (host.MeshNeed(2, None, 16, 1), host.Devices('gpu', 3),
     'needs a multiple of 2 (num_partitions 2)'),
])
def test_the_mesh_against_the_devices(need, devices, expected):
  problem = host.mismatch(need, devices, 'ptjf_mc4_xxl')
  assert (problem == '') == (expected == '')
  assert expected in problem


@pytest.fixture(scope='module')
def mc4_prepared(tmp_path_factory):
  """TFDS's metadata of a c4/multilingual build, as `tfds build` leaves it,
  without its data."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  data_dir = str(tmp_path_factory.mktemp('tfds'))
  builder = tfds.builder('c4/multilingual:3.1.0', data_dir=data_dir)
  builder.info.set_splits(tfds.core.SplitDict([
      tfds.core.SplitInfo(
          name=split, shard_lengths=[7], num_bytes=0,
          filename_template=tfds.core.ShardedFileTemplate(
              data_dir=builder.data_path, dataset_name=builder.name,
              split=split, filetype_suffix='tfrecord'))
      for split in MC4_SPLITS]))
  os.makedirs(builder.data_dir)
  builder.info.write_to_directory(builder.data_dir)
  return data_dir


@pytest.mark.needs_t5x
def test_check_refuses_mc4_not_prepared_under_the_data_dir(tmp_path, ptjf):
  result = ptjf('check', 'ptjf_mc4_xxl', f'--workdir={tmp_path / "w"}',
                f'--tfds_data_dir={tmp_path / "none"}', cwd=tmp_path)
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1] == (
      'error: recipes/pretrain_mc4_xxl.gin: TFDS c4/multilingual:3.1.0 is not '
      f'prepared: {tmp_path}/none/c4/multilingual/3.1.0 holds no '
      'dataset_info.json. Give --tfds_data_dir=DIR where it is built or read '
      "AllenAI's JSON release with MC4_JSON_DIR; ptjf data EXPERIMENT prints "
      'how to get it.')
  assert os.listdir(tmp_path) == []


@pytest.mark.needs_t5x
def test_xxl_on_one_cpu_is_noted_by_check_and_refused_by_run(mc4_prepared,
                                                             tmp_path, ptjf):
  args = ['ptjf_mc4_xxl', f'--workdir={tmp_path / "w"}',
          f'--tfds_data_dir={mc4_prepared}']
  mesh = ('pretrain, ptjf: this host has 1 cpu device; the mesh needs a block '
          'of 8 TPU chips per model replica (MODEL_PARALLEL_SUBMESH '
          '(1, 1, 8, 1)): run it where the mesh fits, or compile it for a '
          'slice here with `ptjf compile ptjf_mc4_xxl --topology=SLICE` (e.g. '
          'v4-256), which needs no TPU')
  checked = ptjf('check', *args, cwd=tmp_path)
  assert checked.returncode == 0, checked.stderr[-2000:]
  assert f'note: {mesh}; ptjf run refuses this here.' in checked.stdout
  assert checked.stdout.splitlines()[-1] == (
      'ok: ptjf_mc4_xxl passed every check but those noted; nothing was '
      'written.')
  ran = ptjf('run', *args, cwd=tmp_path)
  assert ran.returncode == 1
  assert ran.stderr.strip().splitlines()[-1] == f'error: {mesh}.'
  assert os.listdir(tmp_path) == []


@pytest.mark.needs_t5x
def test_check_refuses_on_a_host_with_an_accelerator(mc4_prepared, tmp_path,
                                                     ptjf):
  # A v4-8 TPU VM, as libtpu reads its type: 4 chips, half a model replica;
  # JAX reads them when it starts, so in a process of its own.
  result = ptjf('check', 'pretrain_mc4_xxl', f'--workdir={tmp_path / "w"}',
                f'--tfds_data_dir={mc4_prepared}', cwd=tmp_path,
                env={'JAX_PLATFORMS': 'tpu', 'TPU_ACCELERATOR_TYPE': 'v4-8'},
                subprocess=True)
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1].startswith(
      'error: pretrain: this host has 4 tpu devices (a v4-8 slice); the mesh '
      'needs a multiple of 8 (MODEL_PARALLEL_SUBMESH (1, 1, 8, 1))')


@pytest.mark.needs_t5x
def test_run_refuses_a_batch_the_data_axis_does_not_split(tmp_path, ptjf):
  # XLA reads its flags when JAX starts: in a process of its own.
  result = ptjf('run', 'pretrain_synth_mc4_tiny', f'--workdir={tmp_path / "w"}',
                '--gin_file=gin/meshes/gpu_host.gin', '--gin.NUM_PARTITIONS=1',
                env={'XLA_FLAGS': '--xla_force_host_platform_device_count=3'},
                subprocess=True)
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1] == (
      'error: pretrain: BATCH_SIZE 16 does not split over the data axis: 3 '
      'cpu devices with 1 per model replica make a data axis of 3, which must '
      "divide the batch: bind a multiple of 3, e.g. --gin='BATCH_SIZE = 15'.")
  assert os.listdir(tmp_path) == []


def test_a_file_source_whose_files_are_gone_is_named(tmp_path):
  import seqio  # pylint: disable=g-import-not-at-top
  from ptjf import datasets  # pylint: disable=g-import-not-at-top
  (tmp_path / 'train.txt').write_text('a document\n')
  source = seqio.TextLineDataSource({'train': str(tmp_path / 'train.txt'),
                                     'validation': str(tmp_path / 'v.txt'),
                                     'test': str(tmp_path / 'none-*.txt')})
  datasets._check_files('my.task', 'train', source)  # pylint: disable=protected-access
  for split, named in (('validation', f'{tmp_path}/v.txt'),
                       ('test', 'no file')):
    with pytest.raises(ValueError, match=f"^task my.task: its '{split}' split "
                       f'reads {named} '):
      datasets._check_files('my.task', split, source)  # pylint: disable=protected-access
