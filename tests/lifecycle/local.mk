## tests/lifecycle: build fragment, included by tests/local.mk.
