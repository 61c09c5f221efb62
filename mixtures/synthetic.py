"""Mixtures of the synthetic corpus, in the same shapes as mC4's and WMT's.

  ptjf_synth.tau<t>           five languages at temperature t
  ptjf_synth.unimax           the five under UniMax, budget from the run
  ptjf_synth.en_only          synthetic English alone (pre-training)
  ptjf_synth.ro_fr.high<r>    en_fr at rate r, en_ro at 1 - r
"""

from mixtures import registry
from tasks import synthetic

HIGH_RESOURCE = 'en'
# UniMax's cap on passes over a language; the budget is the run's own.
UNIMAX_MAX_EPOCHS = 1.0

LANGUAGES = registry.Family(
    prefix=synthetic.PREFIX,
    sizes={synthetic.task_name(lang): float(size)
           for lang, size in synthetic.SPAN_LANGUAGES.items()},
    unit='documents',
    unimax_max_epochs=UNIMAX_MAX_EPOCHS)
LANGUAGES.register()
_EN = synthetic.task_name(HIGH_RESOURCE)
registry.register_single(f'{synthetic.PREFIX}.en_only', _EN,
                         LANGUAGES.sizes[_EN], LANGUAGES.unit)

registry.register_pair_grid(
    synthetic.task_name('en_fr'),
    synthetic.task_name('en_ro'),
    {synthetic.task_name(p): float(n) for p, n in synthetic.PAIRS.items()},
    'sentence pairs')
