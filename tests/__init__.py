"""The test suite: unit/ and e2e/, and the helpers they share."""
