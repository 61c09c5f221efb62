"""SeqIO Mixtures of the project; importing this package registers them all
(and the tasks they draw from)."""

import tasks  # registers the tasks first
from mixtures import mc4
from mixtures import synthetic
from mixtures import wmt
