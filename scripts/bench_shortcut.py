"""Cost of the CPU detour of the 1x1 shortcut convolutions (see alsofilter.bench_shortcut)."""
from alsofilter.bench_shortcut import main

main()
