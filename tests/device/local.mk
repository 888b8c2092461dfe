## tests/device: build fragment, included by tests/local.mk.
