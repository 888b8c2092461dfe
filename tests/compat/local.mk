## tests/compat: build fragment, included by tests/local.mk.
