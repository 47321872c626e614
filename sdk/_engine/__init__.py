"""The client-side engine that runs flows and tasks.

``flow_run`` drives one flow run through its states with a few blocking RPCs; ``task_run``
orchestrates task runs in-process and hands their transitions to ``reporter``, which sends
them to the server in ordered batches from a background thread.
"""
