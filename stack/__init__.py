"""Run the Glassbox stack without Docker: find the binaries, start them, wait for readiness, stop them."""
