## tests/arena: build fragment, included by tests/local.mk.
