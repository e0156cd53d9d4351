"""Evidence for pi_lr: auto (see alsofilter.pi_lr_study)."""
from alsofilter.pi_lr_study import main

main()
