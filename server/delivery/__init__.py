"""Work delivery: claiming due runs for the runners subscribed to this server, and pushing
them on their streams the moment they are due."""
