"""Janus: WebRTC gateways and their admin API (docs/protocols.md, section "Janus")."""
