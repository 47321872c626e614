"""Tasks run outside any flow: called directly (a task run of its own), or sent with
``Task.delay`` to the task workers that ``serve_tasks`` starts."""
