"""The image service (Glance v2 subset): records, stores, and the client compute uses."""
