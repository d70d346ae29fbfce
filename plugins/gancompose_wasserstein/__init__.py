"""Wasserstein and regularizer family: Wasserstein, hinge and non-saturating losses; weight clipping, gradient penalty, R1, R2 and drift."""
