"""Choosing how to compute: the cost model of the methods and the plan cache."""
