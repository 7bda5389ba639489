"""Measures: pure functions over run statistics, each returning a result with its detail; `registry` lists them."""
