"""Running the platform: processes on this machine (the local substrate), the
embedded Temporal server and the `dev` stack; later bundles and other substrates."""
