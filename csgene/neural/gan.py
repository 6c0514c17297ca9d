"""The GAN prior (Bora et al. 2017): a Wasserstein GAN with gradient penalty whose generator
serves :class:`~csgene.neural._map_recovery.GenerativePrior`'s MAP recovery."""

from __future__ import annotations

import numpy as np

from .._validation import check_positive_float, check_positive_int
from ._map_recovery import GenerativePrior, build_generator
from ._torch import import_torch


class GANPrior(GenerativePrior):
    """Wasserstein GAN (gradient penalty) prior: recover by fitting the generator's latent code.

    Generator ``z -> hidden -> genes`` and critic ``genes -> reversed(hidden) -> 1`` (LeakyReLU, no
    normalisation, as the gradient penalty requires), trained with WGAN-GP (Gulrajani et al.
    2017) for a fixed number of epochs; ``history_`` records the critic and generator losses and the
    critic's Wasserstein estimate on the validation split.

    Parameters
    ----------
    latent_dim : int, default 20
    hidden : tuple of int, default (256, 256)
    max_epochs : int, default 60
        An epoch is ``steps_per_epoch`` generator steps, each after ``n_critic`` critic steps on
        real batches drawn with replacement, so training length does not grow with the number
        of samples. Counting generator steps matters: with a few hundred samples, one critic
        pass over the data per epoch leaves the generator about one step per epoch, and it stays
        near the mean profile.
    steps_per_epoch : int, default 5
        Generator steps per epoch (60 x 5 = 300 steps by default).
    batch_size : int, default 64
    lr : float, default 1e-3
        Adam learning rate of both networks (betas 0.5, 0.9).
    n_critic : int, default 5
        Critic steps per generator step.
    gp_weight : float, default 10.0
    Other parameters
        As in :class:`~csgene.neural.VAEPrior`.
    """

    name = "gan"
    _modules = ("generator", "critic")

    def __init__(self, latent_dim=20, *, hidden=(256, 256), max_epochs=60, batch_size=64, lr=1e-3,
                 weight_decay=0.0, validation_fraction=0.15, n_critic=5, gp_weight=10.0,
                 steps_per_epoch=5, prior_weight=1.0, n_restarts=3, recovery_steps=300, recovery_lr=0.05,
                 sparse_deviation=False, deviation_weight=1.0, random_state=None, device="auto",
                 verbose=0):
        self._store_params(locals())

    def _build_modules(self) -> dict:
        torch = import_torch()
        nn = torch.nn
        layers, width = [], self.n_genes_
        for h in tuple(self.hidden)[::-1]:
            layers += [nn.Linear(width, h), nn.LeakyReLU(0.2)]
            width = h
        layers.append(nn.Linear(width, 1))
        return {
            "generator": build_generator(int(self.latent_dim), self.n_genes_, tuple(self.hidden)),
            "critic": nn.Sequential(*layers),
        }

    def _train_generator(self, X_train, X_val, generator):
        torch = import_torch()
        check_positive_int(self.n_critic, "n_critic")
        check_positive_float(self.gp_weight, "gp_weight", allow_zero=True)
        modules = {name: m.to(X_train.device) for name, m in self._build_modules().items()}
        G, D = modules["generator"], modules["critic"]
        self.critic_ = D
        opt_g = torch.optim.Adam(G.parameters(), lr=self.lr, betas=(0.5, 0.9), weight_decay=self.weight_decay)
        opt_d = torch.optim.Adam(D.parameters(), lr=self.lr, betas=(0.5, 0.9), weight_decay=self.weight_decay)
        n, k, device = len(X_train), int(self.latent_dim), X_train.device
        history = {"train": [], "val": [], "generator_loss": [], "best_epoch": int(self.max_epochs) - 1}

        def latent(m):
            return torch.randn((m, k), generator=generator, device=device)

        def critic_loss(real):
            fake = G(latent(len(real))).detach()
            alpha = torch.rand((len(real), 1), generator=generator, device=device)
            mix = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
            grad, = torch.autograd.grad(D(mix).sum(), mix, create_graph=True)
            penalty = ((grad.norm(dim=1) - 1) ** 2).mean()
            return D(fake).mean() - D(real).mean() + self.gp_weight * penalty

        val_z = latent(len(X_val))
        steps_per_epoch = check_positive_int(self.steps_per_epoch, "steps_per_epoch")
        for epoch in range(int(self.max_epochs)):
            d_losses, g_losses = [], []
            for _ in range(steps_per_epoch):
                for _ in range(int(self.n_critic)):
                    rows = torch.randint(n, (int(self.batch_size),), generator=generator, device=device)
                    loss_d = critic_loss(X_train[rows])
                    opt_d.zero_grad(set_to_none=True)
                    loss_d.backward()
                    opt_d.step()
                    d_losses.append(float(loss_d.detach()))
                loss_g = -D(G(latent(int(self.batch_size)))).mean()
                opt_g.zero_grad(set_to_none=True)
                loss_g.backward()
                opt_g.step()
                g_losses.append(float(loss_g.detach()))
            with torch.no_grad():
                wasserstein = float(D(X_val).mean() - D(G(val_z)).mean())
            history["train"].append(float(np.mean(d_losses)))
            history["generator_loss"].append(float(np.mean(g_losses)))
            history["val"].append(wasserstein)
            if self.verbose:
                print(f"[gan] epoch {epoch + 1}: critic {history['train'][-1]:.4g}, "
                      f"W estimate (val) {wasserstein:.4g}")
        G.eval()
        D.eval()
        return G, history
