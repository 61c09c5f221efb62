"""Mixtures of the synthetic corpus, in the same shapes as mC4's and WMT's.

  ptjf_synth.tau<t>           five languages at temperature t
  ptjf_synth.unimax           the five under UniMax, budget from the run
  ptjf_synth.en_only          synthetic English alone (pre-training)
  ptjf_synth.ro_fr.high<r>    en_fr at rate r, en_ro at 1 - r
  ptjf_synth.paper_epochs.{tau<t>,unimax,en_only,ro_fr.high<r>}   the same
                              of the paper_epochs tasks, at the same rates
  ptjf_synth.paper_epochs.en_hi   English and Hindi at temperature 3.33, as
                              ptjf_mc4.en_hi
"""

from mixtures import mc4
from mixtures import registry
from mixtures import sizes
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

# The languages cut to the paper's epochs keep the paper's rates: Table 2's
# sizes, whose ratios SPAN_LANGUAGES has too.
PAPER_EPOCHS_LANGUAGES = registry.Family(
    prefix=synthetic.PAPER_EPOCHS_PREFIX,
    sizes={synthetic.paper_epochs_task_name(lang): sizes.MC4_PAPER_CHARS_BILLIONS[lang]
           for lang in synthetic.SPAN_LANGUAGES},
    unit='billion characters of mC4 (Table 2)',
    unimax_max_epochs=UNIMAX_MAX_EPOCHS)
PAPER_EPOCHS_LANGUAGES.register()
registry.register_single(f'{synthetic.PAPER_EPOCHS_PREFIX}.en_only',
                         synthetic.paper_epochs_task_name(HIGH_RESOURCE))
PAPER_EPOCHS_LANGUAGES.register_subset(
    '_'.join(mc4.HIGH_RESOURCE_SET),
    [synthetic.paper_epochs_task_name(lang) for lang in mc4.HIGH_RESOURCE_SET],
    mc4.HIGH_RESOURCE_SET_TAU)

for _name, _pairs in ((synthetic.task_name, synthetic.PAIRS),
                      (synthetic.paper_epochs_task_name, synthetic.PAPER_EPOCHS_PAIRS)):
  registry.register_pair_grid(_name('en_fr'), _name('en_ro'),
                              {_name(p): float(n) for p, n in _pairs.items()},
                              'sentence pairs')
