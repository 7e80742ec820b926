"""Next-location models written functionally so per-client gradients batch (see `recurrent`)."""
from core.models.recurrent import ModelSpec, forward, init_params, per_client_grads, per_sample_loss

__all__ = ["ModelSpec", "forward", "init_params", "per_client_grads", "per_sample_loss"]
