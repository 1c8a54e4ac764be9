"""``make bench``: Soma's benchmarks, as ratios against raw baselines run in the same process."""
