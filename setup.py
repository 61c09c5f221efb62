"""Pre-training joint fine-tuning (PTJF) recipes for T5X."""

import setuptools

setuptools.setup(
    name='ptjf-t5x',
    version='0.1.0',
    description=('Pre-training joint fine-tuning recipes for T5X: SeqIO tasks, '
                 'temperature-sampled mixtures and gin recipes.'),
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.11',
    packages=['tasks', 'mixtures', 'ptjf'],
    package_data={'tasks': ['data/*.model'], 'mixtures': ['data/*.csv']},
    install_requires=[
        'absl-py',
        'flax',
        'gin-config',
        # TFDS imports it when it builds a dataset, without requiring it.
        'importlib_resources',
        'jax>=0.4.30',
        'matplotlib',
        'numpy',
        'optax',
        'orbax-checkpoint',
        'sacrebleu>=2',
        'sentencepiece',
        'seqio>=0.0.19',
        'tensorflow>=2.16',
        'tensorflow-datasets>=4.9',
        'tensorflow-text>=2.16',
    ],
    entry_points={'console_scripts': ['ptjf = ptjf.cli:main']},
    extras_require={
        'test': ['pytest'],
        # What T5X, airio and jestimator need from PyPI. They themselves come
        # from GitHub at pinned commits, installed with --no-deps:
        # requirements-t5x.txt says why (make install-t5x does both).
        't5x': [
            'cached_property',
            'chex',
            'clu',
            'fiddle>=0.2.5',
            'grain',
            'jaxtyping',
            'tensorboard',
            'tensorstore>=0.1.20',
        ],
        # libtpu, the TPU compiler, for ptjf compile (runs on any host).
        'tpu': ['jax[tpu]'],
    },
)
