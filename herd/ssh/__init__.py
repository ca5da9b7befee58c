"""SSH: resolve targets, verify host keys, authenticate, open tunnels to supervisord."""
