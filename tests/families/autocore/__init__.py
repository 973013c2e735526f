"""AutoCore: relay boards in two topic layouts (docs/protocols.md, section "AutoCore")."""
