"""Container logs: reading and forwarding logs (docs/protocols.md, section "Container logs")."""
