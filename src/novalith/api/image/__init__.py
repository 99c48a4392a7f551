"""Image API (Glance v2 subset) under /image."""
