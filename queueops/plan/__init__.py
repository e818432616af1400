"""What every kind's pure plan is made of: file changes, templates, and the run's report."""
