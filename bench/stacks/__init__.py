"""What runs: the stacks under stacks/ (catalog.py), their parameters (params.py), the rows a run measures
(variants.py), and a user's own app and requests (userapp.py) with the check of its answers (verify.py)."""
