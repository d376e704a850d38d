r"""One call for practitioners: :func:`estimate_mi`.

The estimate is *cross-fitted*: the pairs are split into ``folds`` parts; for
each part a fresh critic is trained on the other parts and evaluated on it; the
held-out estimates of the parts, averaged by their sizes, make the estimate.
Every pair contributes to it once, and none is scored by a critic that saw it
in training. The held-out terms also give a standard error and a confidence
interval (see :mod:`mi_lib.heldout`).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from ._checks import (
    as_samples,
    check_choice,
    check_fraction,
    check_paired,
    check_positive_int,
    check_real,
)
from .critics import JointCritic, SeparableCritic, minee_critics, seeded
from .heldout import (
    FoldTerms,
    MIEstimateWarning,
    combine,
    diagnose,
    dv_terms,
    fold_indices,
    infonce_terms,
    minee_terms,
    nwj_terms,
    plugin_terms,
    smile_terms,
    warn_all,
)
from .preprocess import KINDS, Normalizer
from .resample import offdiagonal_pairs
from .trainers import MINEETrainer, MINETrainer, MITrainer
from .trainers.allpairs import AllPairsTrainer, SkipSeparableCritic

#: The methods :func:`estimate_mi` accepts; the first is the default.
METHODS = ("js", "smile", "mine", "minee", "dv", "nwj", "infonce")
DEFAULT_METHOD = METHODS[0]
#: The methods whose critic trains on all pairs of each batch.
ALL_PAIRS = ("js", "smile")

#: Per-method defaults, chosen by ``benchmarks/bench_estimators.py`` and
#: ``benchmarks/bench_high_mi.py`` (see the README): critics of ``width``
#: hidden units started with PyTorch's initialisation, Adam with ``lr``,
#: ``batch_size`` pairs a batch, ``epochs`` over the training folds, and
#: ``patience`` (``None``: no early stopping; the best checkpoint is kept).
SETTINGS = {
    "js": dict(epochs=15, batch_size=250, lr=5e-3, width=64, patience=3),
    "smile": dict(epochs=15, batch_size=250, lr=5e-3, width=64, patience=3),
    "mine": dict(epochs=50, batch_size=250, lr=1e-2, width=64, patience=None),
    "minee": dict(epochs=100, batch_size=250, lr=1e-2, width=64, patience=None),
    "dv": dict(epochs=100, batch_size=250, lr=1e-2, width=64, patience=None),
    "nwj": dict(epochs=100, batch_size=250, lr=1e-2, width=64, patience=None),
    "infonce": dict(epochs=100, batch_size=250, lr=2e-3, width=64, patience=None),
}

#: The all-pairs methods train each fold's critic for at least this many
#: optimiser steps when ``epochs`` is not given (more epochs on small samples,
#: whose epochs have few batches).
MIN_ITERATIONS = {"js": 150, "smile": 150}
#: Cross-fitting folds by default: 5, or 3 for the all-pairs methods from
#: :data:`FEWER_FOLDS_FROM` pairs on, where a critic trained on two thirds of
#: the pairs is as good and the call takes half the time.
FOLDS, FEWER_FOLDS, FEWER_FOLDS_FROM = 5, 3, 3000

#: Product pairs (MI-NEE: reference samples) per fold for the final estimate,
#: and for the intermediate estimates of the history.
EVAL_PAIRS = 20_000
HISTORY_PAIRS = 2_048
#: Pairs of the score matrix used by ``"smile"`` (all of them up to ~1000 pairs).
SMILE_PAIRS = 1_000_000
#: Fraction of each fold's training pairs set aside to pick the best checkpoint.
VALIDATION = 0.1


@dataclass
class MIEstimate:
    """The result of :func:`estimate_mi`.

    Attributes
    ----------
    value : float
        The estimate of :math:`I(X;Y)` in nats.
    stderr : float
        Its standard error from the held-out terms: the larger of the delta
        method's (the sampling noise of the held-out pairs given the trained
        critics) and the spread of the folds' estimates over the square root
        of their number (which also carries the critics' training noise). It
        does not include the critics' own bias (a critic short of the optimum
        scores a lower bound below the truth).
    ci : (low, high)
        The ``confidence`` interval ``value -/+ z * stderr``.
    confidence : float
        The level of ``ci`` (0.9 by default).
    method : str
        The estimator that produced it.
    history : list of (iteration, estimate)
        The estimate on the validation pairs (averaged over the folds) at
        every checkpoint of training.
    folds : list of index arrays
        The pairs held out in each fold (cross-fitting: every pair exactly
        once; ``test_size``: one fold; ``test_size=0``: all pairs, which the
        critic also trained on).
    fold_values : list of float
        The estimate of each fold.
    n_train, n_eval : int
        Pairs each critic trains on (the first fold's) and pairs the estimate
        is evaluated on (all folds together).
    evaluated_on : str
        ``"cross-fitted"`` (the default), ``"held-out"`` (``test_size``) or
        ``"training"`` (``test_size=0``: the estimate can overshoot the
        truth, because the critic has fitted those very samples).
    warnings : list of str
        Reasons not to trust the estimate as it is; each was also issued as a
        :class:`~mi_lib.heldout.MIEstimateWarning`.
    trainers : list
        The trainer of each fold, to continue with ``trainer.step(epochs)`` or
        plot its critic; :attr:`trainer` is the first.
    """

    value: float
    stderr: float
    ci: tuple[float, float]
    confidence: float
    method: str
    history: list = field(repr=False)
    folds: list = field(repr=False)
    fold_values: list = field(repr=False)
    n_train: int
    n_eval: int
    evaluated_on: str
    warnings: list = field(repr=False)
    trainers: list = field(repr=False)

    @property
    def trainer(self):
        """The first fold's trainer."""
        return self.trainers[0]

    def __float__(self) -> float:
        return self.value

    def __str__(self) -> str:
        if self.evaluated_on == "cross-fitted":
            how = (
                f"cross-fitted over {len(self.folds)} folds: each of the "
                f"{self.n_eval} pairs held out once"
            )
        else:
            how = f"{self.evaluated_on} pairs: {self.n_eval}; trained on {self.n_train}"
        low, high = self.ci
        text = (
            f"I(X;Y) ~ {self.value:.4f} +/- {self.stderr:.4f} nats by {self.method} "
            f"({self.confidence:.0%} CI {low:.4f} to {high:.4f}; {how})"
        )
        return text + "".join(f"\nwarning: {w}" for w in self.warnings)


def estimate_mi(
    x,
    y,
    method: str = DEFAULT_METHOD,
    *,
    folds: int | None = None,
    test_size: float | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    normalize: str | None = "rank",
    confidence: float = 0.9,
    eval_every: int | None = None,
    patience: int | None = None,
    ema: float | None = 0.9,
    seed: int = 0,
    device=None,
    log_dir: str | None = None,
    progress: bool = False,
    **trainer_kwargs,
) -> MIEstimate:
    r"""Estimate the mutual information :math:`I(X;Y)` in nats from paired samples.

    Cross-fitting (the default): the pairs are split at random into
    ``folds`` parts (5; 3 for large samples with ``"js"`` and ``"smile"``);
    for each part, a fresh critic is trained on the other parts and the bound
    is evaluated on the held-out part; the estimate is the average of the
    parts' estimates weighted by their sizes. Every pair
    contributes once, and no pair is scored by a critic that trained on it (a
    bound evaluated on its own training pairs overfits and can overshoot the
    truth). ``test_size`` instead holds out one part of that fraction, and
    ``test_size=0`` evaluates on the training pairs, only when asked.

    The standard error and the ``confidence`` interval come from the held-out
    terms (the delta method, or the folds' spread when larger; see
    :func:`mi_lib.heldout.combine`): they measure the noise of the pairs and
    of the critics' training, not how far the critics are from the optimal
    one, so they are honest when the critics are good (as the benchmark's
    coverage figure shows) and too narrow when not.
    A :class:`~mi_lib.heldout.MIEstimateWarning` says when an estimate should
    not be trusted (negative, resting on a few product pairs, at a cap, or
    from critics that score their training pairs far above held-out ones).

    Parameters
    ----------
    x, y : arrays or tensors of shape (n, d_x) and (n, d_y)
        Row ``i`` of ``x`` and row ``i`` of ``y`` form one joint sample.
    method : str
        ``"js"`` (the default: a separable critic with linear skips and
        marginal terms, trained with the JS bound on all pairs of each batch,
        which makes it the log density ratio; the estimate is its mean on the
        held-out joint pairs, with no exponential term, so it holds up at high
        MI), ``"smile"`` (the same critic, estimated by clipped DV),
        ``"mine"``, ``"minee"``, ``"dv"``, ``"nwj"`` or ``"infonce"`` (a
        lower bound capped at ``log(batch_size)``).
    folds : int >= 2, optional
        Cross-fitting folds: 5, or 3 for ``"js"`` and ``"smile"`` from 3000
        pairs on (see :func:`default_folds`). Not with ``test_size``.
    test_size : float in [0, 1), optional
        Hold out this fraction once instead of cross-fitting.
    epochs, batch_size, lr : optional
        Training schedule (Adam) of every fold's critic; the defaults depend
        on ``method`` (see :data:`SETTINGS`). Without ``epochs``, ``"js"`` and
        ``"smile"`` train at least 150 steps, more epochs on small samples
        (see :func:`default_epochs`).
    normalize : ``"rank"`` (default), ``"standard"`` or ``None``
        A per-coordinate map fitted on each fold's training pairs and applied
        to its held-out pairs too (see :mod:`mi_lib.preprocess`); being
        invertible, it leaves :math:`I(X;Y)` unchanged.
    confidence : float in (0, 1)
        Level of ``result.ci`` (0.9).
    eval_every : int, optional
        Epochs between checkpoints (a tenth of ``epochs``). At each, every
        fold's critic is scored on a tenth of its training pairs set aside
        for validation; the fold keeps its best checkpoint's weights, and
        stops after ``patience`` checkpoints without a new best (early
        stopping: it guards against overfitting; the held-out pairs play no
        part in it).
    patience : int, optional
        Checkpoints without improvement before a fold stops: 3 for ``"js"``
        and ``"smile"``, whose critics overfit; the others train all
        ``epochs`` (their moving average of the weights keeps them steady).
        ``None`` takes the method's default.
    ema : float or None
        Estimate with a moving average of the critics' weights over roughly
        the last :math:`1/(1-\texttt{ema})` iterations (see
        :class:`~mi_lib.trainers.base.Trainer`); ``None`` uses the trained
        weights themselves.
    seed : int
        Seeds the folds, the critics' initial weights and the minibatches.
    device : str, optional
        ``"cpu"``, ``"cuda"``, or ``None`` for the GPU when there is one.
    log_dir : str, optional
        TensorBoard logs, one sub-folder per fold.
    progress : bool
        One progress bar for the whole call, with the current estimate.
    trainer_kwargs :
        Passed on to every fold's trainer, e.g. ``critic=...`` (copied for
        each fold; ``critics=(joint, x_critic, y_critic)`` for MI-NEE),
        ``beta=...``, ``clip=...``, ``reference="uniform"`` for MI-NEE.

    Returns
    -------
    MIEstimate
        ``float(result)`` is the estimate, ``result.stderr`` and ``result.ci``
        its error bar, ``result.history`` the curve.
    """
    check_choice(method, "method", METHODS)
    x, y = as_samples(x, "x"), as_samples(y, "y")
    check_paired(x, y)
    n = x.shape[0]
    settings = dict(SETTINGS[method])
    options = (
        ("epochs", epochs),
        ("batch_size", batch_size),
        ("lr", lr),
        ("patience", patience),
    )
    for name, value in options:
        if value is not None:
            settings[name] = value
    epochs = check_positive_int(settings["epochs"], "epochs")
    check_positive_int(settings["batch_size"], "batch_size")
    if eval_every is not None:
        eval_every = check_positive_int(eval_every, "eval_every")
    patience = settings["patience"]
    patience = (
        math.inf if patience is None else check_positive_int(patience, "patience")
    )
    confidence = check_real(confidence, "confidence", 0.0, 1.0, example="such as 0.9")
    if normalize is not None:
        check_choice(normalize, "normalize", KINDS)
    _check_critic_arguments(method, trainer_kwargs)
    if folds is None and test_size is None:
        folds = default_folds(method, n)
    held_out, evaluated_on = _split(n, folds, test_size, seed)
    if dict(options)["epochs"] is None:
        train = n if evaluated_on == "training" else n - len(held_out[0])
        epochs = default_epochs(method, train, settings["batch_size"])
    eval_every = max(1, epochs // 10) if eval_every is None else eval_every

    trainers, held_data, terms = [], [], []
    for k, held in enumerate(held_out):
        train = _complement(n, held) if evaluated_on != "training" else held
        fold_seed = seed + 7919 * k
        if evaluated_on == "training":
            valid = train  # checkpoints picked on the training pairs too
        else:
            train, valid = _validation_split(train, fold_seed)
        xt, yt, xv, yv, xh, yh = _prepare(x, y, train, valid, held, normalize)
        trainers.append(
            _make_trainer(
                method,
                (xt, yt),
                (xv, yv),
                settings,
                ema,
                fold_seed,
                device,
                None if log_dir is None else f"{log_dir}/fold{k}",
                dict(trainer_kwargs),
            )
        )
        held_data.append((xh, yh))
    history = _train(trainers, held_out, epochs, eval_every, patience, progress)
    for k, (trainer, data) in enumerate(zip(trainers, held_data, strict=True)):
        fold = _fold_terms(method, trainer, data, seed + 7919 * k + 1)
        if evaluated_on != "training" and method != "infonce":
            # InfoNCE's critic is defined up to any function of x alone, so
            # its mean score on joint pairs says nothing about overfitting
            fold.overfit = _overfit_gap(method, trainer, data)
        terms.append(fold)
        trainer.close()
    combined = combine(terms, confidence)
    cap = None
    if method == "infonce":
        cap = math.log(min(settings["batch_size"], min(len(h) for h in held_out)))
    messages = diagnose(method, terms, combined, cap)
    warn_all(messages)
    return MIEstimate(
        value=combined.value,
        stderr=combined.stderr,
        ci=combined.ci,
        confidence=confidence,
        method=method,
        history=history,
        folds=held_out,
        fold_values=combined.fold_values,
        n_train=trainers[0].data[0].shape[0],
        n_eval=sum(len(h) for h in held_out),
        evaluated_on=evaluated_on,
        warnings=messages,
        trainers=trainers,
    )


def _split(n: int, folds, test_size, seed: int):
    """The held-out index arrays and what the estimate is evaluated on."""
    if folds is not None and test_size is not None:
        raise ValueError(
            "pass either folds= (cross-fitting) or test_size= (one held-out "
            "part), not both."
        )
    if test_size is not None:
        test_size = check_fraction(test_size, "test_size")
        n_eval = int(round(test_size * n))
        if n_eval == 0:
            return [np.arange(n)], "training"
        if n_eval < 2 or n - n_eval < 2:
            raise ValueError(
                f"{n} samples are too few to hold out test_size={test_size}: both "
                "parts need at least 2 samples. Pass more samples or test_size=0."
            )
        perm = np.random.default_rng(seed).permutation(n)
        return [np.sort(perm[:n_eval])], "held-out"
    folds = FOLDS if folds is None else folds
    if isinstance(folds, (bool, np.bool_)) or not isinstance(folds, (int, np.integer)):
        raise ValueError(f"folds must be an integer >= 2, such as 5; got {folds!r}.")
    if folds < 2:
        raise ValueError(
            f"folds must be at least 2 (train on the others, evaluate on each); "
            f"got {folds}. For one held-out part pass test_size=0.3 instead."
        )
    if folds > n:
        raise ValueError(
            f"folds={folds} exceeds the number of pairs ({n}); pass folds <= {n}."
        )
    if n // folds < 2 or n - n // folds < 2:
        raise ValueError(
            f"{n} pairs are too few for folds={folds}: each fold needs at least 2 "
            f"pairs to pair x_i with y_j, j != i. Pass folds <= {max(2, n // 2)} "
            "or more samples."
        )
    return fold_indices(n, int(folds), seed), "cross-fitted"


def default_folds(method: str, n: int) -> int:
    """The cross-fitting folds used when neither ``folds`` nor ``test_size`` is
    given: :data:`FEWER_FOLDS` for the all-pairs methods on
    :data:`FEWER_FOLDS_FROM` pairs or more, :data:`FOLDS` otherwise."""
    return FEWER_FOLDS if method in ALL_PAIRS and n >= FEWER_FOLDS_FROM else FOLDS


def default_epochs(method: str, train: int, batch_size: int) -> int:
    """The epochs of every fold's critic when ``epochs`` is not given: the
    method's :data:`SETTINGS`, or more for the all-pairs methods when a fold's
    ``train`` training pairs (validation tenth included) make too few batches
    of ``batch_size`` for :data:`MIN_ITERATIONS` optimiser steps."""
    epochs = SETTINGS[method]["epochs"]
    if method not in MIN_ITERATIONS:
        return epochs
    if train >= 20:
        train -= max(2, int(round(VALIDATION * train)))
    steps = max(1, train // min(batch_size, train))
    return max(epochs, -(-MIN_ITERATIONS[method] // steps))


def _complement(n: int, held: np.ndarray) -> np.ndarray:
    mask = np.ones(n, dtype=bool)
    mask[held] = False
    return np.flatnonzero(mask)


def _check_critic_arguments(method: str, kwargs: dict) -> None:
    if method == "minee" and "critic" in kwargs:
        raise ValueError(
            "method='minee' trains three critics; pass critics=(joint, x_critic, "
            "y_critic), e.g. mi_lib.critics.minee_critics(x_dim, y_dim), not critic=."
        )
    if method != "minee" and "critics" in kwargs:
        raise ValueError(
            f"method={method!r} trains one critic; pass critic=..., not critics=."
        )


def _validation_split(train: np.ndarray, seed: int):
    """Set aside :data:`VALIDATION` of the training pairs (at least 2) to pick
    the best checkpoint; none when there are fewer than 20."""
    if len(train) < 20:
        return train, train
    perm = np.random.default_rng(seed).permutation(train)
    count = max(2, int(round(VALIDATION * len(train))))
    return np.sort(perm[count:]), np.sort(perm[:count])


def _prepare(x, y, train, valid, held, normalize):
    """The training, validation and held-out pairs, normalised by a map fitted
    on the training pairs."""
    parts = [torch.from_numpy(i) for i in (train, valid, held)]
    xs, ys = [x[i] for i in parts], [y[i] for i in parts]
    if normalize is not None:
        fx, fy = Normalizer(normalize).fit(xs[0]), Normalizer(normalize).fit(ys[0])
        xs, ys = [fx.transform(a) for a in xs], [fy.transform(b) for b in ys]
    return xs[0], ys[0], xs[1], ys[1], xs[2], ys[2]


def _make_trainer(method, data, valid, settings, ema, seed, device, log_dir, kw):
    """A trainer on the pairs ``data`` whose estimate is on the pairs ``valid``."""
    dx, dy, width = data[0].shape[1], data[1].shape[1], settings["width"]
    xt, yt = data
    common = dict(
        batch_size=settings["batch_size"],
        lr=settings["lr"],
        ema=ema,
        eval_data=valid,
        seed=seed,
        device=device,
        log_dir=log_dir,
        progress=False,
    )
    if method == "minee":
        critics = kw.pop("critics", None)
        if critics is None:
            critics = minee_critics(dx, dy, seed=seed, hidden=width, sigma=None)
        else:
            critics = tuple(copy.deepcopy(c) for c in critics)
        kw.setdefault("eval_pairs", HISTORY_PAIRS)
        return MINEETrainer(xt, yt, critics, **common, **kw)
    critic = kw.pop("critic", None)
    if critic is None:
        critic = seeded(lambda: _default_critic(method, dx, dy, width), seed)
    else:
        critic = copy.deepcopy(critic)  # a fresh copy for every fold
    if method in ALL_PAIRS:
        kw.setdefault("estimator", "plugin" if method == "js" else "smile")
        return AllPairsTrainer(xt, yt, critic, **common, **kw)
    kw.setdefault("eval_pairs", HISTORY_PAIRS)
    if method == "mine":
        return MINETrainer(xt, yt, critic, **common, **kw)
    return MITrainer(xt, yt, critic, bound=method, **common, **kw)


def _default_critic(method: str, dx: int, dy: int, width: int):
    """The default critic of ``method``, with PyTorch's initialisation."""
    if method in ALL_PAIRS:
        embed = max(32, max(dx, dy) + 8)  # room for a full-rank bilinear term
        return SkipSeparableCritic(dx, dy, embed, width, square=True)
    if method == "infonce":
        return SeparableCritic(dx, dy, hidden=width, sigma=None)
    return JointCritic(dx, dy, hidden=width, sigma=None)


def _criterion(trainer) -> float:
    """What picks a fold's best checkpoint: a bound on the validation pairs,
    the higher the better. For the JS-trained critics it is SMILE (the
    clipped DV bound), whose maximum over training marks the critic closest
    to the log density ratio up to the clipping; for the others, the
    trainer's own bound."""
    if isinstance(trainer, AllPairsTrainer):
        return trainer.smile()
    return trainer.history[-1][1]


def _train(trainers, held_out, epochs, eval_every, patience, progress):
    """Train the folds' trainers side by side, ``eval_every`` epochs at a time,
    and leave each with the critic weights of its best checkpoint: the highest
    score on its validation pairs (see :func:`_criterion`). A fold stops after
    ``patience`` checkpoints without a new best. Returns the history of the
    size-weighted validation estimate."""
    weights = np.array([len(h) for h in held_out], dtype=float)
    weights /= weights.sum()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs * len(trainers), desc="estimate_mi", unit="epoch")
    best = [(-math.inf, None)] * len(trainers)
    waited = [0] * len(trainers)
    latest = [math.nan] * len(trainers)
    history, done = [], 0
    while done < epochs and min(waited) <= patience:
        chunk = min(eval_every, epochs - done)
        for k, trainer in enumerate(trainers):
            if waited[k] > patience:
                continue
            latest[k] = trainer.step(chunk)
            score = _criterion(trainer)
            if score > best[k][0]:
                best[k] = (score, _snapshot(trainer))
                waited[k] = 0
            else:
                waited[k] += 1
            if bar is not None:
                bar.update(chunk)
        done += chunk
        value = float(np.dot(weights, latest))
        history.append((trainers[0].iteration, value))
        if bar is not None:
            bar.set_postfix(estimate=f"{value:.4f}")
    if bar is not None:
        bar.update(bar.total - bar.n)  # folds that stopped early
    for trainer, (_, state) in zip(trainers, best, strict=True):
        if state is not None:
            for critic, weights_k in zip(trainer.critics, state, strict=True):
                critic.load_state_dict(weights_k)
    if bar is not None:
        bar.close()
    return history


def _snapshot(trainer) -> list[dict]:
    """Copies of the critics' current weights (the averaged ones with ``ema``)."""
    return [
        {k: v.detach().clone() for k, v in c.state_dict().items()}
        for c in trainer.critics
    ]


@torch.no_grad()
def _fold_terms(method: str, trainer, held, seed: int) -> FoldTerms:
    """The terms of one fold's trained critic(s) on its held-out pairs."""
    x, y = (h.to(trainer.device) for h in held)
    m, device = x.shape[0], x.device
    if method == "minee":
        xr, yr = trainer.reference.sample(
            EVAL_PAIRS, torch.Generator(device=device).manual_seed(seed)
        )
        joint, cx, cy = trainer.critics
        return minee_terms(
            (joint(x, y).cpu(), _chunked(joint, xr, yr).cpu()),
            (cx(x).cpu(), _chunked(cx, xr).cpu()),
            (cy(y).cpu(), _chunked(cy, yr).cpu()),
        )
    critic = trainer.critic
    if method == "infonce":
        rows = []
        for block in np.array_split(np.arange(m), max(1, -(-m // trainer.batch_size))):
            s = critic.pairwise(x[block], y[block]).double()
            rows.append(s.diagonal() - torch.logsumexp(s, 1) + math.log(len(block)))
        return infonce_terms(torch.cat(rows).cpu())
    if method == "js":
        j, k = offdiagonal_pairs(m, EVAL_PAIRS, torch.Generator().manual_seed(seed))
        t_q = _chunked(critic, x[j.to(device)], y[k.to(device)]).cpu()
        return plugin_terms(critic(x, y).cpu(), t_q)
    if method == "smile":
        s = trainer.score_matrix(x, y).cpu()
        j, k = offdiagonal_pairs(m, SMILE_PAIRS, torch.Generator().manual_seed(seed))
        return smile_terms(s.diagonal(), s[j, k], j, k, trainer.clip)
    j, k = offdiagonal_pairs(m, EVAL_PAIRS, torch.Generator().manual_seed(seed))
    t_p = critic(x, y).cpu()
    t_q = _chunked(critic, x[j.to(device)], y[k.to(device)]).cpu()
    return (nwj_terms if method == "nwj" else dv_terms)(t_p, t_q, j, k)


@torch.no_grad()
def _overfit_gap(method: str, trainer, held) -> float:
    """The (joint) critic's mean score on its training joint pairs minus its
    mean on the held-out ones (see :class:`~mi_lib.heldout.FoldTerms`)."""
    critic = trainer.critics[0] if method == "minee" else trainer.critic
    x, y = (h.to(trainer.device) for h in held)
    xt, yt = trainer.data
    return float(_chunked(critic, xt, yt).mean() - _chunked(critic, x, y).mean())


def _chunked(critic, *args, size: int = 8192):
    """``critic(*args)`` in chunks of ``size`` rows."""
    return torch.cat(
        [critic(*parts) for parts in zip(*(a.split(size) for a in args), strict=True)]
    )


__all__ = ["METHODS", "MIEstimate", "MIEstimateWarning", "estimate_mi"]
