.PHONY: bench bench-quick check test

# Gateway vs peers and SDK vs openai, one run on this machine; the results go to docs/performance.md.
bench:
	python3 bench/run.py --update-docs $(BENCH_ARGS)

# Smoke run: short, one round, prints the table and changes no tracked file.
bench-quick:
	python3 bench/run.py --quick $(BENCH_ARGS)

# Every test of the SDK and the gateway (the README's second command); TEST_ARGS go to pytest.
test:
	python3 dev.py test $(TEST_ARGS)

# Lint (ruff), types (mypy --strict, both packages) and the SDK's Python 3.9 syntax; CI runs it before the tests.
check:
	python3 dev.py check
