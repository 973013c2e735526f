"""SpotFi: routers, their heartbeat, RPC and terminal (docs/protocols.md, section "SpotFi")."""
