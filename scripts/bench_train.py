"""Training-speed benchmark: project loop vs a plain DataLoader reference (see alsofilter.bench)."""
from alsofilter.bench import main

main()
