"""The VAE prior (Bora et al. 2017): a variational autoencoder whose decoder is the generator of
:class:`~csgene.neural._map_recovery.GenerativePrior`'s MAP recovery."""

from __future__ import annotations

from .._validation import check_positive_int
from ._map_recovery import GenerativePrior, build_generator
from ._networks import build_mlp
from ._torch import import_torch
from ._training import train_with_early_stopping


class VAEPrior(GenerativePrior):
    """Variational autoencoder prior: recover by fitting the decoder's latent code to y.

    Encoder ``genes -> hidden -> (mu, log var)``, decoder ``z -> reversed(hidden) -> genes`` with a
    Gaussian likelihood of learned variance (one scalar, in standardised gene units), trained on
    the ELBO with a linear KL warm-up and early stopping on the validation ELBO.

    Parameters
    ----------
    latent_dim : int, default 20
    hidden : tuple of int, default (256, 256)
        Encoder widths; the decoder uses them reversed.
    max_epochs : int, default 150
    batch_size : int, default 64
    lr : float, default 1e-3
    weight_decay : float, default 0.0
    validation_fraction : float, default 0.15
    patience : int, default 15
    kl_warmup : int, default 20
        Epochs over which the KL weight rises linearly from 0 to 1.
    prior_weight : float or "auto", default "auto"
        Weight of ``||z||^2`` in recovery (1 = MAP under z ~ N(0, I) and the misfit model).
        ``"auto"``: for each design, the weight of (1, 0.3, 0.1) that best recovers up to 64
        held-out training profiles measured with that design and noise (``prior_weight_``).
        With 138 training profiles (TCGA) the misfit model is pessimistic and 0.3 beat 1 by
        0.01 pearson_sample at every d.
    n_restarts : int, default 3
        Starts per sample (the first is z = 0); the best final objective is kept.
    recovery_steps : int, default 300
        Adam steps of the latent search.
    recovery_lr : float, default 0.05
    sparse_deviation : bool, default False
        Let recovery step off G's range, ``x = G(z) + nu``, with an L1 penalty on ``nu``
        (Dhar et al. 2018). Off by default: on TCGA it changed scores by < 0.005.
    deviation_weight : float, default 1.0
        Multiplies the L1 weight on ``nu``, a Laplace prior whose variance is the generator's
        error on held-out profiles (``model_error_``).
    random_state, device, verbose
        As in :class:`~csgene.neural.MeasurementMLP`.

    Attributes
    ----------
    generator_ : torch.nn.Module
        The decoder.
    encoder_ : torch.nn.Module
    standardizer_ : Standardizer
        Per-gene mean and scale of the training split.
    model_error_ : float
        Mean squared error per standardised gene of projecting held-out profiles onto G's range.
    history_ : dict
        ``train`` and ``val`` negative ELBO per sample per epoch, ``best_epoch``, ``seconds``.
    prior_weight_ : float
        The prior weight recovery uses with the current design (chosen when ``"auto"``);
        ``prior_weight_errors_`` holds the held-out error of each weight tried.
    last_recovery_ : dict
        ``initial_loss`` and ``final_loss`` per sample of the latest :meth:`recover`.
    """

    name = "vae"
    _modules = ("generator", "encoder", "log_sigma")

    def __init__(self, latent_dim=20, *, hidden=(256, 256), max_epochs=150, batch_size=64, lr=1e-3,
                 weight_decay=0.0, validation_fraction=0.15, patience=15, kl_warmup=20,
                 prior_weight="auto", n_restarts=3, recovery_steps=300, recovery_lr=0.05,
                 sparse_deviation=False, deviation_weight=1.0, random_state=None, device="auto",
                 verbose=0):
        self._store_params(locals())

    def _build_modules(self) -> dict:
        torch = import_torch()
        hidden = tuple(self.hidden)
        return {
            "generator": build_generator(int(self.latent_dim), self.n_genes_, hidden[::-1]),
            "encoder": build_mlp(self.n_genes_, 2 * int(self.latent_dim), hidden, 0.0),
            "log_sigma": torch.nn.ParameterDict({"value": torch.nn.Parameter(torch.zeros(()))}),
        }

    def _train_generator(self, X_train, X_val, generator):
        torch = import_torch()
        check_positive_int(self.patience, "patience")
        check_positive_int(self.kl_warmup, "kl_warmup", minimum=0)
        modules = self._build_modules()
        for name, module in modules.items():
            setattr(self, f"{name}_", module.to(X_train.device))
        decoder, encoder, log_sigma = self.generator_, self.encoder_, self.log_sigma_["value"]
        vae = torch.nn.ModuleList([decoder, encoder, self.log_sigma_])
        k, g = int(self.latent_dim), self.n_genes_

        def negative_elbo(x, kl_weight, noise):
            mu, log_var = encoder(x).split(k, dim=1)
            z = mu + noise * torch.exp(0.5 * log_var) if noise is not None else mu
            misfit = ((decoder(z) - x) ** 2).sum(dim=1)
            recon = 0.5 * misfit * torch.exp(-2 * log_sigma) + g * log_sigma
            kl = 0.5 * (mu**2 + log_var.exp() - 1 - log_var).sum(dim=1)
            return (recon + kl_weight * kl).mean()

        def batch_loss(idx, epoch):
            kl_weight = min(1.0, (epoch + 1) / self.kl_warmup) if self.kl_warmup else 1.0
            noise = torch.randn((len(idx), k), generator=generator, device=X_train.device)
            return negative_elbo(X_train[idx], kl_weight, noise)

        val_noise = torch.randn((len(X_val), k), generator=generator, device=X_val.device)

        def val_loss(epoch):
            return float(negative_elbo(X_val, 1.0, val_noise))

        history = train_with_early_stopping(
            vae, batch_loss, val_loss, len(X_train), max_epochs=self.max_epochs,
            batch_size=self.batch_size, lr=self.lr, weight_decay=self.weight_decay,
            patience=self.patience, generator=generator, verbose=self.verbose, label=self.name,
            min_epochs=int(self.kl_warmup),
        )
        for module in modules.values():
            module.eval()
        return decoder, history.as_dict()
