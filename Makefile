# The README's two commands: `make run` (the product with a demo mailbox) and `make test`.
.PHONY: setup run test clean

setup:
	@bash scripts/setup.sh

run: setup
	@PYTHONPATH=$(CURDIR) .venv/bin/python -m devstack.run

test: setup
	@PYTHONPATH=$(CURDIR) .venv/bin/python -m devstack.testrun

clean:
	rm -rf .build
