"""invoke lint: settings that validation lets through but that lose or duplicate jobs."""
