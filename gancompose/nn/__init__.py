"""torch.nn pieces the core offers to plugins: building blocks whose behaviour the engine relies on."""
from gancompose.nn.scaled_weight import NormalizationLayer, ScaledWeight
from gancompose.nn.spectral_norm import SpectralNorm, make_compile_safe, spectral_norm

__all__ = ["NormalizationLayer", "ScaledWeight", "SpectralNorm", "spectral_norm", "make_compile_safe"]
