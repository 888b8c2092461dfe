## tests/fuzz: build fragment, included by tests/local.mk.
