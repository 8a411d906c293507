.PHONY: bench bench-quick

# Gateway vs peers and SDK vs openai, one run on this machine (see docs/performance.md).
bench:
	python3 bench/run.py $(BENCH_ARGS)

bench-quick:
	python3 bench/run.py --quick $(BENCH_ARGS)
