"""SeqGAN: Sequence Generative Adversarial Nets with Policy Gradient (Yu et al., AAAI 2017).

The pieces of the method, importable on their own::

    from seqgan import Generator, Discriminator, mc_rewards, algorithm1, Models, resolve

See the README's "Python API" section for a complete example.
"""

__version__ = "0.1.0"

from seqgan.config import Config, resolve  # noqa: E402
from seqgan.errors import SeqGANError  # noqa: E402
from seqgan.metrics.nll import nll_oracle, sequence_nll  # noqa: E402
from seqgan.models.discriminator import Discriminator  # noqa: E402
from seqgan.models.generator import Generator  # noqa: E402
from seqgan.models.oracle import load_oracle, make_oracle  # noqa: E402
from seqgan.rollout import RolloutPolicy, mc_rewards, rollout_sequences  # noqa: E402
from seqgan.train.algorithm import Models, Position  # noqa: E402
from seqgan.train.adversarial import seqgan as algorithm1  # noqa: E402
from seqgan.train.discriminator import d_epochs, d_step  # noqa: E402
from seqgan.train.mle import mle_epoch  # noqa: E402
from seqgan.train.policy_gradient import pg_loss, pg_step  # noqa: E402

__all__ = [
    "Config", "resolve", "SeqGANError", "nll_oracle", "sequence_nll", "Discriminator", "Generator",
    "load_oracle", "make_oracle", "RolloutPolicy", "mc_rewards", "rollout_sequences", "Models", "Position",
    "algorithm1", "d_epochs", "d_step", "mle_epoch", "pg_loss", "pg_step",
]
