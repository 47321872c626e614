"""What code inside a run uses: its context and logger, results and their cache,
concurrency slots, variables and artifacts.
"""
