"""nova-network -> Neutron: the desired Neutron state (pure), converging
Neutron onto it, verifying and rolling back."""
