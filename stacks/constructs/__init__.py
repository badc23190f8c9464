"""Constructs that build the resources; the stacks only compose them."""
