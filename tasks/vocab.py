"""Vocabularies of the registered tasks, overridable from gin.

Tasks are registered at import time, before gin bindings are applied; the
vocabulary therefore reads its SentencePiece file from a gin configurable the
first time it is used, so one binding swaps the vocabulary of every task:

  ptjf.mc4_vocabulary.path = 'gs://my-bucket/spm64k.model'
  ptjf.mc4_vocabulary.extra_ids = 100
"""

import os

import gin
import seqio
import tensorflow as tf

# mT5's public SentencePiece model (250k pieces, its 100 sentinels included).
MT5_SENTENCEPIECE_MODEL = (
    'gs://t5-data/vocabs/mc4.250000.100extra/sentencepiece.model')

# Ships with the project: trained by tasks.train_vocab on the synthetic corpus.
SYNTHETIC_SENTENCEPIECE_MODEL = os.path.join(
    os.path.dirname(__file__), 'data', 'synthetic.spm.model')
SYNTHETIC_EXTRA_IDS = 100


@gin.configurable(module='ptjf')
def mc4_vocabulary(path: str = MT5_SENTENCEPIECE_MODEL, extra_ids: int = 0):
  """SentencePiece file and sentinel count for the mC4 span-corruption tasks."""
  return path, extra_ids


@gin.configurable(module='ptjf')
def wmt_vocabulary(path: str = MT5_SENTENCEPIECE_MODEL, extra_ids: int = 0):
  """SentencePiece file and sentinel count for the WMT translation tasks."""
  return path, extra_ids


@gin.configurable(module='ptjf')
def synthetic_vocabulary(path: str = SYNTHETIC_SENTENCEPIECE_MODEL,
                         extra_ids: int = SYNTHETIC_EXTRA_IDS):
  """SentencePiece file and sentinel count for the synthetic corpus."""
  return path, extra_ids


class ConfiguredVocabulary(seqio.SentencePieceVocabulary):
  """A SentencePieceVocabulary whose file is chosen by gin when first used."""

  def __init__(self, configurable):
    self._configurable = configurable
    super().__init__(sentencepiece_model_file='')

  @property
  def sentencepiece_model_file(self) -> str:
    return self._configurable()[0]

  @property
  def extra_ids(self) -> int:
    return self._configurable()[1]

  def check_file(self) -> None:
    """Raises FileNotFoundError, naming the binding to fix, when the file
    the configurable names does not exist."""
    path = self.sentencepiece_model_file
    if not tf.io.gfile.exists(path):
      raise FileNotFoundError(
          f'SentencePiece model {path!r} does not exist: bind '
          f'ptjf.{self._configurable.__name__}.path to an existing .model '
          'file (local or gs://).')

  def _model_context(self):
    configured = self._configurable()
    # A binding changed since the model was loaded: load the one it names.
    if self._model is None or configured != (self._sentencepiece_model_file,
                                             self._extra_ids):
      self._model = None
      self.check_file()
      self._sentencepiece_model_file, self._extra_ids = configured
    return super()._model_context()

  def __eq__(self, other):
    return (isinstance(other, seqio.SentencePieceVocabulary) and
            self.sentencepiece_model_file == other.sentencepiece_model_file and
            self.extra_ids == other.extra_ids)

  def __hash__(self):
    return hash((self.sentencepiece_model_file, self.extra_ids))

  def __str__(self) -> str:
    return (f'ConfiguredVocabulary(file={self.sentencepiece_model_file}, '
            f'extra_ids={self.extra_ids})')


MC4_VOCABULARY = ConfiguredVocabulary(mc4_vocabulary)
WMT_VOCABULARY = ConfiguredVocabulary(wmt_vocabulary)
SYNTHETIC_VOCABULARY = ConfiguredVocabulary(synthetic_vocabulary)

# Recipes name these as the model's vocabulary (e.g. VOCABULARY =
# %ptjf.MC4_VOCABULARY), so model and tasks can never disagree.
gin.constant('ptjf.MC4_VOCABULARY', MC4_VOCABULARY)
gin.constant('ptjf.WMT_VOCABULARY', WMT_VOCABULARY)
gin.constant('ptjf.SYNTHETIC_VOCABULARY', SYNTHETIC_VOCABULARY)
