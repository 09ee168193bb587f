"""The Temporal workflows, the envelope types, routing and the CLI entry point."""
