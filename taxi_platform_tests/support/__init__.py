"""Support code for the tests: loopback servers, emulators, stand-ins, the oracle, data and helpers."""
