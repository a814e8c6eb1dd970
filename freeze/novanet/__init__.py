"""nova-network's data, read-only: its queens schema, the rows, a model of them
with a report of what is wrong, and a generator of realistic databases."""
