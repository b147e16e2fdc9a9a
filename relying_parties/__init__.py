"""Example relying parties: portals that sign citizens in through the national IdP over HTTP only."""
