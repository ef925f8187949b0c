"""CNN Explorer: the classic convolutional networks, built, measured and explained (see docs/CONTRIBUTING.md for the floors)."""
