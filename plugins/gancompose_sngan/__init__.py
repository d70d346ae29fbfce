"""SNGAN: spectrally normalized ResNet generator and discriminator blocks (Miyato et al. 2018)."""
