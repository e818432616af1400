"""The command line: option sets declared once, the tasks, and the Invoke collection."""
