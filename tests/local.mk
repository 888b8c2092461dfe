## tests: unit, api and stress suites.
