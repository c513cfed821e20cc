"""Benchmarks of the lab itself (not of the stacks): is the load generator ever the limit?"""
