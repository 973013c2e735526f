"""Entity classes every family builds on; the root platform modules only wire them up."""
