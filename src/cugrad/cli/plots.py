"""The pictures of a training run: ``curves.png`` (loss, and accuracy or time, per epoch) and, for
2-D classification, ``boundary.png`` (the model's decision regions under the test points).

matplotlib is optional (``pip install 'cugrad[plot]'``): without it ``draw_run`` returns None and
draws nothing. Pictures are written atomically, like checkpoints.
"""
from __future__ import annotations

import os
from io import BytesIO

import numpy as np

from .. import backend
from ..autograd import no_grad
from ..io import atomic_write
from ..tensor import Tensor

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
          "#bcbd22", "#17becf"]


def draw_run(run_dir, history, model, ds, test_ds, mean, std, device, cfg):
    """Write the run's pictures into ``run_dir``; returns their paths, or None without matplotlib.
    ``mean``/``std`` normalize raw features the way the model was trained on them."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return None
    written = [_save(_curves_figure(history, ds.task), run_dir, "curves.png")]
    if ds.task == "classification" and ds.n_features == 2:
        fig = _boundary_figure(model, ds, test_ds, mean, std, device, cfg)
        written.append(_save(fig, run_dir, "boundary.png"))
    return written


def _save(fig, run_dir, name):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    path = os.path.join(run_dir, name)
    atomic_write(path, buf.getvalue())
    return path


def _curves_figure(history, task):
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(10, 4), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    ep = history["epoch"]
    style = {"marker": "o", "markersize": 3}  # a one-epoch run is a point, not a line
    ax1.plot(ep, history["train_loss"], label="train", **style)
    ax1.plot(ep, history["test_loss"], label="test", **style)
    ax1.set_ylabel("cross-entropy" if task == "classification" else "mse")
    ax1.set_yscale("log")
    ax1.set_title("loss")
    ax1.legend()
    if task == "classification":
        ax2.plot(ep, history["train_acc"], label="train", **style)
        ax2.plot(ep, history["test_acc"], label="test", **style)
        ax2.set_ylabel("accuracy")
        ax2.set_title(f"accuracy (test {history['test_acc'][-1]:.3f})")
        ax2.legend()
    else:
        ax2.plot(ep, history["seconds"], **style)
        ax2.set_ylabel("seconds per epoch")
        ax2.set_title("time")
    for ax in (ax1, ax2):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # epochs are whole numbers
    return fig


def _boundary_figure(model, ds, test_ds, mean, std, device, cfg):
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure

    X = ds.X
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = 0.08 * (hi - lo) + 1e-3
    res = 300
    gx, gy = np.meshgrid(np.linspace(lo[0] - pad[0], hi[0] + pad[0], res),
                         np.linspace(lo[1] - pad[1], hi[1] + pad[1], res))
    grid = ((np.c_[gx.ravel(), gy.ravel()].astype(np.float32) - mean) / std).astype(np.float32)
    model.eval()
    preds = []
    with no_grad():
        for s in range(0, len(grid), 16384):
            with backend.device_context(device):
                out = model(Tensor(backend.to_device(grid[s:s + 16384], device)))
            preds.append(backend.to_device(out.data.argmax(axis=1), "cpu"))
    model.train()
    zz = np.concatenate(preds).reshape(gx.shape)
    k = cfg["num_classes"]
    colors = [COLORS[i % len(COLORS)] for i in range(k)]
    cmap = ListedColormap(colors)
    fig = Figure(figsize=(6, 6), layout="constrained")
    ax = fig.subplots()
    ax.contourf(gx, gy, zz, levels=np.arange(k + 1) - 0.5, cmap=cmap, alpha=0.3)
    ax.scatter(test_ds.X[:, 0], test_ds.X[:, 1], c=test_ds.y, cmap=cmap, vmin=-0.5, vmax=k - 0.5, s=8,
               edgecolors="k", linewidths=0.2)
    ax.set_title(f"{cfg['data']}: decision regions, test points")
    ax.set_aspect("equal", adjustable="box")
    return fig
