# The README's two commands: `make run` (the product with a demo mailbox) and `make test`.
.PHONY: setup run test clean

setup:
	@bash scripts/setup.sh

run: setup
	@PYTHONPATH=$(CURDIR) PYTHONWARNINGS='ignore:Python 3.7 is no longer supported' .venv/bin/python -m devstack.run

test: setup
	@PYTHONPATH=$(CURDIR) PYTHONWARNINGS='ignore:Python 3.7 is no longer supported' .venv/bin/python -m devstack.testrun

clean:
	rm -rf .build sync/build sync/*.egg-info
