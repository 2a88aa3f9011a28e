"""SeqGAN: Sequence Generative Adversarial Nets with Policy Gradient (Yu et al., AAAI 2017)."""

__version__ = "0.1.0"
