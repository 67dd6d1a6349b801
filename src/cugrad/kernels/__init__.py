"""Fused CUDA kernels (kernels/*.cu) and their NumPy twins.

Every public function takes NumPy arrays (and runs its NumPy twin, the CPU path of cugrad) or CuPy
arrays (and runs the CUDA kernel). The CUDA path makes its inputs C-contiguous first; in-place
arguments (optimizer state, ``out=``) that are not contiguous are updated through a contiguous copy.
Like any CuPy call, a kernel runs and allocates on the *current* GPU: the engine, the optimizers
and ``compile_step`` make the tensors' GPU current first; a direct caller with arrays on another
GPU than the current one does the same (``with cupy.cuda.Device(i):``). CuPy compiles every kernel
with ``-ftz=true``: float32 arithmetic (and bfloat16's, done in float32) flushes subnormal inputs
and results to zero on the GPU, where the NumPy twins and the host emulator keep them.

The kernel path reaches compiled modules, allocation and grid sizing through one object, the
*driver* (``CupyDriver`` on a GPU). The test bench swaps in a host emulator with
``use_driver(...)``, and the real wrappers then run the kernels on NumPy arrays.

One module per .cu file, each wrapper beside its NumPy twin: ``activations`` (the twins' math in
``activation_table``, one row per activation), ``softmax_xent``,
``optim``, ``random``; ``loader`` finds and compiles the sources and holds the driver, ``launch``
the helpers every wrapper shares.
"""
from .activation_table import TABLE as ACTIVATION_TABLE
from .activations import ACTIVATIONS, activation_backward, bias_activation, bias_grad
from .loader import (
    FAMILIES,
    NAME_EXPRESSIONS,
    CupyDriver,
    compile_options,
    compile_ptx,
    kernel_dir,
    kernel_source,
    use_driver,
)
from .optim import adam_step, sgd_step
from .random import counters_used, normal, uniform
from .softmax_xent import softmax_xent_backward, softmax_xent_forward

__all__ = [
    "bias_activation", "activation_backward", "bias_grad", "softmax_xent_forward",
    "softmax_xent_backward", "sgd_step", "adam_step", "uniform", "normal", "counters_used",
    "compile_options", "compile_ptx", "kernel_source", "kernel_dir", "use_driver", "CupyDriver",
    "NAME_EXPRESSIONS", "FAMILIES", "ACTIVATIONS", "ACTIVATION_TABLE",
]
